"""One active-learning run: one strategy, one seed, driven through the core's round
(``active.ActiveRound``) with a simulated oracle:

    first labels → training → [candidates → scores → selection → oracle → labeled set → training] × rounds

Candidates are unlabeled pool images, or images from a DCGAN for ``gan-<acquisition>-<oracle>``
strategies (``GanQueries.ask``); only the source of candidates and the oracle differ. Many strategies
and seeds, resume and workers: ``activegan.experiment``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from activegan.active import candidates
from activegan.acquisition import SEARCHES
from activegan.active import INITIAL_STRATEGIES, ActiveRound, Candidates, check_strategy, learner_factory, make_strategy, parse
from activegan.active.pool import SimulatedOracle
from activegan.active.strategies import DEFAULT_STRATEGY, DENSITY_FEATURES, POSTER_STRATEGIES
from activegan.errors import ConfigError
from activegan.gan.queries import MATCH_FEATURES, GanQueries, QueryOptions
from activegan.learners import learner_spec
from activegan.learners.cnn import TrainOptions
from activegan.monitor import Monitor, check_share


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
    # The demo: random, the default strategy (the measured best), the poster's strategies and a GAN strategy
    # under the default learner, and random and margin under the poster's supervised CNN beside them (same
    # first labels, paired by seed).
    strategies: list[str] = field(default_factory=lambda: ["random", DEFAULT_STRATEGY, *POSTER_STRATEGIES, "gan-margin-match",
                                                           "random@cnn", "margin@cnn"])
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
    # auto: selftrain on pixels (grey images), linear on the pretrained backbone's features (colour);
    # resolved for the data by ``for_images`` (run_experiment does it before anything is written)
    learner: str = "auto"
    # What the pool's representation is made of: auto (pixels for grey images, the embedded pretrained
    # backbone for colour: docs/results/representation), pixels, efficientnet-lite0[@SIZE], or the user's own
    # backbone (torchscript:PATH, onnx:PATH, python:module:function); see activegan.features
    features: str = "auto"
    subset: int | None = None  # score a random subset of the unlabeled pool each round
    candidates: str | None = None  # "knn:K": only the K nearest unlabeled neighbours of each labeled image (SEALS)
    density_k: int | None = 10
    density_features: str = "pixels"  # or "penultimate": the classifier's features, each round
    density_search: str = "auto"  # exact, ivf (approximate neighbours) or auto: exact up to 20 000 images
    mc_samples: int = 20
    # A share of each batch drawn uniformly from the unlabeled pool (at least 1 image when > 0), labeled and
    # counted like the others: the accuracy estimate's residuals then come from it alone (activegan.stopping)
    audit: float = 0.0
    no_test: bool = False  # no test split: accuracy is nan, only the estimate is reported
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
        return make_strategy(parse(name).acquisition, density_k=self.density_k, density_features=self.density_features,
                             mc_samples=self.mc_samples, cache_dir=cache_dir, density_search=self.density_search)

    def for_images(self, image_shape) -> "ExperimentConfig":
        """A copy whose ``learner`` is concrete for images of (C, H, W): ``auto`` resolved by the features."""
        from activegan.learners import resolve_learner

        c = copy.deepcopy(self)
        c.learner = resolve_learner(c.learner, c.features, image_shape)
        return c

    def resolved(self) -> "ExperimentConfig":
        """A copy whose ``initial``, ``rounds`` and ``query_size`` describe the schedule: with ``budgets``, its
        first count, its number of steps and its largest step. The caller's config is left as it is."""
        c = copy.deepcopy(self)
        if c.budgets:
            steps = [b - a for a, b in zip(c.budgets, c.budgets[1:])]
            c.initial, c.rounds, c.query_size = c.budgets[0], len(c.budgets) - 1, max(steps, default=c.query_size)
        return c

    def validate(self, pool_size: int) -> None:
        """ConfigError naming the parameter, before anything is trained (the config is not changed)."""
        if not self.strategies:
            raise ConfigError("strategies", "give at least one strategy")
        if not self.seeds:
            raise ConfigError("seeds", "give at least one seed")
        for name in self.strategies:
            check_strategy(name, self.learner, param="strategies", refine_steps=self.gan.refine_steps)
        from activegan.features import check_name

        try:
            check_name(self.features)
        except ConfigError as e:
            raise ConfigError("features", e.message) from None
        if self.initial_strategy not in INITIAL_STRATEGIES:
            raise ConfigError("initial_strategy", f"must be one of {', '.join(INITIAL_STRATEGIES)}, got {self.initial_strategy!r}")
        if self.budgets is not None:
            if not self.budgets or self.budgets[0] < 1 or any(b <= a for a, b in zip(self.budgets, self.budgets[1:])):
                raise ConfigError("budgets", f"must be increasing label counts from 1 on, got {self.budgets}")
        self.resolved()._validate_sizes(pool_size)

    def _validate_sizes(self, pool_size: int) -> None:
        check_share(self.audit)
        if self.audit and any(parse(s).oracle == "model" for s in self.strategies):
            raise ConfigError("audit", "gan-…-model strategies label generated images, not pool images: no audit with them")
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
        if any(parse(s).acquisition.startswith("density-") for s in self.strategies) and self.density_k is not None \
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


