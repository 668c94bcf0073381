"""What every strategy is: ``Strategy.select(view, n)`` over a ``RoundView`` of the round."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activegan import acquisition
from activegan.errors import ConfigError


@dataclass
class RoundView:
    """What a strategy may look at in one round. ``candidates`` and ``labeled`` are indices into
    ``X`` (the pool); ``representation`` is the pool's ``PoolRepresentation`` (None where a front end
    has none: strategies that need it say so with ``needs_representation``)."""

    model: object
    X: np.ndarray
    candidates: np.ndarray
    labeled: np.ndarray
    rng: np.random.Generator
    representation: object = None


def pool_probabilities(model, X, candidates) -> np.ndarray:
    """Class probabilities of the pool rows ``candidates``: by row from a learner that holds this pool
    (``pool_proba``: no copy of the images, no lookup by content), else from the images."""
    probs = model.pool_proba(X, candidates) if hasattr(model, "pool_proba") else None
    return model.predict_proba(X[candidates]) if probs is None else probs


class Strategy:
    """Scores candidate images with a model. ``differentiable`` strategies also have ``torch_scores``
    (softmax outputs → scores, for gradient ascent on generated images)."""

    name = ""
    differentiable = False
    scores_images = True  # has per-image scores: can rank generated images and a pool shard by shard
    needs_model = True  # False: selects before any label exists (coverage)
    needs_representation = False

    def select(self, view: RoundView, n: int) -> np.ndarray:
        """The n candidates to label next, best first: the top n scores, ties broken by ``view.rng``."""
        candidates = np.asarray(view.candidates, dtype=np.int64)
        scores = self.pool_scores(view.model, view.X, candidates, view.rng)
        return candidates[acquisition.select_top(scores, n, view.rng)]

    def scores(self, model, X, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def pool_scores(self, model, X, candidates, rng: np.random.Generator) -> np.ndarray:
        """Scores of the pool rows ``candidates`` (indices into X, the whole pool)."""
        return self.scores(model, X[candidates], rng)

    def generated_scores(self, model, images, X, rng: np.random.Generator) -> np.ndarray:
        """Scores of images that are not in the pool X (the pool is the reference for density)."""
        return self.scores(model, images, rng)

    def torch_scores(self, probs):
        raise ConfigError("strategy", f"{self.name} has no differentiable form")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"
