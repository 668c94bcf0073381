"""Tests for activegan.data (one module per format): every reader on small files written here, the downloader against a
local HTTP server, and (skip-if-absent) the real MNIST and CIFAR-10 copies under shared/."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import pickle
import socket
import struct
import tarfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import Image

import activegan.data
from activegan.data import DATASETS, Dataset, default_cache_dir, digits, load_dataset
from activegan.data.cifar import CIFAR10_CLASSES, read_cifar_batches
from activegan.data.downloader import CHECKSUMS, download
from activegan.data.folder import read_image_folder
from activegan.data.idx import FASHION_MNIST_CLASSES, MNIST_CLASSES, read_idx
from activegan.errors import ConfigError, DataError


def _shared_datasets() -> Path:
    here = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return here if here.is_dir() else Path("/work/shared/datasets")


SHARED = _shared_datasets()
MNIST_COUNTS_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_COUNTS_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test touches ~/.cache or a real host: the cache is per-test and the default mirror
    is a closed local port unless a test points it at its own server."""
    monkeypatch.setenv("ACTIVEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ACTIVEGAN_MIRROR", f"http://127.0.0.1:{_closed_port()}/")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.strip(), msg
    return msg


# ---------------------------------------------------------------------------------------------
# writers for the file formats


def write_idx(path: Path, arr: np.ndarray, code: int = 0x08) -> Path:
    """IDX: 00 00 <type code> <ndim>, big-endian uint32 dims, big-endian payload."""
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def write_mnist(directory: Path, *, gz: bool = False, n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(directory / (name + (".gz" if gz else "")), arr)
    return arrays


def cifar_batch(n: int, seed: int, protocol: int = 2) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A batch in the official layout: dict with bytes keys, b'data' (n, 3072) uint8 rows of
    R plane, G plane, B plane (32x32 each), b'labels' a list of ints."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    batch = {
        b"batch_label": b"batch",
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(n, 3072),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }
    return pickle.dumps(batch, protocol=protocol), images, labels


