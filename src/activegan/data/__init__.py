"""Datasets: loaders for digits, MNIST, Fashion-MNIST, CIFAR-10 and image folders, and a downloader.

Every loader returns a :class:`Dataset` of float32 images in ``[0, 1]`` shaped (N, C, H, W)
with int64 labels. Problems with the user's files (missing, truncated, corrupt, wrong
layout) raise :class:`~activegan.errors.UsageError` with a one-line message naming the file
and what was expected; the readers validate their input once, at the boundary, and the
code after that trusts it.

Supported names (see :data:`DATASETS`):

``digits``
    scikit-learn's bundled 8x8 digits; needs no files.
``mnist``, ``fashion-mnist``
    the four IDX files (raw or ``.gz``) in ``data_dir`` (or ``data_dir/<name>``).
``cifar10``
    the official python batches (``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``),
    or an image folder / ``.zip`` with ``train/<class>/*`` and ``test/<class>/*``.
``folder:PATH``
    any image folder or ``.zip`` in that layout.

Decoding tens of thousands of JPEG/PNG files takes seconds, so image folders are decoded
once and cached as an ``.npz`` in the cache directory, keyed by the source's path, size and
modification time.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import importlib
import io
import logging
import os
import pickle
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from activegan.errors import UsageError

logger = logging.getLogger(__name__)

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

# The four IDX files of MNIST and Fashion-MNIST, keyed by their role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_BATCH_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"

# ---------------------------------------------------------------------------------------------
# Download sources. Both tables are module-level so that tests (and users behind a proxy mirror)
# can replace them; ACTIVEGAN_MIRROR (one base URL) overrides the default mirrors.

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}

# Accepted digests per file, as "algorithm:hex"; a download matching any one of them is good.
# MNIST: the md5s are those of the files the mirrors serve; the sha256s are those of the
# re-compressed copies under shared/datasets/mnist (same IDX contents, different gzip bytes),
# so a mirror serving either copy verifies.
CHECKSUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "sha256:0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        ),
        "train-labels-idx1-ubyte.gz": (
            "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "sha256:1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "md5:9fb629c4189551a2d022fa330f9573f3",
            "sha256:1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "md5:ec29112dd5afa0611ce80d1b7f02629c",
            "sha256:b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",),
        "train-labels-idx1-ubyte.gz": ("md5:25c81989df183df01b3e8a0aad5dffbe",),
        "t10k-images-idx3-ubyte.gz": ("md5:bef4ecab320f06d8554ea6380940ec79",),
        "t10k-labels-idx1-ubyte.gz": ("md5:bb300cfdad3c16e7a12a480ee83cd310",),
    },
    "cifar10": {
        CIFAR_TARBALL: ("md5:c58f30108f718f92721af3b95e74349a",),
    },
}

DOWNLOAD_TIMEOUT_S = 60  # per blocking socket operation, not for the whole file
_CHUNK = 1 << 20

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_CACHE_VERSION = 1


# ---------------------------------------------------------------------------------------------
# The dataset container


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


def _to_float(x: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (a divide into a preallocated array is the fast path)."""
    out = np.empty(x.shape, dtype=np.float32)
    np.divide(x, np.float32(255), out=out, dtype=np.float32)
    return out


def _one_line(obj: object) -> str:
    """A foreign exception's text, safe to embed in a one-line message."""
    return " ".join(str(obj).split()) or type(obj).__name__


class _MissingData(UsageError):
    """The expected files are not there (as opposed to there but broken): download may help."""


