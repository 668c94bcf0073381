"""A pool's features in chunk files: what a killed run resumes from, and the unit a Ray actor computes.

Chunk ``start`` of the pool keyed ``key`` (``cache.content_key`` of the images and the backbone's key) is
``cache_dir/features-KEY.partial/START.npy``, written atomically by whoever computed it — this process or
a Ray actor, the same bytes either way, so each reads what the other wrote. A file that does not load or
has the wrong number of rows is computed again. No cache directory: nothing is written, nothing resumes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from activegan.io import atomic_file


def parts_dir(cache_dir, key: str) -> Path | None:
    """The chunk folder of the pool ``key``, created; None without a (writable) cache directory."""
    if cache_dir is None:
        return None
    parts = Path(cache_dir) / f"features-{key}.partial"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return parts


def chunk_path(parts: Path, start: int) -> Path:
    return parts / f"{start:09d}.npy"


def chunk_starts(n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, rows) of each chunk of a pool of ``n`` images."""
    return [(start, min(chunk, n - start)) for start in range(0, n, chunk)]


def read_chunk(path: Path, rows: int) -> np.ndarray | None:
    """The chunk at ``path`` if it loads and has ``rows`` rows, else None (it is computed again)."""
    if not path.is_file():
        return None
    try:
        chunk = np.load(path, allow_pickle=False)
    except Exception:  # noqa: BLE001 - a damaged chunk is recomputed
        return None
    return chunk if chunk.ndim == 2 and len(chunk) == rows else None


def write_chunk(path: Path, chunk: np.ndarray) -> None:
    with atomic_file(path) as f:
        np.save(f, np.asarray(chunk, dtype=np.float32))


def missing_chunks(parts: Path, n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, rows) of the chunks with no readable file yet."""
    return [(s, k) for s, k in chunk_starts(n, chunk) if read_chunk(chunk_path(parts, s), k) is None]
