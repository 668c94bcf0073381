import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

# One cache for the whole session (for each pytest-xdist worker: `make test` runs two), set before anything
# from activegan is imported, so that no test reads or fills ~/.cache/activegan: a warm user cache changed
# what ran and how long it took.
# Subprocesses inherit it; test_data's own tests still point it elsewhere with monkeypatch.
SESSION_CACHE = tempfile.mkdtemp(prefix="activegan-test-cache-")
os.environ["ACTIVEGAN_CACHE"] = SESSION_CACHE
# UMAP's numba threads (OpenMP layer) set torch's pool back to one thread per core: every CNN trained
# after an embedding in the same process ran on two threads, 5-10x slower on 2 busy cores. The
# embeddings are the same with one thread (checked on digits: coordinates bit for bit).
os.environ["NUMBA_NUM_THREADS"] = "1"

import numpy as np
import pytest
import torch
from PIL import Image

from activegan.data import load_dataset


def pytest_terminal_summary(terminalreporter):
    """The CPU under the results (also with -q): numerics differ between Intel and AMD and their instruction
    sets, so a report of a failure says which one it ran on."""
    from benchmarks.reporting import machine, machine_line

    terminalreporter.write_line(f"machine: {machine_line(machine())}")


def pytest_unconfigure(config):
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny nets on 2 shared cores run about 3x faster on one thread than on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_torch_thread_in_each_test(one_torch_thread):
    """Again before each test: a command run in-process that sets its own count (``activegan gan``,
    ``activegan label``) must not leave it to the tests after it."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def session_cache() -> Path:
    """The session's cache: a pool's embedding is fitted once for every test that passes it as cache_dir."""
    return Path(SESSION_CACHE)


@pytest.fixture(scope="session")
def all_digits():
    """scikit-learn's digits as the project loads them: 1 297 pool and 500 test images, 8 × 8."""
    return load_dataset("digits")


@pytest.fixture(scope="session")
def small_digits(all_digits):
    """300 pool and 150 test digits: big enough to learn, small enough to be quick."""
    d = all_digits
    return dataclasses.replace(d, x_pool=d.x_pool[:300], y_pool=d.y_pool[:300], x_test=d.x_test[:150], y_test=d.y_test[:150])


@pytest.fixture
def state_after_round():
    """state_after_round(run, r): the state a run leaves when it is killed right after round r.
    ``run(on_round)`` starts the run with that callback."""
    import copy

    class Stop(Exception):
        pass

    def stop(run, r):
        saved = {}

        def on_round(state, row):
            if row["round"] == r:
                saved.update(copy.deepcopy(state))
                raise Stop

        with pytest.raises(Stop):
            run(on_round)
        return saved

    return stop


def png(path: Path, image: np.ndarray) -> None:
    """A (1, H, W) image in [0, 1] as a grayscale PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image[0] * 255).round().astype(np.uint8), mode="L").save(path)


def gray(path: Path, value: int, side: int = 8) -> None:
    """A noisy grayscale PNG around ``value`` (0–255), the same for the same value."""
    rng = np.random.default_rng(value)
    png(path, np.clip(value + rng.integers(-20, 20, (1, side, side)), 0, 255) / 255)


@pytest.fixture
def tiny(tmp_path):
    """labeled/{dark,bright}/ (4 each) and pool/ (12 images): a cnn learns it in a few epochs."""
    for k in range(4):
        gray(tmp_path / "labeled" / "dark" / f"{k}.png", 30 + k)
        gray(tmp_path / "labeled" / "bright" / f"{k}.png", 220 - k)
    for k in range(12):
        gray(tmp_path / "pool" / f"p{k:02d}.png", 20 * k + 5)
    return tmp_path


@pytest.fixture(scope="session")
def query_folders(tmp_path_factory, all_digits):
    """labeled/<digit>/*.png (5 per class), pool/ (240 PNGs in nested folders, one corrupt, one truncated)."""
    root = tmp_path_factory.mktemp("query")
    d = all_digits
    for c in range(10):
        for k, i in enumerate(np.flatnonzero(d.y_pool == c)[:5]):
            png(root / "labeled" / str(c) / f"{k}.png", d.x_pool[i])
    for i in range(100, 340):
        png(root / "pool" / f"part{i % 3}" / f"img{i:04d}.png", d.x_pool[i])
    (root / "pool" / "part0" / "corrupt.png").write_bytes(b"this is not a png")
    good = (root / "pool" / "part1" / "img0100.png").read_bytes()
    (root / "pool" / "part1" / "truncated.png").write_bytes(good[: len(good) // 2])
    return root
