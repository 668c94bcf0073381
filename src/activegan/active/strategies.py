"""Query strategies: an acquisition scorer and a selector, bound to their parameters, and one registry.

A strategy sees the round as a ``RoundView`` — the model, the pool, the candidate indices, the
labeled indices and the pool's representation — and selects n candidates:

    strategy = make_strategy("density-entropy", density_k=10)   # DensityWeighted(Entropy(), k=10)
    chosen = strategy.select(RoundView(model, X_pool, candidates, labeled, rng, representation), n=10)

Scoring strategies (everything here) score each candidate and take the top n (``acquisition.select_top``);
a strategy that selects by coverage overrides ``select`` and reads ``labeled`` and ``representation``
(``active.typiclust``). Generated images (the DCGAN's candidates) are scored by ``generated_scores``
with the same acquisition functions. The formulas themselves are in ``activegan.acquisition``.

Names: ``margin`` ranks the pool; ``gan-margin-match`` ranks generated images (labeled through an
oracle); ``margin@cnn`` uses the ``cnn`` learner instead of the run's. ``STRATEGIES`` is the registry:
adding a strategy is one module and one line there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from activegan import acquisition
from activegan.active.base import RoundView, Strategy, pool_probabilities
from activegan.active.diverse import DiverseMargin
from activegan.active.probcover import ProbCover
from activegan.active.switch import Switch
from activegan.active.typiclust import TypiClust
from activegan.errors import ConfigError


class Random(Strategy):
    """Uniform sampling: ranking by uniform random scores."""

    name = "random"
    needs_model = False

    def scores(self, model, X, rng):
        return acquisition.random_scores(len(X), rng)


class _Uncertainty(Strategy):
    """A function of the model's class probabilities, with a differentiable torch twin."""

    differentiable = True
    function = staticmethod(acquisition.entropy)

    def scores(self, model, X, rng):
        return self.function(model.predict_proba(X))

    def pool_scores(self, model, X, candidates, rng):
        return self.function(pool_probabilities(model, X, candidates))


class LeastConfidence(_Uncertainty):
    """1 − max P(y|x)."""

    name = "least-confidence"
    function = staticmethod(acquisition.least_confidence)

    def torch_scores(self, probs):
        return 1 - probs.max(dim=1).values


class Margin(_Uncertainty):
    """−(P(best) − P(second))."""

    name = "margin"
    function = staticmethod(acquisition.margin)

    def torch_scores(self, probs):
        top2 = probs.topk(2, dim=1).values
        return -(top2[:, 0] - top2[:, 1])


class Entropy(_Uncertainty):
    """−Σ P log P."""

    name = "entropy"
    function = staticmethod(acquisition.entropy)

    def torch_scores(self, probs):
        return -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)


class _MCDropout(Strategy):
    """A function of T MC-dropout predictions (Gal et al. 2017). The dropout noise is drawn from the
    round's rng, so it differs between experiment seeds and rounds and repeats on a rerun."""

    function = staticmethod(acquisition.bald)

    def __init__(self, mc_samples: int = 20):
        if mc_samples < 1:
            raise ConfigError("mc_samples", f"must be at least 1, got {mc_samples}")
        self.mc_samples = mc_samples

    def scores(self, model, X, rng):
        if not hasattr(model, "predict_proba_mc"):
            raise ConfigError("strategy", f"{self.name} needs a model with predict_proba_mc (MC dropout)")
        noise_seed = int(rng.integers(2**31))
        return self.function(model.predict_proba_mc(X, self.mc_samples, seed=noise_seed))


class BALD(_MCDropout):
    """Mutual information between the prediction and the weights."""

    name = "bald"
    function = staticmethod(acquisition.bald)


class VariationRatios(_MCDropout):
    """1 − the modal class's share of T dropout votes."""

    name = "variation-ratios"
    function = staticmethod(acquisition.variation_ratios)


