"""Training a DCGAN on images only: the loop, its step, the weight average, and the logs.

Adam(lr 2e-4, betas (0.5, 0.999)) for both networks; the discriminator's loss is BCE on real
(target ``real_label``) and fake (target 0) images, the generator's the non-saturating BCE of its
fakes labelled real. One ``torch.Generator`` seeded with ``cfg.seed`` draws every batch order and z,
and is saved in the checkpoint, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import copy
import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from activegan.errors import ConfigError, DataError
from activegan.gan.checkpoint import CHECKPOINT, networks_from, read_checkpoint, write_checkpoint
from activegan.gan.networks import (
    GanConfig,
    build_discriminator,
    build_generator,
    check_config,
    generate_from_z,
    resize_images,
    resolve_device,
    sample_z,
)
from activegan.io import atomic_savefig, atomic_write_text
from activegan.plots import save_image_grid

LOSS_COLUMNS = ("epoch", "step", "loss_d", "loss_g", "d_real", "d_fake", "seconds")
# Fields that may differ between a checkpoint and the config that resumes it.
RESUMABLE_CHANGES = ("epochs", "device")


# ---------------------------------------------------------------------------------------------
# One step, the weight average and its batch norm


def train_step(G, D, opt_g, opt_d, real: torch.Tensor, z: torch.Tensor, real_label: float = 1.0,
               g_steps: int = 1) -> np.ndarray:
    """One discriminator update, then `g_steps` generator updates on the same z; returns loss_d,
    the first loss_g, mean D(real), mean D(fake)."""
    fake = G(z)
    opt_d.zero_grad(set_to_none=True)
    out_real, out_fake = D(real), D(fake.detach())
    loss_d = F.binary_cross_entropy_with_logits(out_real, torch.full_like(out_real, real_label)) + \
        F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
    loss_d.backward()
    opt_d.step()

    for step in range(g_steps):
        opt_g.zero_grad(set_to_none=True)
        out_gen = D(fake if step == 0 else G(z))
        loss_g = F.binary_cross_entropy_with_logits(out_gen, torch.ones_like(out_gen))  # non-saturating: fakes labelled real
        loss_g.backward()
        opt_g.step()
        if step == 0:  # the logged loss is the first update's, on the same fakes D was just trained on
            first_loss_g = loss_g.item()
    return np.array([loss_d.item(), first_loss_g, out_real.sigmoid().mean().item(), out_fake.sigmoid().mean().item()])


@torch.no_grad()
def update_average(avg: nn.Module, live: nn.Module, decay: float) -> None:
    """avg ← decay · avg + (1 − decay) · live, for the weights (batch-norm statistics are
    recomputed for the average at the end of each epoch)."""
    for a, p in zip(avg.parameters(), live.parameters()):
        a.lerp_(p, 1 - decay)


@torch.no_grad()
def recalibrate_batch_norm(G: nn.Module, cfg: GanConfig, device, batches: int = 20, size: int = 256) -> None:
    """Batch-norm running statistics of G's own activations: the exact mean over fixed z batches."""
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    G.train()
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    for _ in range(batches):
        G(sample_z(size, cfg.nz, gen).to(device))
    for m in norms:
        m.momentum = 0.1
    G.eval()


# ---------------------------------------------------------------------------------------------
# Logs