def run_strategy(data, name: str, seed: int, cfg: ExperimentConfig, *, saved: dict | None = None,
                 on_round: Callable[[dict, dict], None] | None = None, oracle: Callable | None = None,
                 gan: GanQueries | None = None, cache_dir=None, representation=None) -> dict:
    """Run (or resume from ``saved``) one strategy with one seed; returns its state.

    ``on_round(state, row)`` is called after every round with the full state, so a caller can
    persist it: that makes a killed experiment resumable. ``gan`` serves gan-* strategies;
    ``representation`` (a ``PoolRepresentation`` of ``data.x_pool``) shares the pool's embedding and
    graphs between runs. ``n_labeled`` counts labels spent: a generated image the model oracle rejects
    costs its label.
    """
    via = parse(name).oracle
    if via is not None and (gan is None or gan.oracle != via):
        raise ValueError(f"{name} needs GanQueries with oracle {via!r}")
    al = active_round(cfg, data, name, seed, cache_dir, representation, gan)
    oracle, schedule = oracle or SimulatedOracle(data.y_pool), cfg.schedule()
    state = saved or {"rows": [], "queries": [], "labeled": []}
    monitor = Monitor(len(data.y_pool), seed, cfg.audit, state.get("stopping"))  # the estimate and the stop signal
    uniform = parse(name).acquisition == "random" and via is None  # its queries are uniform draws from the pool
    refit = al.learner if learner_spec(cfg.learner_of(name)).cross_validates else None  # per fold: the estimate
    if saved is not None:
        al.tell(state["labeled"], oracle(state["labeled"]))  # re-reveal what was labeled before
        _restore_generated(al, state)
        al.model = _restore(al, cfg, data, len(state["rows"]) - 1, state)

    for r in range(len(state["rows"]), len(schedule)):
        t0, batch = time.perf_counter(), schedule[r] - (schedule[r - 1] if r else 0)
        audited = monitor.audit(al.labeled.unlabeled, batch, r) if r else np.empty(0, np.int64)  # uniform: --audit
        chosen = al.ask(batch - len(audited), round_=r, **({"exclude": audited} if len(audited) else {}))  # round 0: first labels
        chosen = np.concatenate([chosen, audited]) if len(audited) else chosen
        t1 = time.perf_counter()
        labels = oracle(chosen)  # the oracle: ground truth of the chosen pool images
        monitor.drawn(chosen if (uniform if r else cfg.initial_strategy == "random") else audited)
        if r > 0:
            monitor.record(al.model, data.x_pool, chosen, labels, audited)  # predicted before the labels are told
        al.tell(chosen, labels)
        if r > 0:
            state["queries"].append(chosen.tolist())
        t2 = time.perf_counter()
        model = al.fit(r)
        spent = len(al.labeled) + (len(al.asked_generated) if via == "model" else 0)
        if r == 0:
            state["first_labels"] = labels_key(chosen)
        row = {"strategy": name, "seed": int(seed), "round": r, "n_labeled": spent,
               "accuracy": model.score(data.x_test, data.y_test) if len(data.y_test) else float("nan"),  # no test: nan
               "train_s": time.perf_counter() - t2,
               "score_s": (t1 - t0) if r else 0.0, "select_s": (t2 - t1) if r else 0.0,
               "classes_labeled": len(np.unique(al.labeled.labels)), "first_labels": state["first_labels"]}
        row.update(monitor.columns(model, data.x_pool, al.labeled.labeled, data.y_pool, al.labeled.labels, refit, r))  # labels only (and
        # pool_accuracy: the simulation's truth on the unlabeled stop set, what the estimate estimates), never the test set
        state["rows"].append(row)
        state["stopping"] = monitor.state_dict()
        state["labeled"] = al.labeled.labeled.tolist()
        state["model"] = model.state_dict() if hasattr(model, "state_dict") else {}  # what resume needs
        if via is not None:
            _save_generated(al, state)
        if on_round is not None:
            on_round(state, row)
    return state


