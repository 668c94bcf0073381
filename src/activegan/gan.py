"""DCGAN (Radford et al. 2016) as the poster describes it, for images of size 8, 16, 28, 32 or 64.

- No pooling and no fully connected hidden layers: z is projected to a 4 x 4 map (7 x 7 for
  size 28, 2 x 2 for size 8) by a transposed convolution from a 1 x 1 map, then stride-2 transposed convolutions
  double it up to the image; the discriminator mirrors this with stride-2 convolutions and ends
  with a convolution to a 1 x 1 logit.
- Batch norm in both networks except at the generator output and the discriminator input.
- ReLU + Tanh in the generator, LeakyReLU(0.2) in the discriminator; z ~ U(-1, 1)^nz.
- Adam(lr 2e-4, betas (0.5, 0.999)); weights from N(0, 0.02), batch-norm scales from N(1, 0.02).

Public images are float32 in [0, 1]; the networks themselves work in [-1, 1] (x * 2 - 1).
"""

from __future__ import annotations

import copy
import csv
import math
import time
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from activegan.errors import UsageError
from activegan.io import atomic_savefig, atomic_torch_save, atomic_write_text
from activegan.plots import save_image_grid

FORMAT = "activegan-dcgan-1"
CHECKPOINT = "checkpoint.pt"
LOSS_COLUMNS = ("epoch", "step", "loss_d", "loss_g", "d_real", "d_fake", "seconds")
# image size -> side of the first (projected) map; each stride-2 block doubles it.
# Size 8 from a 4 x 4 base (one block) never trained well; from 2 x 2 (two blocks) D learns.
BASE_SIDE = {8: 2, 16: 4, 28: 7, 32: 4, 64: 4}
# Fields that may differ between a checkpoint and the config that resumes it.
RESUMABLE_CHANGES = ("epochs", "device")
COMMANDS = ("gan",)  # the subcommands cli.main routes to run_gan_command


@dataclass
class GanConfig:
    image_size: int = 32
    channels: int = 1
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    epochs: int = 5
    # 16 rather than DCGAN's 128: 4× the updates per epoch. On MNIST after 5 epochs (width 32):
    # recognisability 0.668 vs 0.637 at 64, classifier-FID 151 vs 169 (docs/results/gan).
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10  # optimizer steps per row of losses.csv
    dataset: str = ""  # provenance only: the name the images were loaded under
    # > 0: samples come from an exponential moving average of the generator's weights (Yazıcı et
    # al. 2019), decay min(ema, (1 + t) / (10 + t)) at step t. Off by default: on MNIST (5 epochs,
    # batch 16) 0.999 raised recognisability by 0.005 but also raised classifier-FID by 4.
    ema: float = 0.0
    # Target of real images in the discriminator's loss; 0.9 is one-sided label smoothing
    # (Salimans et al. 2016). Fakes are always 0, and the generator always aims at 1.
    real_label: float = 1.0
    # Generator updates per discriminator update (DCGAN-tensorflow makes 2 so that D's loss does not
    # go to zero).
    g_steps: int = 1
    # Stride-1 3 x 3 convolution blocks (conv, batch norm, activation) added at the generator's last
    # hidden map and after the discriminator's first layer, as `n_extra_layers` in Arjovsky et al.'s
    # DCGAN code: more depth at the same resolutions, still no pooling or fully connected layer.
    extra_layers: int = 0


def check_config(cfg: GanConfig) -> None:
    """Raise UsageError, naming the field, for a config no DCGAN here can be built from."""
    if cfg.image_size not in BASE_SIDE:
        raise UsageError(f"image size {cfg.image_size} is not supported: use one of {sorted(BASE_SIDE)}")
    if cfg.channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {cfg.channels}")
    for name in ("nz", "ngf", "ndf", "batch_size", "log_every", "g_steps"):
        if int(getattr(cfg, name)) < 1:
            raise UsageError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.extra_layers < 0:
        raise UsageError(f"extra_layers must be 0 or more, got {cfg.extra_layers}")
    if cfg.epochs < 0:
        raise UsageError(f"epochs must be 0 or more, got {cfg.epochs}")
    if not cfg.lr > 0:
        raise UsageError(f"lr must be positive, got {cfg.lr}")
    if not 0.5 < cfg.real_label <= 1:
        raise UsageError(f"real_label must be in (0.5, 1], got {cfg.real_label}")
    if not 0 <= cfg.ema < 1:
        raise UsageError(f"ema must be in [0, 1), got {cfg.ema}")


