"""What every reader shares: the :class:`Dataset` container, the missing-data error and small helpers.

This module sits below all readers (``idx``, ``cifar``, ``folder``, ``download``) and imports
none of them, so no reader needs another and the package has no import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from activegan.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled pool (what active learning queries from) and a held-out test set.

    Images are float32 (N, C, H, W) in [0, 1]; labels are int64 in ``0..n_classes-1``.
    """

    name: str
    x_pool: np.ndarray = field(repr=False)
    y_pool: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        # Shape bugs are programming errors, not user input: ValueError, raised early.
        if self.x_pool.ndim != 4 or self.x_test.ndim != 4:
            raise ValueError(f"Dataset {self.name!r}: images must be (N, C, H, W)")
        if self.x_pool.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"Dataset {self.name!r}: pool images {self.x_pool.shape[1:]} != test images {self.x_test.shape[1:]}")
        if len(self.x_pool) != len(self.y_pool) or len(self.x_test) != len(self.y_test):
            raise ValueError(f"Dataset {self.name!r}: image and label counts differ")
        object.__setattr__(self, "classes", tuple(self.classes))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_pool.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (
            f"Dataset({self.name!r}, pool={len(self.x_pool)}, test={len(self.x_test)}, "
            f"image={c}x{h}x{w}, classes={self.n_classes})"
        )


class MissingData(DataError):
    """The expected files are not there (as opposed to there but broken): a download may help."""


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (a divide into a preallocated array is the fast path)."""
    out = np.empty(x.shape, dtype=np.float32)
    np.divide(x, np.float32(255), out=out, dtype=np.float32)
    return out


def one_line(obj: object) -> str:
    """A foreign exception's text, safe to embed in a one-line message."""
    return " ".join(str(obj).split()) or type(obj).__name__


