"""One round of active learning, in one place, for every front end (``run``'s loop, ``query``, the
labeling app, ``ActiveLearner``):

    labeled set → training → model → candidates → acquisition → selection → (oracle) → labeled set

``ActiveRound`` holds the labeled set, the model and where candidates come from; a front end only
supplies its oracle (a simulation's ground truth, a person in a browser, a Label Studio export):

    al = ActiveRound(X_pool, make_strategy("margin"), learner_factory("selftrain", ...), seed=0)
    chosen = al.ask(10, round_=0)           # no model yet: the first labels (typical by default)
    al.tell(chosen, oracle(chosen))
    model = al.fit(round_=0)
    chosen = al.ask(10, round_=1)           # the strategy's choice among the candidates
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from activegan.active.candidates import Candidates
from activegan.active.first_labels import first_labels
from activegan.active.pool import Pool
from activegan.active.base import RoundView, Strategy
from activegan.seeds import classifier_seed, initial_rng, round_rng


def learner_factory(name: str, *, pool, n_classes: int | None, seed: int, train=None, representation=None,
                    cache_dir=None) -> Callable[[int, object], object]:
    """(round, last round's learner) → this round's unfitted learner. A warm-started CNN continues as the
    same object (and keeps round 0's seed); pool learners continue last round's weights where they can."""
    from activegan.learners import make_learner

    warm = bool(getattr(train, "warm_start", False))

    def make(round_: int, previous):
        if warm and previous is not None:
            return previous
        return make_learner(name, pool=pool, n_classes=n_classes, train=train, cache_dir=cache_dir,
                            random_state=classifier_seed(seed, 0 if warm else round_), shared=previous,
                            representation=representation)

    return make


class ActiveRound:
    """ask(n) → pool indices to label; tell(indices, labels) → the labeled set; fit() → the learner.

    ``stream`` names the random stream of the rounds (the strategy's full name, so strategies of one
    seed draw independently and a rerun repeats). ``generated`` (a ``GanQueries``) makes candidates
    with a DCGAN instead of taking them from the pool."""

    def __init__(self, X, strategy: Strategy, learner: Callable[[int, object], object], *, seed: int = 0,
                 stream: str = "", candidates: Candidates = Candidates(), first: str = "typical",
                 representation=None, generated=None, y_pool=None):
        self.X, self.strategy, self.learner, self.seed = X, strategy, learner, int(seed)
        self.stream, self.candidates, self.first = stream or strategy.name, candidates, first
        self.representation, self.generated, self._y_pool = representation, generated, y_pool
        self.labeled = Pool(len(X))
        self.model = None
        self.synthetic_x = np.empty((0, *np.shape(X)[1:]), dtype=np.float32)  # generated images labeled by a model oracle
        self.synthetic_y = np.empty(0, dtype=np.int64)
        self.asked_generated = np.empty((0, *np.shape(X)[1:]), dtype=np.float32)

    def ask(self, n: int, round_: int, exclude=()) -> np.ndarray:
        """Up to n pool indices to label in round ``round_``, best first, none of them labeled or in
        ``exclude`` (asked already). Before any model and label: the first labels."""
        unlabeled = np.setdiff1d(self.labeled.unlabeled, np.asarray(exclude, dtype=np.int64))
        n = min(n, len(unlabeled))
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        if self.model is None and len(self.labeled) == 0 and len(exclude) == 0:
            return first_labels(self.first, n, initial_rng(self.seed), candidates=unlabeled,
                                representation=self.representation, y_pool=self._y_pool)
        rng = round_rng(self.seed, self.stream, round_)
        if self.generated is not None and self.model is not None:
            return self._ask_generated(n, unlabeled, rng)
        candidates = self.candidates(unlabeled, self.labeled.labeled, n, rng, self.representation)
        if self.model is None and self.strategy.needs_model:  # nothing learned yet (every first image skipped)
            from activegan.active.strategies import Random

            return Random().select(RoundView(None, self.X, candidates, self.labeled.labeled, rng), n)
        view = RoundView(self.model, self.X, candidates, self.labeled.labeled, rng, self.representation)
        return self.strategy.select(view, n)

    def _ask_generated(self, n: int, unlabeled, rng) -> np.ndarray:
        """The match oracle's pool images in place of the generated ones (model oracle: none; its accepted
        images join the training set as synthetic labeled images)."""
        asked = self.generated.ask(self.strategy, self.model, self.X, unlabeled, n, rng)
        self.asked_generated = np.concatenate([self.asked_generated, asked.generated])
        self.synthetic_x = np.concatenate([self.synthetic_x, asked.synthetic_x])
        self.synthetic_y = np.concatenate([self.synthetic_y, asked.synthetic_y])
        return asked.chosen

    def tell(self, indices, labels) -> None:
        """The oracle's labels of pool indices."""
        self.labeled.label(indices, labels)

    def training_set(self, extra_x=None, extra_y=None) -> tuple[np.ndarray, np.ndarray]:
        """Labeled pool images, synthetic ones, and ``extra`` labeled images from elsewhere."""
        xs = [self.X[self.labeled.labeled], self.synthetic_x, *([] if extra_x is None else [np.asarray(extra_x)])]
        ys = [self.labeled.labels, self.synthetic_y, *([] if extra_y is None else [np.asarray(extra_y, np.int64)])]
        return np.concatenate(xs).astype(np.float32, copy=False), np.concatenate(ys)

    def fit(self, round_: int, extra_x=None, extra_y=None):
        """Train this round's learner on the training set; it becomes ``model``."""
        model = self.learner(round_, self.model)
        model.fit(*self.training_set(extra_x, extra_y))
        self.model = model
        return model
