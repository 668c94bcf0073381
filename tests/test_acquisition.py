import math

import numpy as np
import pytest

from activegan import acquisition as acq

PROBS = np.array(
    [
        [0.7, 0.2, 0.1],  # confident-ish
        [1.0, 0.0, 0.0],  # one-hot
        [1 / 3, 1 / 3, 1 / 3],  # uniform
        [0.4, 0.4, 0.2],  # tie at the top
    ]
)


def test_least_confidence_hand_values():
    np.testing.assert_allclose(acq.least_confidence(PROBS), [0.3, 0.0, 2 / 3, 0.6])


def test_margin_hand_values():
    np.testing.assert_allclose(acq.margin(PROBS), [-0.5, -1.0, 0.0, 0.0], atol=1e-12)


def test_entropy_hand_values_natural_log_and_zero_log_zero():
    expected = [
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),
        0.0,  # 0 log 0 = 0, not NaN
        math.log(3),
        -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2)),
    ]
    out = acq.entropy(PROBS)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, expected)


def test_scores_have_shape_n():
    for f in (acq.least_confidence, acq.margin, acq.entropy):
        assert f(PROBS).shape == (4,)


def test_uniform_rows_are_the_most_uncertain_for_every_measure():
    for f in (acq.least_confidence, acq.margin, acq.entropy):
        s = f(PROBS)
        assert s[2] == pytest.approx(s.max())
        assert s[1] == pytest.approx(s.min())


# Three 2-d vectors: cos(a, b) = 0, cos(a, c) = cos(b, c) = 1/sqrt(2).
FEATS = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
R = 1 / math.sqrt(2)


def test_density_all_neighbours_hand_values():
    np.testing.assert_allclose(acq.density(FEATS, k=None), [R / 2, R / 2, R], rtol=1e-6)


def test_density_one_neighbour_hand_values():
    np.testing.assert_allclose(acq.density(FEATS, k=1), [R, R, R], rtol=1e-6)


def brute_force_density(x, k):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = u @ u.T
    np.fill_diagonal(sims, -np.inf)
    k = len(x) - 1 if k is None else k
    return np.sort(sims, axis=1)[:, ::-1][:, :k].mean(axis=1)


@pytest.mark.parametrize("k", [1, 5, 10, None])
def test_density_matches_brute_force(k):
    x = np.random.default_rng(0).normal(size=(300, 16))
    np.testing.assert_allclose(acq.density(x, k), brute_force_density(x, k), atol=1e-5)


def test_ivf_density_is_close_to_exact_and_reproducible():
    # Clustered rows, like images: the approximate graph finds nearly every exact neighbour.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 32))[rng.integers(0, 40, 3000)] + 0.3 * rng.normal(size=(3000, 32))
    exact = brute_force_density(x, 10)
    approx = acq.density(x, 10, search="ivf")
    assert np.abs(approx - exact).mean() < 1e-3 and (approx <= exact + 1e-5).all()  # never above: a subset
    np.testing.assert_array_equal(acq.density(x, 10, search="ivf"), approx)
    np.testing.assert_allclose(acq.density(x, 10, search="auto"), exact, atol=1e-5)  # 3 000 rows: exact


def test_density_search_must_be_known():
    with pytest.raises(ValueError, match="search must be one of auto, exact, ivf"):
        acq.density(FEATS, k=1, search="hnsw")


def test_density_with_exact_duplicates_excludes_only_itself():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # Each duplicate's nearest other row is its twin (cosine 1), not itself.
    np.testing.assert_allclose(acq.density(x, k=1), [1.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("k", [3, 4, 0])
def test_density_rejects_k_not_below_n(k):
    with pytest.raises(ValueError, match="k must be"):
        acq.density(FEATS, k=k)


def test_bald_disagreement_is_ln2_and_agreement_is_zero():
    mc = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])  # T=2, N=2, C=2
    np.testing.assert_allclose(acq.bald(mc), [math.log(2), 0.0], atol=1e-12)


def test_mean_entropy_averages_the_samples_before_the_entropy():
    # Two confident but opposite samples average to (0.5, 0.5): entropy ln 2, where each sample's is 0.
    mc = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(acq.mean_entropy(mc), [math.log(2)])


def test_library_errors_are_value_errors_without_flags():
    with pytest.raises(ValueError) as err:
        acq.density(FEATS, k=0)
    assert "--" not in str(err.value)


def test_variation_ratios_counts_modal_votes():
    # T=4 samples: class 0 wins three times and class 1 once for the first image.
    mc = np.array([[[0.9, 0.1]], [[0.8, 0.2]], [[0.6, 0.4]], [[0.3, 0.7]]])
    np.testing.assert_allclose(acq.variation_ratios(mc), [0.25])


def test_select_top_takes_highest_scores_best_first():
    rng = np.random.default_rng(0)
    assert acq.select_top([0.1, 0.9, 0.5, 0.7], 3, rng).tolist() == [1, 3, 2]


def test_select_top_breaks_ties_at_random_but_reproducibly():
    scores = [1.0, 3.0, 3.0, 3.0, 2.0]
    picks = {tuple(acq.select_top(scores, 2, np.random.default_rng(s))) for s in range(30)}
    assert all(set(p) <= {1, 2, 3} for p in picks)
    assert len(picks) > 1  # not always the lowest index
    a = acq.select_top(scores, 2, np.random.default_rng(7))
    b = acq.select_top(scores, 2, np.random.default_rng(7))
    assert a.tolist() == b.tolist()


def test_select_top_rejects_n_larger_than_candidates():
    with pytest.raises(ValueError, match="cannot select 5 items from 4"):
        acq.select_top([0.1, 0.2, 0.3, 0.4], 5, np.random.default_rng(0))


def test_random_scores_select_uniformly():
    counts = np.zeros(10)
    for s in range(2000):
        rng = np.random.default_rng(s)
        counts[acq.select_top(acq.random_scores(10, rng), 1, rng)] += 1
    assert counts.min() > 140 and counts.max() < 260  # ~200 each


def test_density_to_reference_hand_values():
    ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    q = np.array([[1.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(acq.density_to(q, ref, k=None), [R, 0.5], rtol=1e-6)  # (R+R)/2, (1+0)/2
    np.testing.assert_allclose(acq.density_to(q, ref, k=1), [R, 1.0], rtol=1e-6)
