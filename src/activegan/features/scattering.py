"""A fixed 2-D wavelet scattering transform (Mallat 2012; Bruna & Mallat 2013; Oyallon & Mallat 2015):
a representation with no learned and no downloaded weight, for photographs when no pretrained backbone
is wanted.

Each colour channel is scattered on its own with Morlet wavelets at ``J`` scales and ``L`` orientations,
to order 2: S0 = x ⋆ φ, S1 = |x ⋆ ψ_λ1| ⋆ φ, S2 = ||x ⋆ ψ_λ1| ⋆ ψ_λ2| ⋆ φ (λ2 coarser than λ1), each
sampled every 2^J pixels — 1 + J·L + L²·J(J−1)/2 maps per channel (81 for J = 2, L = 8). The filter
bank and the algorithm follow kymatio's ``Scattering2D`` (Andreux et al. 2020; its 0.3.0 does not import
with SciPy ≥ 1.15, so the transform is written here in torch): filters built in Fourier space on the
reflect-padded image, convolutions as products of FFTs, subsampling by periodising the spectrum.

Features: the coefficients, flattened, after ``log1p(S / eps)`` (``log``: compresses the heavy-tailed
moduli so that fine-scale texture is not drowned by the local mean; docs/results/representation/
scattering.md). Images are scattered at their own size up to 32 px and resized to 32 px above that
(``scattering@SIZE`` picks another size).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from activegan.errors import ConfigError

VERSION = "1"  # bump whenever the features this module returns change
CHUNK = 32  # images per transform call
# Views of a labeled photograph that a linear head trains on beside the image itself (``PoolRepresentation.
# view_vectors``): (mirrored, shift right, shift down) in eighths of the side, reflect-padded. A fixed
# transform is not invariant to these, so they teach the head what a learned network gets from
# augmentation; chosen on CIFAR-10's validation split (docs/results/representation/scattering.md). Grey
# images get none: a mirrored digit or letter is another symbol (on the 8-px digits the views cost points).
TRAIN_VIEWS = ((True, 0, 0),) + tuple((flip, dx, dy) for flip in (False, True) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))


def _gabor(M: int, N: int, sigma: float, theta: float, xi: float, slant: float = 1.0) -> np.ndarray:
    """A 2-D Gabor filter of M × N, periodised over ±2 copies (kymatio's ``gabor_2d``)."""
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, -s], [s, c]])
    curv = R @ np.diag([1.0, slant * slant]) @ R.T / (2 * sigma * sigma)
    out = np.zeros((M, N), np.complex128)
    for ex in range(-2, 3):
        for ey in range(-2, 3):
            xx, yy = np.mgrid[ex * M:M + ex * M, ey * N:N + ey * N].astype(np.float64)
            arg = -(curv[0, 0] * xx * xx + (curv[0, 1] + curv[1, 0]) * xx * yy + curv[1, 1] * yy * yy) \
                + 1j * xi * (xx * c + yy * s)
            out += np.exp(arg)
    return out / (2 * np.pi * sigma * sigma / slant)


def _morlet(M: int, N: int, sigma: float, theta: float, xi: float, slant: float) -> np.ndarray:
    """A Gabor minus the Gaussian that makes it zero-mean."""
    wave, envelope = _gabor(M, N, sigma, theta, xi, slant), _gabor(M, N, sigma, theta, 0.0, slant)
    return wave - wave.sum() / envelope.sum() * envelope


