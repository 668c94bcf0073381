"""The DCGAN checkpoint: one file, ``checkpoint.pt``, written by ``train_gan`` after every epoch.

It is a dict of plain tensors (loadable with ``weights_only=True``): ``format`` (FORMAT),
``generator``, ``generator_ema`` (only when ``GanConfig.ema`` > 0), ``discriminator``, ``opt_g``,
``opt_d`` (state dicts), ``config`` (``GanConfig`` as a dict), ``epoch`` (completed epochs) and
``rng`` (the training generator's state, so a resumed run draws what an uninterrupted one would).
A file that is not such a checkpoint is a DataError naming the file.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from activegan.errors import ConfigError, DataError
from activegan.gan.networks import (
    Discriminator,
    GanConfig,
    build_discriminator,
    build_generator,
    check_config,
    generate_from_z,
    resolve_device,
    sample_z,
)
from activegan.io import atomic_torch_save

FORMAT = "activegan-dcgan-1"
CHECKPOINT = "checkpoint.pt"


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load(path: Path) -> dict:
    """The file's dict, or DataError: missing, unreadable, or not an activegan DCGAN checkpoint."""
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing on them
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # RuntimeError, UnpicklingError, EOFError, KeyError, ...; torch's advice to
        # retry with weights_only=False is wrong for a corrupt file and unsafe for a foreign one, so not shown
        raise DataError(f"{path}: not a readable PyTorch checkpoint (corrupt, truncated, or not plain tensors)") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(f"{path}: not an activegan DCGAN checkpoint (expected format {FORMAT!r})")
    missing = [k for k in ("generator", "discriminator", "opt_g", "opt_d", "config", "epoch") if k not in ckpt]
    if missing:
        raise DataError(f"{path}: activegan DCGAN checkpoint is missing {', '.join(missing)}")
    return ckpt


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, its config a checked GanConfig; DataError naming the file when it is not one."""
    path = Path(path)
    ckpt = _load(path)
    if not isinstance(ckpt["config"], dict):
        raise DataError(f"{path}: checkpoint config is a {type(ckpt['config']).__name__}, not a dict")
    unknown = set(ckpt["config"]) - {f.name for f in fields(GanConfig)}
    if unknown:
        raise DataError(f"{path}: checkpoint config has keys GanConfig does not know: {', '.join(sorted(unknown))}")
    cfg = GanConfig(**ckpt["config"])
    try:
        check_config(cfg)
    except ConfigError as e:
        raise DataError(f"{path}: bad config in checkpoint: {e}") from e
    ckpt["config"] = cfg
    return ckpt


def networks_from(ckpt: dict, path: Path, generator_key: str = "generator") -> tuple[nn.Sequential, Discriminator]:
    """(G, D) built from a read_checkpoint dict, G's weights from ``generator_key``; DataError naming
    ``path`` when the weights do not fit the checkpoint's config."""
    cfg = ckpt["config"]
    G, D = build_generator(cfg), build_discriminator(cfg)
    for name, net in ((generator_key, G), ("discriminator", D)):
        try:
            net.load_state_dict(ckpt[name])
        except Exception as e:
            arch = f"image_size={cfg.image_size}, channels={cfg.channels}, nz={cfg.nz}, ngf={cfg.ngf}, ndf={cfg.ndf}"
            raise DataError(f"{path}: {name} weights do not match the checkpoint's config ({arch}): {_one_line(e)}") from e
    return G, D


def write_checkpoint(path: Path, cfg: GanConfig, epoch: int, G: nn.Module, D: nn.Module, opt_g, opt_d,
                     gen: torch.Generator, G_ema: nn.Module | None = None) -> None:
    """Write the checkpoint atomically; ``G_ema`` only when the config averages weights."""
    atomic_torch_save({
        "format": FORMAT,
        "generator": G.state_dict(),
        **({"generator_ema": G_ema.state_dict()} if G_ema is not None else {}),
        "discriminator": D.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "config": asdict(cfg),
        "epoch": epoch,
        "rng": gen.get_state(),
    }, path)


def load_checkpoint(path: str | Path) -> tuple[nn.Sequential, Discriminator, GanConfig, int]:
    """(G, D, config, completed epochs) from a checkpoint written by train_gan, on the CPU, in eval mode.

    G is the weight-averaged generator when the checkpoint has one (what samples come from).
    """
    ckpt = read_checkpoint(path)
    G, D = networks_from(ckpt, Path(path), "generator_ema" if "generator_ema" in ckpt else "generator")
    return G.eval(), D.eval(), ckpt["config"], int(ckpt["epoch"])


def sample(checkpoint_path: str | Path, n: int, seed: int = 0, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """n generated images, (n, C, S, S) float32 in [0, 1]; the same seed gives the same images."""
    if n < 0:
        raise ConfigError("n", f"must be 0 or more samples, got {n}")
    G, _, cfg, _ = load_checkpoint(checkpoint_path)
    device = resolve_device(device)
    G.to(device)
    z = sample_z(n, cfg.nz, torch.Generator().manual_seed(seed))
    out = np.empty((n, cfg.channels, cfg.image_size, cfg.image_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            out[i : i + batch_size] = generate_from_z(G, z[i : i + batch_size].to(device)).cpu().numpy()
    return out