def _blocks(image_size: int) -> int:
    """Number of stride-2 blocks between the base map and the image."""
    return round(math.log2(image_size / BASE_SIDE[image_size]))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_generator(cfg: GanConfig) -> nn.Sequential:
    """z (nz x 1 x 1) -> image (channels x S x S) in [-1, 1].

    Size 32, ngf 64: 100 x 1 x 1 -> 256 x 4 x 4 -> 128 x 8 x 8 -> 64 x 16 x 16 -> 1 x 32 x 32.
    Size 28, ngf 64: 100 x 1 x 1 -> 128 x 7 x 7 -> 64 x 14 x 14 -> 1 x 28 x 28.
    """
    check_config(cfg)
    base, n = BASE_SIDE[cfg.image_size], _blocks(cfg.image_size)
    widths = [cfg.ngf * 2 ** (n - 1 - i) for i in range(n)]  # widest first, ngf last
    layers = [
        nn.ConvTranspose2d(cfg.nz, widths[0], base, 1, 0, bias=False),  # widths[0] x base x base
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [
            nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),  # w_out x 2s x 2s
            nn.BatchNorm2d(w_out),
            nn.ReLU(inplace=True),
        ]
    for _ in range(cfg.extra_layers):
        layers += [nn.Conv2d(widths[-1], widths[-1], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[-1]), nn.ReLU(inplace=True)]
    layers += [
        nn.ConvTranspose2d(widths[-1], cfg.channels, 4, 2, 1),  # channels x S x S, no batch norm
        nn.Tanh(),
    ]
    G = nn.Sequential(*layers)
    G.apply(_init_weights)
    return G


class Discriminator(nn.Module):
    """`features`: the strided-convolution stack; `logit`: one convolution down to 1 x 1."""

    def __init__(self, features: nn.Sequential, logit: nn.Conv2d, image_size: int):
        super().__init__()
        self.features = features
        self.logit = logit
        self.image_size = image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) in [-1, 1] -> (N,) logits of "real"."""
        return self.logit(self.features(x)).flatten()


def build_discriminator(cfg: GanConfig) -> Discriminator:
    """Image (channels x S x S) in [-1, 1] -> logit.

    Size 32, ndf 64: 1 x 32 x 32 -> 64 x 16 x 16 -> 128 x 8 x 8 -> 256 x 4 x 4 -> 1 x 1 x 1.
    """
    check_config(cfg)
    base, n = BASE_SIDE[cfg.image_size], _blocks(cfg.image_size)
    widths = [cfg.ndf * 2**i for i in range(n)]  # ndf first, widest last
    layers = [
        nn.Conv2d(cfg.channels, widths[0], 4, 2, 1),  # ndf x S/2 x S/2, no batch norm
        nn.LeakyReLU(0.2, inplace=True),
    ]
    for _ in range(cfg.extra_layers):
        layers += [nn.Conv2d(widths[0], widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.LeakyReLU(0.2, inplace=True)]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [
            nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),  # w_out x s/2 x s/2
            nn.BatchNorm2d(w_out),
            nn.LeakyReLU(0.2, inplace=True),
        ]
    logit = nn.Conv2d(widths[-1], 1, base, 1, 0)  # 1 x 1 x 1
    D = Discriminator(nn.Sequential(*layers), logit, cfg.image_size)
    D.apply(_init_weights)
    return D


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), bilinear with antialiasing; unchanged if already that size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def discriminator_features(D: Discriminator, x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] -> (N, F) flattened last feature map of D (before the logit).

    Images of another size are resized to D's. Put D in eval mode first; gradients flow
    unless the caller disables them.
    """
    x = resize_images(x, D.image_size)
    return D.features(x * 2 - 1).flatten(1)


def sample_z(n: int, nz: int, generator: torch.Generator) -> torch.Tensor:
    """(n, nz, 1, 1) drawn from U(-1, 1), on the generator's device."""
    return torch.rand(n, nz, 1, 1, generator=generator, device=generator.device) * 2 - 1


