"""``activegan query``: one active-learning step on a user's own images — which of the pool to label next.

    cfg = QueryConfig(labeled="labeled/", pool="unlabeled/", strategy="margin", n=1000, out="q1")
    run_query(cfg)    # q1/queries.csv, q1/contact_sheet.png, q1/config.json, q1/skipped.csv

The learner is trained on the labeled set (pool learners also on a sample of the pool: whole shards
spread evenly over it), saved to ``out/model.pt``, then the pool is scored shard by shard with the
strategy's own ``scores`` (the code ``run`` uses); each shard's scores are written to
``out/shards/`` as it finishes, so an interrupted query resumes where it stopped, and only the
best ``n`` are kept in memory while merging. Unreadable pool images are skipped and listed; labeled
images found in the pool are not ranked (their number is in the result and ``config.json``).

A rerun into the same ``out`` resumes only the same query on the same data: ``out/query.json``
records the options and a hash of the labeled set (labels and image bytes) and of the pool's listing
(names, sizes, modification times). Other options are refused; a changed labeled set or pool is
rescored: the stale shard scores and ``out/model.pt`` are discarded (never a file the user gave).

Each query also estimates its model's accuracy and gives the stop signal (``query_history``: from what the
previous query into the same ``out`` predicted of the images labeled since), in the result and ``query.json``.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from activegan.active.strategies import DEFAULT_STRATEGY
from activegan.data.user import ImageFormat, Labeled, ImagePool, image_format, read_labeled
from activegan.errors import ConfigError, DataError
from activegan.io import atomic_torch_save, atomic_write_bytes, atomic_write_json
from activegan import query_history
from activegan.monitor import audit_count, fast_out_of_fold
from activegan.query_outputs import labeled_images, write_outputs, write_skipped

FORMATS = ("csv", "label-studio")
MIN_POOL_SAMPLE = 20  # readable pool images a pool learner needs (its embedding and graph); fewer: cnn
_DATA_KEYS = ("labeled_set", "pool_listing")
_REPORT_KEYS = ("stopping",)  # what query.json reports besides the options and the data's hashes


@dataclass
class QueryConfig:
    labeled: str
    pool: str
    out: str
    strategy: str = DEFAULT_STRATEGY  # the measured best at 10–250 labels (docs/results/acquisition/README.md)
    n: int = 100
    learner: str = "auto"  # selftrain on pixels, linear on a backbone's features (docs/results/label-efficiency)
    features: str = "auto"  # the pool's representation (activegan.features)
    model: str | None = None  # a model.pt written by an earlier query: no training
    format: str = "csv"  # csv, or label-studio (also writes a Label Studio import file)
    shard_size: int = 4096
    fit_pool: int = 20000  # pool images a pool learner learns from (whole shards, spread evenly)
    image_size: int | None = None  # side the images are resized to (default: the labeled images', at most 64)
    epochs: int = 50  # the cnn learner's passes over the labeled set
    seed: int = 0
    ray: str | None = None  # score on this Ray cluster ('auto' or HOST:PORT) instead of here
    actors: int = 2  # Ray actors scoring shards, each holding the model once
    # A share of the n queries drawn uniformly from the pool (its stop set) instead of by the strategy, at least 1 when
    # > 0: once 10 of them are labeled the accuracy estimate rests on them alone (activegan.stopping)
    audit: float = 0.0

    def validate(self) -> None:
        from activegan.active.options import check_strategy

        if self.learner not in query_learners() and self.learner != "auto":
            raise ConfigError("learner", f"unknown learner {self.learner!r} for query; choose from auto, {', '.join(query_learners())}")
        parsed = check_strategy(self.strategy, self.learner)  # MC strategies only with a learner that samples
        from activegan.active.strategies import make_strategy

        if not make_strategy(parsed.acquisition).scores_images:  # selects a set over the whole pool
            for name, value in (("ray", self.ray), ("model", self.model)):
                if value:
                    raise ConfigError(name, f"{self.strategy} selects a set over the whole pool at once, with a learner "
                                            f"trained on it: it cannot use {name} (that scores shard by shard)")
        else:
            check_strategy(self.strategy, self.learner, shard_by_shard=True)
        from activegan.features import check_name

        check_name(self.features)
        if self.format not in FORMATS:
            raise ConfigError("format", f"choose from {', '.join(FORMATS)}, got {self.format!r}")
        for name in ("n", "shard_size", "fit_pool", "epochs", "actors"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        from activegan.monitor import check_share

        try:
            check_share(self.audit)
        except ConfigError as e:
            raise ConfigError("audit", e.message) from None
        if self.image_size is not None and self.image_size < 1:
            raise ConfigError("image_size", f"must be at least 1, got {self.image_size}")


def query_learners() -> list[str]:
    """The learners ``query`` offers, from the registry."""
    from activegan.learners import LEARNERS

    return [name for name, spec in LEARNERS.items() if spec.in_query]


def run_query(cfg: QueryConfig, progress: bool = False, cache_dir=None) -> dict:
    """Train (or load), score every shard not scored yet, merge the top ``n``, write the outputs."""
    from activegan.active.strategies import make_strategy

    cfg.validate()
    if cfg.ray:
        from activegan.distributed import connect

        connect(cfg.ray)  # an unreachable cluster is refused before anything is trained
    out, t0 = Path(cfg.out), time.perf_counter()
    labeled, fmt, saved = _inputs(cfg)
    if cfg.learner == "auto":  # resolved by the images' kind, and recorded so (query.json, model.pt, Ray actors)
        from activegan.learners import default_learner

        cfg = replace(cfg, learner=default_learner(cfg.features, fmt.shape))
    pool = _pool(cfg, fmt, labeled)
    rescored = _prepare_out(out, cfg, fmt, labeled, pool)
    strategy = make_strategy(cfg.strategy)
    if not strategy.scores_images:
        from activegan.query_set import select_set

        return select_set(cfg, strategy, labeled, fmt, pool, cache_dir, progress, t0, rescored)
    model, classes, make = _learner(cfg, labeled, fmt, pool, cache_dir, saved)
    t1 = time.perf_counter()
    scored = _score_shards(cfg, model, pool, strategy, progress, cache_dir)
    t2 = time.perf_counter()
    share = query_history.share_of(out, len(pool))
    k = audit_count(cfg.n, cfg.audit)
    top, skipped, stop = _merge(out, pool.n_shards, cfg.n - k, cfg.seed, share)
    top = query_history.with_audit(top, stop, k, cfg.seed, labeled.fingerprint()) if k else top
    skipped = pool.unlisted + skipped
    if not len(top["ids"]):
        write_skipped(out, skipped)
        raise DataError(f"{cfg.pool}: none of its {len(skipped)} images can be read (the reasons: {out / 'skipped.csv'})")
    timing = {"model_s": t1 - t0, "score_s": t2 - t1, "merge_s": time.perf_counter() - t2, "shards_scored_now": scored}
    sheet = write_outputs(cfg, out, pool, top, skipped, classes, fmt, timing, rescored)
    known = labeled_images(labeled, fmt)
    keys = query_history.content_keys(known)
    y = labeled.y(classes)
    oof = fast_out_of_fold(cfg.learner, lambda round_, previous: make(), 0, known, np.arange(len(y)), y,
                           query_history.audit_mask(out, labeled.fingerprint(), keys), cfg.seed)
    stopping = query_history.record(out, labeled.fingerprint(), keys, labeled.labels, classes, top, stop, share, oof)
    return {"scored": scored, "queries": len(top["ids"]), "skipped": len(skipped), "excluded": pool.excluded,
            "rescored": rescored, "contact_sheet": sheet, "out": str(out), "stopping": stopping, **timing}


def _inputs(cfg: QueryConfig) -> tuple[Labeled, ImageFormat, dict | None]:
    """The labeled set, the image format, and the saved model given as ``model`` (checked against the
    labeled set before anything is trained or scored)."""
    labeled = read_labeled(cfg.labeled)
    if not cfg.model:
        return labeled, image_format(labeled, cfg.image_size), None
    saved = _load_model_file(Path(cfg.model))
    _check_saved(Path(cfg.model), saved, cfg, labeled)
    return labeled, ImageFormat(saved["mode"], int(saved["side"])), saved


def _check_saved(path: Path, saved: dict, cfg: QueryConfig, labeled: Labeled) -> None:
    if cfg.learner == "auto":
        from activegan.learners import default_learner

        cfg = replace(cfg, learner=default_learner(cfg.features, ImageFormat(saved["mode"], int(saved["side"])).shape))
    if saved["learner"] != cfg.learner:
        raise ConfigError("model", f"{path} holds a {saved['learner']} learner, not {cfg.learner}")
    from activegan.learners import learner_spec

    if saved.get("features", "pixels") != cfg.features and learner_spec(cfg.learner).learns_from_pool:
        raise ConfigError("model", f"{path} was made on {saved.get('features', 'pixels')} features, not {cfg.features}")
    unknown = sorted(set(labeled.classes) - set(saved["classes"]))
    if unknown:
        raise ConfigError("model", f"{path} was trained on classes {', '.join(map(str, saved['classes']))}; the labeled "
                                   f"set's {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among them")


def _pool(cfg: QueryConfig, fmt: ImageFormat, labeled: Labeled) -> ImagePool:
    pool = ImagePool(cfg.pool, fmt, cfg.shard_size, labeled)
    if cfg.format == "label-studio" and pool.is_arrays:
        raise ConfigError("format", "label-studio tasks point at image files; this pool is .npy arrays")
    return pool


def _prepare_out(out: Path, cfg: QueryConfig, fmt: ImageFormat, labeled: Labeled, pool: ImagePool) -> str | None:
    """Scores already in ``out`` must come from the same query (else refuse) on the same data (else
    discard them: rescore). Returns what changed, or None."""
    path = out / "query.json"
    want = {k: v for k, v in asdict(cfg).items() if k not in ("out", "n", "format", "ray", "actors")} | \
        {"mode": fmt.mode, "side": fmt.side}
    data = {"labeled_set": labeled.fingerprint(), "pool_listing": pool.fingerprint()}
    changed = None
    if path.exists():
        try:
            have = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: unreadable ({e}); choose a new out directory") from None
        options = {k: v for k, v in have.items() if k not in _DATA_KEYS + _REPORT_KEYS}
        if options != want:
            diff = sorted(k for k in set(options) | set(want) if options.get(k) != want.get(k))
            raise ConfigError("out", f"{out} holds scores of another query (differs in {', '.join(diff)}); "
                                     "choose a new out directory")
        stale = [k for k in _DATA_KEYS if have.get(k) != data[k]]
        if not stale:
            return None
        changed = " and ".join({"labeled_set": "the labeled set", "pool_listing": "the pool"}[k] for k in stale) + " changed"
        _discard_scores(out, cfg)
    atomic_write_json(path, want | data)
    return changed


def _discard_scores(out: Path, cfg: QueryConfig) -> None:
    """The stale shard scores and model this query wrote in ``out``; never a path the user gave."""
    given = [os.path.realpath(p) for p in (cfg.labeled, cfg.pool, cfg.model) if p]
    ours = [*sorted((out / "shards").glob("[0-9][0-9][0-9][0-9][0-9][0-9].npz")), out / "model.pt"]
    for f in ours:
        real = os.path.realpath(f)
        if f.is_file() and not any(real == g or real.startswith(g + os.sep) for g in given):
            f.unlink()


def _learner(cfg: QueryConfig, labeled: Labeled, fmt: ImageFormat, pool: ImagePool, cache_dir, saved: dict | None):
    """(the trained learner, its class names, a maker of the same learner unfitted): from ``model``, from
    ``out/model.pt`` (a resumed query, a Ray actor), or trained now on the labeled images (and the pool sample) and saved."""
    from activegan.learners import LEARNERS, make_learner
    from activegan.learners.cnn import TrainOptions

    saved_path = Path(cfg.model) if cfg.model else Path(cfg.out) / "model.pt"
    if saved is None and saved_path.exists():
        saved = _load_model_file(saved_path)
        _check_saved(saved_path, saved, cfg, labeled)
    classes = list(saved["classes"]) if saved else labeled.classes
    sample = _pool_sample(pool, cfg) if LEARNERS[cfg.learner].learns_from_pool else None
    def make():
        return make_learner(cfg.learner, pool=sample, n_classes=len(classes), random_state=cfg.seed, cache_dir=cache_dir,
                            train=TrainOptions(epochs=cfg.epochs), features=cfg.features)

    model = make()
    if saved and hasattr(model, "load_state") and saved["state"]:
        return model.load_state(fmt.shape, len(classes), saved["state"]), classes, make
    model.fit(labeled_images(labeled, fmt), labeled.y(classes))  # a learner without weights (embedding) is refitted
    if not saved:
        state = model.state_dict() if hasattr(model, "state_dict") else {}
        atomic_torch_save({"learner": cfg.learner, "features": cfg.features, "classes": classes, "mode": fmt.mode, "side": fmt.side, "state": state},
                          saved_path)
    return model, classes, make


def _load_model_file(path: Path) -> dict:
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise DataError(f"{path}: not a model written by activegan query ({' '.join(str(e).split())[:200]})") from None
    if not isinstance(saved, dict) or not {"learner", "classes", "mode", "side", "state"} <= set(saved):
        raise DataError(f"{path}: not a model written by activegan query")
    return saved


def _pool_sample(pool: ImagePool, cfg: QueryConfig) -> np.ndarray:
    """Whole shards spread evenly over the pool, about ``fit_pool`` images (the same on every resume)."""
    k = min(pool.n_shards, max(1, -(-cfg.fit_pool // cfg.shard_size)))
    shards = np.unique(np.linspace(0, pool.n_shards - 1, k).round().astype(int)) if pool.n_shards else []
    parts = [pool.shard(int(i)) for i in shards]
    sample = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, *pool.fmt.shape), np.float32)
    if len(sample) == 0 and len(shards) == pool.n_shards:
        reasons = [r for p in parts for r in p[2]] + pool.unlisted
        raise DataError(f"{cfg.pool}: none of its {len(reasons)} images can be read"
                        + (f" ({reasons[0][0]}: {reasons[0][1]})" if reasons else ""))
    if len(sample) < MIN_POOL_SAMPLE:
        raise ConfigError("learner", f"the {cfg.learner} learner learns from the pool and needs at least {MIN_POOL_SAMPLE} "
                                     f"readable pool images, got {len(sample)}; rank a pool this small with the cnn learner")
    return sample


def _shard_path(out: Path, i: int) -> Path:
    return out / "shards" / f"{i:06d}.npz"


def _score_shards(cfg: QueryConfig, model, pool: ImagePool, strategy, progress: bool, cache_dir) -> int:
    """Score every shard without a file yet, here or on Ray actors; returns how many were scored now."""
    from tqdm import tqdm

    out = Path(cfg.out)
    todo = [i for i in range(pool.n_shards) if not _shard_path(out, i).exists()]
    bar = tqdm(total=len(pool), initial=len(pool) - sum(min(cfg.shard_size, len(pool) - i * cfg.shard_size) for i in todo),
               unit="img", disable=not progress, desc="scoring", smoothing=0.1)
    if cfg.ray:
        from activegan.distributed import map_over_actors

        map_over_actors(cfg.ray, ShardScorer, scorer_args(cfg, cache_dir), todo, cfg.actors, lambda n: bar.update(int(n)))
    else:
        for i in todo:
            bar.update(score_shard(cfg, model, pool, strategy, i))
    bar.close()
    return len(todo)


def scorer_args(cfg: QueryConfig, cache_dir) -> dict:
    """What each ``ShardScorer`` is built from: the query, the cache, and this process's thread count."""
    import torch

    return {"cfg": asdict(cfg), "cache_dir": None if cache_dir is None else str(cache_dir), "threads": torch.get_num_threads()}


