"""The ``scattering`` representation (activegan.features.scattering): shapes, the invariances a scattering
transform is built for, checked by hand on tiny inputs, and its place in the plug-in (name, key, path)."""

import numpy as np
import pytest
import torch

from activegan.errors import ConfigError
from activegan.features import check_name, resolve
from activegan.features.scattering import ScatteringBackbone, scatter


def smooth(n, side, channels=1, seed=0):
    """Random images with some spatial structure (white noise blurred over 3 px), in [0, 1]."""
    x = np.random.default_rng(seed).random((n, channels, side + 2, side + 2), dtype=np.float32)
    x = sum(x[:, :, i:i + side, j:j + side] for i in range(3) for j in range(3)) / 9
    return np.ascontiguousarray(x, dtype=np.float32)


def test_shapes_colour_and_grey():
    # J = 2, L = 8, order 2: 1 + 2·8 + 8²·1 = 81 maps per channel, each image size / 4 on a side.
    b = ScatteringBackbone()
    out = b(smooth(3, 32, 3))
    assert out.shape == (3, 3 * 81 * 8 * 8) and out.dtype == np.float32 and np.isfinite(out).all()
    assert b(smooth(2, 28, 1)).shape == (2, 81 * 7 * 7)
    assert ScatteringBackbone(order=1)(smooth(2, 32, 1)).shape == (2, 17 * 8 * 8)
    assert ScatteringBackbone(J=3)(smooth(1, 32, 1)).shape == (1, (1 + 24 + 64 * 3) * 4 * 4)
    assert ScatteringBackbone(size=16)(smooth(2, 40, 3)).shape == (2, 3 * 81 * 4 * 4)


def test_a_one_pixel_shift_moves_the_features_less_than_another_image_does():
    x = smooth(2, 32, 3, seed=1)
    shifted = np.roll(x[:1], 1, axis=3)
    f = ScatteringBackbone()(np.concatenate([x, shifted]))
    near, far = np.linalg.norm(f[0] - f[2]), np.linalg.norm(f[0] - f[1])
    assert near < 0.5 * far, (near, far)


def test_a_constant_image_has_only_its_mean():
    # Every wavelet has zero mean, and a reflect-padded constant stays constant: S1 = S2 = 0; S0 = the value.
    s = scatter(torch.full((1, 32, 32), 0.7), J=2, L=8).numpy()
    assert s.shape == (1, 81, 8, 8)
    assert np.allclose(s[0, 0], 0.7, atol=1e-4)
    assert np.abs(s[0, 1:]).max() < 1e-4
    f = ScatteringBackbone()(np.full((1, 1, 32, 32), 0.7, dtype=np.float32)).reshape(81, 64)
    assert np.abs(f[1:]).max() < 1e-2 and f[0].min() > 1  # log1p(S / 0.01) of S1, S2 ~ 0, of S0 = 0.7


def test_energy_moves_to_the_orientation_of_an_edge():
    # Vertical stripes: the first-order coefficients of one orientation dominate those of the orthogonal one.
    x = torch.from_numpy(np.tile((np.arange(32) % 4 < 2).astype(np.float32), (32, 1)))[None]
    s1 = scatter(x, J=2, L=8, order=1)[0, 1:9].mean(dim=(1, 2))  # j1 = 0, 8 orientations
    assert s1.max() > 10 * s1.min()


def test_the_key_names_every_setting():
    keys = {ScatteringBackbone().key, ScatteringBackbone(J=3).key, ScatteringBackbone(L=6).key,
            ScatteringBackbone(order=1).key, ScatteringBackbone(size=32).key, ScatteringBackbone(log=False).key}
    assert len(keys) == 6
    assert ScatteringBackbone().key == ScatteringBackbone().key
    assert all(k.startswith("scattering:v") for k in keys)
    with pytest.raises(ConfigError):
        ScatteringBackbone(order=3)


def test_scattering_is_a_builtin_backbone_not_pixels():
    from activegan.representation import BACKBONE_EMBEDDING, PoolRepresentation

    check_name("scattering")
    check_name("scattering@64")
    with pytest.raises(ConfigError):
        check_name("scattering@8")
    f = resolve("scattering", (3, 32, 32))
    assert not f.is_pixels and f.name == "scattering" and f.backbone.size is None
    assert resolve("scattering", (3, 96, 96)).backbone.size == 32  # larger photographs: 32 px
    assert resolve("scattering@64", (3, 96, 96)).name == "scattering@64"
    assert "J2" in f.key and "L8" in f.key
    rep = PoolRepresentation(smooth(4, 32, 3), None, features="scattering")
    assert rep.config == BACKBONE_EMBEDDING  # L2-normalised, PCA 128, like any backbone


def test_shifted_views_by_hand():
    from activegan.representation import shifted_views

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 16  # shifts of 4 // 8 → 1 px
    views = ((True, 0, 0), (False, 1, 0), (False, 0, -1))
    out = shifted_views(x, views)
    assert out.shape == (3, 1, 4, 4)
    np.testing.assert_array_equal(out[0, 0], x[0, 0, :, ::-1])  # mirrored
    np.testing.assert_array_equal(out[1, 0, :, 1:], x[0, 0, :, :3])  # content one pixel to the right
    np.testing.assert_array_equal(out[1, 0, :, 0], x[0, 0, :, 1])  # the border reflected
    np.testing.assert_array_equal(out[2, 0, :3], x[0, 0, 1:])  # one pixel up
    np.testing.assert_array_equal(out[2, 0, 3], x[0, 0, 2])