def write_cifar_batches(directory: Path, n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i in range(1, 6):
        blob, x, y = cifar_batch(n, seed=i)
        (directory / f"data_batch_{i}").write_bytes(blob)
        xs.append(x)
        ys.append(y)
    blob, x_test, y_test = cifar_batch(n + 1, seed=99)
    (directory / "test_batch").write_bytes(blob)
    meta = {b"num_cases_per_batch": n, b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(xs), np.concatenate(ys), x_test, y_test


def make_tar(batch_dir: Path, tar_path: Path) -> Path:
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(batch_dir, arcname="cifar-10-batches-py")
    return tar_path


def write_folder(root: Path, spec: dict[str, dict[str, int]], *, mode: str = "L", size=(6, 5), ext: str = ".png", seed: int = 0) -> dict:
    """spec: {split: {class: count}}; returns {path: uint8 pixels} for exact comparisons (PNG)."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, classes in spec.items():
        for cls, count in classes.items():
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
                arr = rng.integers(0, 256, shape, dtype=np.uint8)
                Image.fromarray(arr, mode).save(d / f"{i:03d}{ext}")
                pixels[d / f"{i:03d}{ext}"] = arr
    return pixels


def zip_dir(src: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(src).as_posix())
    return zip_path


# ---------------------------------------------------------------------------------------------
# digits, names, Dataset


def test_digits_shapes_dtypes_ranges():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset) and ds.name == "digits"
    assert ds.x_pool.shape == (1297, 1, 8, 8) and ds.x_test.shape == (500, 1, 8, 8)
    assert ds.x_pool.dtype == ds.x_test.dtype == np.float32
    assert ds.y_pool.dtype == ds.y_test.dtype == np.int64
    assert ds.x_pool.min() == 0.0 and ds.x_pool.max() == 1.0  # 16/16
    assert ds.image_shape == (1, 8, 8) and ds.n_classes == 10
    assert ds.classes == tuple(str(i) for i in range(10))
    # stratified: every class in both splits, in proportion
    assert np.bincount(ds.y_test, minlength=10).min() >= 45
    assert set(np.unique(ds.y_pool)) == set(range(10))


def test_digits_deterministic():
    a, b = load_dataset("digits"), load_dataset("  Digits ")
    np.testing.assert_array_equal(a.x_pool, b.x_pool)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert "pool=1297" in repr(a) and "x_pool" not in repr(a)


@pytest.mark.parametrize("name", ["imagenet", "mnist2", ""])
def test_unknown_name_lists_valid_names(name):
    with pytest.raises(ConfigError) as e:
        load_dataset(name)
    msg = _one_line(e)
    assert e.value.param == "dataset" and msg.startswith("dataset: ")
    assert all(d in msg for d in DATASETS) and "folder:PATH" in msg


def test_folder_without_path():
    with pytest.raises(ConfigError, match="folder:DIR"):
        load_dataset("folder:")


def test_digits_function_is_the_named_dataset():
    a, b = digits(), load_dataset("digits")
    assert a.name == "digits" and a.classes == MNIST_CLASSES
    np.testing.assert_array_equal(a.x_pool, b.x_pool)
    np.testing.assert_array_equal(a.y_pool, b.y_pool)


def test_package_reexports_what_outside_code_imports():
    # Callers import these from activegan.data; they are the readers' own objects.
    from activegan.data import cifar, downloader, folder, idx

    assert activegan.data.read_idx is idx.read_idx
    assert activegan.data.read_cifar_batches is cifar.read_cifar_batches
    assert activegan.data.read_image_folder is folder.read_image_folder
    assert activegan.data.download is downloader.download
    assert activegan.data.CHECKSUMS is downloader.CHECKSUMS
    assert activegan.data.CIFAR10_CLASSES is cifar.CIFAR10_CLASSES
    assert activegan.data.FASHION_MNIST_CLASSES is idx.FASHION_MNIST_CLASSES
    for name in activegan.data.__all__:
        assert hasattr(activegan.data, name), name


def test_errors_are_value_errors():
    # Callers that catch ValueError keep working: both kinds the loaders raise are ValueErrors.
    with pytest.raises(ValueError):
        load_dataset("imagenet")
    with pytest.raises(ValueError):
        load_dataset("mnist")


def test_dataset_rejects_inconsistent_arrays():
    x = np.zeros((3, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="counts"):
        Dataset("t", x, np.zeros(2, np.int64), x, np.zeros(3, np.int64), ("a",))
    with pytest.raises(ValueError, match="pool images"):
        Dataset("t", x, np.zeros(3, np.int64), np.zeros((3, 3, 4, 4), np.float32), np.zeros(3, np.int64), ("a",))


# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)]
)
def test_read_idx_round_trip(tmp_path, suffix, dtype, code):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    out = read_idx(write_idx(tmp_path / f"a.idx{suffix}", arr, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # writable


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name,classes", [("mnist", tuple("0123456789")), ("fashion-mnist", FASHION_MNIST_CLASSES)])
def test_load_idx_dataset(tmp_path, gz, name, classes):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = load_dataset(name, tmp_path)
    assert ds.name == name and ds.classes == classes
    assert ds.x_pool.shape == (30, 1, 28, 28) and ds.x_test.shape == (12, 1, 28, 28)
    assert ds.x_pool.dtype == np.float32 and ds.y_pool.dtype == np.int64
    np.testing.assert_allclose(ds.x_pool[:, 0], arrays["train-images-idx3-ubyte"] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.x_pool.min() >= 0 and ds.x_pool.max() <= 1


def test_idx_files_in_name_subdirectory(tmp_path):
    write_mnist(tmp_path / "mnist", gz=True)
    assert len(load_dataset("mnist", tmp_path).x_pool) == 30


def test_truncated_idx_names_file_and_sizes(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path)
    msg = _one_line(e)
    assert str(f) in msg and "truncated" in msg
    assert f"{12 * 28 * 28} bytes" in msg and f"found {12 * 28 * 28 - 100}" in msg


def test_truncated_gzip_names_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    f = tmp_path / "train-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-12])
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path)
    assert str(f) in _one_line(e) and "gzip" in str(e.value)


@pytest.mark.parametrize("head", [b"\x00\x01\x08\x03", b"\x00\x00\x07\x03", b"PK\x03\x04", b""])
def test_wrong_magic(tmp_path, head):
    f = tmp_path / "x-idx3-ubyte"
    f.write_bytes(head + b"\x00" * 40)
    with pytest.raises(DataError) as e:
        read_idx(f)
    assert str(f) in _one_line(e) and "not an IDX file" in str(e.value)


def test_idx_wrong_kind_of_array(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((30, 2), np.uint8))  # 2-D labels
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: expected uint8 labels"):
        load_dataset("mnist", tmp_path)


def test_label_image_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(29, np.uint8))
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path)
    msg = _one_line(e)
    assert "30 images" in msg and "29 labels" in msg and "train-labels-idx1-ubyte" in msg


def test_label_out_of_range(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(12, 10, np.uint8))
    with pytest.raises(DataError, match="label 10 out of range"):
        load_dataset("mnist", tmp_path)


def test_missing_idx_files_are_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", tmp_path)
    msg = _one_line(e)
    assert str(tmp_path) in msg and "train-images-idx3-ubyte[.gz]" in msg
    missing = msg.split("missing:")[1]
    assert "t10k-images-idx3-ubyte[.gz]" in missing and "train-labels-idx1-ubyte[.gz]" in missing
    assert "train-images" not in missing


def test_nonexistent_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")


def test_no_data_dir_names_parameters_not_flags(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mnist")
    msg = _one_line(e)
    assert "data_dir" in msg and "download=True" in msg and "--" not in msg
    assert "train-images-idx3-ubyte[.gz]" in msg and str(tmp_path / "cache" / "mnist") in msg


def test_previous_download_is_found_without_data_dir(tmp_path):
    write_mnist(tmp_path / "cache" / "mnist", gz=True)  # where download() would have put them
    assert len(load_dataset("mnist").x_test) == 12


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches


def _check_cifar(ds, x_pool, y_pool, x_test, y_test):
    assert ds.name == "cifar10" and ds.classes == CIFAR10_CLASSES and ds.image_shape == (3, 32, 32)
    np.testing.assert_allclose(ds.x_pool, x_pool / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_pool, y_pool)
    np.testing.assert_allclose(ds.x_test, x_test / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert ds.y_pool.dtype == np.int64 and ds.x_pool.dtype == np.float32


def test_cifar_plane_layout(tmp_path):
    # One image whose R, G, B planes are constant 10, 20, 30, and a gradient along the row.
    d = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(d, n=2)
    img = np.zeros((3, 32, 32), np.uint8)
    img[0], img[1], img[2] = 10, 20, 30
    img[0, 0, :] = np.arange(32)
    row = np.concatenate([img[0].ravel(), img[1].ravel(), img[2].ravel()])
    batch = {b"labels": [7, 3], b"data": np.stack([row, row])}
    (d / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    ds = read_cifar_batches(d)
    assert ds.x_pool[0, 1, 5, 5] * 255 == pytest.approx(20) and ds.x_pool[0, 2, 9, 9] * 255 == pytest.approx(30)
    np.testing.assert_allclose(ds.x_pool[0, 0, 0] * 255, np.arange(32), atol=1e-4)
    assert list(ds.y_pool[:2]) == [7, 3]


@pytest.mark.parametrize("where", ["batch_dir", "parent"])
def test_cifar_batches_from_directory(tmp_path, where):
    arrays = write_cifar_batches(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", tmp_path / "cifar-10-batches-py" if where == "batch_dir" else tmp_path)
    _check_cifar(ds, *arrays)
    assert len(ds.x_pool) == 20 and len(ds.x_test) == 5


def test_cifar_batches_from_tarball(tmp_path):
    arrays = write_cifar_batches(tmp_path / "src" / "cifar-10-batches-py")
    (tmp_path / "dl").mkdir()
    tar = make_tar(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "dl" / "cifar-10-python.tar.gz")
    _check_cifar(load_dataset("cifar10", tmp_path / "dl"), *arrays)  # a directory holding the tarball
    _check_cifar(read_cifar_batches(tar), *arrays)  # the tarball itself


def test_cifar_numpy1_pickles_load_without_warnings(tmp_path):
    # The official files were pickled by numpy 1 (module numpy.core.multiarray).
    d = tmp_path / "b"
    arrays = write_cifar_batches(d)
    for f in d.iterdir():
        f.write_bytes(f.read_bytes().replace(b"numpy._core.", b"numpy.core."))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_cifar(read_cifar_batches(d), *arrays)


def test_cifar_corrupt_batch_named(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(d)
    f = d / "data_batch_3"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", tmp_path)
    assert str(f) in _one_line(e) and "corrupt or truncated" in str(e.value)


def test_cifar_corrupt_member_in_tarball_named(tmp_path):
    d = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar_batches(d)
    (d / "test_batch").write_bytes(b"\x80\x02garbage")
    tar = make_tar(d, tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", tar)
    assert f"{tar}:test_batch" in _one_line(e)


def test_cifar_truncated_tarball(tmp_path):
    d = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar_batches(d, n=50)
    tar = make_tar(d, tmp_path / "cifar-10-python.tar.gz")
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    with pytest.raises(DataError) as e:
        read_cifar_batches(tar)
    assert str(tar) in _one_line(e)


def test_cifar_refuses_arbitrary_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getpid, ())

    d = tmp_path / "b"
    write_cifar_batches(d)
    (d / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_2.*refusing to load global posix.getpid"):
        read_cifar_batches(d)


def test_cifar_wrong_content(tmp_path):
    d = tmp_path / "b"
    write_cifar_batches(d)
    (d / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"test_batch: expected b'data' to be a uint8 array of shape \(N, 3072\)"):
        read_cifar_batches(d)
    (d / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="2 images but 1 labels"):
        read_cifar_batches(d)


def test_cifar_missing_batches_named(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(d)
    (d / "data_batch_4").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", tmp_path)
    assert "missing: data_batch_4" in _one_line(e)


def test_cifar_nothing_there(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", tmp_path)
    msg = _one_line(e)
    assert "cifar-10-batches-py" in msg and "cifar-10-python.tar.gz" in msg and str(tmp_path) in msg


# ---------------------------------------------------------------------------------------------
# image folders


def test_folder_gray_directory_sorted_classes(tmp_path):
    pixels = write_folder(tmp_path, {"train": {"zebra": 2, "apple": 3, "mango": 1}, "test": {"mango": 2, "apple": 1}})
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.classes == ("apple", "mango", "zebra") and ds.name == f"folder:{tmp_path}"
    assert ds.x_pool.shape == (6, 1, 5, 6) and ds.x_test.shape == (3, 1, 5, 6)
    assert list(ds.y_pool) == [0, 0, 0, 1, 2, 2] and list(ds.y_test) == [0, 1, 1]
    # files are read in sorted order: train/apple/000.png is the first pool image
    np.testing.assert_allclose(ds.x_pool[0, 0], pixels[tmp_path / "train/apple/000.png"] / 255.0, atol=1e-7)
    np.testing.assert_allclose(ds.x_test[2, 0], pixels[tmp_path / "test/mango/001.png"] / 255.0, atol=1e-7)


@pytest.mark.parametrize("prefix", ["", "mydata/"])
def test_folder_rgb_zip(tmp_path, prefix):
    src = tmp_path / "src"
    pixels = write_folder(src, {"train": {"b": 2, "a": 2}, "test": {"a": 1, "b": 1}}, mode="RGB", size=(4, 3))
    (src / "train" / "a" / "notes.txt").write_text("ignored")
    z = zip_dir(src, tmp_path / "set.zip", prefix)
    ds = read_image_folder(z)
    assert ds.classes == ("a", "b") and ds.image_shape == (3, 3, 4)
    assert list(ds.y_pool) == [0, 0, 1, 1] and list(ds.y_test) == [0, 1]
    np.testing.assert_allclose(ds.x_pool[2], pixels[src / "train/b/000.png"].transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_folder_jpeg_and_mixed_gray_rgb_become_rgb(tmp_path):
    write_folder(tmp_path, {"train": {"a": 2}, "test": {"a": 1}}, mode="L", ext=".jpg")
    write_folder(tmp_path, {"train": {"b": 2}}, mode="RGB", ext=".jpeg", seed=1)
    ds = read_image_folder(tmp_path)
    assert ds.image_shape == (3, 5, 6)
    gray = ds.x_pool[0]  # train/a/000.jpg, gray repeated over 3 channels
    np.testing.assert_array_equal(gray[0], gray[1])
    np.testing.assert_array_equal(gray[0], gray[2])


def test_folder_images_go_through_the_one_decoder(tmp_path):
    """Image folders decode as a query does: transparency on white, 16-bit by its range (a zip too)."""
    for split in ("train", "test"):
        (tmp_path / "src" / split / "a").mkdir(parents=True)
        Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "src" / split / "a" / "clear.png")
        (tmp_path / "src" / split / "b").mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 32896, np.uint16)).save(tmp_path / "src" / split / "b" / "deep.png")  # 128 * 257
    for source in (tmp_path / "src", zip_dir(tmp_path / "src", tmp_path / "set.zip", "")):
        ds = read_image_folder(source)
        assert ds.x_pool[0].min() > 0.99  # was black: the alpha channel dropped
        np.testing.assert_allclose(ds.x_pool[1], 128 / 255, atol=1e-6)  # was 1.0: clipped to 8 bits


def test_folder_mixed_sizes_rejected(tmp_path):
    write_folder(tmp_path, {"train": {"a": 2}, "test": {"a": 1}}, size=(6, 5))
    write_folder(tmp_path, {"train": {"b": 1}}, size=(7, 5))
    with pytest.raises(DataError) as e:
        read_image_folder(tmp_path)
    msg = _one_line(e)
    assert str(tmp_path / "train" / "b" / "000.png") in msg and "7x5" in msg and "6x5" in msg


@pytest.mark.parametrize("as_zip", [False, True])
def test_folder_corrupt_image_named(tmp_path, as_zip):
    src = tmp_path / "src"
    write_folder(src, {"train": {"a": 2}, "test": {"a": 1}})
    bad = src / "train" / "a" / "001.png"
    bad.write_bytes(bad.read_bytes()[:30])
    path = zip_dir(src, tmp_path / "s.zip") if as_zip else src
    with pytest.raises(DataError) as e:
        load_dataset(f"folder:{path}")
    msg = _one_line(e)
    assert ("s.zip:train/a/001.png" if as_zip else str(bad)) in msg and "not a readable image" in msg


def test_folder_test_classes_must_be_subset(tmp_path):
    write_folder(tmp_path, {"train": {"a": 1}, "test": {"a": 1, "q": 1}})
    with pytest.raises(DataError, match="test classes q"):
        read_image_folder(tmp_path)


@pytest.mark.parametrize("spec,match", [({"test": {"a": 1}}, "train/<class>"), ({"train": {"a": 1}}, "test images")])
def test_folder_missing_split(tmp_path, spec, match):
    write_folder(tmp_path, spec)
    with pytest.raises(DataError, match=match):
        read_image_folder(tmp_path)


def test_folder_not_a_zip_or_missing(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a directory or a .zip"):
        load_dataset(f"folder:{tmp_path / 'x.zip'}")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")


@pytest.mark.parametrize("as_zip", [False, True])
def test_folder_cache_hit_and_invalidation(tmp_path, monkeypatch, as_zip):
    src = tmp_path / "src"
    write_folder(src, {"train": {"a": 2, "b": 1}, "test": {"b": 1}})
    path = zip_dir(src, tmp_path / "s.zip") if as_zip else src
    cache = tmp_path / "c"
    first = load_dataset(f"folder:{path}", cache_dir=cache)
    assert len(list((cache / "decoded").glob("*.npz"))) == 1

    def no_decode(*a, **k):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(PIL.Image, "open", no_decode)  # every image is decoded through Image.open
    second = load_dataset(f"folder:{path}", cache_dir=cache)
    np.testing.assert_array_equal(first.x_pool, second.x_pool)
    assert second.classes == first.classes and second.x_pool.dtype == np.float32

    # Any change to the source (here: a new file, a newer mtime) must invalidate the cache.
    monkeypatch.undo()
    write_folder(src, {"train": {"c": 1}}, seed=5)
    if as_zip:
        zip_dir(src, path)
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = load_dataset(f"folder:{path}", cache_dir=cache)
    assert third.classes == ("a", "b", "c") and len(third.x_pool) == 4


def test_unwritable_cache_only_warns(tmp_path):
    write_folder(tmp_path / "src", {"train": {"a": 1}, "test": {"a": 1}})
    blocker = tmp_path / "c"
    blocker.write_text("a file where the cache directory should be")
    with pytest.warns(RuntimeWarning, match="could not cache"):
        ds = read_image_folder(tmp_path / "src", cache_dir=blocker / "decoded")
    assert len(ds.x_pool) == 1


def test_cifar10_image_folder_layout(tmp_path):
    spec = {"train": {c: 1 for c in CIFAR10_CLASSES}, "test": {c: 1 for c in CIFAR10_CLASSES}}
    write_folder(tmp_path / "src", spec, mode="RGB", size=(32, 32), ext=".jpg")
    (tmp_path / "dir").mkdir()
    zip_dir(tmp_path / "src", tmp_path / "dir" / "cifar10-jpeg.zip")
    for source in (tmp_path / "dir", tmp_path / "dir" / "cifar10-jpeg.zip", tmp_path / "src"):
        ds = load_dataset("cifar10", source)
        assert ds.name == "cifar10" and ds.classes == CIFAR10_CLASSES and ds.image_shape == (3, 32, 32)
        assert list(ds.y_pool) == list(range(10))


def test_cifar10_image_folder_wrong_classes(tmp_path):
    write_folder(tmp_path, {"train": {"cat": 1, "dog": 1}, "test": {"cat": 1}}, mode="RGB", size=(32, 32))
    with pytest.raises(DataError, match="has classes cat, dog; expected airplane"):
        load_dataset("cifar10", tmp_path)


# ---------------------------------------------------------------------------------------------
# downloader, against a local HTTP server


class _Server:
    def __init__(self, root: Path):
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    srv.root = root
    yield srv
    srv.close()


@pytest.fixture
def mnist_on_server(server, monkeypatch):
    """Small gz IDX files on the server, with their sha256 as the expected checksums."""
    arrays = write_mnist(server.root / "mnist", gz=True)
    sums = {
        f.name: (f"sha256:{hashlib.sha256(f.read_bytes()).hexdigest()}",) for f in (server.root / "mnist").iterdir()
    }
    monkeypatch.setitem(CHECKSUMS, "mnist", sums)
    return arrays


def test_download_then_cached(tmp_path, server, mnist_on_server, monkeypatch):
    monkeypatch.setenv("ACTIVEGAN_MIRROR", server.url + "mnist")  # no trailing slash: joined anyway
    cache = tmp_path / "dl"
    ds = load_dataset("mnist", download=True, cache_dir=cache)
    np.testing.assert_array_equal(ds.y_pool, mnist_on_server["train-labels-idx1-ubyte"])
    assert sorted(server.hits) == sorted(f"/mnist/{n}" for n in CHECKSUMS["mnist"])
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(CHECKSUMS["mnist"])  # no temp files

    n = len(server.hits)
    assert download("mnist", cache) == cache / "mnist"
    load_dataset("mnist", download=True, cache_dir=cache)
    load_dataset("mnist", cache_dir=cache)  # found without --download too
    assert len(server.hits) == n


def test_data_dir_without_files_downloads_into_cache(tmp_path, server, mnist_on_server, monkeypatch):
    monkeypatch.setenv("ACTIVEGAN_MIRROR", server.url + "mnist/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="missing: train-images"):
        load_dataset("mnist", tmp_path / "empty", cache_dir=tmp_path / "dl")
    assert not server.hits
    ds = load_dataset("mnist", tmp_path / "empty", download=True, cache_dir=tmp_path / "dl")
    assert len(ds.x_pool) == 30 and (tmp_path / "dl" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_download_falls_back_to_next_mirror_and_replaces_bad_file(tmp_path, server, mnist_on_server):
    cache = tmp_path / "dl"
    (cache / "mnist").mkdir(parents=True)
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale partial file")
    out = download("mnist", cache, mirrors=[server.url + "missing/", server.url + "mnist/"])
    assert read_idx(out / "t10k-labels-idx1-ubyte.gz").shape == (12,)
    assert sum(h.startswith("/missing/") for h in server.hits) == 4  # 404 each, then the next mirror


def test_download_checksum_mismatch_leaves_nothing(tmp_path, server, mnist_on_server, monkeypatch):
    name = "train-images-idx3-ubyte.gz"
    expected = "0" * 64
    monkeypatch.setitem(CHECKSUMS["mnist"], name, (f"sha256:{expected}",))
    cache = tmp_path / "dl"
    with pytest.raises(DataError) as e:
        download("mnist", cache, mirrors=[server.url + "mnist/"])
    msg = _one_line(e)
    actual = hashlib.sha256((server.root / "mnist" / name).read_bytes()).hexdigest()
    assert name in msg and expected in msg and actual in msg
    assert not (cache / "mnist" / name).exists()
    assert not [p for p in (cache / "mnist").iterdir() if p.name.startswith(".")]  # no temp file left


def test_download_all_mirrors_down(tmp_path):
    dead = [f"http://127.0.0.1:{_closed_port()}/a/", f"http://127.0.0.1:{_closed_port()}/b/"]
    with pytest.raises(DataError) as e:
        download("cifar10", tmp_path, mirrors=dead)
    msg = _one_line(e)
    assert "cifar-10-python.tar.gz" in msg and dead[0] in msg and dead[1] in msg
    assert not list((tmp_path / "cifar10").iterdir())


def test_load_with_download_and_mirrors_down_is_usage_error(tmp_path):
    with pytest.raises(DataError, match="could not download"):
        load_dataset("fashion-mnist", download=True, cache_dir=tmp_path)  # env mirror: a closed port


def test_download_cifar_tarball_and_load(tmp_path, server, monkeypatch):
    arrays = write_cifar_batches(tmp_path / "src" / "cifar-10-batches-py")
    tar = make_tar(tmp_path / "src" / "cifar-10-batches-py", server.root / "cifar-10-python.tar.gz")
    monkeypatch.setitem(CHECKSUMS, "cifar10", {tar.name: (f"md5:{hashlib.md5(tar.read_bytes()).hexdigest()}",)})
    monkeypatch.setenv("ACTIVEGAN_MIRROR", server.url)
    _check_cifar(load_dataset("cifar10", download=True, cache_dir=tmp_path / "dl"), *arrays)


def test_download_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match="downloadable: mnist, fashion-mnist, cifar10"):
        download("digits", tmp_path)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ACTIVEGAN_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("ACTIVEGAN_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "activegan"


# ---------------------------------------------------------------------------------------------
# real data under shared/ (skipped when absent)

needs_mnist = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason=f"{SHARED / 'mnist'} absent")
needs_cifar_zip = pytest.mark.skipif(not (SHARED / "cifar10-jpeg.zip").is_file(), reason=f"{SHARED / 'cifar10-jpeg.zip'} absent")


@pytest.mark.real_data
@needs_mnist
def test_real_mnist():
    ds = load_dataset("mnist", SHARED)  # finds the mnist/ subdirectory
    assert ds.x_pool.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert list(np.bincount(ds.y_pool)) == MNIST_COUNTS_TRAIN
    assert list(np.bincount(ds.y_test)) == MNIST_COUNTS_TEST
    assert ds.x_pool.max() == 1.0 and 0.12 < ds.x_pool.mean() < 0.14


@pytest.mark.real_data
@needs_mnist
def test_real_mnist_files_match_builtin_checksums(tmp_path):
    # Serve the shared copies and let download() verify them against the built-in table.
    srv = _Server(SHARED)
    try:
        out = download("mnist", tmp_path, mirrors=[srv.url + "mnist/"])
    finally:
        srv.close()
    assert sorted(p.name for p in out.iterdir()) == sorted(CHECKSUMS["mnist"])


@pytest.mark.real_data
@needs_cifar_zip
def test_real_cifar_jpeg_subset(tmp_path):
    # A quick check of the real archive's layout and JPEGs: the first 20 images of every class.
    sub = tmp_path / "cifar10-jpeg.zip"
    with zipfile.ZipFile(SHARED / "cifar10-jpeg.zip") as zin, zipfile.ZipFile(sub, "w") as zout:
        taken: dict[str, int] = {}
        for info in zin.infolist():
            key = info.filename.rsplit("/", 1)[0]
            if not info.is_dir() and taken.get(key, 0) < 20:
                taken[key] = taken.get(key, 0) + 1
                zout.writestr(info, zin.read(info))
    ds = load_dataset("cifar10", tmp_path, cache_dir=tmp_path / "c")
    assert ds.x_pool.shape == (200, 3, 32, 32) and ds.x_test.shape == (200, 3, 32, 32)
    assert list(np.bincount(ds.y_pool)) == [20] * 10
    assert 0.3 < ds.x_pool.mean() < 0.6


@pytest.mark.slow
@pytest.mark.real_data
@needs_cifar_zip
def test_real_cifar_jpeg_full_load_and_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ds = load_dataset("cifar10", SHARED / "cifar10-jpeg.zip", cache_dir=cache)
    assert ds.x_pool.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert list(np.bincount(ds.y_pool)) == [5000] * 10 and list(np.bincount(ds.y_test)) == [1000] * 10
    # README: channel means match the original CIFAR-10 (0.4914, 0.4822, 0.4465) to 0.001
    np.testing.assert_allclose(ds.x_pool.mean(axis=(0, 2, 3)), [0.4914, 0.4822, 0.4465], atol=2e-3)

    # The cache, not the JPEGs: decoding again fails the test (a wall-time bound failed on a loaded machine).
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: pytest.fail("second load decoded again"))
    again = load_dataset("cifar10", SHARED, cache_dir=cache)
    np.testing.assert_array_equal(again.y_test, ds.y_test)