class MeanEntropy(_MCDropout):
    """Entropy of the mean MC-dropout prediction: Gal et al.'s Max Entropy."""

    name = "mc-entropy"
    function = staticmethod(acquisition.mean_entropy)


class DensityWeighted(Strategy):
    """density × base score (the poster's density-weighted strategies). Density is the mean cosine
    similarity of an image to its k nearest neighbours in the pool (k=None: every other image), on
    ``features="pixels"`` (computed once per pool, cached in ``cache_dir`` by content) or
    ``"penultimate"`` (the model's features, every time it is asked). ``search``: exact, ivf
    (approximate neighbours) or auto (exact up to ``acquisition.EXACT_UP_TO`` images)."""

    def __init__(self, base: Strategy, k: int | None = 10, features: str = "pixels", cache_dir=None,
                 search: str = "auto"):
        if features not in DENSITY_FEATURES:
            raise ConfigError("density_features", f"must be one of {', '.join(DENSITY_FEATURES)}, got {features!r}")
        if k is not None and k < 1:
            raise ConfigError("density_k", f"must be at least 1 or None (all), got {k}")
        if search not in acquisition.SEARCHES:
            raise ConfigError("density_search", f"must be one of {', '.join(acquisition.SEARCHES)}, got {search!r}")
        self.base, self.k, self.features, self.search = base, k, features, search
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.name = f"density-{base.name}"
        self.differentiable = base.differentiable
        self._pixels_density: tuple[np.ndarray, np.ndarray] | None = None  # (pool, its density)

    def scores(self, model, X, rng):
        """Candidates that are the whole pool: density within X."""
        return self.pool_scores(model, X, np.arange(len(X)), rng)

    def pool_scores(self, model, X, candidates, rng):
        return self.pool_density(model, X)[candidates] * self.base.scores(model, X[candidates], rng)

    def generated_scores(self, model, images, X, rng):
        return self.density_to_pool(model, images, X) * self.base.scores(model, images, rng)

    def torch_scores(self, probs):
        return self.base.torch_scores(probs)  # density is held fixed: the caller multiplies it in

    def pool_density(self, model, X) -> np.ndarray:
        """Density of every pool image among the others."""
        k = None if self.k is None else min(self.k, len(X) - 1)
        if self.features == "penultimate":
            return acquisition.density(model.features(X), k, self.search)
        if self._pixels_density is None or self._pixels_density[0] is not X:
            self._pixels_density = (X, _cached_density(X, k, self.cache_dir, self.search))
        return self._pixels_density[1]

    def density_to_pool(self, model, images, X) -> np.ndarray:
        """Density of images that are not in the pool, against the pool."""
        if self.features == "penultimate":
            return acquisition.density_to(model.features(images), model.features(X), self.k, self.search)
        return acquisition.density_to(np.reshape(images, (len(images), -1)), np.reshape(X, (len(X), -1)), self.k,
                                      self.search)


def _cached_density(X, k: int | None, cache_dir: Path | None, search: str = "auto") -> np.ndarray:
    """Pixel density of a pool, computed once per pool content, k and search, then read from the cache."""
    from activegan.cache import cached_arrays, content_key

    approximate = k is not None and acquisition.resolve_search(search, len(X)) == "ivf"
    key = content_key(np.asarray(X), k, approximate)
    return cached_arrays(cache_dir, "density", key, lambda: {"density": acquisition.density(X, k, search)})["density"]


DENSITY_FEATURES = ("pixels", "penultimate")
POSTER_STRATEGIES = ("least-confidence", "margin", "entropy", "density-least-confidence", "density-entropy")
MC_STRATEGIES = ("bald", "variation-ratios", "mc-entropy")  # need a learner that samples (MC dropout)
GAN_ORACLES = ("match", "model")


def _density(base: type[Strategy]) -> Callable[[dict], Strategy]:
    return lambda o: DensityWeighted(base(), o["density_k"], o["density_features"], o["cache_dir"], o["density_search"])