def default_cache_dir() -> Path:
    """``$ACTIVEGAN_CACHE`` if set, else ``~/.cache/activegan``."""
    env = os.environ.get("ACTIVEGAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "activegan"


# ---------------------------------------------------------------------------------------------
# Public entry point


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load a dataset by name: one of :data:`DATASETS` or ``folder:PATH``.

    ``data_dir`` holds the files for mnist, fashion-mnist and cifar10 (for cifar10 it may also
    be the ``.tar.gz`` or image-folder ``.zip`` itself). Without it, files downloaded earlier
    into ``cache_dir/<name>`` are used. ``download=True`` fetches whatever is missing into
    ``cache_dir/<name>`` (default :func:`default_cache_dir`). ``cache_dir`` also holds decoded
    image folders.
    """
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"dataset name must be one of {', '.join(DATASETS)} or folder:PATH, got {name!r}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    spec = name.strip()
    if spec.lower().startswith("folder:"):
        path = spec[len("folder:") :]
        if not path:
            raise UsageError("dataset 'folder:' needs a path: folder:DIR or folder:FILE.zip")
        return read_image_folder(path, name=spec, cache_dir=cache / "decoded")
    key = spec.lower()
    if key not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)} or folder:PATH")
    if key == "digits":
        return _load_digits()

    source = _resolve_source(key, data_dir, allow_download=download, cache=cache)
    if key in ("mnist", "fashion-mnist"):
        return _load_idx_dataset(key, source)
    return _load_cifar10(source, cache)


def _resolve_source(name: str, data_dir, *, allow_download: bool, cache: Path) -> Path:
    """The directory (or, for cifar10, possibly a file) to load ``name`` from."""
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        try:
            _locate(name, data_dir)
            return data_dir
        except _MissingData:
            if not allow_download:
                raise
        return download(name, cache)
    fetched = cache / name
    try:
        _locate(name, fetched)  # downloaded by an earlier run
        return fetched
    except _MissingData:
        pass
    if allow_download:
        return download(name, cache)
    raise UsageError(
        f"{name}: no data directory given; pass --data-dir DIR holding {_expected_files(name)}, "
        f"or --download to fetch it into {fetched}"
    )


def _expected_files(name: str) -> str:
    if name == "cifar10":
        return (
            f"{CIFAR_BATCH_DIR}/ (data_batch_1..5, test_batch, batches.meta), {CIFAR_TARBALL}, "
            "or an image folder (train/<class>/*, test/<class>/*, or a .zip of it)"
        )
    return ", ".join(f"{f}[.gz]" for f in IDX_FILES.values())


def _locate(name: str, directory: Path):
    """Find the files of ``name`` in ``directory`` or ``directory/<name>``; raise _MissingData."""
    if name == "cifar10":
        return _locate_cifar10(directory)
    return _locate_idx(name, directory)


# ---------------------------------------------------------------------------------------------
# digits


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # values 0..16 -> [0, 1]
    y = digits.target.astype(np.int64)
    x_pool, x_test, y_pool, y_test = train_test_split(x, y, test_size=500, random_state=0, stratify=y)
    return Dataset("digits", x_pool, y_pool, x_test, y_test, MNIST_CLASSES)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

# IDX type codes (third magic byte); multi-byte types are big-endian.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_file_bytes(path: Path) -> bytes:
    """Whole file, gunzipped when it starts with the gzip magic (whatever its suffix)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({_one_line(e.strerror or e)})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise UsageError(f"{path}: corrupt or truncated gzip data ({_one_line(e)})") from None
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into an array of native byte order.

    Raises UsageError when the magic number, type code or dimensions are invalid, or when the
    payload length does not match what the header promises (a truncated download).
    """
    path = Path(path)
    data = _read_file_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise UsageError(
            f"{path}: not an IDX file (magic bytes {data[:4].hex() or 'missing'}; "
            "expected 00 00, a type code 08/09/0b/0c/0d/0e and the number of dimensions)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UsageError(f"{path}: truncated IDX header: expected {header} bytes for {ndim} dimensions, found {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=np.int64))
    expected, found = count * dtype.itemsize, len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "oversized"
        raise UsageError(
            f"{path}: {what} IDX file: header says {'x'.join(map(str, dims))} {dtype.name} values "
            f"= {expected} bytes of data, found {found}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _locate_idx(name: str, directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        state = "is not a directory" if directory.exists() else "does not exist"
        raise _MissingData(f"{name}: data directory {directory} {state} (expected {_expected_files(name)} in it)")
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
    raise _MissingData(f"{name}: expected {_expected_files(name)} in {best_dir} (missing: {', '.join(best_missing)})")


def _load_idx_dataset(name: str, directory: Path) -> Dataset:
    files = _locate_idx(name, directory)
    arrays = {}
    for role, path in files.items():
        arr = read_idx(path)
        want_ndim = 3 if role.endswith("images") else 1
        if arr.ndim != want_ndim or arr.dtype != np.uint8:
            kind = "images (N x H x W)" if want_ndim == 3 else "labels (N)"
            raise UsageError(f"{path}: expected uint8 {kind}, found {arr.dtype.name} with shape {arr.shape}")
        arrays[role] = arr
    for split in ("train", "test"):
        xi, yi = f"{split}_images", f"{split}_labels"
        if len(arrays[xi]) != len(arrays[yi]):
            raise UsageError(
                f"{name}: {files[xi]} holds {len(arrays[xi])} images but {files[yi]} holds {len(arrays[yi])} labels"
            )
        if arrays[yi].size and arrays[yi].max() >= 10:
            raise UsageError(f"{files[yi]}: label {int(arrays[yi].max())} out of range 0..9")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise UsageError(
            f"{name}: train images are {arrays['train_images'].shape[1:]} but test images are {arrays['test_images'].shape[1:]}"
        )
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    return Dataset(
        name,
        _to_float(arrays["train_images"][:, None]),
        arrays["train_labels"].astype(np.int64),
        _to_float(arrays["test_images"][:, None]),
        arrays["test_labels"].astype(np.int64),
        classes,
    )


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches

# The official batches are pickles of dicts of numpy arrays. Unpickling can run arbitrary code,
# so only the globals that a numpy array and a bytes key need are allowed.
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
        raise UsageError(f"{where}: corrupt or truncated CIFAR-10 pickle ({_one_line(e)})") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a pickled dict, found {type(obj).__name__}")
    return obj


def _parse_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One data/test batch -> uint8 (N, 3, 32, 32) images and int64 labels."""
    d = _unpickle(blob, where)
    data, labels = d.get(b"data"), d.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype.name} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UsageError(f"{where}: expected b'data' to be a uint8 array of shape (N, 3072), found {found}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.ndim != 1:
        raise UsageError(f"{where}: expected b'labels' to be a list of ints")
    if len(labels) != len(data):
        raise UsageError(f"{where}: {len(data)} images but {len(labels)} labels")
    # Each row is the R plane, then G, then B, each 32x32 row-major: a plain reshape gives CHW.
    return data.reshape(-1, 3, 32, 32), labels


def _parse_meta(blob: bytes, where: str) -> tuple[str, ...]:
    names = _unpickle(blob, where).get(b"label_names")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise UsageError(f"{where}: expected b'label_names' to be a list of names")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def _read_cifar_blobs_from_tar(path: Path, wanted: set[str]) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    try:
        # Stream mode reads the gzip once, front to back; random access would re-decompress.
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    blobs[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UsageError(f"{path}: corrupt or truncated tar archive ({_one_line(e)})") from None
    return blobs


def read_cifar_batches(path: str | os.PathLike) -> Dataset:
    """Read the CIFAR-10 python batches from a directory or the ``cifar-10-python.tar.gz``.

    ``path`` may be the ``cifar-10-batches-py`` directory itself, a directory containing it,
    or the tarball. ``batches.meta`` supplies the class names (standard names if absent).
    """
    path = Path(path).expanduser()
    wanted = {*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META}
    if path.is_file():
        blobs = _read_cifar_blobs_from_tar(path, wanted)
        where = {b: f"{path}:{b}" for b in wanted}
        location = str(path)
    else:
        batch_dir = path / CIFAR_BATCH_DIR if (path / CIFAR_BATCH_DIR).is_dir() else path
        blobs, where = {}, {}
        for b in wanted:
            f = batch_dir / b
            where[b] = str(f)
            if f.is_file():
                try:
                    blobs[b] = f.read_bytes()
                except OSError as e:
                    raise UsageError(f"{f}: cannot read ({_one_line(e.strerror or e)})") from None
        location = str(batch_dir)
    missing = [b for b in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH) if b not in blobs]
    if missing:
        raise UsageError(
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
            raise UsageError(f"cifar10: label {int(bad[0])} in {location}/{b} out of range 0..{len(classes) - 1}")
    return Dataset("cifar10", _to_float(x_pool), y_pool, _to_float(x_test), y_test, classes)


def _locate_cifar10(directory: Path) -> tuple[str, Path]:
    """-> ("batches", path) for the pickle batches or tarball, ("folder", path) for an image folder."""
    if directory.is_file():
        if directory.name.endswith((".tar.gz", ".tgz", ".tar")):
            return "batches", directory
        if directory.suffix.lower() == ".zip":
            return "folder", directory
        raise _MissingData(f"cifar10: {directory} is neither a .tar.gz of the python batches nor a .zip image folder")
    if not directory.is_dir():
        raise _MissingData(f"cifar10: data path {directory} does not exist (expected {_expected_files('cifar10')})")
    for cand in (directory, directory / "cifar10"):
        if (cand / "data_batch_1").is_file() or (cand / CIFAR_BATCH_DIR).is_dir():
            return "batches", cand
        if (cand / CIFAR_TARBALL).is_file():
            return "batches", cand / CIFAR_TARBALL
        if (cand / "train").is_dir():
            return "folder", cand
        zips = sorted(cand.glob("cifar10*.zip"))
        if zips:
            return "folder", zips[0]
    raise _MissingData(f"cifar10: expected {_expected_files('cifar10')} in {directory}")


def _load_cifar10(source: Path, cache: Path) -> Dataset:
    kind, path = _locate_cifar10(source)
    if kind == "batches":
        return read_cifar_batches(path)
    ds = read_image_folder(path, name="cifar10", cache_dir=cache / "decoded")
    if ds.classes != CIFAR10_CLASSES:
        raise UsageError(
            f"cifar10: image folder {path} has classes {', '.join(ds.classes)}; expected {', '.join(CIFAR10_CLASSES)}"
        )
    if ds.image_shape != (3, 32, 32):
        raise UsageError(f"cifar10: image folder {path} holds {ds.image_shape} images; expected 32x32 RGB")
    return ds


# ---------------------------------------------------------------------------------------------
# Image folders: train/<class>/*.png|jpg|jpeg and test/<class>/*, as a directory or a .zip


class _FolderSource:
    """Uniform listing and reading over a directory or a zip archive.

    The zip is opened lazily: a cache hit needs only its size and mtime, while reading the
    central directory of a 60k-member archive costs about half a second.
    """

    def __init__(self, path: Path):
        self.path = path
        self.is_zip = path.is_file()
        self._zip: zipfile.ZipFile | None = None
        self._entries: list[tuple[str, str, str]] | None = None

    def __enter__(self) -> "_FolderSource":
        return self

    def __exit__(self, *exc) -> None:
        if self._zip is not None:
            self._zip.close()

    @property
    def zip(self) -> zipfile.ZipFile:
        if self._zip is None:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as e:
                raise UsageError(f"{self.path}: not a readable zip archive ({_one_line(e)})") from None
        return self._zip

    def entries(self) -> list[tuple[str, str, str]]:
        """Sorted (split, class, member) for every image under train/ and test/."""
        if self._entries is None:
            self._entries = sorted(self._list_zip() if self.is_zip else self._list_dir())
        return self._entries

    def _list_dir(self) -> Iterator[tuple[str, str, str]]:
        for split in ("train", "test"):
            root = self.path / split
            if not root.is_dir():
                continue
            for cls_dir in root.iterdir():
                if not cls_dir.is_dir() or cls_dir.name.startswith("."):
                    continue
                for f in cls_dir.iterdir():
                    if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file():
                        yield split, cls_dir.name, str(f)

    def _list_zip(self) -> Iterator[tuple[str, str, str]]:
        names = [n for n in self.zip.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        # The layout may sit at the root of the archive or inside one top-level folder.
        prefix = ""
        if not any(n.startswith(("train/", "test/")) for n in names):
            tops = {n.split("/", 1)[0] for n in names if n.split("/")[1:2] in (["train"], ["test"])}
            if len(tops) == 1:
                prefix = tops.pop() + "/"
        for n in names:
            if not n.startswith(prefix):
                continue
            parts = n[len(prefix) :].split("/")
            if (
                len(parts) == 3
                and parts[0] in ("train", "test")
                and parts[2].lower().endswith(IMAGE_SUFFIXES)
                and not parts[2].startswith(".")
            ):
                yield parts[0], parts[1], n

    def display(self, member: str) -> str:
        return f"{self.path}:{member}" if self.is_zip else member

    def read(self, member: str) -> bytes:
        try:
            return self.zip.read(member) if self.is_zip else Path(member).read_bytes()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise UsageError(f"{self.display(member)}: cannot read ({_one_line(e)})") from None

    def fingerprint(self) -> str:
        """Changes whenever the source does: path+size+mtime for a zip, every file's for a directory."""
        h = hashlib.sha256(f"v{_CACHE_VERSION}|{self.path.resolve()}".encode())
        if self.is_zip:
            st = self.path.stat()
            h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        else:
            for split, cls, member in self.entries():
                st = os.stat(member)
                h.update(f"|{split}/{cls}/{Path(member).name}|{st.st_size}|{st.st_mtime_ns}".encode())
        return h.hexdigest()[:20]


def _decode(blob: bytes, suffix: str, where: str):
    """-> (uint8 array (H, W) for grayscale or (H, W, 3), is_gray)."""
    from PIL import Image, UnidentifiedImageError

    # Naming the expected format skips Pillow's trial of every plugin (the dominant cost on
    # tiny images); a mislabelled file still opens through the general path.
    fmt = ["PNG"] if suffix == ".png" else ["JPEG"]
    try:
        try:
            im = Image.open(io.BytesIO(blob), formats=fmt)
        except UnidentifiedImageError:
            im = Image.open(io.BytesIO(blob))
        with im:
            im.load()
            gray = im.mode in _GRAY_MODES
            if im.mode not in ("L", "RGB"):
                im = im.convert("L" if gray else "RGB")
            return np.asarray(im), gray
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        raise UsageError(f"{where}: not a readable image ({_one_line(e)})") from None


def _decode_folder(src: _FolderSource, label: str) -> tuple:
    """-> uint8 (N, C, H, W) pool images, int64 labels, the same for test, and the class names."""
    entries = src.entries()
    train_classes = sorted({cls for split, cls, _ in entries if split == "train"})
    if not train_classes:
        raise UsageError(
            f"{label}: expected images in train/<class>/*.png|jpg|jpeg (and test/<class>/*) in {src.path}, found none"
        )
    test_classes = {cls for split, cls, _ in entries if split == "test"}
    if not test_classes:
        raise UsageError(f"{label}: expected test images in test/<class>/*.png|jpg|jpeg in {src.path}, found none")
    extra = sorted(test_classes - set(train_classes))
    if extra:
        raise UsageError(
            f"{label}: test classes {', '.join(extra)} in {src.path} have no train/ folder; "
            "test classes must be a subset of train classes"
        )
    index = {c: i for i, c in enumerate(train_classes)}

    from tqdm import tqdm

    # Train first, then test, each sorted by class and file: the splits are then two views.
    train = [e for e in entries if e[0] == "train"]
    ordered, n_train = train + [e for e in entries if e[0] == "test"], len(train)
    x = None  # (N, H, W, 3) uint8, allocated once the first image gives the size
    all_gray = True
    first_where = ""
    progress = tqdm(ordered, desc=f"decoding {src.path.name}", unit="img", disable=None, leave=False)
    for i, (_, _, member) in enumerate(progress):
        where = src.display(member)
        arr, gray = _decode(src.read(member), os.path.splitext(member)[1].lower(), where)
        if x is None:
            x, first_where = np.empty((len(ordered), *arr.shape[:2], 3), dtype=np.uint8), where
        elif arr.shape[:2] != x.shape[1:3]:
            (h, w), (h0, w0) = arr.shape[:2], x.shape[1:3]
            raise UsageError(
                f"{label}: {where} is {w}x{h} but {first_where} is {w0}x{h0}; all images must have the same size"
            )
        x[i] = arr[..., None] if gray else arr  # gray is broadcast over the 3 channels
        all_gray &= gray

    # All grayscale -> 1 channel; any colour image -> 3 channels for all (gray repeated).
    x = np.ascontiguousarray((x[..., :1] if all_gray else x).transpose(0, 3, 1, 2))
    y = np.array([index[cls] for _, cls, _ in ordered], dtype=np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], tuple(train_classes)


def read_image_folder(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Read ``train/<class>/*`` and ``test/<class>/*`` images from a directory or a ``.zip``.

    Class names are the sorted train folder names. All-grayscale folders give 1 channel,
    otherwise 3 (RGB). With ``cache_dir``, the decoded uint8 arrays are cached there as an
    ``.npz`` keyed by the source path, size and modification time.
    """
    path = Path(path).expanduser()
    label = name or f"folder:{path}"
    if not path.exists():
        raise UsageError(
            f"{label}: {path} does not exist (expected a directory or .zip with train/<class>/* and test/<class>/*)"
        )
    if path.is_file() and not zipfile.is_zipfile(path):
        raise UsageError(f"{label}: {path} is not a directory or a .zip archive")
    with _FolderSource(path) as src:
        cache_file = None
        if cache_dir is not None:
            stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in path.stem)[:40]
            cache_file = Path(cache_dir) / f"{stem}-{src.fingerprint()}.npz"
            arrays = _read_cache(cache_file)
            if arrays is not None:
                return _dataset_from_uint8(name or label, *arrays)
        arrays = _decode_folder(src, label)
    if cache_file is not None:
        _write_cache(cache_file, *arrays)
    return _dataset_from_uint8(name or label, *arrays)


def _dataset_from_uint8(name, x_pool, y_pool, x_test, y_test, classes) -> Dataset:
    return Dataset(name, _to_float(x_pool), y_pool, _to_float(x_test), y_test, tuple(classes))


def _read_cache(path: Path):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != _CACHE_VERSION:
                return None
            return z["x_pool"], z["y_pool"], z["x_test"], z["y_test"], tuple(str(c) for c in z["classes"])
    except Exception as e:  # an unreadable cache is rebuilt, never fatal
        logger.warning("ignoring unreadable cache %s: %s", path, _one_line(e))
        return None


def _write_cache(path: Path, x_pool, y_pool, x_test, y_test, classes) -> None:
    try:
        with _atomic_file(path) as f:
            # Uncompressed: decoded images barely compress and loading stays ~0.5 s for 60k.
            np.savez(
                f, version=_CACHE_VERSION, classes=np.array(classes, dtype=str),
                x_pool=x_pool, y_pool=y_pool, x_test=x_test, y_test=y_test,
            )  # fmt: skip
    except OSError as e:  # a read-only cache slows the next load down but must not fail this one
        warnings.warn(f"could not cache decoded images in {path}: {_one_line(e)}", RuntimeWarning, stacklevel=3)


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Stream into a temp file next to ``path``; fsync and rename into place only on success.

    The streaming counterpart of :func:`activegan.io.atomic_write_bytes`, for files (downloads,
    caches) too large to hold in memory twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# Downloader


def _digests(path: Path, algorithms: set[str]) -> dict[str, str]:
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _matches(digests: dict[str, str], accepted: tuple[str, ...]) -> bool:
    return any(digests.get(spec.split(":", 1)[0]) == spec.split(":", 1)[1].lower() for spec in accepted)


def _fetch(url: str, dest: Path, accepted: tuple[str, ...], algorithms: set[str]) -> dict[str, str]:
    """Stream ``url`` into a temp file beside ``dest``, hashing as it goes.

    Returns the digests; the file is renamed to ``dest`` only when they match ``accepted``
    (otherwise the temp file is removed). Network errors propagate as OSError/URLError.
    """
    hashers = {a: hashlib.new(a) for a in algorithms}
    with _atomic_file(dest) as out:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
        digests = {a: h.hexdigest() for a, h in hashers.items()}
        if not _matches(digests, accepted):
            raise _ChecksumMismatch(digests)
    return digests


class _ChecksumMismatch(Exception):
    def __init__(self, digests: dict[str, str]):
        super().__init__(digests)
        self.digests = digests


def _mirrors(name: str, mirrors: list[str] | None) -> list[str]:
    if mirrors:
        return list(mirrors)
    env = os.environ.get("ACTIVEGAN_MIRROR", "").strip()
    return [env] if env else list(MIRRORS[name])


def _fmt_digests(d: dict[str, str] | tuple[str, ...], sep: str) -> str:
    items = d.items() if isinstance(d, dict) else (spec.split(":", 1) for spec in d)
    return sep.join(f"{a} {h}" for a, h in sorted(items))


def download(name: str, cache_dir: str | os.PathLike, *, mirrors: list[str] | None = None) -> Path:
    """Fetch the files of ``name`` (mnist, fashion-mnist, cifar10) into ``cache_dir/<name>``.

    Each file is tried from each mirror base URL in turn (``mirrors``, else ``$ACTIVEGAN_MIRROR``,
    else :data:`MIRRORS`), streamed to a temp file, verified against :data:`CHECKSUMS` and
    renamed into place. Files already present with a good checksum are not fetched again.
    Returns the directory holding the files.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in CHECKSUMS:
        raise UsageError(f"cannot download dataset {name!r}; downloadable: {', '.join(CHECKSUMS)}")
    target = Path(cache_dir).expanduser() / key
    bases = _mirrors(key, mirrors)
    for fname, accepted in CHECKSUMS[key].items():
        dest = target / fname
        algorithms = {spec.split(":", 1)[0] for spec in accepted}
        if dest.is_file() and _matches(_digests(dest, algorithms), accepted):
            logger.debug("%s already present with a good checksum", dest)
            continue
        failures, mismatch = [], None
        for base in bases:
            url = base if base.endswith("/") else base + "/"
            url += fname
            logger.info("downloading %s", url)
            try:
                _fetch(url, dest, accepted, algorithms)
                break
            except _ChecksumMismatch as e:
                mismatch = e.digests
                failures.append(f"{url} (checksum mismatch)")
            except urllib.error.HTTPError as e:
                failures.append(f"{url} (HTTP {e.code} {_one_line(e.reason)})")
            except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, timeouts, resets
                failures.append(f"{url} ({_one_line(getattr(e, 'reason', None) or e)})")
        else:
            if mismatch is not None:
                raise UsageError(
                    f"{key}: checksum mismatch for {fname}: expected {_fmt_digests(accepted, ' or ')}, "
                    f"got {_fmt_digests(mismatch, ', ')} (tried {'; '.join(failures)})"
                )
            raise UsageError(f"{key}: could not download {fname} from any mirror: {'; '.join(failures)}")
    return target