class _Known:
    """The model, answering predict_proba for the shard it has just classified without running again."""

    def __init__(self, model, images, probs):
        self._model, self._images, self._probs = model, images, probs

    def predict_proba(self, X):
        return self._probs if X is self._images else self._model.predict_proba(X)

    def __getattr__(self, name):
        return getattr(self._model, name)


class ShardScorer:
    """A Ray Data actor (``query --ray``): loads the query's saved model once, then scores the shards
    it is given exactly as a local query does. It computes with the driver's thread count: BLAS, faiss
    and torch sum in a thread-dependent order, and another order can swap near-tied scores. Nothing in
    ``out`` is written here but shard scores, so a restarted actor rebuilds the same context."""

    def __init__(self, cfg: dict, cache_dir, threads: int):
        from activegan.active.strategies import make_strategy
        from activegan.workers import limit_threads

        limit_threads(threads)
        self.cfg = QueryConfig(**cfg)
        labeled = read_labeled(self.cfg.labeled)
        saved_path = Path(self.cfg.model) if self.cfg.model else Path(self.cfg.out) / "model.pt"
        saved = _load_model_file(saved_path)  # written by the driver before any actor starts
        fmt = ImageFormat(saved["mode"], int(saved["side"]))
        self.pool = _pool(self.cfg, fmt, labeled)
        self.model = _learner(self.cfg, labeled, fmt, self.pool, cache_dir, saved)[0]
        self.strategy = make_strategy(self.cfg.strategy)

    def __call__(self, batch: dict) -> dict:
        done = [score_shard(self.cfg, self.model, self.pool, self.strategy, int(i)) for i in batch["item"].tolist()]
        return {"result": np.asarray(done)}


