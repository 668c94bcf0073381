"""A user's own images for ``activegan query``: a labeled set, and an unlabeled pool read in shards.

Labeled set: an image folder ``<class>/*`` (searched recursively inside each class), a CSV of
``path,label`` rows (paths relative to the CSV; a header row is allowed), or a Label Studio JSON
export (tasks whose ``data.image`` is a path or a ``/data/local-files/?d=`` URL, labels in
``annotations[].result[].value.choices``).

Pool: a folder of images (recursive), a text file of image paths (one per line), or ``.npy`` arrays
(one file, or a folder of shard files) of shape (N, H, W), (N, C, H, W) or (N, H, W, C). The pool is
cut into shards of a fixed number of images; a shard is read only when it is scored, so memory
does not grow with the pool. An image that cannot be decoded is skipped and reported, never fatal.
"""

from __future__ import annotations

import csv
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activegan.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageFormat:
    """What every image is converted to: PIL mode ('L' or 'RGB') and side × side pixels."""

    mode: str
    side: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1 if self.mode == "L" else 3, self.side, self.side)


def decode(path: str | Path, fmt: ImageFormat) -> np.ndarray:
    """(C, side, side) float32 in [0, 1]; raises OSError/ValueError for a file PIL cannot read."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert(fmt.mode)
        if im.size != (fmt.side, fmt.side):
            im = im.resize((fmt.side, fmt.side), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


@dataclass
class Labeled:
    paths: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def y(self) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[c] for c in self.labels], dtype=np.int64)


def read_labeled(path: str | Path) -> Labeled:
    """The labeled set at ``path`` (folder, CSV or Label Studio JSON export); at least two classes."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such labeled set (a <class>/ folder, a path,label CSV or a Label Studio JSON export)")
    if p.is_dir():
        out = _labeled_folder(p)
    elif p.suffix.lower() == ".csv":
        out = _labeled_csv(p)
    elif p.suffix.lower() == ".json":
        out = _labeled_label_studio(p)
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
        for f in _images_under(cls):
            paths.append(str(f))
            labels.append(cls.name)
    return Labeled(paths, labels)


def _labeled_csv(path: Path) -> Labeled:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the CSV ({e})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    bad = next((i for i, r in enumerate(rows) if len(r) < 2 or not r[0].strip() or not r[1].strip()), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad + 1} is not 'path,label': {','.join(rows[bad])!r}")
    return Labeled([str((path.parent / r[0].strip())) for r in rows], [r[1].strip() for r in rows])


def _labeled_label_studio(path: Path) -> Labeled:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable Label Studio JSON export ({e})") from None
    if not isinstance(tasks, list):
        raise DataError(f"{path}: a Label Studio JSON export is a list of tasks")
    paths, labels = [], []
    for task in tasks:
        choice = _latest_choice(task)
        data = (task.get("data") or {}) if isinstance(task, dict) else {}
        image = data.get("path") or data.get("image")  # 'path': written by activegan query beside the URL
        if choice is None or not isinstance(image, str):
            continue  # not annotated (or cancelled): nothing learned from it
        paths.append(str(_local_path(image, path.parent)))
        labels.append(choice)
    return Labeled(paths, labels)


def _latest_choice(task) -> str | None:
    if not isinstance(task, dict):
        return None
    for ann in reversed(task.get("annotations") or []):
        if not isinstance(ann, dict) or ann.get("was_cancelled"):
            continue
        for r in ann.get("result") or []:
            choices = (r.get("value") or {}).get("choices") if isinstance(r, dict) else None
            if choices:
                return str(choices[0])
    return None


def _local_path(image: str, base: Path) -> Path:
    """A task's image: '/data/local-files/?d=rel/path' (relative to Label Studio's document root,
    which ``query`` sets to the pool's folder) or a plain path."""
    if image.startswith("/data/local-files/"):
        rel = urllib.parse.parse_qs(urllib.parse.urlparse(image).query).get("d", [""])[0]
        return Path(rel) if Path(rel).is_absolute() else base / rel
    return Path(image) if Path(image).is_absolute() else base / image


def _images_under(root: Path) -> list[Path]:
    return sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                  and not any(part.startswith(".") for part in f.relative_to(root).parts))


class Pool:
    """The unlabeled pool as shards: ``shard(i)`` → (ids, images, skipped) where ``skipped`` is a list
    of (id, reason) for images that could not be read."""

    def __init__(self, path: str | Path, fmt: ImageFormat, shard_size: int = 4096):
        self.path, self.fmt, self.shard_size = Path(path), fmt, shard_size
        if not self.path.exists():
            raise DataError(f"{self.path}: no such pool (a folder of images, a text file of paths, or .npy shards)")
        if self.path.is_dir() and any(self.path.glob("*.npy")):
            self._arrays = sorted(self.path.glob("*.npy"))
        elif self.path.suffix.lower() == ".npy":
            self._arrays = [self.path]
        else:
            self._arrays = None
            self._files = _images_under(self.path) if self.path.is_dir() else self._listed()
        if self._arrays is not None:
            self._rows = [self._open(a).shape[0] for a in self._arrays]
        if len(self) == 0:
            raise DataError(f"{self.path}: the pool holds no images")

    def _listed(self) -> list[Path]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{self.path}: cannot read the list of pool images ({e})") from None
        return [Path(s) if Path(s).is_absolute() else self.path.parent / s for s in (x.strip() for x in lines) if s]

    def _open(self, path: Path) -> np.ndarray:
        try:
            a = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable .npy array ({e})") from None
        if a.ndim not in (3, 4):
            raise DataError(f"{path}: pool arrays are (N, H, W), (N, C, H, W) or (N, H, W, C); got shape {a.shape}")
        return a

    def __len__(self) -> int:
        return sum(self._rows) if self._arrays is not None else len(self._files)

    @property
    def n_shards(self) -> int:
        return -(-len(self) // self.shard_size)

    @property
    def is_arrays(self) -> bool:
        return self._arrays is not None

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
            except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for truncated or foreign files
                skipped.append((str(f), " ".join(str(e).split()) or type(e).__name__))
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
        x = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
        if x.shape[1:] != self.fmt.shape:
            raise DataError(f"{path}: pool images are {x.shape[1:]}, the labeled ones {self.fmt.shape} (C, H, W)")
        return x


def image_format(labeled: Labeled, side: int | None = None, max_side: int = 64) -> ImageFormat:
    """Grayscale when every labeled image is, else RGB; ``side``, else the labeled images' most common
    side (their larger dimension), at most ``max_side``."""
    from collections import Counter

    from PIL import Image

    modes, sides = set(), Counter()
    for path in labeled.paths:
        try:
            with Image.open(path) as im:
                modes.add("L" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
                sides[max(im.size)] += 1
        except (OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{path}: a labeled image cannot be read ({' '.join(str(e).split())})") from None
    return ImageFormat("RGB" if "RGB" in modes else "L", side or min(sides.most_common(1)[0][0], max_side))
