"""The representation plug-in (activegan.features): the embedded backbone, the user's own backbone in each
format (built and saved by the test itself: nothing downloads), the pool cache that survives a kill, and
runs on top of it."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from activegan import features as feats
from activegan.errors import ConfigError
from activegan.features import Features, auto_choice, check_name, pool_features, resolve


class Pool2(torch.nn.Module):
    """A tiny fixed backbone: two channels of mean brightness per colour plane, no spatial axes."""

    def forward(self, x):
        m = x.mean(dim=(2, 3))
        return torch.cat([m, 2 * m], dim=1)


def colour(n=40, side=16, seed=0):
    return np.random.default_rng(seed).random((n, 3, side, side), dtype=np.float32)


@pytest.mark.parametrize("name", ["nope", "pixels@32", "efficientnet-lite0@3", "efficientnet-lite0@x", "torchscript"])
def test_unknown_or_malformed_representations_are_refused_by_name(name):
    with pytest.raises(ConfigError) as e:
        check_name(name)
    assert e.value.param == "features"


def test_auto_picks_pixels_for_grey_images_and_the_embedded_backbone_for_colour():
    assert auto_choice((1, 28, 28)) == "pixels"
    assert auto_choice((3, 32, 32)) == "efficientnet-lite0"
    assert resolve("auto", (1, 8, 8)).is_pixels


def test_auto_says_which_backbone_and_size_it_picked_for_colour_images(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="activegan"):
        f = resolve("auto", (3, 32, 32))
    assert f.name == f"efficientnet-lite0@{feats.DEFAULT_SIZE['efficientnet-lite0']}"
    assert f"auto picked {f.name} for 32x32 colour images" in caplog.text


def test_the_embedded_backbone_loads_from_its_wheel_and_gives_1280_pooled_features():
    f = resolve("efficientnet-lite0@32", (3, 16, 16))
    x = colour(4)
    out = f(x)
    assert out.shape == (4, 1280) and np.isfinite(out).all()
    assert np.allclose(out, f(x), atol=1e-5)  # eval mode: no dropout, batch norm frozen
    assert f.name == "efficientnet-lite0@32" and f.key.startswith("efficientnet-lite0:")
    # The pretrained weights, not a random init: the same images give other features from a fresh net.
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", num_classes=1000, image_size=32)
    fresh = feats.backbones.TorchBackbone(net, feats.backbones.Preprocess(32), "fresh", forward=net.extract_features)
    assert not np.allclose(out, fresh(x), atol=1e-3)


def test_the_embedded_backbone_in_channels_last_order_gives_the_same_features_as_in_the_default_order():
    import copy

    import torch

    b = resolve("efficientnet-lite0@32", (3, 16, 16)).backbone
    x = colour(4)
    net = copy.deepcopy(b.module).to(memory_format=torch.contiguous_format)
    plain = feats.backbones.TorchBackbone(net, b.preprocess, b.key, forward=net.extract_features)
    assert b.memory_format == torch.channels_last and plain.memory_format == torch.contiguous_format
    # Only float rounding differs (1e-5 here, values up to about 3): the cache key is the same. The margin is for other CPUs.
    assert np.allclose(b(x), plain(x), rtol=1e-4, atol=1e-3)


def test_a_torchscript_file_a_python_factory_and_an_onnx_file_give_the_same_features(tmp_path, monkeypatch):
    x = colour(6)
    # What each should give, by hand: ImageNet normalisation, then [mean, 2 × mean] per plane.
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)[None, :]
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)[None, :]
    m = (x.mean(axis=(2, 3)) - mean) / std
    expected = np.concatenate([m, 2 * m], axis=1)

    ts = tmp_path / "net.pt"
    torch.jit.script(Pool2()).save(str(ts))
    (tmp_path / "mybackbone.py").write_text("import torch\n\n"
                                            "class Pool2(torch.nn.Module):\n"
                                            "    def forward(self, x):\n"
                                            "        m = x.mean(dim=(2, 3))\n"
                                            "        return torch.cat([m, 2 * m], dim=1)\n\n"
                                            "def make():\n    return Pool2()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(Pool2(), (torch.rand(2, 3, 16, 16),), str(onnx_path), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    for name in (f"torchscript:{ts}", "python:mybackbone:make", f"onnx:{onnx_path}"):
        got = resolve(name, (3, 16, 16))(x)
        assert np.allclose(got, expected, atol=1e-4), name
    sys.modules.pop("mybackbone", None)


def test_a_missing_backbone_file_or_factory_is_one_config_error(tmp_path):
    for name in (f"torchscript:{tmp_path / 'none.pt'}", f"onnx:{tmp_path / 'none.onnx'}", "python:no_such_module:f"):
        with pytest.raises(ConfigError):
            resolve(name, (3, 16, 16))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="TorchScript"):
        resolve(f"torchscript:{bad}", (3, 16, 16))


class Counting:
    """A backbone that counts the images it sees and can be told to die after some calls (a kill -9)."""

    key = "counting"

    def __init__(self, die_after=None):
        self.seen, self.calls, self.die_after = 0, 0, die_after

    def __call__(self, batch):
        self.calls += 1
        if self.die_after is not None and self.calls > self.die_after:
            raise KeyboardInterrupt
        self.seen += len(batch)
        return batch.reshape(len(batch), -1)[:, :3] * 10


def test_pool_features_are_cached_by_content_and_resume_after_a_kill(tmp_path, monkeypatch):
    monkeypatch.setattr(feats, "CHUNK", 10)
    x = colour(35)
    dying = Features("counting", Counting(die_after=2))
    with pytest.raises(KeyboardInterrupt):
        pool_features(x, dying, tmp_path, batch=10)  # two chunks of 10 written, then killed
    again = Features("counting", Counting())
    out = pool_features(x, again, tmp_path, batch=10)
    assert again.backbone.seen == 15  # only what the kill lost: 35 − 2 chunks of 10
    assert np.allclose(out, x.reshape(35, -1)[:, :3] * 10)
    third = Features("counting", Counting())
    assert np.array_equal(pool_features(x, third, tmp_path, batch=10), out) and third.backbone.seen == 0  # cached
    other = Features("counting", Counting())
    pool_features(x[::-1].copy(), other, tmp_path, batch=10)
    assert other.backbone.seen == 35  # another pool: computed
    assert not list(tmp_path.glob("*.partial"))


def test_a_run_on_the_users_own_backbone_learns_with_the_linear_head(tmp_path, all_digits):
    """End to end: digits through a saved TorchScript backbone (a fixed random projection of the pixels),
    the linear learner, typical first labels; it learns far beyond chance (10 %)."""
    from activegan.loop import ExperimentConfig, run_strategy

    torch.manual_seed(0)
    proj = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 64))
    path = tmp_path / "proj.pt"
    torch.jit.trace(proj.eval(), torch.rand(1, 3, 8, 8)).save(str(path))
    cfg = ExperimentConfig(strategies=["random"], seeds=[0], learner="linear", features=f"torchscript:{path}",
                           budgets=[20, 60]).resolved()
    cfg.validate(len(all_digits.y_pool))
    state = run_strategy(all_digits, "random", 0, cfg, cache_dir=tmp_path)
    assert state["rows"][-1]["accuracy"] > 0.6


def test_the_features_command_writes_features_and_ids_and_lists_what_it_could_not_read(tmp_path, capsys):
    from PIL import Image

    from activegan.cli import main

    (tmp_path / "pool" / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((20, 30, 3)) * 255).astype("uint8")).save(tmp_path / "pool" / "a" / f"{i}.png")
    (tmp_path / "pool" / "broken.jpg").write_text("not an image")
    torch.jit.script(Pool2()).save(str(tmp_path / "net.pt"))
    out = tmp_path / "f.npz"
    assert main(["features", "--pool", str(tmp_path / "pool"), "--out", str(out), "--features",
                 f"torchscript:{tmp_path / 'net.pt'}", "--image-size", "16", "--no-progress",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    with np.load(out, allow_pickle=False) as z:
        assert z["features"].shape == (3, 6) and sorted(Path(p).name for p in z["ids"]) == ["0.png", "1.png", "2.png"]
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["features", "--pool", str(tmp_path / "pool"), "--out", str(out), "--features", "nope"]) == 2
    assert "--features unknown representation" in capsys.readouterr().err


@pytest.mark.parametrize("learner", ["linear", "embedding"])
def test_scoring_the_pool_by_row_gives_what_scoring_its_images_gives(learner, small_digits, tmp_path):
    from activegan.learners import make_learner
    from activegan.representation import PoolRepresentation

    pool = small_digits.x_pool
    rep = PoolRepresentation(pool, tmp_path)
    model = make_learner(learner, pool=pool, n_classes=10, representation=rep)
    lab = np.arange(0, 300, 10)
    model.fit(pool[lab], small_digits.y_pool[lab])
    rows = np.arange(5, 300, 7)
    assert np.allclose(model.pool_proba(rep.pool, rows), model.predict_proba(pool[rows]), atol=1e-6)
    assert model.pool_proba(pool.copy(), rows) is None  # another array, even an equal one: no shortcut


def test_cache_files_get_the_permissions_a_plain_open_would_give(tmp_path):
    import os

    from activegan.io import atomic_file

    with atomic_file(tmp_path / "a.npz") as f:
        f.write(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o666 & ~mask


def test_typiclust_clusters_a_backbones_features_on_their_most_typical_share(small_digits, tmp_path, monkeypatch):
    import activegan.representation as representation
    from activegan.representation import PoolRepresentation

    from types import SimpleNamespace

    from activegan.features import Features

    pool = small_digits.x_pool[:50]
    assert PoolRepresentation(pool, tmp_path, features="pixels").cluster_core(10) == 1.0
    assert PoolRepresentation(pool, tmp_path, features="scattering").cluster_core(10) == 1.0  # measured: every point
    backbone = PoolRepresentation(pool, tmp_path, features=Features("torchscript:model.pt", SimpleNamespace(key="k")))
    assert backbone.cluster_core(10) == representation.CLUSTER_CORE < 1
    monkeypatch.setattr(representation, "CLUSTER_CORE_UP_TO", 20)  # more clusters than that: every point
    assert backbone.cluster_core(20) == representation.CLUSTER_CORE and backbone.cluster_core(21) == 1.0
    monkeypatch.setattr(representation, "CLUSTER_CORE_UP_TO", None)
    assert backbone.cluster_core(10_000) == representation.CLUSTER_CORE
