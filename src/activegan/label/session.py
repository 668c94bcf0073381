"""The active-learning loop with a person as the oracle.

``LabelSession`` reads as one strategy of ``activegan.loop``, except that the oracle answers
whenever the person clicks:

    person's labels → labeled set → training → test accuracy, accuracy estimate, stop signal
    → model probabilities → acquisition scores → selection → next batch (stored with the model's
    predictions of it, before the person labels it: the estimate's residuals), then served

It returns plain data (items, counts, the learning curve) and imports no web framework:
``activegan.label.web`` puts it behind the page's JSON API.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from activegan import seeds
from activegan.active import STRATEGIES, ActiveRound, Candidates, Pool, check_strategy, learner_factory, make_strategy
from activegan.errors import ConfigError, DataError
from activegan.label.estimate import asked_predictions, round_estimate, session_out_of_fold
from activegan.label.generated import GeneratedBatches, acquisition_of
from activegan.label.store import DB_NAME, SCHEMA_VERSION, SKIP, Item, LabelStore, lock_state
from activegan.monitor import audit_draw, check_share
from activegan.stopping import stop_set

logger = logging.getLogger("activegan.label")

_ITEM_ID = re.compile(r"^[pg][A-Za-z0-9_-]{1,64}$")


@dataclass
class LabelConfig:
    """What a labeling session asks and how it retrains; defaults keep digits rounds to seconds."""

    dataset: str
    strategy: str
    query_size: int = 10
    budget: int | None = None  # images asked in all, skips included; default 10 batches
    seed: int = 0
    learner: str = "auto"  # see activegan.learners: selftrain on pixels, linear on a backbone's features
    initial_strategy: str = "typical"  # the first batch, before any label: typical (TypiClust) or random
    features: str = "auto"  # the pool's representation (activegan.features)
    steps: int = 150  # the CNN learner's gradient steps per retrain
    batch_size: int = 32
    lr: float = 1e-3
    subset: int | None = 2000  # score a random subset of the unlabeled pool (big pools stay quick)
    density_k: int | None = 10
    mc_samples: int = 20
    device: str = "cpu"
    cache_dir: Path | None = field(default=None, repr=False)
    gan_checkpoint: str | None = None  # gan-* strategies: this DCGAN (else one is trained into the cache)
    no_test: bool = False  # the data has no test split (recorded: a restart keeps it); only the estimate is shown
    # A share of each batch after the first drawn uniformly from the unasked pool (at least 1 image when > 0), labeled
    # like the others: the accuracy estimate's residuals then come from them alone (activegan.stopping)
    audit: float = 0.0

    def validate(self, pool_size: int) -> None:
        """Raise ``ConfigError`` (naming the parameter) for a value this pool cannot work with."""
        if (acquisition_of(self.strategy) or self.strategy) not in STRATEGIES:
            raise ConfigError("strategy", f"unknown strategy {self.strategy!r}; choose from "
                              f"{', '.join(STRATEGIES)}, or gan-<one of them> for generated images")
        check_strategy(acquisition_of(self.strategy) or self.strategy, self.learner)
        from activegan.features import check_name

        check_name(self.features)
        try:
            check_share(self.audit)
        except ConfigError as e:
            raise ConfigError("audit", e.message) from None
        if self.audit and acquisition_of(self.strategy):
            raise ConfigError("audit", "gan-* strategies ask for generated images: the audit draws pool images, use a pool strategy")
        if self.initial_strategy not in ("random", "typical"):
            raise ConfigError("initial_strategy", f"must be random or typical (no labels exist yet), got {self.initial_strategy!r}")
        for name in ("query_size", "budget", "steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(name, f"must be at least 1, got {value}")
        if self.subset is not None and self.subset < self.query_size:
            raise ConfigError("subset", f"{self.subset} is smaller than the query size ({self.query_size})")
        if self.query_size > pool_size:
            raise ConfigError("query_size", f"{self.query_size} is larger than the pool ({pool_size} images)")

    @property
    def total_budget(self) -> int:
        return self.budget if self.budget is not None else 10 * self.query_size


def check_state_dir(state_dir: Path, dataset: str | None, strategy: str | None) -> dict:
    """The stored meta of a state directory ({} if new); refuse one made for another job."""
    state_dir = Path(state_dir)
    if state_dir.exists() and not state_dir.is_dir():
        raise DataError(f"{state_dir} is a file, not a state directory")
    if not LabelStore.exists(state_dir):
        return {}
    try:
        store = LabelStore(state_dir, readonly=True)
        try:
            meta = store.meta()
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{state_dir / DB_NAME} is not a readable labels database ({exc})") from None
    for key, given in (("dataset", dataset), ("strategy", strategy)):
        if given is not None and meta.get(key) is not None and meta[key] != given:
            raise DataError(
                f"{state_dir} was made for dataset {meta.get('dataset')} and strategy {meta.get('strategy')}, "
                f"not {key} {given}; use those or another state directory"
            )
    return meta


@dataclass(frozen=True)
class Status:
    """Where the current round stands. ``batch`` is the round's items in order; labeled ones carry
    their label. ``curve`` holds one point per trained round (round, n_labeled, accuracy, train_s, time);
    ``estimates`` the accuracy estimate and stop signal of each (``LabelStore.estimates``)."""

    round: int
    batch: list[Item]
    curve: list[dict]
    labeled: int
    skipped: int
    asked: int
    budget: int
    training: bool  # the round is fully labeled and its retrain (or next batch) is pending
    training_error: str | None  # why the last retrain failed, while it is pending
    finished: bool  # the budget (or the pool) is spent and the last round is trained
    behind: bool = False  # the batch was asked before the last round's retrain, which is still running
    estimates: list[dict] = field(default_factory=list)


class LabelSession:
    """One person labeling one pool: the stored state, the model, and the thread that retrains.

    ``open()`` takes an exclusive lock on the state directory, so two servers never share it.
    """

    def __init__(self, state_dir, data, cfg: LabelConfig):
        self.state_dir = Path(state_dir)
        self.data = data
        self.cfg = cfg
        self.training_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> Self:
        from activegan.learners import resolve_learner

        cfg = self.cfg
        cfg.learner = resolve_learner(cfg.learner, cfg.features, self.data.image_shape)  # recorded resolved
        cfg.validate(len(self.data.y_pool))
        self.strategy = make_strategy(acquisition_of(cfg.strategy) or cfg.strategy, density_k=cfg.density_k,
                                      mc_samples=cfg.mc_samples, cache_dir=cfg.cache_dir)
        self.generated = None
        if acquisition_of(cfg.strategy):  # the person labels synthesised images (after a first pool batch)
            self.generated = GeneratedBatches(self.data, cfg.gan_checkpoint, cfg.cache_dir, cfg.seed)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = lock_state(self.state_dir)
        try:
            self.store = LabelStore(self.state_dir)
            self._check_meta()
            self.stop = stop_set(len(self.data.y_pool), self.seed)  # the stop signal's fixed unlabeled images
            self.active = self._active_round()
            if self.store.current_round() == 0:
                chosen, files, audited = self._select(None, 1)
                self.store.add_batch(1, chosen, files, audit=audited)
        except BaseException:
            if hasattr(self, "store"):
                self.store.close()
            self._lock_file.close()
            raise
        self._trainer = threading.Thread(target=self._train_loop, name="activegan-label-trainer", daemon=True)
        self._trainer.start()
        self._wake.set()  # a restart may find a closed round still waiting for its retrain
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._trainer.join(timeout=60)
        self.store.close()
        self._lock_file.close()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_meta(self) -> None:
        d, cfg = self.data, self.cfg
        meta = self.store.meta()
        identity = {"dataset": cfg.dataset, "strategy": cfg.strategy}
        if meta:
            check_state_dir(self.state_dir, cfg.dataset, cfg.strategy)
            if meta.get("pool_size") != len(d.y_pool) or meta.get("classes") != list(d.classes):
                raise DataError(
                    f"{self.state_dir} was made for a pool of {meta.get('pool_size')} images with classes "
                    f"{','.join(meta.get('classes') or [])}; dataset {cfg.dataset} gives {len(d.y_pool)} images"
                )
        else:
            identity.update(schema_version=SCHEMA_VERSION, seed=cfg.seed, pool_size=len(d.y_pool), classes=list(d.classes),
                            image_shape=list(d.image_shape), created=time.time())
        # Batch size and budget may change between restarts; they apply from the next batch on.
        self.store.set_meta({**identity, "query_size": cfg.query_size, "budget": cfg.total_budget, "learner": cfg.learner,
                            "initial_strategy": cfg.initial_strategy, "features": cfg.features, "no_test": cfg.no_test})
        self.seed = int(self.store.meta()["seed"])

    # -- what the person sees and does ---------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return list(self.data.classes)

    def status(self) -> Status:
        """The current round and where it stands; the next batch appears here once trained."""
        store = self.store
        with store.snapshot():  # one consistent view, even while the trainer stores a round
            r = store.current_round()
            items = store.batch(r)
            curve, estimates = store.curve(), store.estimates()
            counts, asked = store.counts(), store.n_items()
        closed = all(i.label is not None for i in items)
        finished = closed and bool(curve) and curve[-1]["round"] == r and not self._more_to_ask(asked)
        training, behind = closed and not finished, r > 1 and not any(c["round"] == r - 1 for c in curve)
        return Status(round=r, batch=items, curve=curve, labeled=counts["labeled"], skipped=counts["skipped"],
                      asked=asked, budget=self.cfg.total_budget, training=training, behind=behind,
                      training_error=self.training_error if training or behind else None, finished=finished,
                      estimates=estimates)

    def label(self, item_id: str, label: str) -> dict:
        """Store a label (or a correction); wake the trainer when it closes the current round.

        ValueError for a label that is no class (nor ``SKIP``), KeyError for an unknown item."""
        if label != SKIP and label not in self.data.classes:
            raise ValueError(f"unknown label {label!r}; expected one of {', '.join(self.classes)} or {SKIP}")
        previous, item = self.store.set_label(item_id, label)
        current = self.store.current_round()
        closes = item.round == current and all(i.label is not None for i in self.store.batch(current))
        if closes:
            self._wake.set()
        return {
            "id": item_id,
            "label": label,
            "round": item.round,
            "replaced": previous is not None,
            "previous": previous,
            "batch_complete": closes,
            **self.store.counts(),
        }

    def undo(self, item_id: str) -> dict:
        """Remove the label of an item of the open round (KeyError: none; store.UndoRefused: closed)."""
        removed = self.store.undo_label(item_id)
        return {"id": item_id, "removed": removed, **self.store.counts()}

    def labels(self) -> list[Item]:
        """Every labeled item (skips included), with its latest label."""
        return self.store.labeled()

    def image(self, item_id: str) -> np.ndarray | None:
        """The item's (C, H, W) image in [0, 1]; None for anything that is not a known item id."""
        if not _ITEM_ID.match(item_id):
            return None
        item = self.store.item(item_id)
        return None if item is None else self._image(item)

    def _image(self, item: Item) -> np.ndarray:
        """(C, H, W) floats in [0, 1] for a pool index or a generated image in the state dir."""
        if item.pool_index is not None:
            return self.data.x_pool[item.pool_index]
        from activegan.data.images import read_image

        c = self.data.image_shape[0]
        arr = read_image(self.store.generated_path(item), "L" if c == 1 else "RGB")
        if arr.shape != tuple(self.data.image_shape):
            raise ValueError(f"generated image {item.file} is {arr.shape}, not {self.data.image_shape}")
        return arr

    # -- the round: retrain, report, select --------------------------------------------------
    def _train_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=None if self.training_error is None else 30.0)  # retry after a failure
            self._wake.clear()
            try:
                while not self._stop.is_set() and (r := self._round_to_close()) is not None:
                    self._close_round(r)
                self.training_error = None
            except Exception as exc:  # shown on the page; the server keeps serving
                logger.exception("retraining failed")
                self.training_error = " ".join(f"{exc.__class__.__name__}: {exc}".split())

    def _round_to_close(self) -> int | None:
        """The round to retrain on: the one before the current when its batch was asked ahead of its retrain and the
        point is missing (a restart in between), else the current when it is fully labeled and not yet trained on or
        followed by a batch. A trained last round is reopened when a restart raised the budget."""
        with self.store.snapshot():
            r = self.store.current_round()
            done = {c["round"] for c in self.store.curve()}
            if r > 1 and r - 1 not in done:
                return r - 1
            if not all(i.label is not None for i in self.store.batch(r)):
                return None
            return r if r not in done or self._more_to_ask(self.store.n_items()) else None

    def _more_to_ask(self, asked: int) -> bool:
        return asked < min(self.cfg.total_budget, len(self.data.y_pool))

    def _active_round(self) -> ActiveRound:
        """The core's round over this pool; the person is its oracle, the store its memory."""
        from activegan.learners.cnn import TrainOptions
        from activegan.representation import PoolRepresentation

        cfg, data = self.cfg, self.data
        representation = PoolRepresentation(data.x_pool, cfg.cache_dir, features=cfg.features)
        train = TrainOptions(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, device=cfg.device)
        learner = learner_factory(cfg.learner, pool=data.x_pool, n_classes=data.n_classes, seed=self.seed, train=train,
                                  representation=representation, cache_dir=cfg.cache_dir)
        return ActiveRound(data.x_pool, self.strategy, learner, seed=self.seed, stream=cfg.strategy,
                           candidates=Candidates(subset=cfg.subset), first=cfg.initial_strategy,
                           representation=representation)

    def _close_round(self, r: int) -> None:
        """Retrain on every class label of rounds up to r, measure test accuracy (where there is a test split) and
        estimate it, store the next batch with the model's predictions of it. A strategy that reads no model (the
        default, typiclust) asks for the next batch first and stores it before the retrain: the person labels on
        while the model trains, and the round's point follows with the model's predictions of that batch."""
        data, al, store = self.data, self.active, self.store
        labeled = [i for i in store.labeled() if i.label != SKIP and i.round <= r]
        al.labeled = Pool(len(data.y_pool))  # the store is the memory: labels may have been corrected
        pool_items = [i for i in labeled if i.pool_index is not None]
        al.tell([i.pool_index for i in pool_items], [data.classes.index(i.label) for i in pool_items])
        ahead = store.current_round() > r  # its next batch is stored already (asked before the retrain)
        if not ahead and not self.strategy.needs_model and self.generated is None and self._more_to_ask(store.n_items()):
            chosen, files, audited = self._select(None, r + 1)
            store.add_batch(r + 1, chosen, files, audit=audited)
            ahead = True
        t, made = time.perf_counter(), [i for i in labeled if i.pool_index is None]  # made: generated images labeled
        model, accuracy = None, None
        if labeled:
            extra_x = np.stack([self._image(i) for i in made]) if made else None
            model = al.fit(r, extra_x, [data.classes.index(i.label) for i in made])
            accuracy = model.score(data.x_test, data.y_test) if len(data.y_test) else None
        train_s = time.perf_counter() - t
        point = {"round": r, "n_labeled": len(labeled), "accuracy": accuracy, "train_s": train_s}
        if any(c["round"] == r for c in store.curve()):
            point = None  # reopened for a bigger budget: the round already has its point
        elif model is not None:
            oof = session_out_of_fold(store, al, self.cfg, pool_items, r, self.seed)
            point["estimate"] = round_estimate(store, model, data.x_pool, self.classes, self.stop, oof)
        if ahead:
            chosen, files = np.asarray([i.pool_index for i in store.batch(r + 1) if i.pool_index is not None], np.int64), []
            store.add_curve_point_after(point, chosen, asked_predictions(model, data.x_pool, chosen))
        else:
            chosen, files, audited = self._select(model, r + 1)
            if len(chosen) or files:
                store.add_batch(r + 1, chosen, files, curve_point=point,
                                predictions=asked_predictions(model, data.x_pool, chosen), audit=audited)
            elif point is not None:
                store.add_curve_point(point)
        acc, est = "-" if accuracy is None else f"{accuracy:.3f}", (point or {}).get("estimate") or {"estimate": float("nan"), "advice": "-"}
        logger.info("round %d closed: test accuracy %s, estimate %.3f after training on %d labels (%.1f s); next batch: "
                    "%d images; %s", r, acc, est["estimate"], len(labeled), train_s, len(chosen) + len(files), est["advice"])

    def _select(self, model, round_: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """The next batch: (pool indices, generated image files, the pool indices the audit drew) — the round's ask
        and after it the audit's uniform draws (``--audit``), or for gan-* the most informative generated images;
        before any model, the first labels (random or typical)."""
        cfg, none = self.cfg, np.empty(0, dtype=np.int64)
        asked = np.asarray(self.store.asked_pool_indices(), dtype=np.int64)
        n = min(cfg.query_size, cfg.total_budget - self.store.n_items(), len(self.data.y_pool) - len(asked))
        if n <= 0:
            return none, [], none
        if model is not None and self.generated is not None:
            rng = seeds.round_rng(self.seed, cfg.strategy, round_)
            return none, self.generated.write(self.strategy, model, n, rng, round_, self.state_dir), none
        audited = none if round_ == 1 or not cfg.audit else \
            audit_draw(np.setdiff1d(np.arange(len(self.data.y_pool)), asked), n, cfg.audit, self.seed, round_)
        chosen = self.active.ask(n - len(audited), round_, exclude=np.concatenate([asked, audited]))
        return np.concatenate([chosen, audited]).astype(np.int64), [], audited
