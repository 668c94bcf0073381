"""diverse-margin (uncertainty without near-duplicates) and switch (coverage, then uncertainty), on points
and probabilities whose answers can be worked out by hand."""

import numpy as np
import pytest

from activegan.active.base import RoundView
from activegan.active.diverse import DiverseMargin
from activegan.active.strategies import Margin, make_strategy
from activegan.active.switch import Switch
from activegan.active.typiclust import TypiClust


class Fixed:
    """A model whose class probabilities of pool row i are ``probs[i]``."""

    def __init__(self, probs, n_classes=2):
        self.probs, self.n_classes_ = np.asarray(probs, dtype=np.float64), n_classes

    def pool_proba(self, X, rows):
        return self.probs[rows]

    def predict_proba(self, X):
        return self.probs[np.asarray(X, dtype=np.int64).ravel()]


def two_heaps():
    """Rows 0–4: near-duplicates at (0, 0), the most uncertain (P = 0.50 / 0.50); rows 5–9: near-duplicates
    at (10, 0), a little less (0.55 / 0.45); rows 10–29: sure (0.99 / 0.01), spread along y = 10."""
    rng = np.random.default_rng(0)
    coords = np.concatenate([rng.normal([0, 0], 0.01, (5, 2)), rng.normal([10, 0], 0.01, (5, 2)),
                             np.stack([np.linspace(-5, 15, 20), np.full(20, 10.0)], 1)]).astype(np.float32)
    p = np.array([[0.5, 0.5]] * 5 + [[0.55, 0.45]] * 5 + [[0.99, 0.01]] * 20)
    return coords, Fixed(p)


class Rep:
    def __init__(self, coords):
        self.coords = coords
        self.typicality = None


def view(coords, model, labeled=(), seed=0):
    X = np.arange(len(coords)).reshape(-1, 1)
    unlabeled = np.setdiff1d(np.arange(len(coords)), labeled)
    return RoundView(model, X, unlabeled, np.asarray(labeled, dtype=np.int64), np.random.default_rng(seed), Rep(coords))


def test_margin_takes_two_near_duplicates_and_diverse_margin_one_of_each_heap():
    coords, model = two_heaps()
    v = view(coords, model)
    assert set(Margin().select(v, 2).tolist()) <= set(range(5))  # both from the first heap
    for seed in range(5):
        chosen = DiverseMargin().select(view(coords, model, seed=seed), 2)
        assert chosen[0] in range(5) and chosen[1] in range(5, 10)  # the most uncertain heap first


def test_diverse_margin_never_returns_a_labeled_row_and_fills_a_short_batch():
    coords, model = two_heaps()
    chosen = DiverseMargin().select(view(coords, model, labeled=[0, 1, 2, 3, 4]), 3)
    assert len(set(chosen.tolist())) == 3 and not set(chosen.tolist()) & {0, 1, 2, 3, 4}
    assert 5 <= chosen[0] <= 9  # the most uncertain left


def test_switch_covers_up_to_its_labels_per_class_then_asks_diverse_margin():
    coords, model = two_heaps()
    s = Switch(per_class=3)  # 2 classes: coverage while the labeled set after the round holds ≤ 6
    assert isinstance(s.phase(view(coords, model, labeled=[0, 5]), 4), TypiClust)  # 2 + 4 = 6
    assert isinstance(s.phase(view(coords, model, labeled=[0, 5, 10]), 4), DiverseMargin)  # 7 > 6
    assert isinstance(s.phase(view(coords, None), 4), TypiClust)  # no model yet


def test_switch_and_diverse_margin_are_registered_and_refused_where_they_cannot_work():
    from activegan.active.options import check_strategy
    from activegan.errors import ConfigError

    assert isinstance(make_strategy("switch"), Switch) and isinstance(make_strategy("diverse-margin"), DiverseMargin)
    check_strategy("switch", "auto")
    with pytest.raises(ConfigError, match="selects a set"):
        check_strategy("gan-switch-match", "selftrain")