def score_shard(cfg: QueryConfig, model, pool: ImagePool, strategy, i: int) -> int:
    """Score shard i with the strategy's own scores (run's code) and write them; returns its image count."""
    ids, images, skipped = pool.shard(i)
    if len(images):
        probs = model.predict_proba(images)
        scores = strategy.scores(_Known(model, images, probs), images, np.random.default_rng([cfg.seed, i]))
    else:
        probs, scores = np.empty((0, 1), np.float32), np.empty(0)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids, dtype=str), scores=np.asarray(scores, np.float64), key=query_history.content_keys(images),
             pred=probs.argmax(axis=1), prob=probs.max(axis=1) if len(probs) else np.empty(0),
             skipped=np.array([s[0] for s in skipped], dtype=str), reasons=np.array([s[1] for s in skipped], dtype=str))
    atomic_write_bytes(_shard_path(Path(cfg.out), i), buf.getvalue())
    return len(ids) + len(skipped)


def _merge(out: Path, n_shards: int, n: int, seed: int, share: float) -> tuple[dict, list[tuple[str, str]], dict]:
    """The ``n`` highest scores over all shards, ties broken by a random key per image (``select_top``'s
    rule; shard i's keys come from its own stream, so they do not depend on the merge), keeping at most
    n + one shard in memory; and the content key, prediction and probability of the stop set's images."""
    from activegan.active.selection import StreamingTop

    top, skipped, stop = StreamingTop(n), [], []
    for i in range(n_shards):
        try:
            with np.load(_shard_path(out, i)) as z:
                part = {k: z[k] for k in ("ids", "scores", "pred", "prob")}
                part["key"] = z["key"] if "key" in z.files else np.full(len(part["ids"]), "")  # scored before keys
                skipped += list(zip(z["skipped"].tolist(), z["reasons"].tolist()))
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{_shard_path(out, i)}: unreadable scores ({e}); delete it and rerun to rescore that shard") from None
        inside = query_history.in_stop_set(part["key"], share)
        stop.append({k: part[k][inside] for k in ("key", "pred", "prob", "ids")})
        top.add(part.pop("scores"), np.random.default_rng([seed, i, 1]).random(len(part["ids"])), **part)
    empty = {"ids": np.empty(0, str), "scores": np.empty(0), "pred": np.empty(0, int), "prob": np.empty(0), "key": np.empty(0, str)}
    return top.top or empty, skipped, {k: np.concatenate([s[k] for s in stop]) if stop else empty[k]
                                       for k in ("key", "pred", "prob", "ids")}