def generate_from_z(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] from z of shape (n, nz) or (n, nz, 1, 1); differentiable in z."""
    if z.dim() == 2:
        z = z[:, :, None, None]
    return (G(z) + 1) / 2


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, its config checked; UsageError naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing on them
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # RuntimeError, UnpicklingError, EOFError, KeyError, ...; torch's advice to
        # retry with weights_only=False is wrong for a corrupt file and unsafe for a foreign one, so not shown
        raise UsageError(f"{path}: not a readable PyTorch checkpoint (corrupt, truncated, or not plain tensors)") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UsageError(f"{path}: not an activegan DCGAN checkpoint (expected format {FORMAT!r})")
    missing = [k for k in ("generator", "discriminator", "opt_g", "opt_d", "config", "epoch") if k not in ckpt]
    if missing:
        raise UsageError(f"{path}: activegan DCGAN checkpoint is missing {', '.join(missing)}")
    if not isinstance(ckpt["config"], dict):
        raise UsageError(f"{path}: checkpoint config is a {type(ckpt['config']).__name__}, not a dict")
    unknown = set(ckpt["config"]) - {f.name for f in fields(GanConfig)}
    if unknown:
        raise UsageError(f"{path}: checkpoint config has keys GanConfig does not know: {', '.join(sorted(unknown))}")
    cfg = GanConfig(**ckpt["config"])
    try:
        check_config(cfg)
    except UsageError as e:
        raise UsageError(f"{path}: bad config in checkpoint: {e}") from e
    ckpt["config"] = cfg
    return ckpt


def _networks_from(ckpt: dict, path: Path, generator_key: str = "generator") -> tuple[nn.Sequential, Discriminator]:
    cfg = ckpt["config"]
    G, D = build_generator(cfg), build_discriminator(cfg)
    for name, net in ((generator_key, G), ("discriminator", D)):
        try:
            net.load_state_dict(ckpt[name])
        except Exception as e:
            arch = f"image_size={cfg.image_size}, channels={cfg.channels}, nz={cfg.nz}, ngf={cfg.ngf}, ndf={cfg.ndf}"
            raise UsageError(f"{path}: {name} weights do not match the checkpoint's config ({arch}): {_one_line(e)}") from e
    return G, D


def load_checkpoint(path: str | Path) -> tuple[nn.Sequential, Discriminator, GanConfig, int]:
    """(G, D, config, completed epochs) from a checkpoint written by train_gan, on the CPU, in eval mode.

    G is the weight-averaged generator when the checkpoint has one (what samples come from).
    """
    ckpt = read_checkpoint(path)
    G, D = _networks_from(ckpt, Path(path), "generator_ema" if "generator_ema" in ckpt else "generator")
    return G.eval(), D.eval(), ckpt["config"], int(ckpt["epoch"])


def sample(checkpoint_path: str | Path, n: int, seed: int = 0, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """n generated images, (n, C, S, S) float32 in [0, 1]; the same seed gives the same images."""
    if n < 0:
        raise UsageError(f"number of samples must be 0 or more, got {n}")
    G, _, cfg, _ = load_checkpoint(checkpoint_path)
    device = _device(device)
    G.to(device)
    z = sample_z(n, cfg.nz, torch.Generator().manual_seed(seed))
    out = np.empty((n, cfg.channels, cfg.image_size, cfg.image_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            out[i : i + batch_size] = generate_from_z(G, z[i : i + batch_size].to(device)).cpu().numpy()
    return out


# ---------------------------------------------------------------------------------------------
# Training


def _device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {name!r} requested but CUDA is not available here (torch {torch.__version__}); use --device cpu")
        return torch.device(name)
    raise UsageError(f"device must be 'cpu' or 'cuda', got {name!r}")


def _prepare_images(images: np.ndarray, cfg: GanConfig) -> torch.Tensor:
    """Check (N, C, H, W) in [0, 1], resize to the config's size, scale to [-1, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[2] != images.shape[3]:
        raise UsageError(f"images must be a non-empty (N, C, H, W) array of square images, got shape {images.shape}")
    if images.shape[1] != cfg.channels:
        raise UsageError(f"images have {images.shape[1]} channels but the config says channels={cfg.channels}")
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= 0 and hi <= 1):
        raise UsageError(f"images must be floats in [0, 1], got values in [{lo:g}, {hi:g}]")
    x = torch.cat([resize_images(chunk, cfg.image_size) for chunk in x.split(4096)])  # a copy: safe to scale in place
    return x.mul_(2).sub_(1)


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


