"""Image folders: ``train/<class>/*.png|jpg|jpeg`` and ``test/<class>/*``, as a directory or a ``.zip``;
or ``<class>/*`` (ImageFolder), from which a seeded, stratified test split is held out (``held_out``).

Decoding tens of thousands of JPEG/PNG files takes seconds, so with a ``cache_dir`` a folder is
decoded once and cached as an ``.npz``, keyed by the source's path, size and modification time.
Every problem with a file raises :class:`~activegan.errors.DataError` naming it
(``archive.zip:member`` inside a zip).
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from activegan.data._common import Dataset, one_line, to_float
from activegan.cache import cached_arrays
from activegan.data.images import read_image
from activegan.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CACHE_VERSION = 2  # 2: EXIF orientation, alpha on white, 16-bit scaled (data/images.py)


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
                raise DataError(f"{self.path}: not a readable zip archive ({one_line(e)})") from None
        return self._zip

    def entries(self) -> list[tuple[str, str, str]]:
        """Sorted (split, class, member) for every image under train/ and test/; split "all" for every image
        under <class>/ where neither train/ nor test/ exists (ImageFolder)."""
        if self._entries is None:
            self._entries = sorted(self._list_zip() if self.is_zip else self._list_dir())
        return self._entries

    def _list_dir(self) -> Iterator[tuple[str, str, str]]:
        flat = not any((self.path / split).is_dir() for split in ("train", "test"))
        for split in ("all",) if flat else ("train", "test"):
            root = self.path if flat else self.path / split
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
        flat = not any(n[len(prefix):].startswith(("train/", "test/")) for n in names if n.startswith(prefix))
        if flat:  # <class>/<image> at the root, or inside one top-level folder
            tops = {n.split("/", 1)[0] for n in names if n.count("/") == 2}
            prefix = tops.pop() + "/" if not any(n.count("/") == 1 for n in names) and len(tops) == 1 else ""
        for n in names:
            if not n.startswith(prefix):
                continue
            parts = n[len(prefix) :].split("/")
            if parts[-1].startswith(".") or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
                continue
            if flat and len(parts) == 2:
                yield "all", parts[0], n
            elif not flat and len(parts) == 3 and parts[0] in ("train", "test"):
                yield parts[0], parts[1], n

    def display(self, member: str) -> str:
        return f"{self.path}:{member}" if self.is_zip else member

    def read(self, member: str) -> bytes:
        try:
            return self.zip.read(member) if self.is_zip else Path(member).read_bytes()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise DataError(f"{self.display(member)}: cannot read ({one_line(e)})") from None

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
    """-> (uint8 array (H, W) for grayscale or (H, W, 3), is_gray), through the package's one decoder."""
    a = read_image(blob, where=where, suffix=suffix)
    u8 = (a * 255).round().astype(np.uint8)
    return (u8[0], True) if len(a) == 1 else (u8.transpose(1, 2, 0), False)


def _classes(src: _FolderSource, label: str) -> list[str]:
    """The sorted train class names, after checking both splits exist and test ⊆ train."""
    entries = src.entries()
    train_classes = sorted({cls for split, cls, _ in entries if split in ("train", "all")})
    if any(split == "all" for split, _, _ in entries):
        return train_classes  # ImageFolder: the test split is held out after decoding
    if not train_classes:
        raise DataError(
            f"{label}: expected images in <class>/*.png|jpg|jpeg, or train/<class>/* (and test/<class>/*), in {src.path}, found none"
        )
    test_classes = {cls for split, cls, _ in entries if split == "test"}
    if not test_classes:
        raise DataError(f"{label}: expected test images in test/<class>/*.png|jpg|jpeg in {src.path}, found none")
    extra = sorted(test_classes - set(train_classes))
    if extra:
        raise DataError(
            f"{label}: test classes {', '.join(extra)} in {src.path} have no train/ folder; "
            "test classes must be a subset of train classes"
        )
    return train_classes


