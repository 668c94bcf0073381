"""Learners: what is trained on the labeled set each round, as plug-ins.

Every learner follows ``CNNClassifier``'s contract (``fit(X, y)``, ``predict_proba(X)``,
``features(X)``, ``score(X, y)``), so every strategy works with every learner. A learner is one
module that defines its options dataclass and a ``LearnerSpec`` (how to build it, what it can do);
registering it is one line in ``_SPECS`` below. ``run``, ``query``, the labeling app, the Python API
and ``--help`` all list learners from ``LEARNERS``.

- ``cnn``: the poster's supervised CNN; sees the labeled images only.
- ``embedding``: label spreading over a k-NN graph of the whole pool's unsupervised embedding.
- ``selftrain``: the spread labels teach a CNN over the whole pool.
- ``linear``: logistic regression on the pool representation's vectors (a pretrained backbone's features).
- ``ssl-gan``: the project's DCGAN as a semi-supervised K+1-class discriminator.
"""

from __future__ import annotations

import numpy as np

from activegan.errors import ConfigError
from activegan.learners.spec import LearnerSpec


def _specs() -> dict[str, LearnerSpec]:
    from activegan.gan import semisupervised
    from activegan.learners import cnn, embedding, linear, selftrain

    _SPECS = (cnn.SPEC, embedding.SPEC, selftrain.SPEC, linear.SPEC, semisupervised.SPEC)  # the registry: one line per learner
    return {spec.name: spec for spec in _SPECS}


LEARNERS: dict[str, LearnerSpec] = _specs()


AUTO = "auto"  # selftrain on pixels, linear on a backbone's features: resolved once the images are known


def default_learner(features: str, image_shape) -> str:
    """What ``auto`` means for images of (C, H, W) under the representation ``features`` (a name): the
    measured best of each (docs/results/label-efficiency): selftrain on pixels, linear on a backbone's features."""
    from activegan.features import auto_choice

    base = str(features).partition("@")[0]
    pixels = base == "pixels" or (base == "auto" and auto_choice(image_shape) == "pixels")
    return "selftrain" if pixels else "linear"


def resolve_learner(name: str, features: str, image_shape) -> str:
    """``name``, or for ``auto`` the default learner of these images and representation."""
    return default_learner(features, image_shape) if name == AUTO else name


def learner_spec(name: str) -> LearnerSpec:
    """The spec of learner ``name``; ConfigError naming the known ones otherwise."""
    if name not in LEARNERS:
        raise ConfigError("learner", f"unknown learner {name!r}; choose from {AUTO}, {', '.join(LEARNERS)}")
    return LEARNERS[name]


def make_learner(name: str, *, pool, n_classes: int | None, random_state: int = 0, train=None, cache_dir=None,
                 shared=None, representation=None, features="auto"):
    """An unfitted learner called ``name``. A pool learner gets the pool's ``representation`` (made here
    from ``features`` when not given: pass one to share its embedding and graphs between rounds and runs)."""
    if name == AUTO:
        shape = (representation.pool if representation is not None else np.asarray(pool)).shape[1:]
        name = resolve_learner(name, representation.features.name if representation is not None else features, shape)
    spec = learner_spec(name)
    if spec.learns_from_pool:
        if pool is None and representation is None:
            raise ConfigError("pool", f"the {name} learner learns from the unlabeled pool: give the pool")
        if representation is None:
            from activegan.representation import PoolRepresentation

            representation = PoolRepresentation(pool, cache_dir=cache_dir, features=features)
    if train is None:
        from activegan.learners.cnn import TrainOptions

        train = TrainOptions()
    return spec.build(pool=pool, n_classes=n_classes, train=train, random_state=random_state,
                      representation=representation, shared=shared)


from activegan.learners.embedding import EmbeddingLearner, PoolGraph  # noqa: E402 - the package's public names

__all__ = ["AUTO", "LEARNERS", "LearnerSpec", "default_learner", "learner_spec", "make_learner", "resolve_learner",
           "EmbeddingLearner", "PoolGraph"]
