"""The one image decoder: every image file the package reads (image folders and zips, a query's
labeled set and pool) becomes pixels here, the same way.

- EXIF orientation is applied: a phone's portrait photo is upright.
- Transparency is composited on white (RGBA, LA, a palette with a transparent colour).
- 16-bit images are scaled by their range (I;16: / 65535), not clipped to 8 bits.
- Anything Pillow cannot decode (truncated, foreign, or a decompression bomb: a header claiming more
  pixels than Pillow's limit) raises :class:`~activegan.errors.DataError` naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from activegan.data._common import one_line
from activegan.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})  # integers over 8 bits: / 65535
_FORMAT_OF_SUFFIX = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_ORIENTATION = 0x0112


def read_image(source: str | Path | bytes, mode: str | None = None, side: int | None = None,
               where: str | None = None, suffix: str = "") -> np.ndarray:
    """float32 (C, H, W) in [0, 1]. ``mode`` 'L' (C = 1) or 'RGB' (C = 3); None keeps the image's own
    (grayscale: 1 channel, else 3). ``side``: resized to side × side (bilinear). ``source`` is a path or
    a file's bytes (``where`` then names it in errors, ``suffix`` hints at its format)."""
    where = where or (str(source) if not isinstance(source, bytes) else "image")
    try:
        with _open(source, suffix) as im:
            im.load()
            return _pixels(_upright(im), mode, side)
    except DataError:
        raise
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        raise DataError(f"{where}: not a readable image ({one_line(e)})") from None


def probe_image(path: str | Path) -> tuple[bool, tuple[int, int]]:
    """(is grayscale, (width, height)) from the header alone; DataError when it cannot be read."""
    try:
        with _open(path) as im:
            return im.mode in GRAY_MODES, im.size
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - as in read_image
        raise DataError(f"{path}: not a readable image ({one_line(e)})") from None


def _open(source, suffix: str = ""):
    from PIL import Image, UnidentifiedImageError

    suffix = suffix if isinstance(source, bytes) else Path(source).suffix.lower()
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    if suffix in _FORMAT_OF_SUFFIX:  # naming the format skips Pillow's trial of every plugin (tiny images)
        try:
            return Image.open(fp, formats=[_FORMAT_OF_SUFFIX[suffix]])
        except UnidentifiedImageError:
            if isinstance(fp, io.BytesIO):
                fp.seek(0)
    return Image.open(fp)


def _upright(im):
    from PIL import ImageOps

    try:
        turned = im.getexif().get(_ORIENTATION, 1) not in (1, None)
    except Exception:  # noqa: BLE001 - unreadable EXIF: the pixels are still good
        return im
    return ImageOps.exif_transpose(im) if turned else im


def _pixels(im, mode: str | None, side: int | None) -> np.ndarray:
    from PIL import Image

    gray = im.mode in GRAY_MODES
    mode = mode or ("L" if gray else "RGB")
    if im.mode in _WIDE_MODES or im.mode == "F":
        scale = 65535.0 if im.mode in _WIDE_MODES else 1.0
        plane = Image.fromarray(np.clip(np.asarray(im, dtype=np.float32) / scale, 0, 1), mode="F")
        if side and plane.size != (side, side):
            plane = plane.resize((side, side), Image.BILINEAR)
        a = np.asarray(plane, dtype=np.float32)[None]
        return np.ascontiguousarray(np.repeat(a, 3, axis=0) if mode == "RGB" else a)
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    if im.mode != mode:
        im = im.convert(mode)
    if side and im.size != (side, side):
        im = im.resize((side, side), Image.BILINEAR)
    a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))
