"""One active-learning run: one strategy, one seed. ``run_strategy`` reads top to bottom:

    candidates → model probabilities → acquisition scores → selection → oracle → labeled set → training

Candidates are unlabeled pool images (``strategies.query``), or images from a DCGAN for
``gan-<acquisition>-<oracle>`` strategies (``GanQueries.ask``); only the source of candidates and
the oracle differ. Many strategies and seeds, resume and workers: ``activegan.experiment``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from activegan import candidates
from activegan.acquisition import SEARCHES
from activegan.errors import ConfigError
from activegan.gan.queries import MATCH_FEATURES, GanQueries, QueryOptions
from activegan.learners import LEARNERS, make_learner
from activegan.pool import Pool, SimulatedOracle, initial_indices
from activegan.seeds import classifier_seed, initial_rng, round_rng
from activegan.strategies import DENSITY_FEATURES, POSTER_STRATEGIES, make_strategy, parse_name, query

INITIAL_STRATEGIES = ("balanced", "random", "typical")
MC_STRATEGIES = ("bald", "variation-ratios", "mc-entropy")  # only the CNN learner samples with dropout


@dataclass
class TrainOptions:
    """How the classifier is trained each round (from scratch unless ``warm_start``)."""

    epochs: int = 50
    steps: int | None = None  # exactly this many gradient steps instead of epochs
    batch_size: int = 32
    lr: float = 1e-3
    batch_norm: bool = False
    augment: bool = False
    warm_start: bool = False
    device: str = "cpu"


@dataclass
class GanOptions(QueryOptions):
    """gan-<acquisition>-<match|model> strategies: one DCGAN per dataset and seed (cached), or ``checkpoint``."""

    epochs: int | None = None  # None: 20 for digits, 5 otherwise
    ngf: int = 32
    ndf: int = 32
    checkpoint: str | None = None  # a trained DCGAN for every seed instead of one per seed
    checkpoint_sha1: str | None = None  # its content, recorded so --resume notices a retrained file
    match_features: str = "pixels"  # the match oracle's space: pixels, discriminator or classifier
    model_threshold: float = 0.9  # the privileged model oracle rejects labels below this confidence


@dataclass
class ExperimentConfig:
    """Everything that determines an experiment's curves (not where they go or how fast)."""

    dataset: str = "digits"
    data_dir: str | None = None
    # The demo: the poster's strategies and a GAN strategy under the default learner, and random and
    # margin under the poster's supervised CNN beside them (same first labels, paired by seed).
    strategies: list[str] = field(default_factory=lambda: ["random", *POSTER_STRATEGIES, "gan-margin-match", "random@cnn",
                                                           "margin@cnn"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    initial: int = 20
    # How the first labels are chosen: "balanced" reads the labels it claims to save (the poster's and
    # Gal et al.'s protocol, kept to reproduce them); "random" and "typical" (TypiClust) read none.
    initial_strategy: str = "typical"  # the measured best (docs/results/label-efficiency)
    query_size: int = 10
    rounds: int = 8
    budgets: list[int] | None = None  # label counts after each round (overrides initial, query_size, rounds)
    # selftrain (a CNN taught by label spreading over the pool: the measured best), embedding (the spreading
    # alone: faster per round), cnn (the poster's), ssl-gan (experimental); docs/results/label-efficiency
    learner: str = "selftrain"
    subset: int | None = None  # score a random subset of the unlabeled pool each round
    candidates: str | None = None  # "knn:K": only the K nearest unlabeled neighbours of each labeled image (SEALS)
    density_k: int | None = 10
    density_features: str = "pixels"  # or "penultimate": the classifier's features, each round
    density_search: str = "auto"  # exact, ivf (approximate neighbours) or auto: exact up to 20 000 images
    mc_samples: int = 20
    train: TrainOptions = field(default_factory=TrainOptions)
    gan: GanOptions = field(default_factory=GanOptions)

    def learner_of(self, name: str) -> str:
        """The learner of a strategy name: its '@<learner>' suffix, else the experiment's ``learner``."""
        return name.partition("@")[2] or self.learner

    def schedule(self) -> list[int]:
        """Labels after round 0, 1, …: ``budgets``, or ``initial`` + r × ``query_size``."""
        if self.budgets:
            return list(self.budgets)
        return [self.initial + r * self.query_size for r in range(self.rounds + 1)]

    def strategy(self, name: str, cache_dir=None):
        """The strategy object of a name in ``strategies`` (gan-* names: their acquisition's)."""
        return make_strategy(parse_name(name)[0], density_k=self.density_k, density_features=self.density_features,
                             mc_samples=self.mc_samples, cache_dir=cache_dir, density_search=self.density_search)

    def validate(self, pool_size: int) -> None:
        """ConfigError naming the parameter, before anything is trained."""
        if not self.strategies:
            raise ConfigError("strategies", "give at least one strategy")
        for name in self.strategies:
            strategy = self.strategy(name)
            if parse_name(name)[1] and self.gan.refine_steps and not strategy.differentiable:
                raise ConfigError("gan.refine_steps", f"{name}: needs a differentiable acquisition, not {strategy.name}")
        if not self.seeds:
            raise ConfigError("seeds", "give at least one seed")
        for learner in {self.learner, *map(self.learner_of, self.strategies)}:
            if learner not in LEARNERS:
                raise ConfigError("learner", f"unknown learner {learner!r}; choose from {', '.join(LEARNERS)}")
        for name in self.strategies:
            if parse_name(name)[0] in MC_STRATEGIES and self.learner_of(name) != "cnn":
                raise ConfigError("strategies", f"{name} needs MC dropout: use the cnn learner ({parse_name(name)[0]}@cnn)")
        if self.initial_strategy not in INITIAL_STRATEGIES:
            raise ConfigError("initial_strategy", f"must be one of {', '.join(INITIAL_STRATEGIES)}, got {self.initial_strategy!r}")
        if self.budgets is not None:
            if not self.budgets or self.budgets[0] < 1 or any(b <= a for a, b in zip(self.budgets, self.budgets[1:])):
                raise ConfigError("budgets", f"must be increasing label counts from 1 on, got {self.budgets}")
            # initial, rounds and query_size then describe the schedule (query_size: its largest step)
            self.initial, self.rounds, self.query_size = self.budgets[0], len(self.budgets) - 1, \
                max([b - a for a, b in zip(self.budgets, self.budgets[1:])], default=self.query_size)
        _at_least(1, initial=self.initial, query_size=self.query_size, mc_samples=self.mc_samples)
        _at_least(1, **{"train.epochs": self.train.epochs, "train.batch_size": self.train.batch_size})
        _at_least(0, rounds=self.rounds, **{"gan.refine_steps": self.gan.refine_steps})
        if self.initial > pool_size:
            raise ConfigError("initial", f"{self.initial} is larger than the pool ({pool_size} images)")
        needed = self.schedule()[-1]
        if needed > pool_size:
            raise ConfigError("rounds", f"{self.rounds}: initial {self.initial} + {self.rounds} rounds x {self.query_size} "
                              f"labels = {needed} labels, more than the pool's {pool_size} images")
        if self.subset is not None and self.subset < self.query_size:
            raise ConfigError("subset", f"{self.subset} is smaller than query_size {self.query_size}")
        candidates.parse(self.candidates)
        if self.density_features not in DENSITY_FEATURES:
            raise ConfigError("density_features", f"must be one of {', '.join(DENSITY_FEATURES)}, got {self.density_features!r}")
        if self.density_search not in SEARCHES:
            raise ConfigError("density_search", f"must be one of {', '.join(SEARCHES)}, got {self.density_search!r}")
        if any(parse_name(s)[0].startswith("density-") for s in self.strategies) and self.density_k is not None \
                and not 1 <= self.density_k < pool_size:
            raise ConfigError("density_k", f"{self.density_k} must be between 1 and the pool size - 1 ({pool_size - 1})")
        if self.gan.match_features not in MATCH_FEATURES:
            raise ConfigError("gan.match_features", f"must be one of {', '.join(MATCH_FEATURES)}, got {self.gan.match_features!r}")
        if self.gan.candidates < self.query_size:
            raise ConfigError("gan.candidates", f"{self.gan.candidates} is smaller than query_size {self.query_size}")
        if self.gan.epochs is not None:
            _at_least(1, **{"gan.epochs": self.gan.epochs})


def flatten(d: dict, prefix: str = "") -> dict:
    """A nested config dict with dotted keys: {"train": {"epochs": 5}} → {"train.epochs": 5}."""
    flat = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _at_least(low: int, **values) -> None:
    for name, value in values.items():
        if value < low:
            raise ConfigError(name, f"must be at least {low}, got {value}")


def make_classifier(cfg: ExperimentConfig, data, seed: int, round_: int, cache_dir=None, previous=None, learner=None):
    """The learner trained after round r; a warm-started CNN keeps round 0's seed (resumed or not).
    ``previous`` (last round's learner) lends its pool-level work (embedding, graph) to the new one."""
    return make_learner(learner or cfg.learner, pool=data.x_pool, n_classes=data.n_classes, train=cfg.train, cache_dir=cache_dir,
                        random_state=classifier_seed(seed, 0 if cfg.train.warm_start else round_), shared=previous)


def first_labels(cfg: ExperimentConfig, data, seed: int, cache_dir=None) -> np.ndarray:
    """The initial labeled set; ``typical`` picks in the pool's unsupervised embedding (no label read)."""
    rng = initial_rng(seed)
    if cfg.initial_strategy == "typical":
        from activegan.embedding import PoolEmbedding, typical_indices

        return typical_indices(PoolEmbedding(cache_dir=cache_dir).fit(data.x_pool).coords, cfg.schedule()[0], rng)
    return initial_indices(data.y_pool, cfg.schedule()[0], rng, balanced=cfg.initial_strategy == "balanced")


def run_strategy(data, name: str, seed: int, cfg: ExperimentConfig, *, saved: dict | None = None,
                 on_round: Callable[[dict, dict], None] | None = None, oracle: Callable | None = None,
                 gan: GanQueries | None = None, cache_dir=None) -> dict:
    """Run (or resume from ``saved``) one strategy with one seed; returns its state.

    ``on_round(state, row)`` is called after every round with the full state, so a caller can
    persist it: that makes a killed experiment resumable. ``gan`` serves gan-* strategies.
    ``n_labeled`` counts labels spent: a generated image the model oracle rejects costs its label.
    """
    strategy, via = cfg.strategy(name, cache_dir), parse_name(name)[1]
    if via is not None and (gan is None or gan.oracle != via):
        raise ValueError(f"{name} needs GanQueries with oracle {via!r}")
    oracle, pool, schedule = oracle or SimulatedOracle(data.y_pool), Pool(len(data.y_pool)), cfg.schedule()
    if saved is None:
        first = first_labels(cfg, data, seed, cache_dir)
        pool.label(first, oracle(first))
        state, model = _new_state(via, data.image_shape), None
    else:
        state = saved
        pool.label(state["labeled"], oracle(state["labeled"]))  # re-reveal what was labeled before
        model = _restore(cfg, data, seed, state, pool, cache_dir, cfg.learner_of(name))

    for r in range(len(state["rows"]), len(schedule)):
        rng, t0 = round_rng(seed, name, r), time.perf_counter()
        t1 = t0
        if r > 0:  # ask: candidates → scores → selection → oracle → labeled set
            n = schedule[r] - schedule[r - 1]
            if via is None:
                chosen = query(strategy, model, data.x_pool, _candidates(pool, cfg, rng, data, cache_dir, n), n, rng)
            else:
                chosen = _ask_generated(gan, strategy, model, data, pool, n, rng, state)
            t1 = time.perf_counter()
            if len(chosen):
                pool.label(chosen, oracle(chosen))  # the oracle: ground truth of the chosen pool images
            state["queries"].append(chosen.tolist())
        t2 = time.perf_counter()

        x_train, y_train = _training_set(data, pool, state)
        if model is None or not cfg.train.warm_start:
            model = make_classifier(cfg, data, seed, r, cache_dir, previous=model, learner=cfg.learner_of(name))
        model.fit(x_train, y_train)
        row = {"strategy": name, "seed": int(seed), "round": r, "n_labeled": len(pool) + state.get("synthetic_spent", 0),
               "accuracy": model.score(data.x_test, data.y_test), "train_s": time.perf_counter() - t2,
               "score_s": t1 - t0, "select_s": t2 - t1}
        state["rows"].append(row)
        state["labeled"] = pool.labeled.tolist()
        state["model"] = model.state_dict() if hasattr(model, "state_dict") else {}  # what resume needs
        if on_round is not None:
            on_round(state, row)
    return state


def _restore(cfg: ExperimentConfig, data, seed: int, state: dict, pool: Pool, cache_dir, learner=None):
    """The learner of the last completed round: saved CNN weights, or (a learner without weights,
    deterministic in its labels) refitted on the same training set."""
    model = make_classifier(cfg, data, seed, len(state["rows"]) - 1, cache_dir, learner=learner)
    if state.get("model"):
        return model.load_state(data.image_shape, data.n_classes, state["model"])
    return model.fit(*_training_set(data, pool, state))


def final_learner(cfg: ExperimentConfig, data, seed: int, state: dict, cache_dir=None, name: str = ""):
    """The learner of a saved state's last round (for measures beyond accuracy, e.g. calibration)."""
    pool = Pool(len(data.y_pool))
    pool.label(state["labeled"], np.asarray(data.y_pool)[state["labeled"]])
    return _restore(cfg, data, seed, state, pool, cache_dir, cfg.learner_of(name))


def _ask_generated(gan, strategy, model, data, pool: Pool, n: int, rng, state: dict) -> np.ndarray:
    """Generated candidates: the pool images the match oracle chose in their place (model oracle: none,
    its accepted images join the synthetic training set, and every one asked costs a label)."""
    generated = gan.ask(strategy, model, data.x_pool, pool.unlabeled, n, rng)
    _add_generated(state, generated)
    if gan.oracle == "model":
        state["synthetic_spent"] += len(generated.generated)
    return generated.chosen


def _candidates(pool: Pool, cfg: ExperimentConfig, rng, data, cache_dir, n: int) -> np.ndarray:
    """The unlabeled pool; with ``candidates`` = knn:K only the K nearest unlabeled neighbours of the
    labeled images (SEALS; the whole pool when they are fewer than n); then a random ``subset`` of
    those (Gal et al. scored 2 000)."""
    chosen, k = pool.unlabeled, candidates.parse(cfg.candidates)
    if k is not None:
        near = _neighbour_index(data.x_pool, cache_dir).candidates(pool.labeled, chosen, k)
        chosen = near if len(near) >= n else chosen
    if cfg.subset is not None and cfg.subset < len(chosen):
        chosen = np.sort(rng.choice(chosen, cfg.subset, replace=False))
    return chosen


_INDEX: dict = {}  # one neighbour index per pool in this process (the embedding and the index are cached on disk)


def _neighbour_index(x_pool, cache_dir):
    from activegan.embedding import PoolEmbedding

    if _INDEX.get("pool") is not x_pool:
        _INDEX.update(pool=x_pool, index=candidates.NeighbourIndex(PoolEmbedding(cache_dir=cache_dir).fit(x_pool).coords,
                                                                   cache_dir))
    return _INDEX["index"]


def _new_state(via: str | None, image_shape) -> dict:
    state = {"rows": [], "queries": [], "labeled": []}
    if via is not None:  # every generated query, and the synthetic images the model oracle labeled
        state.update(generated=torch.empty((0, *image_shape)), synthetic_x=torch.empty((0, *image_shape)),
                     synthetic_y=torch.empty(0, dtype=torch.int64), synthetic_spent=0)
    return state


def _add_generated(state: dict, generated) -> None:
    state["generated"] = torch.cat([state["generated"], torch.from_numpy(generated.generated)])
    state["synthetic_x"] = torch.cat([state["synthetic_x"], torch.from_numpy(generated.synthetic_x)])
    state["synthetic_y"] = torch.cat([state["synthetic_y"], torch.from_numpy(generated.synthetic_y)])


def _training_set(data, pool: Pool, state: dict) -> tuple[np.ndarray, np.ndarray]:
    x, y = data.x_pool[pool.labeled], pool.labels
    if len(state.get("synthetic_y", ())):
        x = np.concatenate([x, state["synthetic_x"].numpy()])
        y = np.concatenate([y, state["synthetic_y"].numpy()])
    return x, y