def _periodise(f: np.ndarray, res: int) -> np.ndarray:
    """The Fourier filter ``f`` for a signal subsampled 2^res times: high frequencies masked, the
    spectrum folded onto (M / 2^res, N / 2^res) (kymatio's ``periodize_filter_fft``)."""
    if res == 0:
        return f
    M, N = f.shape
    k = 2 ** res
    f = f.copy()
    f[int(M / (2 * k)):int(M / (2 * k)) + int(M * (1 - 1 / k)), :] = 0
    f[:, int(N / (2 * k)):int(N / (2 * k)) + int(N * (1 - 1 / k))] = 0
    return f.reshape(k, M // k, k, N // k).sum(axis=(0, 2))


@lru_cache(maxsize=8)
def filter_bank(M: int, N: int, J: int, L: int):
    """Fourier-domain filters on the padded M × N grid: ``psi[j][res]`` (L, M/2^res, N/2^res), the L
    orientations at scale j for a signal already subsampled 2^res times; ``phi[res]`` the low-pass."""
    import torch

    psi = []
    for j in range(J):
        bank = [np.real(np.fft.fft2(_morlet(M, N, 0.8 * 2 ** j, (int(L - L / 2 - 1) - t) * np.pi / L,
                                            3.0 / 4.0 * np.pi / 2 ** j, 4.0 / L))) for t in range(L)]
        psi.append([torch.from_numpy(np.stack([_periodise(b, res) for b in bank]).astype(np.complex64))
                    for res in range(j + 1)])
    low = np.real(np.fft.fft2(_gabor(M, N, 0.8 * 2 ** (J - 1), 0.0, 0.0)))
    phi = [torch.from_numpy(_periodise(low, res).astype(np.complex64)) for res in range(J + 1)]
    return psi, phi


def _filter_down(xf, filt, k: int):
    """(x̂ · filt) subsampled by k in space, through its spectrum x̂ (…, M, N): the mean of its k × k
    folds, summed block by block (no full-size product is kept)."""
    if k == 1:
        return xf * filt
    M, N = xf.shape[-2:]
    m, n = M // k, N // k
    out = None
    for a in range(k):
        for b in range(k):
            part = xf[..., a * m:(a + 1) * m, b * n:(b + 1) * n] * filt[..., a * m:(a + 1) * m, b * n:(b + 1) * n]
            out = part if out is None else out.add_(part)
    return out.mul_(1.0 / (k * k))


def _modulus(xf):
    """|x| of the signal whose spectrum is xf."""
    import torch

    r = torch.view_as_real(torch.fft.ifft2(xf))
    return torch.hypot(r[..., 0], r[..., 1])


def _padding(M: int, J: int) -> int:
    return ((M + 2 ** J) // 2 ** J + 1) * 2 ** J


def scatter(x, J: int = 2, L: int = 8, order: int = 2):
    """Scattering coefficients of x (B, M, N) → (B, K, M', N') float32, K = 1 + J·L (+ L²·J(J−1)/2 at
    order 2), M' ≈ M / 2^J; coefficient 0 is S0, then S1 by (j1, θ1), then S2 by (j1, θ1, j2, θ2)."""
    import torch
    import torch.nn.functional as F

    B, M, N = x.shape
    Mp, Np = _padding(M, J), _padding(N, J)
    if M + 2 <= 2 ** J or N + 2 <= 2 ** J or (Mp - M) // 2 >= M or (Np - N) // 2 >= N:
        raise ConfigError("features", f"images of {M}x{N} px are too small for scattering with J={J}")
    psi, phi = filter_bank(Mp, Np, J, L)
    top, left = (Mp - M) // 2, (Np - N) // 2
    x = F.pad(x[:, None], (left, Np - N - left, top, Mp - M - top), mode="reflect")[:, 0]
    xf = torch.fft.fft2(x)

    def low(uf, res):  # (…, m, n) spectrum at 2^res → real coefficients at 2^J, unpadded
        return torch.fft.ifft2(_filter_down(uf, phi[res], 2 ** (J - res))).real[..., 1:-1, 1:-1]

    out = [low(xf, 0)[:, None]]
    first, second = [], []
    for j1 in range(J):
        u1f = torch.fft.fft2(_modulus(_filter_down(xf[:, None], psi[j1][0], 2 ** j1)))  # (B, L, ·, ·)
        first.append(low(u1f, j1))
        if order < 2:
            continue
        for j2 in range(j1 + 1, J):
            u2 = _modulus(_filter_down(u1f[:, :, None], psi[j2][j1], 2 ** (j2 - j1)))  # (B, L, L, ·, ·)
            second.append(low(torch.fft.fft2(u2), j2).flatten(1, 2))
    out = torch.cat(out + first + second, dim=1)
    return out.float()


class ScatteringBackbone:
    """The ``scattering`` representation: (n, C, H, W) in [0, 1] → (n, C·K·H'·W') float32 features;
    ``train_views``: the views a head trains on (they change no feature, so they are not in the key)."""

    def __init__(self, J: int = 2, L: int = 8, order: int = 2, size: int | None = None, log: bool = True,
                 eps: float = 1e-2, colour: str = "rgb", train_views: tuple = ()):
        if not (1 <= J <= 5 and 1 <= L <= 16 and order in (1, 2) and colour in ("rgb",)):
            raise ConfigError("features", f"scattering: J 1-5, L 1-16, order 1 or 2 (got J={J}, L={L}, order={order})")
        self.J, self.L, self.order, self.size, self.log, self.eps, self.colour = J, L, order, size, log, eps, colour
        self.train_views = tuple(train_views)
        norm = f"log1p/{eps:g}" if log else "raw"
        self.key = f"scattering:v{VERSION}:J{J}:L{L}:order{order}:size{size or 'own'}:{norm}:{colour}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if x.ndim != 4:
            raise ConfigError("features", f"scattering takes (n, C, H, W) images, got shape {tuple(x.shape)}")
        with torch.inference_mode():
            if self.size is not None and tuple(x.shape[2:]) != (self.size, self.size):
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                                  antialias=max(x.shape[2:]) > self.size)
            n, c, h, w = x.shape
            parts = []
            for i in range(0, n, CHUNK):  # small batches stay in cache: ~2x faster than 256 at once
                s = scatter(x[i:i + CHUNK].reshape(-1, h, w), self.J, self.L, self.order)
                if self.log:
                    s = torch.log1p(s.clamp_min(0) / self.eps)
                parts.append(s.reshape(len(x[i:i + CHUNK]), -1))
            return torch.cat(parts).numpy().astype(np.float32, copy=False)


def backbone(image_shape, size: int | None = None) -> ScatteringBackbone:
    """The built-in ``scattering`` for images of (C, H, W): their own size up to 32 px, else 32 px;
    colour images (photographs) with ``TRAIN_VIEWS``, grey ones without."""
    if size is None and max(int(image_shape[1]), int(image_shape[2])) > 32:
        size = 32
    return ScatteringBackbone(size=size, train_views=TRAIN_VIEWS if int(image_shape[0]) == 3 else ())
