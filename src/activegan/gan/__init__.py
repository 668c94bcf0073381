"""The DCGAN: networks (``networks``), training and its logs (``train``), checkpoints
(``checkpoint``), the judge of sample quality (``judge``), generated queries (``queries``) and
the ``gan`` / ``generate`` commands (``cli``).

This package re-exports the networks, training and checkpoint API; ``judge``, ``queries`` and
``cli`` are imported by name (``from activegan.gan.judge import SampleJudge``).
"""

from activegan.gan.checkpoint import CHECKPOINT, FORMAT, load_checkpoint, read_checkpoint, sample
from activegan.gan.networks import (
    Discriminator,
    GanConfig,
    build_discriminator,
    build_generator,
    default_image_size,
    discriminator_features,
    generate_from_z,
    resize_images,
    sample_z,
)
from activegan.gan.train import train_gan

__all__ = [
    "CHECKPOINT",
    "FORMAT",
    "Discriminator",
    "GanConfig",
    "build_discriminator",
    "build_generator",
    "default_image_size",
    "discriminator_features",
    "generate_from_z",
    "load_checkpoint",
    "read_checkpoint",
    "resize_images",
    "sample",
    "sample_z",
    "train_gan",
]
