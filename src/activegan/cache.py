"""The one on-disk cache helper: a file named by the content it was computed from, read when present,
else computed and written atomically. Arrays only (``.npz`` read with ``allow_pickle=False``): a shared
or writable cache directory can hand back wrong numbers at worst, never run code."""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from activegan.io import atomic_file

logger = logging.getLogger("activegan")


def content_key(*parts) -> str:
    """16 hex digits of SHA-1 over arrays' bytes (with shape and dtype) and other values' text."""
    h = hashlib.sha1()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.shape}{part.dtype}".encode())
            h.update(np.ascontiguousarray(part).view(np.uint8))
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


def cache_path(cache_dir, name: str, key: str) -> Path:
    """Where ``cached_arrays`` keeps ``name`` computed from ``key``."""
    return Path(cache_dir) / f"{name}-{key}.npz"


def cached_arrays(cache_dir, name: str, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``cache_dir/name-key.npz`` if it is readable, else ``compute()`` written there (no cache_dir: computed)."""
    if cache_dir is None:
        return compute()
    path = cache_path(cache_dir, name, key)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - a damaged or planted entry is recomputed, never fatal
            logger.warning("ignoring unreadable cache %s: %s", path, " ".join(str(e).split())[:200])
    arrays = compute()
    try:
        with atomic_file(path) as f:  # streamed: a decoded dataset is not held in memory twice
            np.savez(f, **arrays)
    except OSError as e:  # a read-only cache slows the next run down but must not fail this one
        warnings.warn(f"could not cache {name} in {path}: {e}", RuntimeWarning, stacklevel=2)
    return arrays
