"""An ActiveLearner for people with their own loop, in the spirit of modAL's.

    learner = ActiveLearner(strategy="entropy", pool=X_pool).fit(X_labeled, y_labeled)
    idx = learner.query(X_pool, n=10)          # indices into X_pool, most informative first
    learner.teach(X_pool[idx], oracle(idx))    # add the new labels and retrain

It is the core's round (``active.ActiveRound``'s strategies and rules) with the labeled images held
as arrays: they may come from anywhere, and those that are rows of the pool count as its labeled set
(what coverage strategies such as ``typiclust`` read).

How good is it, with no test set, and is another batch worth it (``activegan.stopping``)? After ``fit`` and
each ``teach``:

    value, low, high = learner.estimate()      # accuracy from your labels, 90 % interval
    kappa, stop, reason = learner.stop_signal()
    print(learner.advice())                    # "keep labeling: …" or "…: another batch is unlikely to help"
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activegan.active import DEFAULT_STRATEGY, RoundView, Strategy, check_strategy, make_strategy
from activegan.errors import ConfigError
from activegan.stopping import AccuracyEstimate, Decision, Estimate, StopSignal, assess, stop_set


@dataclass(eq=False)
class ActiveLearner:
    """Holds an estimator and its labeled data; ``query`` ranks a pool with a strategy.

    ``estimator`` is any object with ``fit(X, y)`` and ``predict_proba(X)`` (``predict_proba_mc``
    for bald / variation-ratios / mc-entropy, ``features`` for penultimate density); without one,
    ``learner`` names it (``activegan.learners.LEARNERS``): pool learners (``selftrain``, ``embedding``,
    ``ssl-gan``) learn from the unlabeled ``pool`` too and need it, ``cnn`` is the poster's supervised
    CNN. ``strategy`` is a name from ``active.STRATEGIES`` or a Strategy object. ``features`` is the pool's
    representation (``activegan.features``: auto, pixels, efficientnet-lite0, or your own backbone).

    The accuracy estimate and the stop signal: ``teach`` records what the model predicted of the images it is
    taught *before* it learns their labels (the estimate's residuals); after each fit the model's probabilities on
    the stop set (up to 2 000 images of ``pool``, or of the first pool queried when there is none, drawn with
    ``random_state``) give the estimate (``estimate()``) and κ against the previous model (``stop_signal()``,
    ``advice()``). Both are attributes of the learner (``accuracy_``, ``signal_``): pickling it keeps them.
    """

    estimator: object = None
    strategy: str | Strategy = DEFAULT_STRATEGY  # the measured best (docs/results/acquisition/README.md)
    learner: str = "auto"  # selftrain on pixels, linear on a backbone's features; both need the pool
    pool: object = None
    density_k: int | None = 10
    mc_samples: int = 20
    random_state: int = 0
    features: str = "auto"

    def fit(self, X, y) -> "ActiveLearner":
        if isinstance(self.strategy, Strategy):
            self.strategy_ = self.strategy
        elif isinstance(self.strategy, str):
            if self.strategy.startswith("gan-"):
                raise ConfigError("strategy", f"{self.strategy!r} is not a pool strategy (gan-* strategies need a "
                                              "DCGAN and an oracle for generated images)")
            if self.estimator is None:
                check_strategy(self.strategy, self.learner)
            self.strategy_ = make_strategy(self.strategy, density_k=self.density_k, mc_samples=self.mc_samples)
        else:
            raise ConfigError("strategy", f"a strategy name or Strategy object, got {type(self.strategy).__name__}")
        self.X_ = np.asarray(X, dtype=np.float32)
        self.y_ = np.asarray(y, dtype=np.int64)
        self.representation_ = None
        if self.pool is not None:
            from activegan.representation import PoolRepresentation

            self.representation_ = PoolRepresentation(self.pool, features=self.features)
        self.estimator_ = self.estimator if self.estimator is not None else self._default_estimator()
        self.estimator_.fit(self.X_, self.y_)
        self.uniform_ = np.zeros(len(self.y_), bool)  # taught images the random strategy drew: cross-validated
        self._rng = np.random.default_rng(self.random_state)
        self.accuracy_, self.signal_ = AccuracyEstimate(), StopSignal()
        self.stop_x_ = None if self.pool is None else self._stop_images(self.pool)
        self._update_stopping()
        return self

    def _default_estimator(self):
        from activegan.learners import AUTO, learner_spec, make_learner

        if (self.learner == AUTO or learner_spec(self.learner).learns_from_pool) and self.pool is None:
            raise ConfigError("pool", f"the {self.learner} learner learns from the unlabeled pool: ActiveLearner(pool=X_pool)")
        return make_learner(self.learner, pool=self.pool, n_classes=None, random_state=self.random_state,
                            representation=self.representation_)

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the n most informative rows of X_pool, best first."""
        X_pool = np.asarray(X_pool, dtype=np.float32)
        representation = self.representation_ if self.representation_ is not None and \
            self.representation_.pool.shape == X_pool.shape and np.array_equal(self.representation_.pool, X_pool) else None
        if self.strategy_.needs_representation and representation is None:
            raise ConfigError("strategy", f"{self.strategy_.name} selects in the pool's representation: query the pool "
                                          "given as ActiveLearner(pool=...)")
        from activegan.embedding import RowIndex

        if self.stop_x_ is None:  # no pool given: the first pool queried holds the stop set
            self.stop_x_ = self._stop_images(X_pool)
            self._update_stopping()
        labeled = RowIndex(X_pool).nodes(self.X_)
        view = RoundView(self.estimator_, X_pool, np.setdiff1d(np.arange(len(X_pool)), labeled),
                         labeled[labeled >= 0], self._rng, representation)
        return self.strategy_.select(view, n)

    def teach(self, X, y) -> "ActiveLearner":
        """Add newly labeled examples and refit on everything labeled so far (the model's predictions of them
        before the refit are the estimate's new residuals)."""
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)
        if len(X):
            self.accuracy_.record(self.estimator_.predict_proba(X), y)
        self.X_ = np.concatenate([self.X_, X])
        self.y_ = np.concatenate([self.y_, y])
        self.uniform_ = np.concatenate([self.uniform_, np.full(len(y), self.strategy_.name == "random")])
        self.estimator_.fit(self.X_, self.y_)
        self._update_stopping()
        return self

    def estimate(self) -> Estimate:
        """(value, low, high): the current model's accuracy estimated from the labels taught so far, 90 % interval."""
        self._check_stop_set()
        return self.estimate_

    def stop_signal(self) -> Decision:
        """(kappa, stop, reason): κ against the previous model on the stop set, whether to stop, and why."""
        self._check_stop_set()
        return self.decision_

    def advice(self) -> str:
        """The stop signal in words."""
        self._check_stop_set()
        return self.signal_.advice()

    def _check_stop_set(self) -> None:
        if self.stop_x_ is None:
            raise ConfigError("pool", "the accuracy estimate needs unlabeled images: ActiveLearner(pool=X_pool), or query a pool first")

    def _stop_images(self, X_pool) -> np.ndarray:
        X_pool = np.asarray(X_pool, dtype=np.float32)
        return X_pool[stop_set(len(X_pool), self.random_state)]

    def _update_stopping(self) -> None:
        """The estimate and the signal of the model just fitted, from its probabilities on the stop set."""
        if self.stop_x_ is None:
            return
        from activegan.embedding import RowIndex

        probs = np.asarray(self.estimator_.predict_proba(self.stop_x_), dtype=np.float64)
        unlabeled = RowIndex(self.X_).nodes(self.stop_x_) < 0  # labeled stop images leave the confidence term
        self.estimate_, self.decision_ = assess(self.accuracy_, self.signal_, probs, unlabeled, len(self.y_),
                                                self._out_of_fold())

    def _out_of_fold(self):
        """The estimate's cross-validated residuals of the images the random strategy drew (``out_of_fold``), where
        the default learner refits fast enough; None otherwise."""
        from activegan.learners import resolve_learner
        from activegan.monitor import fast_out_of_fold

        if self.estimator is not None or self.representation_ is None or not hasattr(self, "uniform_"):
            return None
        name = resolve_learner(self.learner, self.representation_.features.name, self.representation_.pool.shape[1:])
        return fast_out_of_fold(name, lambda round_, previous: self._default_estimator(), self.accuracy_.rounds, self.X_,
                                np.arange(len(self.y_)), self.y_, self.uniform_, self.random_state)

    def predict_proba(self, X) -> np.ndarray:
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())
