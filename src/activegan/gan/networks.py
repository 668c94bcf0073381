"""The DCGAN's two networks (Radford et al. 2016), for images of size 8, 16, 28, 32 or 64.

- No pooling and no fully connected hidden layers: z is projected to a 4 x 4 map (7 x 7 for
  size 28, 2 x 2 for size 8) by a transposed convolution from a 1 x 1 map, then stride-2 transposed convolutions
  double it up to the image; the discriminator mirrors this with stride-2 convolutions and ends
  with a convolution to a 1 x 1 logit.
- Batch norm in both networks except at the generator output and the discriminator input.
- ReLU + Tanh in the generator, LeakyReLU(0.2) in the discriminator; z ~ U(-1, 1)^nz.
- Weights from N(0, 0.02), batch-norm scales from N(1, 0.02) (Adam's settings are in GanConfig).

Public images are float32 in [0, 1]; the networks themselves work in [-1, 1] (x * 2 - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from activegan.errors import ConfigError

# image size -> side of the first (projected) map; each stride-2 block doubles it.
# Size 8 from a 4 x 4 base (one block) never trained well; from 2 x 2 (two blocks) D learns.
BASE_SIDE = {8: 2, 16: 4, 28: 7, 32: 4, 64: 4}


@dataclass
class GanConfig:
    image_size: int = 32
    channels: int = 1
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    epochs: int = 5
    # 16 rather than DCGAN's 128: 8× the updates per epoch. Chosen by sample quality on MNIST: the
    # batch-64 and batch-16 runs are compared in docs/results/gan/README.md ("MNIST: 5 epochs").
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10  # optimizer steps per row of losses.csv
    dataset: str = ""  # provenance only: the name the images were loaded under
    # > 0: samples come from an exponential moving average of the generator's weights (Yazıcı et
    # al. 2019), decay min(ema, (1 + t) / (10 + t)) at step t. Off by default: on MNIST it changed
    # recognisability little and worsened classifier-FID (docs/results/gan/README.md, "What this shows").
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
    """Raise ConfigError, naming the field, for a config no DCGAN here can be built from."""
    if cfg.image_size not in BASE_SIDE:
        raise ConfigError("image_size", f"must be one of {sorted(BASE_SIDE)}, got {cfg.image_size}")
    if cfg.channels not in (1, 3):
        raise ConfigError("channels", f"must be 1 or 3, got {cfg.channels}")
    for name in ("nz", "ngf", "ndf", "batch_size", "log_every", "g_steps"):
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(cfg, name)}")
    if cfg.extra_layers < 0:
        raise ConfigError("extra_layers", f"must be 0 or more, got {cfg.extra_layers}")
    if cfg.epochs < 0:
        raise ConfigError("epochs", f"must be 0 or more, got {cfg.epochs}")
    if not cfg.lr > 0:
        raise ConfigError("lr", f"must be positive, got {cfg.lr}")
    if not 0.5 < cfg.real_label <= 1:
        raise ConfigError("real_label", f"must be in (0.5, 1], got {cfg.real_label}")
    if not 0 <= cfg.ema < 1:
        raise ConfigError("ema", f"must be in [0, 1), got {cfg.ema}")


def default_image_size(image_shape) -> int:
    """The dataset's own side when a DCGAN of that size exists (8 digits, 28 MNIST, 32 CIFAR), else 32."""
    side = int(image_shape[-1])
    return side if side in BASE_SIDE and image_shape[-1] == image_shape[-2] else GanConfig.image_size


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' as a torch device; ConfigError when CUDA is asked for but absent."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError("device", f"{name!r} requested but CUDA is not available here (torch {torch.__version__}); use 'cpu'")
        return torch.device(name)
    raise ConfigError("device", f"must be 'cpu' or 'cuda', got {name!r}")


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
    for _ in range(cfg.extra_layers):  # ngf x S/2 x S/2, unchanged
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
    for _ in range(cfg.extra_layers):  # ndf x S/2 x S/2, unchanged
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
