"""Strategy objects and the one selection step, on a model whose outputs are written by hand."""

import math

import numpy as np
import pytest

from activegan import acquisition as acq
from activegan.errors import ConfigError
from activegan.active.strategies import (
    BALD, DensityWeighted, Entropy, LeastConfidence, Margin, MeanEntropy, Random, make_strategy, parse_name, query,
)

FEATS = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # unit rows: e1, e2, (e1 + e2)/√2
R = 1 / math.sqrt(2)


class HandModel:
    """predict_proba looks the row up by its first feature; features are the rows themselves."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=np.float64)
        self.mc_seeds = []

    def predict_proba(self, X):
        return self.probs[np.asarray(X)[:, 0].astype(int) % len(self.probs)]

    def predict_proba_mc(self, X, n_samples, seed=0):
        self.mc_seeds.append(seed)
        rng = np.random.default_rng(seed)
        p = self.predict_proba(X)
        return np.stack([p * rng.uniform(0.9, 1.1, p.shape) for _ in range(n_samples)])

    def features(self, X):
        return np.asarray(X, dtype=np.float32)


PROBS = np.array([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_query_returns_pool_indices_best_first():
    X = np.array([[0.0], [1.0], [2.0]])  # rows 0, 1, 2 → PROBS rows 0, 1, 2
    chosen = query(Entropy(), HandModel(PROBS), X, np.array([0, 1, 2]), 2, np.random.default_rng(0))
    assert chosen.tolist() == [2, 0]  # uniform first, one-hot never


def test_query_scores_only_the_candidates():
    X = np.array([[0.0], [1.0], [2.0]])
    chosen = query(LeastConfidence(), HandModel(PROBS), X, np.array([0, 1]), 2, np.random.default_rng(0))
    assert chosen.tolist() == [0, 1]


def test_density_weighted_is_density_times_the_base_score_within_the_pool():
    s = DensityWeighted(LeastConfidence(), k=None)
    model = HandModel(PROBS)
    X = FEATS  # first features 1, 0, 3 → PROBS rows 1, 0, 0
    scores = s.pool_scores(model, X, np.array([0, 1, 2]), np.random.default_rng(0))
    density = [R / 2, R / 2, R]  # mean cosine to the other two rows
    np.testing.assert_allclose(scores, np.multiply(density, [0.0, 0.3, 0.3]), rtol=1e-6)


def test_density_of_generated_images_is_measured_against_the_pool():
    s = DensityWeighted(Entropy(), k=1)
    model = HandModel(np.array([[0.5, 0.5]]))
    images = np.array([[1.0, 1.0]])  # nearest pool row is (3, 3): cosine 1
    scores = s.generated_scores(model, images, FEATS, np.random.default_rng(0))
    np.testing.assert_allclose(scores, [1.0 * math.log(2)], rtol=1e-6)


def test_penultimate_density_uses_the_models_features_for_generated_images_too():
    class Rotated(HandModel):
        def features(self, X):  # a feature space where every image points the same way
            return np.ones((len(X), 2), dtype=np.float32)

    s = DensityWeighted(Entropy(), k=1, features="penultimate")
    scores = s.generated_scores(Rotated(np.array([[0.5, 0.5]])), np.array([[1.0, 0.0]]), FEATS, np.random.default_rng(0))
    np.testing.assert_allclose(scores, [math.log(2)], rtol=1e-6)  # cosine 1 in features, 0.707 in pixels


def test_pixel_density_is_cached_on_disk_by_content(tmp_path):
    s = DensityWeighted(Entropy(), k=1, cache_dir=tmp_path)
    first = s.pool_density(None, FEATS)
    assert len(list(tmp_path.glob("density-*.npz"))) == 1
    again = DensityWeighted(Entropy(), k=1, cache_dir=tmp_path).pool_density(None, FEATS.copy())
    np.testing.assert_array_equal(first, again)


def test_mc_dropout_noise_differs_between_seeds_and_repeats_for_the_same_one():
    model = HandModel(PROBS)
    X = np.array([[0.0], [2.0]])
    for seed in (0, 1, 0):
        BALD(mc_samples=3).scores(model, X, np.random.default_rng([seed, 5]))
    assert model.mc_seeds[0] != model.mc_seeds[1] and model.mc_seeds[0] == model.mc_seeds[2]


def test_mean_entropy_strategy_is_entropy_of_the_mean_mc_prediction():
    model = HandModel(np.array([[0.5, 0.5]]))
    scores = MeanEntropy(mc_samples=4).scores(model, np.array([[0.0]]), np.random.default_rng(0))
    assert scores[0] == pytest.approx(math.log(2), abs=0.01)


def test_torch_forms_match_the_numpy_scores():
    import torch

    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    for strategy, fn in [(LeastConfidence(), acq.least_confidence), (Margin(), acq.margin), (Entropy(), acq.entropy)]:
        np.testing.assert_allclose(strategy.torch_scores(torch.tensor(p)).numpy(), fn(p), rtol=1e-6)
    assert not Random().differentiable and not BALD().differentiable


def test_make_strategy_binds_parameters():
    s = make_strategy("density-entropy", density_k=5, density_features="penultimate")
    assert isinstance(s, DensityWeighted) and s.k == 5 and s.features == "penultimate" and isinstance(s.base, Entropy)
    assert make_strategy("bald", mc_samples=7).mc_samples == 7


@pytest.mark.parametrize("name, params, param", [
    ("entropyy", {}, "strategy"),
    ("density-entropy", {"density_features": "logits"}, "density_features"),
    ("density-entropy", {"density_k": 0}, "density_k"),
    ("bald", {"mc_samples": 0}, "mc_samples"),
])
def test_bad_strategy_parameters_are_named(name, params, param):
    with pytest.raises(ConfigError) as err:
        make_strategy(name, **params)
    assert err.value.param == param and "--" not in str(err.value)


def test_gan_names_parse_into_acquisition_and_oracle():
    assert parse_name("gan-density-entropy-match") == ("density-entropy", "match")
    assert parse_name("margin") == ("margin", None)
    with pytest.raises(ConfigError, match="gan-<acquisition>-<oracle>"):
        parse_name("gan-margin-person")


def test_neighbour_candidates_are_the_unlabeled_among_each_labeled_images_k_nearest(tmp_path):
    from activegan.active.candidates import NeighbourIndex, parse

    # points on a line at 0, 1, …, 9, labeled 0, 1, 9: the 2 nearest of 0 are {1, 2}, of 1 {0, 2}, of 9 {8, 7}
    coords = np.arange(10, dtype=np.float32)[:, None]
    index = NeighbourIndex(coords)
    unlabeled = np.setdiff1d(np.arange(10), [0, 1, 9])
    assert index.candidates([0, 1, 9], unlabeled, 2).tolist() == [2, 7, 8]
    assert parse("knn:25") == 25 and parse(None) is None and parse("all") is None
    for bad in ("knn", "knn:0", "near:5"):
        with pytest.raises(ConfigError):
            parse(bad)


def test_a_round_with_neighbour_candidates_asks_only_near_its_labels(small_digits, tmp_path):
    from activegan.embedding import PoolEmbedding
    from activegan.loop import ExperimentConfig, TrainOptions, run_strategy

    cfg = ExperimentConfig(strategies=["margin"], seeds=[0], budgets=[10, 15, 20], learner="cnn", candidates="knn:3",
                           initial_strategy="random", train=TrainOptions(steps=20))
    cfg.validate(len(small_digits.y_pool))
    state = run_strategy(small_digits, "margin", 0, cfg, cache_dir=tmp_path)
    # The expectation by brute force, not by the code's own index: each labeled point's 3 nearest others
    coords = PoolEmbedding(cache_dir=tmp_path).fit(small_digits.x_pool).coords.astype(np.float64)
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    labeled = list(state["labeled"][:10])
    for asked in state["queries"]:
        near = set(np.argsort(d2[labeled], axis=1)[:, :4].ravel().tolist())  # 3, and one spare for a tie
        assert set(asked) <= near - set(labeled)
        labeled += asked
