"""The active dataset: which pool indices are labeled. Knows nothing of models or scores."""

from __future__ import annotations

import numpy as np

from activegan.errors import ConfigError


class Pool:
    """Tracks labeled indices (in the order they were labeled) and their revealed labels.

    Labels enter only through ``label`` — the pool never sees the ground truth of an index
    that was not queried.
    """

    def __init__(self, size: int):
        self.size = int(size)
        self._labels = np.full(self.size, -1, dtype=np.int64)
        self._order: list[int] = []

    @property
    def labeled(self) -> np.ndarray:
        """Labeled indices in the order they were labeled."""
        return np.asarray(self._order, dtype=np.int64)

    @property
    def unlabeled(self) -> np.ndarray:
        return np.flatnonzero(self._labels < 0)

    @property
    def labels(self) -> np.ndarray:
        """Labels of ``labeled``, in the same order."""
        return self._labels[self.labeled]

    def __len__(self) -> int:
        return len(self._order)

    def label(self, indices, labels) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if len(indices) != len(labels):
            raise ValueError(f"{len(indices)} indices but {len(labels)} labels")
        if len(np.unique(indices)) != len(indices):
            raise ValueError("an index appears twice in one query")
        if (labels < 0).any():
            raise ValueError(f"labels must be class indices 0 or more (-1 marks unlabeled), got {labels[labels < 0][0]}")
        if ((indices < 0) | (indices >= self.size)).any():
            raise IndexError(f"pool indices must be in [0, {self.size})")
        if (self._labels[indices] >= 0).any():
            raise ValueError(f"index {indices[self._labels[indices] >= 0][0]} is already labeled")
        self._labels[indices] = labels
        self._order.extend(indices.tolist())


class SimulatedOracle:
    """Reveals ground-truth labels of the queried indices, and counts what it was asked."""

    def __init__(self, y_true):
        self._y = np.asarray(y_true, dtype=np.int64)
        self.queried: list[int] = []

    def __call__(self, indices) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        self.queried.extend(indices.tolist())
        return self._y[indices]


def initial_indices(y_pool, n: int, rng: np.random.Generator, balanced: bool = True) -> np.ndarray:
    """The initial labeled set: class-balanced (as equal per class as n allows) or uniform.

    Balancing looks at the ground truth, as every published protocol does for its seed set.
    """
    y = np.asarray(y_pool)
    if not 1 <= n <= len(y):
        raise ConfigError("initial", f"must be between 1 and the pool size {len(y)}, got {n}")
    if not balanced:
        return rng.choice(len(y), size=n, replace=False)
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    picked: list[int] = []
    depth = 0
    while len(picked) < n:  # round-robin over classes in a random order, one image each time
        for c in rng.permutation(len(classes)):
            if depth < len(per_class[c]) and len(picked) < n:
                picked.append(int(per_class[c][depth]))
        depth += 1
    return np.asarray(picked, dtype=np.int64)
