"""CIFAR-10: the official python batches, from their directory or the ``cifar-10-python.tar.gz``.

The batches are pickles of dicts of numpy arrays. Unpickling can run arbitrary code, so a
restricted unpickler allows only the globals that a numpy array and a bytes key need. Every
problem with a file raises :class:`~activegan.errors.DataError` naming it (``archive:member``
inside a tarball).

A CIFAR-10 image folder (``train/<class>/*``, ``test/<class>/*`` or a ``.zip``) is read by
:mod:`activegan.data.folder`; :func:`locate_cifar10` tells the two apart.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from activegan.data._common import Dataset, MissingData, one_line, to_float
from activegan.errors import DataError

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_BATCH_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
# What a data path must hold, for messages.
CIFAR10_EXPECTED = (
    f"{CIFAR_BATCH_DIR}/ (data_batch_1..5, test_batch, batches.meta), {CIFAR_TARBALL}, "
    "or an image folder (train/<class>/*, test/<class>/*, or a .zip of it)"
)

_PICKLE_ALLOWED = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol 2
    }
)


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy._core", "numpy.core", 1)
        if (canonical, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if canonical.startswith("numpy.core"):
            # numpy 2 renamed numpy.core to numpy._core and warns on the old name; the
            # official files (pickled by numpy 1) use the old one.
            try:
                return getattr(importlib.import_module(canonical.replace("numpy.core", "numpy._core", 1)), name)
            except ImportError:
                return getattr(importlib.import_module(canonical), name)
        return super().find_class(module, name)


def _unpickle(blob: bytes, where: str) -> dict:
    try:
        obj = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # any malformed pickle: UnpicklingError, EOFError, ValueError, ...
        raise DataError(f"{where}: corrupt or truncated CIFAR-10 pickle ({one_line(e)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a pickled dict, found {type(obj).__name__}")
    return obj


def _parse_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One data/test batch -> uint8 (N, 3, 32, 32) images and int64 labels."""
    d = _unpickle(blob, where)
    data, labels = d.get(b"data"), d.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype.name} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: expected b'data' to be a uint8 array of shape (N, 3072), found {found}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.ndim != 1:
        raise DataError(f"{where}: expected b'labels' to be a list of ints")
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(data)} images but {len(labels)} labels")
    # Each row is the R plane, then G, then B, each 32x32 row-major: a plain reshape gives CHW.
    return data.reshape(-1, 3, 32, 32), labels


def _parse_meta(blob: bytes, where: str) -> tuple[str, ...]:
    names = _unpickle(blob, where).get(b"label_names")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{where}: expected b'label_names' to be a list of names")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def _read_blobs_from_tar(path: Path, wanted: set[str]) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    try:
        # Stream mode reads the gzip once, front to back; random access would re-decompress.
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    blobs[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated tar archive ({one_line(e)})") from None
    return blobs


def _read_blobs(path: Path, wanted: set[str]) -> tuple[dict[str, bytes], dict[str, str], str]:
    """The wanted members' bytes from a tarball or a batch directory, where each one is (for
    messages), and the location as a whole."""
    if path.is_file():
        return _read_blobs_from_tar(path, wanted), {b: f"{path}:{b}" for b in wanted}, str(path)
    batch_dir = path / CIFAR_BATCH_DIR if (path / CIFAR_BATCH_DIR).is_dir() else path
    blobs, where = {}, {}
    for b in wanted:
        f = batch_dir / b
        where[b] = str(f)
        if f.is_file():
            try:
                blobs[b] = f.read_bytes()
            except OSError as e:
                raise DataError(f"{f}: cannot read ({one_line(e.strerror or e)})") from None
    return blobs, where, str(batch_dir)


def read_cifar_batches(path: str | os.PathLike) -> Dataset:
    """Read the CIFAR-10 python batches from a directory or the ``cifar-10-python.tar.gz``.

    ``path`` may be the ``cifar-10-batches-py`` directory itself, a directory containing it,
    or the tarball. ``batches.meta`` supplies the class names (standard names if absent).
    """
    path = Path(path).expanduser()
    blobs, where, location = _read_blobs(path, {*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META})
    missing = [b for b in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH) if b not in blobs]
    if missing:
        raise DataError(
            f"cifar10: expected data_batch_1..5, test_batch (and batches.meta) in {location} (missing: {', '.join(missing)})"
        )
    train = [_parse_batch(blobs[b], where[b]) for b in CIFAR_TRAIN_BATCHES]
    x_test, y_test = _parse_batch(blobs[CIFAR_TEST_BATCH], where[CIFAR_TEST_BATCH])
    classes = _parse_meta(blobs[CIFAR_META], where[CIFAR_META]) if CIFAR_META in blobs else CIFAR10_CLASSES
    x_pool = np.concatenate([x for x, _ in train])
    y_pool = np.concatenate([y for _, y in train])
    for y, b in ((y_pool, "data_batch_1..5"), (y_test, CIFAR_TEST_BATCH)):
        bad = y[(y < 0) | (y >= len(classes))]
        if bad.size:
            raise DataError(f"cifar10: label {int(bad[0])} in {location}/{b} out of range 0..{len(classes) - 1}")
    return Dataset("cifar10", to_float(x_pool), y_pool, to_float(x_test), y_test, classes)


def locate_cifar10(path: Path) -> tuple[str, Path]:
    """-> ("batches", path) for the pickle batches or tarball, ("folder", path) for an image folder.

    ``path`` is a directory (searched, and its ``cifar10/`` subdirectory) or the archive itself.
    Raises :class:`MissingData` (a DataError) when neither is there.
    """
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return "batches", path
        if path.suffix.lower() == ".zip":
            return "folder", path
        raise MissingData(f"cifar10: {path} is neither a .tar.gz of the python batches nor a .zip image folder")
    if not path.is_dir():
        raise MissingData(f"cifar10: data path {path} does not exist (expected {CIFAR10_EXPECTED})")
    for cand in (path, path / "cifar10"):
        if (cand / "data_batch_1").is_file() or (cand / CIFAR_BATCH_DIR).is_dir():
            return "batches", cand
        if (cand / CIFAR_TARBALL).is_file():
            return "batches", cand / CIFAR_TARBALL
        if (cand / "train").is_dir():
            return "folder", cand
        zips = sorted(cand.glob("cifar10*.zip"))
        if zips:
            return "folder", zips[0]
    raise MissingData(f"cifar10: expected {CIFAR10_EXPECTED} in {path}")