def _read_rows(path: Path, upto_epoch: int) -> list[dict]:
    """Rows of a CSV log written by an earlier run, kept up to the checkpoint's epoch."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows.append({k: float(v) for k, v in row.items()})
            except (TypeError, ValueError):  # a line cut short by a crash mid-epoch: that epoch is redone
                continue
    return [r for r in rows if r["epoch"] <= upto_epoch]


def _csv_line(row: dict, columns: tuple[str, ...]) -> str:
    return ",".join(str(int(row[c])) if c in ("epoch", "step", "steps") else f"{row[c]:.6g}" for c in columns) + "\n"


def _write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    atomic_write_text(path, ",".join(columns) + "\n" + "".join(_csv_line(r, columns) for r in rows))


def _plot_losses(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ax_loss, ax_d = fig.subplots(2, 1, sharex=True)
    step = [r["step"] for r in rows]
    ax_loss.plot(step, [r["loss_d"] for r in rows], label="loss D")
    ax_loss.plot(step, [r["loss_g"] for r in rows], label="loss G")
    ax_loss.set_ylabel("BCE loss")
    ax_loss.legend()
    ax_d.plot(step, [r["d_real"] for r in rows], label="D(x) real")
    ax_d.plot(step, [r["d_fake"] for r in rows], label="D(G(z)) fake")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("mean D output")
    ax_d.legend()
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=100)


# ---------------------------------------------------------------------------------------------
# Starting or resuming a run


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """DataError unless out_dir holds a checkpoint to resume (resume=True) or none to overwrite."""
    ckpt = Path(out_dir) / CHECKPOINT
    if resume and not ckpt.is_file():
        raise DataError(f"cannot resume: no checkpoint at {ckpt}")
    if not resume and ckpt.exists():
        raise DataError(f"{ckpt} already exists: resume it or choose another output directory")


def _prepare_images(images: np.ndarray, cfg: GanConfig) -> torch.Tensor:
    """Check (N, C, H, W) in [0, 1], resize to the config's size, scale to [-1, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[2] != images.shape[3]:
        raise ConfigError("images", f"must be a non-empty (N, C, H, W) array of square images, got shape {images.shape}")
    if images.shape[1] != cfg.channels:
        raise ConfigError("images", f"have {images.shape[1]} channels but the config says channels={cfg.channels}")
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= 0 and hi <= 1):
        raise ConfigError("images", f"must be floats in [0, 1], got values in [{lo:g}, {hi:g}]")
    x = torch.cat([resize_images(chunk, cfg.image_size) for chunk in x.split(4096)])  # a copy: safe to scale in place
    return x.mul_(2).sub_(1)


def _resumable_checkpoint(path: Path, cfg: GanConfig) -> dict:
    """The checkpoint to resume; DataError when it was trained with another config."""
    ckpt = read_checkpoint(path)
    saved = ckpt["config"]
    changed = [f"{k}={getattr(saved, k)!r} -> {getattr(cfg, k)!r}" for k in asdict(cfg)
               if k not in RESUMABLE_CHANGES and getattr(saved, k) != getattr(cfg, k)]
    if changed:
        raise DataError(f"cannot resume {path} with a different config: {'; '.join(changed)}")
    return ckpt