def _train_step(G, D, opt_g, opt_d, real: torch.Tensor, z: torch.Tensor, real_label: float = 1.0,
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
def _update_average(avg: nn.Module, live: nn.Module, decay: float) -> None:
    """avg ← decay · avg + (1 − decay) · live, for the weights (batch-norm statistics are
    recomputed for the average at the end of each epoch)."""
    for a, p in zip(avg.parameters(), live.parameters()):
        a.lerp_(p, 1 - decay)


@torch.no_grad()
def _recalibrate_batch_norm(G: nn.Module, cfg: GanConfig, device, batches: int = 20, size: int = 256) -> None:
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


def _check_out_dir(out_dir: Path, resume: bool) -> None:
    ckpt = out_dir / CHECKPOINT
    if resume and not ckpt.is_file():
        raise UsageError(f"cannot resume: no checkpoint at {ckpt}")
    if not resume and ckpt.exists():
        raise UsageError(f"{ckpt} already exists: resume it or choose another output directory")


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
    from tqdm import tqdm

    check_config(cfg)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, resume)
    device = _device(cfg.device)
    ckpt_path = out_dir / CHECKPOINT

    start_epoch, rng_state = 0, None
    if resume:
        ckpt = read_checkpoint(ckpt_path)
        saved = ckpt["config"]
        changed = [f"{k}={getattr(saved, k)!r} -> {getattr(cfg, k)!r}" for k in asdict(cfg)
                   if k not in RESUMABLE_CHANGES and getattr(saved, k) != getattr(cfg, k)]
        if changed:
            raise UsageError(f"cannot resume {ckpt_path} with a different config: {'; '.join(changed)}")
        start_epoch, rng_state = int(ckpt["epoch"]), ckpt.get("rng")
        if start_epoch >= cfg.epochs:
            return ckpt_path
        G, D = _networks_from(ckpt, ckpt_path)
        G_ema = _networks_from(ckpt, ckpt_path, "generator_ema")[0] if "generator_ema" in ckpt else copy.deepcopy(G)
    else:
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, no change to the caller's RNG
            torch.manual_seed(cfg.seed)
            G, D = build_generator(cfg), build_discriminator(cfg)
        G_ema = copy.deepcopy(G)

    x = _prepare_images(images, cfg)
    G_ema.to(device).requires_grad_(False)
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    gen = torch.Generator().manual_seed(cfg.seed)  # the only source of randomness while training
    if resume:
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        if rng_state is not None:
            gen.set_state(rng_state)
        del ckpt
    fixed_z = sample_z(64, cfg.nz, torch.Generator().manual_seed(cfg.seed + 1)).to(device)

    loss_rows = _read_rows(out_dir / "losses.csv", start_epoch)
    epoch_rows = _read_rows(out_dir / "epochs.csv", start_epoch)
    n = len(x)
    batch = min(cfg.batch_size, n)
    steps = n // batch  # the last incomplete batch is dropped
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "losses.csv", loss_rows, LOSS_COLUMNS)

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0, seconds_before = time.perf_counter(), sum(r["seconds"] for r in epoch_rows)
        perm = torch.randperm(n, generator=gen)
        sums = np.zeros(4)
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{cfg.epochs}", unit="step", disable=not progress)
        with open(out_dir / "losses.csv", "a") as log:
            for i in bar:
                real = x[perm[i * batch : (i + 1) * batch]].to(device)
                sums += _train_step(G, D, opt_g, opt_d, real, sample_z(batch, cfg.nz, gen).to(device), cfg.real_label, cfg.g_steps)
                t = (epoch - 1) * steps + i  # steps taken before this one
                _update_average(G_ema, G, min(cfg.ema, (1 + t) / (10 + t)))
                if (i + 1) % cfg.log_every == 0 or i + 1 == steps:
                    means = sums / ((i % cfg.log_every) + 1)
                    row = dict(zip(LOSS_COLUMNS, [epoch, (epoch - 1) * steps + i + 1, *means,
                                                  seconds_before + time.perf_counter() - t0]))
                    loss_rows.append(row)
                    log.write(_csv_line(row, LOSS_COLUMNS))
                    log.flush()  # readable while training; rewritten atomically at the end of the epoch
                    bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}")
                    sums[:] = 0
        bar.close()

        seconds = time.perf_counter() - t0
        if cfg.ema:
            _recalibrate_batch_norm(G_ema, cfg, device)
        sampler = (G_ema if cfg.ema else G).eval()
        with torch.inference_mode():
            grid = generate_from_z(sampler, fixed_z).cpu().numpy()
        measures = evaluate(sampler, cfg.nz) if evaluate is not None else {}
        G.train()
        save_image_grid(grid, out_dir / f"samples_epoch{epoch:03d}.png", nrow=8)
        epoch_rows.append({"epoch": epoch, "steps": steps, "seconds": seconds, **measures})
        atomic_torch_save({
            "format": FORMAT,
            "generator": G.state_dict(),
            **({"generator_ema": G_ema.state_dict()} if cfg.ema else {}),
            "discriminator": D.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "config": asdict(cfg),
            "epoch": epoch,
            "rng": gen.get_state(),
        }, ckpt_path)
        _write_csv(out_dir / "losses.csv", loss_rows, LOSS_COLUMNS)
        extra = tuple(k for k in measures if all(k in r for r in epoch_rows))
        _write_csv(out_dir / "epochs.csv", epoch_rows, ("epoch", "steps", "seconds", *extra))
        _plot_losses(loss_rows, out_dir / "losses.png")
    return ckpt_path


