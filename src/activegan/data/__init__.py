"""Datasets: loaders for digits, MNIST, Fashion-MNIST, CIFAR-10 and image folders, and a downloader.

Every loader returns a :class:`Dataset` of float32 images in ``[0, 1]`` shaped (N, C, H, W)
with int64 labels. Problems with the user's files (missing, truncated, corrupt, wrong
layout) raise :class:`~activegan.errors.DataError` with a one-line message naming the file
and what was expected; an unknown dataset name raises :class:`~activegan.errors.ConfigError`.
The readers validate their input once, at the boundary, and the code after that trusts it.

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

One module per format, each with its constants: :mod:`.idx` (MNIST, Fashion-MNIST),
:mod:`.cifar` (CIFAR-10 batches), :mod:`.folder` (image folders and their decoded-image cache),
:mod:`.downloader` (mirrors and checksums). This module maps names to them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from activegan.data._common import Dataset, MissingData
from activegan.data.cifar import CIFAR10_CLASSES, CIFAR10_EXPECTED, locate_cifar10, read_cifar_batches
from activegan.data.downloader import CHECKSUMS, MIRRORS, download
from activegan.data.folder import read_image_folder
from activegan.data.idx import (
    FASHION_MNIST_CLASSES,
    IDX_EXPECTED,
    MNIST_CLASSES,
    load_idx_dataset,
    locate_idx_files,
    read_idx,
)
from activegan.errors import ConfigError, DataError

__all__ = [
    "CHECKSUMS",
    "CIFAR10_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MIRRORS",
    "MNIST_CLASSES",
    "Dataset",
    "default_cache_dir",
    "digits",
    "download",
    "load_dataset",
    "read_cifar_batches",
    "read_idx",
    "read_image_folder",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def default_cache_dir() -> Path:
    """``$ACTIVEGAN_CACHE`` if set, else ``~/.cache/activegan``."""
    env = os.environ.get("ACTIVEGAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "activegan"


def digits() -> Dataset:
    """scikit-learn's 8x8 digits, scaled to [0, 1]: a stratified split of 1297 pool and 500 test images."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # values 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    x_pool, x_test, y_pool, y_test = train_test_split(x, y, test_size=500, random_state=0, stratify=y)
    return Dataset("digits", x_pool, y_pool, x_test, y_test, MNIST_CLASSES)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    test: bool = True,
) -> Dataset:
    """Load a dataset by name: one of :data:`DATASETS` or ``folder:PATH``; ``test=False``: with an empty test
    split (a folder ``<class>/*`` then keeps every image in the pool instead of holding a test split out).

    ``data_dir`` holds the files for mnist, fashion-mnist and cifar10 (for cifar10 it may also
    be the ``.tar.gz`` or image-folder ``.zip`` itself). Without it, files downloaded earlier
    into ``cache_dir/<name>`` are used. ``download=True`` fetches whatever is missing into
    ``cache_dir/<name>`` (default :func:`default_cache_dir`). ``cache_dir`` also holds decoded
    image folders.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("dataset", f"expected one of {', '.join(DATASETS)} or folder:PATH, got {name!r}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    spec = name.strip()
    if spec.lower().startswith("folder:"):
        path = spec[len("folder:") :]
        if not path:
            raise ConfigError("dataset", "'folder:' needs a path: folder:DIR or folder:FILE.zip")
        return read_image_folder(path, name=spec, cache_dir=cache / "decoded", test=test)
    data = _load_named(name, spec.lower(), data_dir, download, cache)
    return data if test else without_test(data)


def without_test(data: Dataset) -> Dataset:
    """The dataset with an empty test split (the pool unchanged)."""
    import dataclasses

    return dataclasses.replace(data, x_test=data.x_test[:0], y_test=data.y_test[:0])


def _load_named(name: str, key: str, data_dir, download: bool, cache: Path) -> Dataset:
    if key not in DATASETS:
        raise ConfigError("dataset", f"unknown name {name!r}; expected one of {', '.join(DATASETS)} or folder:PATH")
    if key == "digits":
        return digits()
    source = _resolve_source(key, data_dir, allow_download=download, cache=cache)
    if key == "cifar10":
        return _load_cifar10(source, cache)
    return load_idx_dataset(key, source)


def _locate(name: str, path: Path) -> None:
    """Raise MissingData unless the files of ``name`` are in ``path`` (or ``path/<name>``)."""
    if name == "cifar10":
        locate_cifar10(path)
    else:
        locate_idx_files(name, path)


def _resolve_source(name: str, data_dir, *, allow_download: bool, cache: Path) -> Path:
    """The directory (or, for cifar10, possibly a file) to load ``name`` from."""
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        try:
            _locate(name, data_dir)
            return data_dir
        except MissingData:
            if not allow_download:
                raise
        return download(name, cache)
    fetched = cache / name
    try:
        _locate(name, fetched)  # downloaded by an earlier run
        return fetched
    except MissingData:
        pass
    if allow_download:
        return download(name, cache)
    expected = CIFAR10_EXPECTED if name == "cifar10" else IDX_EXPECTED
    raise MissingData(
        f"{name}: no data directory given; give the directory holding {expected} (data_dir), "
        f"or download it into {fetched} (download=True)"
    )


def _load_cifar10(source: Path, cache: Path) -> Dataset:
    """The python batches, or an image folder that must hold the ten CIFAR-10 classes at 32x32 RGB."""
    kind, path = locate_cifar10(source)
    if kind == "batches":
        return read_cifar_batches(path)
    ds = read_image_folder(path, name="cifar10", cache_dir=cache / "decoded")
    if ds.classes != CIFAR10_CLASSES:
        raise DataError(
            f"cifar10: image folder {path} has classes {', '.join(ds.classes)}; expected {', '.join(CIFAR10_CLASSES)}"
        )
    if ds.image_shape != (3, 32, 32):
        raise DataError(f"cifar10: image folder {path} holds {ds.image_shape} images; expected 32x32 RGB")
    return ds