def labels_key(indices) -> str:
    """A short name of a set of pool indices (its sorted members' hash): which first labels a unit drew."""
    import hashlib

    return hashlib.sha1(np.sort(np.asarray(indices, dtype=np.int64)).tobytes()).hexdigest()[:12]


def active_round(cfg: ExperimentConfig, data, name: str, seed: int, cache_dir=None, representation=None,
                 gan=None) -> ActiveRound:
    """The round object of one strategy and seed: its strategy, learner, candidates and first labels."""
    if representation is None:
        from activegan.representation import PoolRepresentation

        representation = PoolRepresentation(data.x_pool, cache_dir, features=cfg.features)
    learner = learner_factory(cfg.learner_of(name), pool=data.x_pool, n_classes=data.n_classes, seed=seed,
                              train=cfg.train, representation=representation, cache_dir=cache_dir)
    return ActiveRound(data.x_pool, cfg.strategy(name, cache_dir), learner, seed=seed, stream=name,
                       candidates=Candidates(candidates.parse(cfg.candidates), cfg.subset), first=cfg.initial_strategy,
                       representation=representation, generated=gan,
                       y_pool=data.y_pool if cfg.initial_strategy == "balanced" else None)  # only balanced reads labels


def _restore(al: ActiveRound, cfg: ExperimentConfig, data, round_: int, state: dict):
    """The learner of a completed round: saved weights, or (a learner without weights, deterministic in
    its labels) refitted on the same training set."""
    model = al.learner(round_, None)
    if state.get("model"):
        return model.load_state(data.image_shape, data.n_classes, state["model"])
    return model.fit(*al.training_set())


def final_learner(cfg: ExperimentConfig, data, seed: int, state: dict, cache_dir=None, name: str = "",
                  representation=None):
    """The learner of a saved state's last round (for measures beyond accuracy, e.g. calibration); pass one
    ``representation`` of ``data.x_pool`` to share its embedding and graphs between calls."""
    al = active_round(cfg, data, name or cfg.strategies[0], seed, cache_dir, representation)
    al.tell(state["labeled"], np.asarray(data.y_pool)[state["labeled"]])
    _restore_generated(al, state)
    return _restore(al, cfg, data, len(state["rows"]) - 1, state)


def _save_generated(al: ActiveRound, state: dict) -> None:
    """Every generated query, and the synthetic images the model oracle labeled (torch: resume reads
    tensors only)."""
    state.update(generated=torch.from_numpy(al.asked_generated), synthetic_x=torch.from_numpy(al.synthetic_x),
                 synthetic_y=torch.from_numpy(al.synthetic_y), synthetic_spent=len(al.asked_generated))


def _restore_generated(al: ActiveRound, state: dict) -> None:
    if "generated" in state:
        al.asked_generated = state["generated"].numpy()
        al.synthetic_x, al.synthetic_y = state["synthetic_x"].numpy(), state["synthetic_y"].numpy()