# ---------------------------------------------------------------------------------------------
# Command line


def default_image_size(image_shape) -> int:
    """The dataset's own side when a DCGAN of that size exists (8 digits, 28 MNIST, 32 CIFAR), else 32."""
    side = int(image_shape[-1])
    return side if side in BASE_SIDE and image_shape[-1] == image_shape[-2] else GanConfig.image_size


REFERENCE_EPOCHS_HELP = "training epochs of the reference classifier that judges (default: activegan.reference's per dataset)"


def add_gan_parser(subparsers) -> None:
    """`gan train`: options left out on --resume are taken from the checkpoint. `gan eval`: sample quality."""
    gan = subparsers.add_parser("gan", help="train a DCGAN on a dataset's pool images, or measure its samples")
    sub = gan.add_subparsers(dest="gan_command", required=True, metavar="{train,eval}")
    train = sub.add_parser("train", help="train (or --resume) a DCGAN; writes checkpoint, sample grids, loss logs")
    train.add_argument("--dataset", required=True, help="dataset name, as for the other commands")
    train.add_argument("--data-dir", default=None, help="where the dataset files are")
    train.add_argument("--epochs", type=int, required=True, help="total epochs (on --resume: train up to this many)")
    train.add_argument("--out", required=True, help="output directory")
    train.add_argument("--image-size", type=int, default=None, choices=sorted(BASE_SIDE),
                       help="train at this size (default: the dataset's own if supported, else 32); images are resized")
    train.add_argument("--batch-size", type=int, default=None, help=f"default {GanConfig.batch_size}")
    train.add_argument("--ngf", type=int, default=None, help=f"generator width (default {GanConfig.ngf})")
    train.add_argument("--ndf", type=int, default=None, help=f"discriminator width (default {GanConfig.ndf})")
    train.add_argument("--seed", type=int, default=None, help=f"default {GanConfig.seed}")
    train.add_argument("--real-label", type=float, default=None,
                       help=f"discriminator's target for real images (default {GanConfig.real_label}; 0.9: one-sided label smoothing)")
    train.add_argument("--ema", type=float, default=None,
                       help=f"decay of the generator's weight average that samples come from (default {GanConfig.ema}; 0: none)")
    train.add_argument("--g-steps", type=int, default=None, help=f"generator updates per discriminator update (default {GanConfig.g_steps})")
    train.add_argument("--extra-layers", type=int, default=None,
                       help=f"stride-1 3x3 conv blocks added to each network (default {GanConfig.extra_layers})")
    train.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default cpu")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: 2 were slower on 2 shared cores)")
    train.add_argument("--eval-every-epoch", action="store_true",
                       help="record classifier-FID, recognisability and coverage per epoch in epochs.csv")
    train.add_argument("--eval-n", type=int, default=5000, help="samples per evaluation (default 5000)")
    train.add_argument("--reference-epochs", type=int, default=None, help=REFERENCE_EPOCHS_HELP)
    train.add_argument("--cache-dir", default=None, help="where the reference classifier is cached")
    train.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")

    ev = sub.add_parser("eval", help="classifier-FID, recognisability and class coverage of a checkpoint's samples")
    ev.add_argument("checkpoint", help="checkpoint.pt written by gan train")
    ev.add_argument("--dataset", required=True, help="the dataset whose test images are the reference")
    ev.add_argument("--data-dir", default=None, help="where the dataset files are")
    ev.add_argument("-n", type=int, default=5000, help="number of samples (default 5000)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the samples' z (default 0)")
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ev.add_argument("--reference-epochs", type=int, default=None, help=REFERENCE_EPOCHS_HELP)
    ev.add_argument("--cache-dir", default=None, help="where the reference classifier is cached")


