"""Figures: image grids and learning curves, written atomically as PNG."""

from __future__ import annotations

import math
import os

import numpy as np

from activegan.io import atomic_savefig, atomic_write_bytes
from activegan.results import curve_matrix


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) floats in [0, 1] into one (H', W', 3) uint8 image."""
    images = np.asarray(images, dtype=np.float32)
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol_rows = math.ceil(n / nrow)
    if c == 1:
        images = np.repeat(images, 3, axis=1)
    grid = np.ones((ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), dtype=np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = np.clip(img.transpose(1, 2, 0), 0, 1)
    grid = (grid * 255).round().astype(np.uint8)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def save_image_grid(images: np.ndarray, path: str | os.PathLike, nrow: int | None = None, scale: int | None = None) -> None:
    """Write a PNG grid of (N, C, H, W) images in [0, 1]; small images are upscaled to stay legible."""
    import io

    from PIL import Image

    h = np.asarray(images).shape[2]
    scale = scale or max(1, 64 // h)
    buf = io.BytesIO()
    Image.fromarray(image_grid(images, nrow=nrow, scale=scale)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def save_learning_curves(summary: dict, rows: list[dict], path: str | os.PathLike, title: str = "",
                         key: str = "accuracy") -> None:
    """Mean ± std test accuracy (``key`` "estimate": the estimated accuracy) against the number of labels, one
    line and band per strategy."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    ax = fig.subplots()
    for strategy, s in summary.items():
        n, acc, _ = curve_matrix(rows, strategy, key)
        mean, std = acc.mean(axis=0), acc.std(axis=0)
        (line,) = ax.plot(n, mean, label=f"{strategy} (AULC {s['aulc_mean']:.3f})", lw=1.6)
        ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("labeled images")
    ax.set_ylabel("test accuracy" if key == "accuracy" else "estimated accuracy (no test set)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_savefig(fig, path)
