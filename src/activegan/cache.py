"""The one on-disk cache helper: a file named by the content it was computed from, read when present,
else computed and written atomically. Arrays only (``.npz`` read with ``allow_pickle=False``): a shared
or writable cache directory can hand back wrong numbers at worst, never run code."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Callable

import numpy as np

from activegan.io import atomic_write_bytes


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


def cached_arrays(cache_dir, name: str, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``cache_dir/name-key.npz`` if it is readable, else ``compute()`` written there (no cache_dir: computed)."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):  # a damaged entry is recomputed
            pass
    arrays = compute()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return arrays
