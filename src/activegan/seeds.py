"""Where every random choice of an experiment comes from. One rule, used by the loop, resume,
``ActiveLearner`` and the labeling session alike (see docs/design.md, "Determinism and resume")."""

from __future__ import annotations

import zlib

import numpy as np


def initial_rng(seed: int) -> np.random.Generator:
    """The initial labeled set: the same for every strategy of a seed."""
    return np.random.default_rng(seed)


def round_rng(seed: int, strategy: str, round_: int) -> np.random.Generator:
    """Round r of a strategy: candidate subsets, random scores, MC-dropout noise, tie-breaks."""
    return np.random.default_rng([seed, round_, zlib.crc32(strategy.encode())])


def classifier_seed(seed: int, round_: int) -> int:
    """The classifier trained at the end of round r (round 0: on the initial set).

    The same for every strategy of a seed and round, so their curves are paired. A warm-started
    classifier keeps the seed of the round it was first built in.
    """
    return seed * 10_007 + round_
