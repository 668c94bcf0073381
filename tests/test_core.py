"""The core below every front end (activegan.active, activegan.learners): the round object, the rules
in one place, the registries, first labels, and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from activegan.active import ActiveRound, Candidates, RoundView, Strategy, check_strategy, make_strategy
from activegan.active.first_labels import first_labels
from activegan.errors import ConfigError
from activegan.seeds import initial_rng


class RowProbs:
    """A learner whose probabilities are a fixed table, looked up by the image's value (its row)."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)

    def fit(self, X, y):
        self.fitted_on = np.asarray(y).tolist()
        return self

    def predict_proba(self, X):
        return self.table[np.asarray(X).reshape(len(X)).astype(int)]


# margins P(best) − P(second) of rows 0–5: 0.8, 0.1, 0.6, 0.0, 0.4, 0.2
TABLE = [[0.9, 0.1], [0.55, 0.45], [0.8, 0.2], [0.5, 0.5], [0.3, 0.7], [0.6, 0.4]]
X6 = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)


def test_a_round_asks_first_labels_then_the_smallest_margins_among_the_unlabeled():
    learner = RowProbs(TABLE)
    al = ActiveRound(X6, make_strategy("margin"), lambda round_, previous: learner, seed=3, first="random")
    first = al.ask(2, round_=0)
    assert len(set(first.tolist())) == 2
    al.tell(first, [0, 1])
    assert al.fit(0) is learner and learner.fitted_on == [0, 1]
    asked = al.ask(2, round_=1)
    by_margin = [i for i in (3, 1, 5, 4, 2, 0) if i not in first]  # smallest margin first, by hand
    assert asked.tolist() == by_margin[:2]
    assert al.ask(2, round_=1, exclude=by_margin[:1]).tolist() == by_margin[1:3]  # asked already: skipped


def test_a_subset_of_candidates_is_drawn_before_the_strategy_ranks():
    al = ActiveRound(X6, make_strategy("margin"), lambda r, p: RowProbs(TABLE), seed=0, first="random",
                     candidates=Candidates(subset=3))
    al.tell([0], [0])
    al.fit(0)
    rng = np.random.default_rng([0, 1, __import__("zlib").crc32(b"margin")])  # seeds.round_rng(0, "margin", 1)
    subset = np.sort(rng.choice(np.arange(1, 6), 3, replace=False))
    margins = {1: 0.1, 2: 0.6, 3: 0.0, 4: 0.4, 5: 0.2}
    assert al.ask(1, round_=1).tolist() == [min(subset.tolist(), key=margins.get)]


