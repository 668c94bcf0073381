"""MNIST and Fashion-MNIST: the IDX file reader and the four files of a dataset.

An IDX file is ``00 00 <type code> <ndim>``, ``ndim`` big-endian uint32 dimensions, then the
big-endian payload; the files may be raw or gzipped (whatever their suffix). Every problem with
a file raises :class:`~activegan.errors.DataError` naming it.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from activegan.data._common import Dataset, MissingData, one_line, to_float
from activegan.errors import DataError

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# The four IDX files of MNIST and Fashion-MNIST, keyed by their role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# What a data directory must hold, for messages.
IDX_EXPECTED = ", ".join(f"{f}[.gz]" for f in IDX_FILES.values())

# IDX type codes (third magic byte); multi-byte types are big-endian.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_file_bytes(path: Path) -> bytes:
    """Whole file, gunzipped when it starts with the gzip magic (whatever its suffix)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({one_line(e.strerror or e)})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({one_line(e)})") from None
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into an array of native byte order.

    Raises DataError when the magic number, type code or dimensions are invalid, or when the
    payload length does not match what the header promises (a truncated download).
    """
    path = Path(path)
    data = _read_file_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DataError(
            f"{path}: not an IDX file (magic bytes {data[:4].hex() or 'missing'}; "
            "expected 00 00, a type code 08/09/0b/0c/0d/0e and the number of dimensions)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header: expected {header} bytes for {ndim} dimensions, found {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=np.int64))
    expected, found = count * dtype.itemsize, len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "oversized"
        raise DataError(
            f"{path}: {what} IDX file: header says {'x'.join(map(str, dims))} {dtype.name} values "
            f"= {expected} bytes of data, found {found}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def locate_idx_files(name: str, directory: Path) -> dict[str, Path]:
    """The four files of ``name``, keyed by role, in ``directory`` or ``directory/<name>``.

    Raises :class:`MissingData` (a DataError) naming the directory and the missing files.
    """
    if not directory.is_dir():
        state = "is not a directory" if directory.exists() else "does not exist"
        raise MissingData(f"{name}: data directory {directory} {state} (expected {IDX_EXPECTED} in it)")
    best_dir, best_missing = directory, None
    for cand in (directory, directory / name):
        found, missing = {}, []
        for role, fname in IDX_FILES.items():
            hit = next((p for p in (cand / fname, cand / f"{fname}.gz") if p.is_file()), None)
            if hit is None:
                missing.append(f"{fname}[.gz]")
            else:
                found[role] = hit
        if not missing:
            return found
        if best_missing is None or len(missing) < len(best_missing):
            best_dir, best_missing = cand, missing
    raise MissingData(f"{name}: expected {IDX_EXPECTED} in {best_dir} (missing: {', '.join(best_missing)})")


def _read_arrays(files: dict[str, Path]) -> dict[str, np.ndarray]:
    """Each role's array, checked to be uint8 images (N, H, W) or labels (N)."""
    arrays = {}
    for role, path in files.items():
        arr = read_idx(path)
        want_ndim = 3 if role.endswith("images") else 1
        if arr.ndim != want_ndim or arr.dtype != np.uint8:
            kind = "images (N x H x W)" if want_ndim == 3 else "labels (N)"
            raise DataError(f"{path}: expected uint8 {kind}, found {arr.dtype.name} with shape {arr.shape}")
        arrays[role] = arr
    return arrays


def load_idx_dataset(name: str, directory: Path) -> Dataset:
    """``mnist`` or ``fashion-mnist`` from the four IDX files in ``directory`` (or ``directory/<name>``)."""
    files = locate_idx_files(name, directory)
    arrays = _read_arrays(files)
    for split in ("train", "test"):
        xi, yi = f"{split}_images", f"{split}_labels"
        if len(arrays[xi]) != len(arrays[yi]):
            raise DataError(
                f"{name}: {files[xi]} holds {len(arrays[xi])} images but {files[yi]} holds {len(arrays[yi])} labels"
            )
        if arrays[yi].size and arrays[yi].max() >= 10:
            raise DataError(f"{files[yi]}: label {int(arrays[yi].max())} out of range 0..9")
    (h, w), (h_test, w_test) = arrays["train_images"].shape[1:], arrays["test_images"].shape[1:]
    if (h, w) != (h_test, w_test):
        raise DataError(
            f"{name}: {files['train_images']} holds {w}x{h} images but {files['test_images']} holds {w_test}x{h_test}"
        )
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    return Dataset(
        name,
        to_float(arrays["train_images"][:, None]),
        arrays["train_labels"].astype(np.int64),
        to_float(arrays["test_images"][:, None]),
        arrays["test_labels"].astype(np.int64),
        classes,
    )
