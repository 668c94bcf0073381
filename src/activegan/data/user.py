"""A user's own images for ``activegan query``: a labeled set, and an unlabeled pool read in shards.

Labeled set: an image folder ``<class>/*`` (searched recursively inside each class), a CSV of
``path,label`` rows (paths relative to the CSV; a header row and a byte-order mark are allowed), or a
Label Studio JSON export (:mod:`.labelstudio`).

ImagePool: a folder of images (recursive), a text file of image paths (one per line), or ``.npy`` arrays
(one file, or a folder of shard files) of shape (N, H, W), (N, C, H, W) or (N, H, W, C): uint8
(0–255), uint16 (0–65535) or floats in [0, 1]. The pool is cut into shards of a fixed number of
images; a shard is read only when it is scored, so memory does not grow with the pool. An image that
cannot be decoded, a broken link and a file name that is not UTF-8 are skipped and reported, never
fatal. Images of the labeled set found in the pool (the same file, or the same bytes) are left out.
Every image is decoded by :func:`.images.read_image`.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activegan.data._common import one_line
from activegan.data.images import IMAGE_SUFFIXES, probe_image, read_image
from activegan.errors import DataError

_ARRAY_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass(frozen=True)
class ImageFormat:
    """What every image is converted to: PIL mode ('L' or 'RGB') and side × side pixels."""

    mode: str
    side: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1 if self.mode == "L" else 3, self.side, self.side)


def decode(path: str | Path, fmt: ImageFormat) -> np.ndarray:
    """(C, side, side) float32 in [0, 1]; DataError for a file that cannot be decoded."""
    return read_image(path, fmt.mode, fmt.side)


@dataclass
class Labeled:
    paths: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def y(self, classes: list[str] | None = None) -> np.ndarray:
        """Each label's index in ``classes`` (default: this set's own sorted classes)."""
        index = {c: i for i, c in enumerate(classes or self.classes)}
        return np.array([index[c] for c in self.labels], dtype=np.int64)

    def fingerprint(self) -> str:
        """Changes whenever a label, an image's bytes or the order does."""
        h = hashlib.sha256()
        for path, label in zip(self.paths, self.labels):
            h.update(f"{label}\0{_file_hash(path)}\0".encode())
        return h.hexdigest()[:20]