class Blobs:
    """A representation with three tight clusters of 20 points: around 0, 10 and 20 on a line."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.coords = np.concatenate([c + rng.normal(0, 0.1, (20, 2)) for c in (0.0, 10.0, 20.0)]).astype(np.float32)


def test_typiclust_asks_in_the_cluster_that_holds_no_label():
    rep = Blobs()
    strategy = make_strategy("typiclust")
    view = RoundView(None, np.zeros((60, 1)), np.setdiff1d(np.arange(60), [3, 45]), np.array([3, 45]),
                     np.random.default_rng(0), rep)
    (chosen,) = strategy.select(view, 1)
    assert 20 <= chosen < 40  # the cluster around 10: the only one without a label


def test_typiclust_above_50_clusters_clusters_in_mini_batches_and_still_asks_once_in_each_free_blob(monkeypatch):
    import sklearn.cluster

    from activegan.embedding import EXACT_KMEANS_UP_TO, typical_indices

    calls = []
    real = sklearn.cluster.MiniBatchKMeans
    monkeypatch.setattr(sklearn.cluster, "MiniBatchKMeans", lambda *a, **k: calls.append(a) or real(*a, **k))
    rng = np.random.default_rng(0)
    grid = np.array([(i, j) for i in range(8) for j in range(8)], dtype=np.float32)[:60] * 100.0  # 60 blobs, far apart
    x = np.concatenate([c + rng.normal(0, 0.5, (10 + b % 7, 2)) for b, c in enumerate(grid)]).astype(np.float32)
    blob = np.repeat(np.arange(60), [10 + b % 7 for b in range(60)])
    labeled = np.array([np.flatnonzero(blob == b)[0] for b in range(20)])  # one label in each of the first 20 blobs
    chosen = typical_indices(x, 40, np.random.default_rng(1), labeled=labeled)
    assert 20 + 40 > EXACT_KMEANS_UP_TO and calls == [(60,)]  # 60 clusters: mini-batch k-means
    assert sorted(blob[chosen].tolist()) == list(range(20, 60))  # one point in each blob that holds no label


def test_typical_first_labels_use_a_mixture_only_on_a_low_dimensional_embedding_with_points_to_spare(monkeypatch):
    import activegan.embedding as embedding
    from activegan.active.first_labels import mixture_rule

    # the rule: an embedding of ≤ 16 dimensions, ≤ 50 first labels, ≥ 100 points per cluster — k-means otherwise
    assert mixture_rule(10, 10, 60000) and mixture_rule(16, 50, 5000)
    assert not mixture_rule(17, 10, 50000) and not mixture_rule(10, 51, 60000) and not mixture_rule(10, 10, 999)
    # three elongated clouds at right angles: each cluster of the mixture is one cloud, up to the order of the clusters
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal((0, 0), (3, 0.2), (600, 2)), rng.normal((12, 0), (0.2, 3), (600, 2)),
                        rng.normal((6, 12), (3, 0.2), (600, 2))]).astype(np.float32)
    group = np.repeat([0, 1, 2], 600)
    assign = embedding.mixture_cluster(x, 3, 3, 0)
    assert sorted(len(set(assign[group == g].tolist())) for g in range(3)) == [1, 1, 1] and len(set(assign.tolist())) == 3

    class Rep:  # a representation of 1 800 points in 2 dimensions, then in 20
        coords, typicality = x, embedding.typicality(x, 20)

    calls = []
    monkeypatch.setattr(embedding, "mixture_cluster", lambda *a: calls.append("mixture") or assign[: len(a[0])])
    monkeypatch.setattr(embedding, "cluster", lambda *a: calls.append("k-means") or assign[: len(a[0])])
    chosen = first_labels("typical", 3, initial_rng(0), candidates=np.arange(1800), representation=Rep)
    assert sorted(group[chosen].tolist()) == [0, 1, 2]  # one point in each cluster
    Rep.coords = np.repeat(x, 10, axis=1)
    first_labels("typical", 3, initial_rng(0), candidates=np.arange(1800), representation=Rep)
    first_labels("typical", 3, initial_rng(0), candidates=np.arange(250), representation=Rep)  # < 100 per cluster
    assert calls == ["mixture", "k-means", "k-means"]


def test_each_seed_draws_its_own_typical_first_labels_covering_the_classes(small_digits, tmp_path):
    from activegan.representation import PoolRepresentation

    rep = PoolRepresentation(small_digits.x_pool, tmp_path)
    sets = [first_labels("typical", 10, initial_rng(s), candidates=np.arange(300), representation=rep) for s in range(5)]
    assert len({tuple(sorted(s.tolist())) for s in sets}) == 5  # five seeds, five independent first-label sets
    classes = [len(set(small_digits.y_pool[s].tolist())) for s in sets]
    assert min(classes) >= 8 and np.mean(classes) >= 9  # one per dense region: (nearly) every digit, no label read


def test_rules_are_checked_before_anything_trains():
    with pytest.raises(ConfigError, match="MC dropout"):
        check_strategy("bald", "embedding")
    assert check_strategy("bald@cnn", "embedding").learner == "cnn"
    with pytest.raises(ConfigError) as e:  # GAN refinement follows a torch classifier's gradient
        check_strategy("gan-margin-match", "embedding", refine_steps=1)
    assert e.value.param == "gan.refine_steps"
    with pytest.raises(ConfigError, match="set instead"):
        check_strategy("gan-typiclust-match", "selftrain")
    with pytest.raises(ConfigError, match="one shard at a time"):
        check_strategy("density-entropy", "selftrain", shard_by_shard=True)


@pytest.mark.parametrize("front_end", ["run", "label", "api"])
def test_every_front_end_refuses_mc_dropout_without_a_sampling_learner(front_end, small_digits):
    with pytest.raises(ConfigError, match="MC dropout"):
        if front_end == "run":
            from activegan.loop import ExperimentConfig

            ExperimentConfig(strategies=["bald"], learner="embedding").validate(300)
        elif front_end == "label":
            from activegan.label.session import LabelConfig

            LabelConfig(dataset="digits", strategy="bald", learner="selftrain").validate(300)
        else:
            from activegan.learner import ActiveLearner

            ActiveLearner(strategy="variation-ratios", learner="embedding", pool=small_digits.x_pool).fit(
                small_digits.x_pool[:10], small_digits.y_pool[:10])


def test_run_refuses_gan_refinement_with_the_embedding_learner_before_training_a_dcgan(tmp_path, capsys):
    from activegan.cli import main

    code = main(["run", "--strategies", "gan-margin-match", "--gan-refine-steps", "1", "--learner", "embedding",
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 2
    assert "--gan-refine-steps" in capsys.readouterr().err
    assert not (tmp_path / "out" / "config.json").exists() and not (tmp_path / "cache" / "gan").exists()


def test_an_image_far_from_the_pool_gets_probabilities_that_sum_to_one(small_digits, monkeypatch):
    from activegan.learners import make_learner

    learner = make_learner("embedding", pool=small_digits.x_pool, n_classes=10)
    learner.fit(small_digits.x_pool[:20], small_digits.y_pool[:20])
    g = learner.graph_
    near = g.embedding.coords[:9] + 0.01
    far = g.embedding.coords.max(axis=0, keepdims=True) * 100  # no pool point within reach of the weights
    monkeypatch.setattr(g, "embed", lambda X: np.concatenate([near, far])[: len(X)])
    p = learner.predict_proba(small_digits.x_test[:10])
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-4)


class NearestCentroid:
    """A learner from elsewhere: class centroids in pixel space, softmax of minus the distances."""

    def __init__(self, n_classes):
        self.n_classes = n_classes

    def fit(self, X, y):
        X = np.asarray(X).reshape(len(X), -1)
        self.centroids_ = np.stack([X[y == c].mean(axis=0) if (y == c).any() else np.full(X.shape[1], 1e3)
                                    for c in range(self.n_classes)])
        return self

    def predict_proba(self, X):
        d = np.linalg.norm(np.asarray(X).reshape(len(X), 1, -1) - self.centroids_[None], axis=2)
        e = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)

    def score(self, X, y):
        return float((self.predict_proba(X).argmax(axis=1) == np.asarray(y)).mean())


def test_a_new_learner_is_one_spec_and_one_registry_entry(small_digits, monkeypatch):
    from activegan.learners import LEARNERS, LearnerSpec
    from activegan.loop import ExperimentConfig, run_strategy

    spec = LearnerSpec("centroid", "nearest class centroid", lambda *, n_classes, **_: NearestCentroid(n_classes))
    monkeypatch.setitem(LEARNERS, "centroid", spec)
    cfg = ExperimentConfig(strategies=["margin@centroid"], seeds=[0], budgets=[10, 15], initial_strategy="random")
    cfg.validate(300)
    state = run_strategy(small_digits, "margin@centroid", 0, cfg)
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15] and state["rows"][-1]["accuracy"] > 0.3  # chance: 0.1
    with pytest.raises(ConfigError, match="MC dropout"):
        check_strategy("bald@centroid", "selftrain")


class FarthestFromLabels(Strategy):
    """A strategy that needs the labeled set: the candidate farthest from every labeled image."""

    name = "farthest"
    needs_model = False

    def select(self, view, n):
        X = np.asarray(view.X).reshape(len(view.X), -1)
        d = np.linalg.norm(X[view.candidates][:, None] - X[view.labeled][None], axis=2).min(axis=1)
        return view.candidates[np.argsort(-d, kind="stable")[:n]]


def test_a_new_strategy_that_reads_the_labeled_set_is_one_class_and_one_registry_entry(small_digits, monkeypatch):
    from activegan.active.strategies import STRATEGIES
    from activegan.loop import ExperimentConfig, run_strategy

    monkeypatch.setitem(STRATEGIES, "farthest", lambda options: FarthestFromLabels())
    cfg = ExperimentConfig(strategies=["farthest"], seeds=[0], budgets=[5, 6], learner="cnn", initial_strategy="random")
    cfg.train.steps = 5
    cfg.validate(300)
    state = run_strategy(small_digits, "farthest", 0, cfg)
    X = small_digits.x_pool.reshape(300, -1)
    first, (asked,) = state["labeled"][:5], state["queries"][0]
    d = np.linalg.norm(X[:, None] - X[first][None], axis=2).min(axis=1)
    assert asked == int(np.argmax(d))


def test_the_cache_never_unpickles_what_it_finds(tmp_path):
    from activegan.cache import cached_arrays

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.savez(tmp_path / "thing-k.npz", x=np.array([Payload()], dtype=object))  # a planted pickle
    got = cached_arrays(tmp_path, "thing", "k", lambda: {"x": np.arange(3)})
    assert got["x"].tolist() == [0, 1, 2] and not marker.exists()
    assert cached_arrays(tmp_path, "thing", "k", lambda: pytest.fail("recomputed"))["x"].tolist() == [0, 1, 2]


def test_validate_leaves_the_callers_config_as_it_is():
    from activegan.loop import ExperimentConfig

    cfg = ExperimentConfig(strategies=["random"], budgets=[10, 15, 30])
    cfg.validate(300)
    assert (cfg.initial, cfg.rounds, cfg.query_size) == (20, 8, 10)  # the defaults, untouched
    assert (lambda c: (c.initial, c.rounds, c.query_size))(cfg.resolved()) == (10, 2, 15)


def test_streaming_top_n_is_the_top_n_of_all_parts_with_random_keys_breaking_ties():
    from activegan.active.selection import StreamingTop

    top = StreamingTop(3)
    top.add([0.5, 0.9, 0.5], keys=[0.7, 0.1, 0.2], ids=["a", "b", "c"])
    top.add([0.5, 0.1], keys=[0.05, 0.0], ids=["d", "e"])
    # by hand: b (0.9), then the 0.5s by key: d (0.05), c (0.2), a (0.7) — n = 3 keeps b, d, c
    assert top.top["ids"].tolist() == ["b", "d", "c"]
    again = StreamingTop(3)  # the parts in the other order: the same
    again.add([0.5, 0.1], keys=[0.05, 0.0], ids=["d", "e"])
    again.add([0.5, 0.9, 0.5], keys=[0.7, 0.1, 0.2], ids=["a", "b", "c"])
    assert again.top["ids"].tolist() == ["b", "d", "c"]


def test_fitting_the_embedding_leaves_torch_at_its_thread_count(small_digits, tmp_path, monkeypatch):
    import torch
    import umap

    from activegan.embedding import PoolEmbedding

    real_fit = umap.UMAP.fit

    def fit_like_numba(self, *args, **kwargs):  # numba's OpenMP start-up resets the shared runtime (measured here)
        torch.set_num_threads(2)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(umap.UMAP, "fit", fit_like_numba)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        PoolEmbedding(cache_dir=tmp_path / "fresh").fit(small_digits.x_pool[:200])  # a real fit, not a cache read
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_seeds_are_grouped_by_the_first_labels_they_recorded_not_by_equal_accuracies():
    from activegan.results import first_label_groups

    rows = [{"seed": s, "round": 0, "strategy": "random", "accuracy": 0.9, "first_labels": key}
            for s, key in enumerate(["a1", "b2", "a1"])]
    assert first_label_groups(rows) == [[0, 2], [1]]  # equal accuracies, but seed 1 drew other labels
    unrecorded = [{**r, "first_labels": ""} for r in rows]
    assert first_label_groups(unrecorded) == [[0, 1, 2]]  # the old inference: equal round-0 rows, one unit


def test_the_library_never_unpickles_bytes_nor_exits_the_process():
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "activegan"
    found = [f"{p.relative_to(src)}: {word}" for p in src.rglob("*.py") for word in ("pickle.loads(", "os._exit(")
             if word in p.read_text()]
    assert not found