def _set_threads(n: int) -> None:
    if n < 1:
        raise UsageError(f"--threads must be at least 1, got {n}")
    torch.set_num_threads(n)


def _cache_dir(args):
    from activegan.data import default_cache_dir

    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else default_cache_dir()


def run_gan_command(args) -> int:
    if args.gan_command == "eval":
        return _run_gan_eval(args)
    if args.gan_command != "train":
        raise UsageError(f"unknown gan command {args.gan_command!r}")
    from activegan.data import load_dataset

    if args.reference_epochs is not None and not args.eval_every_epoch:
        raise UsageError("--reference-epochs chooses the judge of --eval-every-epoch; give both or neither")
    _set_threads(getattr(args, "threads", 1))
    out_dir = Path(args.out)
    _check_out_dir(out_dir, args.resume)
    ds = load_dataset(args.dataset, args.data_dir)
    base = read_checkpoint(out_dir / CHECKPOINT)["config"] if args.resume else \
        GanConfig(image_size=default_image_size(ds.x_pool.shape[1:]))
    given = {"image_size": args.image_size, "batch_size": args.batch_size, "ngf": args.ngf,
             "ndf": args.ndf, "seed": args.seed, "device": args.device, "ema": args.ema,
             "real_label": args.real_label, "g_steps": args.g_steps, "extra_layers": args.extra_layers}
    cfg = replace(base, epochs=args.epochs, channels=int(ds.x_pool.shape[1]), dataset=args.dataset,
                  **{k: v for k, v in given.items() if v is not None})
    evaluate = None
    if getattr(args, "eval_every_epoch", False):
        from activegan.reference import SampleJudge

        evaluate = SampleJudge(ds, _cache_dir(args), n=args.eval_n, reference_epochs=args.reference_epochs)
    path = train_gan(ds.x_pool, cfg, out_dir, resume=args.resume, progress=True, evaluate=evaluate)
    print(f"checkpoint: {path}")
    return 0


def _run_gan_eval(args) -> int:
    from activegan.data import load_dataset
    from activegan.reference import SampleJudge

    _set_threads(args.threads)
    G, _, cfg, epoch = load_checkpoint(args.checkpoint)
    ds = load_dataset(args.dataset, args.data_dir)
    judge = SampleJudge(ds, _cache_dir(args), n=args.n, seed=args.seed, reference_epochs=args.reference_epochs)
    m = judge(G, cfg.nz)
    print(f"{args.checkpoint} (epoch {epoch}, {args.n} samples) against {args.dataset} test images, "
          f"judged by the reference classifier trained {judge.config.epochs} epochs:")
    print(f"classifier-FID   {m['fid']:.4f}")
    print(f"recognisability  {m['recognisability']:.4f}  (share with confidence >= 0.9)")
    print(f"class coverage   {m['coverage']:.4f}  (entropy of predicted classes; max ln {ds.n_classes} = {np.log(ds.n_classes):.4f})")
    return 0