# The registry: name → factory(options). Adding a strategy is one module and one line here.
STRATEGIES: dict[str, Callable[[dict], Strategy]] = {
    "random": lambda o: Random(),
    "least-confidence": lambda o: LeastConfidence(),
    "margin": lambda o: Margin(),
    "entropy": lambda o: Entropy(),
    "density-least-confidence": _density(LeastConfidence),
    "density-entropy": _density(Entropy),
    "bald": lambda o: BALD(o["mc_samples"]),
    "variation-ratios": lambda o: VariationRatios(o["mc_samples"]),
    "mc-entropy": lambda o: MeanEntropy(o["mc_samples"]),
    "typiclust": lambda o: TypiClust(),
    "probcover": lambda o: ProbCover(),
    "diverse-margin": lambda o: DiverseMargin(),
    "switch": lambda o: Switch(),
}
STRATEGY_NAMES = tuple(STRATEGIES)  # the built-in ones; the registry is STRATEGIES
# What run, query, the labeling app and ActiveLearner select with when not told: the measured best under each
# dataset's default learner at 10–250 labels (docs/results/acquisition/README.md).
DEFAULT_STRATEGY = "typiclust"


def make_strategy(name: str, *, density_k: int | None = 10, density_features: str = "pixels",
                  mc_samples: int = 20, cache_dir=None, density_search: str = "auto") -> Strategy:
    """The pool strategy called ``name`` with its parameters; parameters it does not use are ignored."""
    if name not in STRATEGIES:
        raise ConfigError("strategy", f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return STRATEGIES[name](dict(density_k=density_k, density_features=density_features, mc_samples=mc_samples,
                                 cache_dir=cache_dir, density_search=density_search))


class StrategyName(NamedTuple):
    """'gan-margin-match@cnn' → acquisition 'margin', oracle 'match', learner 'cnn'."""

    acquisition: str
    oracle: str | None  # None: ranks the pool; match / model: ranks generated images
    learner: str | None  # None: the run's learner


def parse(name: str) -> StrategyName:
    """A strategy name in the one format: ``<acquisition>``, ``gan-<acquisition>-<oracle>``, either with
    ``@<learner>``. The learner is not checked here (``active.options``)."""
    base, _, learner = name.partition("@")
    acq, oracle = parse_name(base)
    return StrategyName(acq, oracle, learner or None)


def parse_name(name: str) -> tuple[str, str | None]:
    """'entropy' → ('entropy', None): ranks the pool. 'gan-entropy-match' → ('entropy', 'match'):
    ranks generated images, labeled through the oracle (match: the nearest unlabeled pool image;
    model: a privileged classifier trained on the whole pool's labels). A name may end in
    '@<learner>' ('margin@cnn': margin, with that learner instead of the experiment's): ignored here."""
    name = name.partition("@")[0]
    if not name.startswith("gan-"):
        if name not in STRATEGIES:
            raise ConfigError("strategies", f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)} "
                              "or gan-<acquisition>-<match|model>")
        return name, None
    acq, _, oracle = name[len("gan-"):].rpartition("-")
    if acq not in STRATEGIES or oracle not in GAN_ORACLES:
        raise ConfigError("strategies", f"unknown strategy {name!r}: GAN strategies are gan-<acquisition>-<oracle> with "
                          f"an acquisition from {', '.join(STRATEGIES)} and an oracle from {', '.join(GAN_ORACLES)}")
    return acq, oracle


def query(strategy: Strategy, model, X, candidates, n: int, rng: np.random.Generator, labeled=(),
          representation=None, features="auto") -> np.ndarray:
    """The n pool rows ``candidates`` (indices into X) the strategy selects, best first (a strategy that
    reads the pool's representation gets ``representation``, else one made from ``features``)."""
    if strategy.needs_representation and representation is None:
        from activegan.representation import PoolRepresentation

        representation = PoolRepresentation(X, features=features)
    view = RoundView(model, X, np.asarray(candidates, dtype=np.int64), np.asarray(labeled, dtype=np.int64), rng,
                     representation)
    return strategy.select(view, n)
