"""Our coverage strategies against scikit-activeml 1.0's TypiClust and ProbCover (the field's reference
implementations, dense N × N, fine at a few hundred points): same clusters / same δ → the same selection,
or the same coverage where ties may be broken differently."""

import numpy as np
import pytest

from activegan.active.base import RoundView
from activegan.active.probcover import ProbCover, ball_graph
from activegan.embedding import typical_indices, typicality

skactiveml = pytest.importorskip("skactiveml")


def blobs(seed=0):
    """Well-separated groups of unequal size (no two clusters tie in size)."""
    rng = np.random.default_rng(seed)
    sizes = [60, 50, 40, 35, 30, 25, 20, 15]
    centres = rng.uniform(-20, 20, (len(sizes), 4))
    return np.concatenate([rng.normal(c, 0.4, (s, 4)) for c, s in zip(centres, sizes)]).astype(np.float32)


@pytest.mark.parametrize("n_labeled", [0, 3])
def test_typiclust_selects_what_scikit_activeml_selects(n_labeled):
    from sklearn.cluster import KMeans
    from skactiveml.pool import TypiClust as Reference

    x = blobs()
    labeled = np.arange(0, 60 * n_labeled, 60)[:n_labeled]  # one label in each of the first groups
    n = 4
    rng = np.random.default_rng(7)
    kmeans_seed = int(np.random.default_rng(7).integers(2**31))  # what typical_indices draws from the same rng
    ours = typical_indices(x, n, rng, labeled=labeled, k=5)

    y = np.full(len(x), np.nan)
    y[labeled] = 0
    ref = Reference(k=5, cluster_algo=KMeans, cluster_algo_dict={"random_state": kmeans_seed, "n_init": 1},
                    random_state=0).query(x, y, batch_size=n)
    assert sorted(ours.tolist()) == sorted(ref.tolist())


def test_typicality_is_one_over_the_mean_distance_to_the_k_nearest():
    x = np.array([[0.0], [1.0], [3.0], [7.0]], dtype=np.float32)
    # at 0: distances 1 and 3 → 1/2; at 1: 1 and 2 → 1/1.5; at 3: 2 and 3 → 1/2.5; at 7: 4 and 6 → 1/5
    assert np.allclose(typicality(x, 2), [1 / 2, 1 / 1.5, 1 / 2.5, 1 / 5])


@pytest.mark.parametrize("n_labeled", [0, 2])
def test_probcover_covers_what_scikit_activeml_covers_at_the_same_delta(n_labeled):
    from skactiveml.pool import ProbCover as Reference

    x = blobs(1)
    labeled = np.array([0, 60])[:n_labeled]
    delta, n = 1.5, 5
    y = np.full(len(x), np.nan)
    y[labeled] = 0
    ref = Reference(deltas=[delta], random_state=0).query(x, y, batch_size=n)

    class Rep:
        coords = x

    candidates = np.setdiff1d(np.arange(len(x)), labeled)
    ours = ProbCover(delta=delta).select(RoundView(None, x, candidates, labeled, np.random.default_rng(0), Rep()), n)
    g = ball_graph(x, delta)
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    assert (g.toarray() > 0).tolist() == (dist <= delta).tolist()  # the same balls as the dense reference

    def covered(chosen):
        return int((dist[np.concatenate([labeled, chosen]).astype(int)] <= delta).any(axis=0).sum())

    assert covered(ours) == covered(ref)
    assert not set(ours.tolist()) & set(labeled.tolist())