def _networks(cfg: GanConfig, ckpt: dict | None, path: Path) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(G, D, G_ema): the checkpoint's, or new ones from cfg.seed without touching torch's global RNG."""
    if ckpt is not None:
        G, D = networks_from(ckpt, path)
        G_ema = networks_from(ckpt, path, "generator_ema")[0] if "generator_ema" in ckpt else copy.deepcopy(G)
        return G, D, G_ema
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, no change to the caller's RNG
        torch.manual_seed(cfg.seed)
        G, D = build_generator(cfg), build_discriminator(cfg)
    return G, D, copy.deepcopy(G)


@dataclass
class _Run:
    """A training run between epochs: what every epoch reads and updates."""

    cfg: GanConfig
    out_dir: Path
    device: torch.device
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module  # the weight average (a copy of G's weights when cfg.ema is 0)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gen: torch.Generator  # the only source of randomness while training
    fixed_z: torch.Tensor  # the z of every epoch's sample grid
    batch: int
    steps: int  # per epoch; the last incomplete batch is dropped
    loss_rows: list[dict]
    epoch_rows: list[dict]


def _start(cfg: GanConfig, out_dir: Path, device, nets, ckpt: dict | None, start_epoch: int, n: int) -> _Run:
    """Networks on the device, their optimizers and the RNG (restored when resuming), the logs so far."""
    G, D, G_ema = nets
    G_ema.to(device).requires_grad_(False)
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    gen = torch.Generator().manual_seed(cfg.seed)
    if ckpt is not None:
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        if ckpt.get("rng") is not None:
            gen.set_state(ckpt["rng"])
    fixed_z = sample_z(64, cfg.nz, torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    batch = min(cfg.batch_size, n)
    return _Run(cfg, out_dir, device, G, D, G_ema, opt_g, opt_d, gen, fixed_z, batch, n // batch,
               _read_rows(out_dir / "losses.csv", start_epoch), _read_rows(out_dir / "epochs.csv", start_epoch))


# ---------------------------------------------------------------------------------------------
# Epochs


def _train_epoch(run: _Run, x: torch.Tensor, epoch: int, progress: bool) -> float:
    """One pass over x in a fresh random order, appending to losses.csv; returns its seconds."""
    from tqdm import tqdm

    cfg = run.cfg
    t0, seconds_before = time.perf_counter(), sum(r["seconds"] for r in run.epoch_rows)
    perm = torch.randperm(len(x), generator=run.gen)
    sums = np.zeros(4)
    bar = tqdm(range(run.steps), desc=f"epoch {epoch}/{cfg.epochs}", unit="step", disable=not progress)
    with open(run.out_dir / "losses.csv", "a") as log:
        for i in bar:
            real = x[perm[i * run.batch : (i + 1) * run.batch]].to(run.device)
            z = sample_z(run.batch, cfg.nz, run.gen).to(run.device)
            sums += train_step(run.G, run.D, run.opt_g, run.opt_d, real, z, cfg.real_label, cfg.g_steps)
            t = (epoch - 1) * run.steps + i  # steps taken before this one
            update_average(run.G_ema, run.G, min(cfg.ema, (1 + t) / (10 + t)))
            if (i + 1) % cfg.log_every == 0 or i + 1 == run.steps:
                means = sums / ((i % cfg.log_every) + 1)
                row = dict(zip(LOSS_COLUMNS, [epoch, t + 1, *means, seconds_before + time.perf_counter() - t0]))
                run.loss_rows.append(row)
                log.write(_csv_line(row, LOSS_COLUMNS))
                log.flush()  # readable while training; rewritten atomically at the end of the epoch
                bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}")
                sums[:] = 0
    bar.close()
    return time.perf_counter() - t0


def _end_epoch(run: _Run, epoch: int, seconds: float, evaluate) -> None:
    """Sample grid, optional measures, checkpoint, logs and loss plot of a finished epoch."""
    cfg, out_dir = run.cfg, run.out_dir
    if cfg.ema:
        recalibrate_batch_norm(run.G_ema, cfg, run.device)
    sampler = (run.G_ema if cfg.ema else run.G).eval()
    with torch.inference_mode():
        grid = generate_from_z(sampler, run.fixed_z).cpu().numpy()
    measures = evaluate(sampler, cfg.nz) if evaluate is not None else {}
    run.G.train()
    save_image_grid(grid, out_dir / f"samples_epoch{epoch:03d}.png", nrow=8)
    run.epoch_rows.append({"epoch": epoch, "steps": run.steps, "seconds": seconds, **measures})
    write_checkpoint(out_dir / CHECKPOINT, cfg, epoch, run.G, run.D, run.opt_g, run.opt_d, run.gen,
                     run.G_ema if cfg.ema else None)
    _write_csv(out_dir / "losses.csv", run.loss_rows, LOSS_COLUMNS)
    extra = tuple(k for k in measures if all(k in r for r in run.epoch_rows))
    _write_csv(out_dir / "epochs.csv", run.epoch_rows, ("epoch", "steps", "seconds", *extra))
    _plot_losses(run.loss_rows, out_dir / "losses.png")


def train_gan(
    images: np.ndarray,
    cfg: GanConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    evaluate: Callable[[nn.Module, int], dict] | None = None,
) -> Path:
    """Train a DCGAN on images only ((N, C, H, W) float in [0, 1]); return the path of checkpoint.pt.

    Every epoch writes, each file atomically, into out_dir: checkpoint.pt (networks, optimizers,
    config, epoch, RNG state), samples_epoch{E:03d}.png (64 samples from a fixed z), losses.csv
    (means over every `log_every` steps; `seconds` is training time since the run began),
    losses.png and epochs.csv. `resume=True` continues checkpoint.pt at its next epoch.
    `evaluate(G, nz)`, if given, is called after every epoch with G in eval mode; the numbers it
    returns become extra columns of epochs.csv (its time is not counted in `seconds`).
    """
    check_config(cfg)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume)
    device = resolve_device(cfg.device)
    ckpt_path = out_dir / CHECKPOINT
    ckpt = _resumable_checkpoint(ckpt_path, cfg) if resume else None
    start_epoch = int(ckpt["epoch"]) if ckpt is not None else 0
    if ckpt is not None and start_epoch >= cfg.epochs:
        return ckpt_path
    nets = _networks(cfg, ckpt, ckpt_path)
    x = _prepare_images(images, cfg)
    run = _start(cfg, out_dir, device, nets, ckpt, start_epoch, len(x))
    del ckpt
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "losses.csv", run.loss_rows, LOSS_COLUMNS)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        seconds = _train_epoch(run, x, epoch, progress)
        _end_epoch(run, epoch, seconds, evaluate)
    return ckpt_path