def test_the_linear_head_trains_on_each_labeled_images_views_computed_once():
    from activegan.features.scattering import TRAIN_VIEWS
    from activegan.learners.linear import LinearHead
    from activegan.representation import PoolRepresentation

    pool = smooth(60, 16, 3)
    y = np.arange(60) % 3
    pool[y == 1, 0] *= 0.3  # the classes differ in colour
    pool[y == 2, 2] *= 0.3
    rep = PoolRepresentation(pool, None, features="scattering")
    assert rep.train_views == TRAIN_VIEWS and len(TRAIN_VIEWS) == 9
    assert PoolRepresentation(pool, None, features="pixels").train_views == ()
    assert PoolRepresentation(pool[:, :1], None, features="scattering").train_views == ()  # grey: no mirror
    rep.vectors  # the pool's own features, before counting
    calls = []
    original = rep.features.backbone.__call__
    rep.features.backbone.__class__ = type("Counting", (type(rep.features.backbone),),
                                           {"__call__": lambda self, b: calls.append(len(b)) or original(b)})
    labeled = np.arange(9)
    head = LinearHead(rep, 3).fit(pool[labeled], y[labeled])
    assert (head.neighbors_, head.alpha_) == (5, 0.9)  # the scattering graph's own spreading
    assert sum(calls) == 9 * len(TRAIN_VIEWS)  # every labeled image's views, once
    calls.clear()
    LinearHead(rep, 3).fit(pool[np.arange(12)], y[np.arange(12)])
    assert sum(calls) == 3 * len(TRAIN_VIEWS)  # only the three new labels' views
    outside = smooth(2, 16, 3, seed=5)
    calls.clear()
    LinearHead(rep, 3).fit(np.concatenate([pool[:6], outside]), np.r_[y[:6], 0, 1])
    assert sum(calls) >= 2 * len(TRAIN_VIEWS)  # images outside the pool: their views are not remembered
    assert (head.predict(pool) == y).mean() > 0.6
    with_views = LinearHead(rep, 3, spread=False).fit(pool[labeled], y[labeled])
    without = LinearHead(rep, 3, spread=False, views=False).fit(pool[labeled], y[labeled])
    assert with_views.model_.coef_.shape == without.model_.coef_.shape
    assert not np.allclose(with_views.model_.coef_, without.model_.coef_)


def test_the_linear_heads_temperature_divides_its_logits():
    from scipy.special import softmax

    from activegan.learners.linear import TEMPERATURE, LinearHead
    from activegan.representation import PoolRepresentation

    pool = smooth(40, 16, 3)
    y = np.arange(40) % 2
    pool[y == 1, 0] *= 0.3
    rep = PoolRepresentation(pool, None, features="scattering")
    head = LinearHead(rep, 2).fit(pool[:8], y[:8])
    assert head.temperature_ == TEMPERATURE["scattering"] == 2.0
    logits = head.logits_of(head.features(pool))  # two classes: [0, d]
    assert logits.shape == (40, 2) and np.all(logits[:, 0] == 0)
    np.testing.assert_allclose(head.predict_proba(pool), softmax(logits / 2.0, axis=1), rtol=1e-5, atol=1e-6)
    plain = LinearHead(rep, 2, temperature=1.0).fit(pool[:8], y[:8])
    np.testing.assert_allclose(plain.predict_proba(pool), plain.model_.predict_proba(plain.features(pool)), rtol=1e-5, atol=1e-6)
    assert (plain.predict(pool) == head.predict(pool)).all()  # the temperature moves no prediction
    assert head.predict_proba(pool).max(axis=1).mean() < plain.predict_proba(pool).max(axis=1).mean()


@pytest.mark.parametrize("strategy", ["margin", "typiclust"])  # the scoring path (pool sample) and the set path
def test_query_on_a_folder_of_colour_photos_with_scattering_and_views(tmp_path, strategy):
    from PIL import Image

    from activegan.cli import main

    rng = np.random.default_rng(0)

    def photo(path, red: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        x = rng.random((48, 48, 3)) * 80
        x[..., 0 if red else 2] += 150
        Image.fromarray(x.astype("uint8")).save(path)

    for k in range(4):
        photo(tmp_path / "labeled" / "red" / f"{k}.png", True)
        photo(tmp_path / "labeled" / "blue" / f"{k}.png", False)
    for k in range(30):
        photo(tmp_path / "pool" / f"p{k:02d}.png", k % 2 == 0)
    assert main(["query", "--labeled", str(tmp_path / "labeled"), "--pool", str(tmp_path / "pool"), "--out",
                 str(tmp_path / "out"), "--features", "scattering", "--image-size", "48", "--strategy", strategy,
                 "-n", "6", "--no-progress", "--cache-dir", str(tmp_path / "cache")]) == 0
    with open(tmp_path / "out" / "queries.csv") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    assert len(rows) == 6
    right = [(r[3] == "red") == (int(r[1].rsplit("/p", 1)[1][:2]) % 2 == 0) for r in rows]
    assert sum(right) >= 5  # the colour is plain to any head
