"""An ActiveLearner for people with their own loop, in the spirit of modAL's.

    learner = ActiveLearner(strategy="entropy", pool=X_pool).fit(X_labeled, y_labeled)
    idx = learner.query(X_pool, n=10)          # indices into X_pool, most informative first
    learner.teach(X_pool[idx], oracle(idx))    # add the new labels and retrain
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activegan.errors import ConfigError
from activegan.strategies import STRATEGY_NAMES, Strategy, make_strategy, query


@dataclass(eq=False)
class ActiveLearner:
    """Holds an estimator and its labeled data; ``query`` ranks a pool with a strategy.

    ``estimator`` is any object with ``fit(X, y)`` and ``predict_proba(X)`` (``predict_proba_mc``
    for bald / variation-ratios / mc-entropy, ``features`` for penultimate density); without one,
    ``learner`` names it (``activegan.learners``): ``embedding`` learns from the unlabeled ``pool``
    too and needs it (as do ``selftrain`` and ``ssl-gan``), ``cnn`` is the poster's supervised CNN. ``strategy`` is a name from
    ``STRATEGY_NAMES`` or a Strategy object.
    """

    estimator: object = None
    strategy: str | Strategy = "entropy"
    learner: str = "selftrain"  # the measured best; needs the pool
    pool: object = None
    density_k: int | None = 10
    mc_samples: int = 20
    random_state: int = 0

    def fit(self, X, y) -> "ActiveLearner":
        if isinstance(self.strategy, Strategy):
            self.strategy_ = self.strategy
        elif isinstance(self.strategy, str) and self.strategy in STRATEGY_NAMES:
            self.strategy_ = make_strategy(self.strategy, density_k=self.density_k, mc_samples=self.mc_samples)
        else:
            raise ConfigError("strategy", f"{self.strategy!r} is not a pool strategy; choose from {', '.join(STRATEGY_NAMES)} "
                              "(gan-* strategies need a DCGAN: use activegan run)")
        self.X_ = np.asarray(X, dtype=np.float32)
        self.y_ = np.asarray(y, dtype=np.int64)
        self.estimator_ = self.estimator if self.estimator is not None else self._default_estimator()
        self.estimator_.fit(self.X_, self.y_)
        self._rng = np.random.default_rng(self.random_state)
        return self

    def _default_estimator(self):
        from activegan.learners import POOL_LEARNERS, make_learner

        if self.learner in POOL_LEARNERS and self.pool is None:
            raise ConfigError("pool", f"the {self.learner} learner learns from the unlabeled pool: ActiveLearner(pool=X_pool)")
        from activegan.loop import TrainOptions

        return make_learner(self.learner, pool=None if self.pool is None else np.asarray(self.pool, dtype=np.float32),
                            n_classes=None, train=TrainOptions(), random_state=self.random_state)

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the n most informative rows of X_pool, best first."""
        X_pool = np.asarray(X_pool, dtype=np.float32)
        return query(self.strategy_, self.estimator_, X_pool, np.arange(len(X_pool)), n, self._rng)

    def teach(self, X, y) -> "ActiveLearner":
        """Add newly labeled examples and refit on everything labeled so far."""
        self.X_ = np.concatenate([self.X_, np.asarray(X, dtype=np.float32)])
        self.y_ = np.concatenate([self.y_, np.asarray(y, dtype=np.int64)])
        self.estimator_.fit(self.X_, self.y_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())