def _decode_folder(src: _FolderSource, label: str) -> tuple:
    """-> uint8 (N, C, H, W) pool images, int64 labels, the same for test, and the class names."""
    train_classes = _classes(src, label)
    index = {c: i for i, c in enumerate(train_classes)}

    from tqdm import tqdm

    # Train first, then test, each sorted by class and file: the splits are then two views.
    train = [e for e in src.entries() if e[0] in ("train", "all")]
    ordered, n_train = train + [e for e in src.entries() if e[0] == "test"], len(train)
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
            raise DataError(
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
    test: bool = True,
) -> Dataset:
    """Read ``train/<class>/*`` and ``test/<class>/*`` images, or ``<class>/*`` (ImageFolder), from a directory
    or a ``.zip``. From ``<class>/*`` a test split is held out by ``held_out``; ``test=False`` keeps every image
    in the pool and gives an empty test split (either layout).

    Class names are the sorted train folder names. All-grayscale folders give 1 channel,
    otherwise 3 (RGB). With ``cache_dir``, the decoded uint8 arrays are cached there as an
    ``.npz`` keyed by the source path, size and modification time.
    """
    path = Path(path).expanduser()
    label = name or f"folder:{path}"
    if not path.exists():
        raise DataError(
            f"{label}: {path} does not exist (expected a directory or .zip with <class>/*, or train/<class>/* and test/<class>/*)"
        )
    if path.is_file() and not zipfile.is_zipfile(path):
        raise DataError(f"{label}: {path} is not a directory or a .zip archive")
    with _FolderSource(path) as src:
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in path.stem)[:40]
        z = cached_arrays(cache_dir, stem, src.fingerprint(), lambda: dict(zip(_ARRAYS, _decode_folder(src, label))))
    x, y, x_test, y_test = (z[k] for k in _ARRAYS[:4])
    classes = tuple(str(c) for c in z["classes"])
    if not test:
        x_test, y_test = x_test[:0], y_test[:0]
    elif len(y_test) == 0:  # ImageFolder (the train/test layout must hold test images)
        keep = held_out(y, classes, label)
        logger.info("%s: no train/ and test/ folders: held out %d of %d images as the test split (%s)", label,
                    len(keep), len(y), HELD_OUT_RULE)
        pool = np.setdiff1d(np.arange(len(y)), keep)
        x, y, x_test, y_test = x[pool], y[pool], x[keep], y[keep]
    return _dataset_from_uint8(label, x, y, x_test, y_test, classes)


TEST_SHARE, TEST_MAX, SPLIT_SEED = 0.2, 2000, 0
HELD_OUT_RULE = (f"{TEST_SHARE:.0%} of each class rounded, at least 1 per class, at most {TEST_MAX} in all "
                 f"(shares scaled down to fit), drawn with seed {SPLIT_SEED}")


def held_out(y, classes, label: str) -> np.ndarray:
    """Sorted indices of the test split held out of an ImageFolder's images: ``HELD_OUT_RULE``, the same for every
    experiment seed. A class with a single image cannot give one to each side: DataError."""
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y, minlength=len(classes))
    single = [classes[c] for c in np.flatnonzero(counts == 1)]
    if single:
        raise DataError(f"{label}: class {', '.join(single)} has a single image; a held-out test split needs at least 2 "
                        "images of each class (add images, or run with no test split)")
    take = np.maximum(1, np.round(TEST_SHARE * counts)).astype(np.int64)
    if take.sum() > TEST_MAX:
        take = np.maximum(1, np.floor(TEST_MAX * counts / counts.sum())).astype(np.int64)
    take = np.where(counts > 0, np.minimum(take, counts - 1), 0)
    rng = np.random.default_rng(SPLIT_SEED)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in enumerate(take)]))


_ARRAYS = ("x_pool", "y_pool", "x_test", "y_test", "classes")


def _dataset_from_uint8(name, x_pool, y_pool, x_test, y_test, classes) -> Dataset:
    return Dataset(name, to_float(x_pool), y_pool, to_float(x_test), y_test, tuple(classes))


