"""What a learner plug-in declares: ``LearnerSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class LearnerSpec:
    """A learner's name, one line of help, how to build it and what it can do.

    ``build(pool, n_classes, train, random_state, representation, shared)`` returns an unfitted
    learner; ``train`` is the run's ``TrainOptions`` (epochs/steps/device), ``representation`` the
    pool's ``PoolRepresentation`` (None for learners that never see the pool), ``shared`` an earlier
    round's learner of the same kind whose weights it continues (warm start)."""

    name: str
    help: str
    build: Callable
    learns_from_pool: bool = False  # needs the unlabeled pool (and its representation)
    samples: bool = False  # predict_proba_mc: MC-dropout strategies (bald, variation-ratios, mc-entropy)
    torch_model: bool = False  # a differentiable torch classifier (``model_``): GAN refinement in z
    in_query: bool = True  # offered by ``query`` (the experimental ssl-gan is not)
    cross_validates: bool = False  # fast enough to refit per fold for the accuracy estimate (activegan.monitor.out_of_fold)
