"""An ActiveLearner for people with their own loop, in the spirit of modAL's.

    learner = ActiveLearner(strategy="entropy").fit(X_labeled, y_labeled)
    idx = learner.query(X_pool, n=10)          # indices into X_pool, most informative first
    learner.teach(X_pool[idx], oracle(idx))    # add the new labels and retrain
"""

from __future__ import annotations

import numpy as np

from activegan import acquisition
from activegan.experiment import score_candidates
from activegan.models import CNNClassifier


class ActiveLearner:
    """Holds an estimator and its labeled data; ``query`` ranks a pool with an acquisition function.

    ``estimator`` is any object with ``fit(X, y)`` and ``predict_proba(X)`` (and
    ``predict_proba_mc`` for bald / variation-ratios); by default a ``CNNClassifier``.
    """

    def __init__(self, estimator=None, strategy: str = "entropy", density_k: int | None = 10, mc_samples: int = 20, random_state: int = 0):
        self.estimator = estimator
        self.strategy = strategy
        self.density_k = density_k
        self.mc_samples = mc_samples
        self.random_state = random_state

    def fit(self, X, y) -> "ActiveLearner":
        acquisition.check_strategy_names([self.strategy])
        self.estimator_ = self.estimator if self.estimator is not None else CNNClassifier(random_state=self.random_state)
        self.X_ = np.asarray(X, dtype=np.float32)
        self.y_ = np.asarray(y, dtype=np.int64)
        self.estimator_.fit(self.X_, self.y_)
        self._rng = np.random.default_rng(self.random_state)
        return self

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the n most informative rows of X_pool, best first."""
        X_pool = np.asarray(X_pool, dtype=np.float32)
        dens = None
        if self.strategy.startswith("density-"):
            k = None if self.density_k is None else min(self.density_k, len(X_pool) - 1)
            dens = acquisition.density(X_pool, k)
        scores = score_candidates(self.strategy, self.estimator_, X_pool, self._rng, dens=dens, mc_samples=self.mc_samples)
        return acquisition.select_top(scores, n, self._rng)

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