def _file_hash(path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        raise DataError(f"{path}: a labeled image cannot be read ({e.strerror or one_line(e)})") from None


def _same_bytes(path, hashes: set[str]) -> bool:
    try:
        return _file_hash(path) in hashes
    except DataError:  # an unreadable pool file is skipped when its shard is decoded
        return False


def read_labeled(path: str | Path) -> Labeled:
    """The labeled set at ``path`` (folder, CSV or Label Studio JSON export); at least two classes."""
    from activegan.data.labelstudio import read_export

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such labeled set (a <class>/ folder, a path,label CSV or a Label Studio JSON export)")
    if p.is_dir():
        out = _labeled_folder(p)
    elif p.suffix.lower() == ".csv":
        out = _labeled_csv(p)
    elif p.suffix.lower() == ".json":
        out = Labeled(*read_export(p))
    else:
        raise DataError(f"{p}: a labeled set is a folder, a .csv or a Label Studio .json export")
    if not out.paths:
        raise DataError(f"{p}: no labeled images found")
    if len(out.classes) < 2:
        raise DataError(f"{p}: needs at least two classes to learn from, found {len(out.classes)} ({', '.join(out.classes)})")
    return out


def _labeled_folder(root: Path) -> Labeled:
    paths, labels = [], []
    for cls in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files, _ = _images_under(cls)
        paths += [str(f) for f in files]
        labels += [cls.name] * len(files)
    return Labeled(paths, labels)


def _labeled_csv(path: Path) -> Labeled:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the CSV ({e})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    bad = next((i for i, r in enumerate(rows) if len(r) < 2 or not r[0].strip() or not r[1].strip()), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad + 1} is not 'path,label': {','.join(rows[bad])!r}")
    return Labeled([str((path.parent / r[0].strip())) for r in rows], [r[1].strip() for r in rows])


def _images_under(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """(image files, (id, reason) of those that cannot be listed: broken links, names not UTF-8)."""
    files, unlisted = [], []
    for f in sorted(root.rglob("*")):
        if f.suffix.lower() not in IMAGE_SUFFIXES or any(p.startswith(".") for p in f.relative_to(root).parts):
            continue
        if f.is_symlink() and not f.exists():
            unlisted.append((_printable(f), "broken symbolic link"))
        elif f.is_file():
            files.append(f)
    return files, unlisted


def _printable(path) -> str:
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class ImagePool:
    """The unlabeled pool as shards: ``shard(i)`` → (ids, images, skipped) where ``skipped`` is a list
    of (id, reason) for images that could not be read; ``unlisted`` are (id, reason) of files left out
    before sharding, ``excluded`` the number of labeled images found in it and left out."""

    def __init__(self, path: str | Path, fmt: ImageFormat, shard_size: int = 4096, labeled: Labeled | None = None):
        self.path, self.fmt, self.shard_size = Path(path), fmt, shard_size
        self.unlisted, self.excluded = [], 0
        if not self.path.exists():
            raise DataError(f"{self.path}: no such pool (a folder of images, a text file of paths, or .npy shards)")
        if self.path.is_dir() and any(self.path.glob("*.npy")):
            self._arrays = sorted(self.path.glob("*.npy"))
        elif self.path.suffix.lower() == ".npy":
            self._arrays = [self.path]
        else:
            self._arrays = None
            files, self.unlisted = _images_under(self.path) if self.path.is_dir() else (self._listed(), [])
            self.unlisted += [(_printable(f), "file name is not UTF-8: rename it to rank it") for f in files if not _utf8(f)]
            self._files = self._without_labeled([f for f in files if _utf8(f)], labeled)
        if self._arrays is not None:
            self._rows = [self._open(a).shape[0] for a in self._arrays]
        if len(self) == 0 and not self.unlisted:
            raise DataError(f"{self.path}: the pool holds no images")

    def _listed(self) -> list[Path]:
        try:
            lines = self.path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{self.path}: cannot read the list of pool images ({e})") from None
        return [Path(s) if Path(s).is_absolute() else self.path.parent / s for s in (x.strip() for x in lines) if s]

    def _without_labeled(self, files: list[Path], labeled: Labeled | None) -> list[Path]:
        """``files`` less the labeled images among them: the same file, or a copy (same size, same bytes)."""
        if labeled is None:
            return files
        same = {os.path.realpath(p) for p in labeled.paths}
        sizes = {}
        for p in labeled.paths:
            try:
                sizes.setdefault(os.path.getsize(p), set()).add(_file_hash(p))
            except OSError:
                continue
        kept = []
        for f in files:
            try:
                size = os.path.getsize(f)
            except OSError:
                size = None
            if os.path.realpath(f) in same or (size in sizes and _same_bytes(f, sizes[size])):
                self.excluded += 1
            else:
                kept.append(f)
        return kept

    def _open(self, path: Path) -> np.ndarray:
        try:
            a = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable .npy array ({e})") from None
        if a.ndim not in (3, 4):
            raise DataError(f"{path}: pool arrays are (N, H, W), (N, C, H, W) or (N, H, W, C); got shape {a.shape}")
        if a.dtype not in _ARRAY_SCALE and a.dtype.kind != "f":
            raise DataError(f"{path}: pool arrays of {a.dtype} have no known range; save them as uint8 (0-255), "
                            "uint16 (0-65535) or floats in [0, 1]")
        return a

    def __len__(self) -> int:
        return sum(self._rows) if self._arrays is not None else len(self._files)

    @property
    def n_shards(self) -> int:
        return -(-len(self) // self.shard_size)

    @property
    def is_arrays(self) -> bool:
        return self._arrays is not None

    @property
    def root(self) -> Path:
        """The folder every pool file lies under (absolute): the pool's folder, or for a list of
        paths their common folder; the same for every query on this pool."""
        if self.path.is_dir():
            return Path(os.path.abspath(self.path))
        files = [os.path.abspath(f) for f in self._files] or [os.path.abspath(self.path)]
        return Path(os.path.commonpath([os.path.dirname(f) for f in files]))

    def fingerprint(self) -> str:
        """Changes when the listing does: a file added, removed, renamed, resized or rewritten."""
        h = hashlib.sha256(f"{self.fmt}|{self.excluded}".encode())
        for f in self._arrays if self._arrays is not None else self._files:
            try:
                st = os.stat(f)
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
            except OSError:
                h.update(f"{f}\0missing\0".encode())
        return h.hexdigest()[:20]

    def image(self, id_: str) -> np.ndarray:
        """One pool image by its id (a path, or '<file>.npy:<row>')."""
        if self._arrays is None:
            return decode(id_, self.fmt)
        name, row = id_.rsplit(":", 1)
        path = next(p for p in self._arrays if p.name == name)
        return self._as_images(np.asarray(self._open(path)[int(row) : int(row) + 1]), path)[0]

    def shard(self, i: int) -> tuple[list[str], np.ndarray, list[tuple[str, str]]]:
        lo, hi = i * self.shard_size, min((i + 1) * self.shard_size, len(self))
        return self._array_rows(lo, hi) if self._arrays is not None else self._decode(self._files[lo:hi])

    def _decode(self, files: list[Path]):
        ids, images, skipped = [], [], []
        for f in files:
            try:
                images.append(decode(f, self.fmt))
                ids.append(str(f))
            except DataError as e:
                skipped.append((str(f), str(e).removeprefix(f"{f}: ")))
        return ids, np.stack(images) if images else np.empty((0, *self.fmt.shape), np.float32), skipped

    def _array_rows(self, lo: int, hi: int):
        ids, parts, start = [], [], 0
        for path, n in zip(self._arrays, self._rows):
            a, b = max(lo, start), min(hi, start + n)
            if a < b:
                parts.append(self._as_images(np.asarray(self._open(path)[a - start : b - start]), path))
                ids += [f"{path.name}:{r}" for r in range(a - start, b - start)]
            start += n
        return ids, np.concatenate(parts), []

    def _as_images(self, a: np.ndarray, path: Path) -> np.ndarray:
        if a.ndim == 3:
            a = a[:, None]
        elif a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
            a = a.transpose(0, 3, 1, 2)
        x = a.astype(np.float32) / np.float32(_ARRAY_SCALE.get(a.dtype, 1.0))
        if a.dtype.kind == "f" and len(x) and (np.nanmin(x) < -1e-3 or np.nanmax(x) > 1 + 1e-3):
            raise DataError(f"{path}: pool arrays of floats must be in [0, 1]; these hold {np.nanmin(x):g} to "
                            f"{np.nanmax(x):g} (save 0-255 images as uint8)")
        if x.shape[1:] != self.fmt.shape:
            raise DataError(f"{path}: pool images are {x.shape[1:]}, the labeled ones {self.fmt.shape} (C, H, W)")
        return x


def image_format(labeled: Labeled, side: int | None = None, max_side: int = 64) -> ImageFormat:
    """Grayscale when every labeled image is, else RGB; ``side``, else the labeled images' most common
    side (their larger dimension), at most ``max_side``."""
    from collections import Counter

    modes, sides = set(), Counter()
    for path in labeled.paths:
        try:
            gray, size = probe_image(path)
        except DataError as e:
            raise DataError(f"{path}: a labeled image cannot be read ({str(e).removeprefix(f'{path}: ')})") from None
        modes.add("L" if gray else "RGB")
        sides[max(size)] += 1
    return ImageFormat("RGB" if "RGB" in modes else "L", side or min(sides.most_common(1)[0][0], max_side))
