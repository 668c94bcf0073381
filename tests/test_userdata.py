"""A user's own images as ``activegan query`` reads them (``activegan.data.user``, decoded by
``activegan.data.images``): odd files are decoded right, or skipped and listed, never fatal."""

import csv
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from activegan.cli import main
from activegan.data.user import ImageFormat, ImagePool, decode, read_labeled
from activegan.errors import DataError


def _query(root: Path, *extra: str, labeled: str = "labeled", pool: str = "pool") -> int:
    return main(["query", "--strategy", "margin", "--labeled", str(root / labeled), "--pool", str(root / pool), "--out", str(root / "out"),
                 "--learner", "cnn", "--epochs", "3", "--no-progress", *extra])


def _skipped(root: Path) -> dict:
    with open(root / "out" / "skipped.csv", newline="", encoding="utf-8") as f:
        return {Path(r["id"]).name: r["reason"] for r in csv.DictReader(f)}


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width × height (8-bit gray) and holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_in_the_pool_is_skipped_and_listed(tiny, capsys):
    _png_header_only(tiny / "pool" / "bomb.png", 30000, 30000)
    assert _query(tiny) == 0
    assert "decompression bomb" in _skipped(tiny)["bomb.png"].lower()


def test_a_decompression_bomb_in_the_labeled_set_is_one_line_and_exit_2(tiny, capsys):
    _png_header_only(tiny / "labeled" / "dark" / "bomb.png", 30000, 30000)
    assert _query(tiny) == 2
    err = capsys.readouterr().err
    assert "bomb.png" in err and err.count("\n") == 1 and "Traceback" not in err


def test_16_bit_grayscale_is_scaled_by_its_range(tmp_path):
    ramp = np.linspace(0, 65535, 64).round().astype(np.uint16).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "deep.png")  # I;16
    x = decode(tmp_path / "deep.png", ImageFormat("L", 8))[0]
    assert x.max() == pytest.approx(1.0, abs=1e-3) and x.min() == pytest.approx(0.0, abs=1e-3)
    assert 0.4 < x.mean() < 0.6  # clipped to 8 bits, every non-zero pixel read 1.0 (mean 0.98)


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((8, 8), np.uint8)
    a[:, 4:] = 255  # right half white as stored
    exif = Image.Exif()
    exif[0x0112] = 3  # shown turned by 180 degrees: the white half on the left
    Image.fromarray(a, mode="L").save(tmp_path / "turned.png", exif=exif)
    x = decode(tmp_path / "turned.png", ImageFormat("L", 8))[0]
    assert x[:, :4].min() > 0.9 and x[:, 4:].max() < 0.1


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_pixels_are_white(tmp_path, mode):
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # transparent black
    if mode == "LA":
        im = im.convert("LA")
    elif mode == "P":
        im = Image.new("P", (8, 8), 0)
        im.putpalette([0, 0, 0] * 256)
        im.info["transparency"] = 0
    im.save(tmp_path / "clear.png")
    assert decode(tmp_path / "clear.png", ImageFormat("RGB", 8)).min() > 0.99


def test_a_broken_symlink_in_the_pool_is_skipped_and_listed(tiny):
    os.symlink(tiny / "nowhere.png", tiny / "pool" / "gone.png")
    assert _query(tiny) == 0
    assert "broken" in _skipped(tiny)["gone.png"]


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_file_name_that_is_not_utf8_is_listed_and_the_rest_ranked(tiny):
    name = os.fsencode(str(tiny / "pool")) + b"/caf\xe9.png"
    with open(name, "wb") as f:
        f.write((tiny / "pool" / "p00.png").read_bytes() + b"")
    assert _query(tiny, "-n", "5") == 0
    with open(tiny / "out" / "queries.csv", newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 5
    (reason,) = [r for n, r in _skipped(tiny).items() if n.startswith("caf")]
    assert "UTF-8" in reason


def test_pool_arrays_of_uint16_are_scaled_by_their_range(tmp_path):
    np.save(tmp_path / "deep.npy", np.full((3, 8, 8), 32768, np.uint16))
    _, images, _ = ImagePool(tmp_path / "deep.npy", ImageFormat("L", 8)).shard(0)
    assert images.max() == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_pool_arrays_of_other_integers_are_refused_with_one_line(tmp_path, dtype):
    np.save(tmp_path / "ints.npy", np.full((3, 8, 8), 200, dtype))
    with pytest.raises(DataError, match="uint8"):
        ImagePool(tmp_path / "ints.npy", ImageFormat("L", 8)).shard(0)


def test_pool_arrays_of_floats_outside_0_1_are_refused(tmp_path):
    np.save(tmp_path / "f.npy", np.full((3, 8, 8), 200.0, np.float32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        ImagePool(tmp_path / "f.npy", ImageFormat("L", 8)).shard(0)


def test_a_labeled_csv_with_a_byte_order_mark_is_read(tiny):
    rows = "path,label\n" + "".join(f"labeled/{c}/{k}.png,{c}\n" for c in ("dark", "bright") for k in range(4))
    (tiny / "set.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    assert read_labeled(tiny / "set.csv").labels == ["dark"] * 4 + ["bright"] * 4


@pytest.mark.parametrize("size", ["0", "-3"])
def test_an_image_size_below_1_names_its_flag(tiny, capsys, size):
    assert _query(tiny, "--image-size", size) == 2
    err = capsys.readouterr().err
    assert f"--image-size must be at least 1, got {size}" in err and err.count("\n") == 1


def test_labeled_images_in_the_pool_are_not_ranked(tiny, capsys):
    (tiny / "labeled" / "dark" / "0.png").rename(tiny / "pool" / "moved.png")
    os.symlink(tiny / "pool" / "moved.png", tiny / "labeled" / "dark" / "0.png")  # the same file
    (tiny / "pool" / "copy.png").write_bytes((tiny / "labeled" / "bright" / "1.png").read_bytes())  # the same bytes
    assert _query(tiny, "-n", "20") == 0
    with open(tiny / "out" / "queries.csv", newline="") as f:
        ranked = {Path(r["id"]).name for r in csv.DictReader(f)}
    assert len(ranked) == 12 and not ranked & {"moved.png", "copy.png"}
    assert json.loads((tiny / "out" / "config.json").read_text())["excluded_labeled"] == 2
    assert "2 pool images are in the labeled set" in capsys.readouterr().err
