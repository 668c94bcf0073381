"""Synthesised queries in the labeling app (``--strategy gan-<acquisition>``): the person is the
oracle of the generated images themselves (GAAL, Zhu & Bento 2017). Each batch is drawn by
``gan.queries.generate_queries`` with the same strategy objects as pool queries and written as PNG
files into the state directory; an image the person finds unrecognisable is skipped: it costs its
label and adds nothing to training."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from activegan.errors import ConfigError
from activegan.io import atomic_write_bytes
from activegan.label.store import GENERATED_DIR


def acquisition_of(strategy: str) -> str | None:
    """'gan-margin' → 'margin'; a pool strategy → None."""
    return strategy.removeprefix("gan-") if strategy.startswith("gan-") else None


class GeneratedBatches:
    """A DCGAN for the pool (``checkpoint``, or trained once into the cache) that writes query batches."""

    def __init__(self, data, checkpoint=None, cache_dir=None, seed: int = 0, candidates: int = 2000):
        from activegan.gan import load_checkpoint
        from activegan.gan.prepare import check_gan_checkpoint, gan_checkpoint
        from activegan.loop import GanOptions

        if checkpoint is None:
            if cache_dir is None:
                raise ConfigError("gan_checkpoint", "generated queries need a DCGAN: give a checkpoint or a cache directory")
            checkpoint = gan_checkpoint(data, GanOptions(), seed, Path(cache_dir))
        check_gan_checkpoint(checkpoint, data)
        self.G, _, gcfg, _ = load_checkpoint(checkpoint)
        self.image_size, self.data, self.candidates = gcfg.image_size, data, candidates

    def write(self, strategy, model, n: int, rng, round_: int, state_dir: Path) -> list[str]:
        """n generated images (most informative first, near-duplicates skipped) as PNG files; their names."""
        from PIL import Image

        from activegan.gan.queries import QueryOptions, generate_queries

        side = self.data.image_shape[-1]
        images = generate_queries(self.G, model, strategy, n, rng, pool=self.data.x_pool,
                                  opts=QueryOptions(candidates=max(self.candidates, n)),
                                  image_size=None if self.image_size == side else side).images
        names = []
        for i, image in enumerate(images):
            arr = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)).save(buf, format="PNG")
            names.append(f"r{round_:04d}-{i:03d}.png")
            atomic_write_bytes(Path(state_dir) / GENERATED_DIR / names[-1], buf.getvalue())
        return names
