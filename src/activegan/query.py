"""``activegan query``: one active-learning step on a user's own images — which of the pool to label next.

    cfg = QueryConfig(labeled="labeled/", pool="unlabeled/", strategy="margin", n=1000, out="q1")
    run_query(cfg)    # q1/queries.csv, q1/contact_sheet.png, q1/config.json, q1/skipped.csv

The learner is trained on the labeled set (pool learners also on a sample of the pool: whole shards
spread evenly over it), saved to ``out/model.pt``, then the pool is scored shard by shard with the
strategy's own ``scores`` (the code ``run`` uses); each shard's scores are written to
``out/shards/`` as it finishes, so an interrupted query resumes where it stopped, and only the
best ``n`` are kept in memory while merging. Unreadable pool images are skipped and listed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from activegan.errors import ConfigError, DataError
from activegan.io import atomic_torch_save, atomic_write_bytes, atomic_write_json, atomic_write_text
from activegan.userdata import ImageFormat, Pool, decode, image_format, read_labeled

FORMATS = ("csv", "label-studio")


@dataclass
class QueryConfig:
    labeled: str
    pool: str
    out: str
    strategy: str = "margin"
    n: int = 100
    learner: str = "selftrain"  # the measured best (docs/results/label-efficiency)
    model: str | None = None  # a model.pt written by an earlier query: no training
    format: str = "csv"  # csv, or label-studio (also writes a Label Studio import file)
    shard_size: int = 4096
    fit_pool: int = 20000  # pool images a pool learner learns from (whole shards, spread evenly)
    image_size: int | None = None  # side the images are resized to (default: the labeled images', at most 64)
    epochs: int = 50  # the cnn learner's passes over the labeled set
    seed: int = 0
    ray: str | None = None  # score on this Ray cluster ('auto' or HOST:PORT) instead of here
    actors: int = 2  # Ray actors scoring shards, each holding the model once

    def validate(self) -> None:
        from activegan.learners import LEARNERS
        from activegan.strategies import STRATEGY_NAMES

        if self.strategy not in STRATEGY_NAMES or self.strategy.startswith("density-"):
            names = [s for s in STRATEGY_NAMES if not s.startswith("density-")]
            raise ConfigError("strategy", f"{self.strategy!r} cannot score images one shard at a time; choose from {', '.join(names)}")
        if self.learner not in LEARNERS or self.learner == "ssl-gan":
            raise ConfigError("learner", f"unknown learner {self.learner!r} for query; choose from cnn, embedding, selftrain")
        if self.format not in FORMATS:
            raise ConfigError("format", f"choose from {', '.join(FORMATS)}, got {self.format!r}")
        for name in ("n", "shard_size", "fit_pool", "epochs", "actors"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")


def run_query(cfg: QueryConfig, progress: bool = False, cache_dir=None, die_once: str | None = None) -> dict:
    """Train (or load), score every shard not scored yet, merge the top ``n``, write the outputs."""
    cfg.validate()
    if cfg.ray:
        from activegan.distributed import connect

        connect(cfg.ray)  # an unreachable cluster is refused before anything is trained
    import time

    out, t0 = Path(cfg.out), time.perf_counter()
    model, pool, strategy, classes, fmt = _context(cfg, cache_dir)
    t1 = time.perf_counter()
    scored = _score_shards(cfg, model, pool, strategy, progress, cache_dir, die_once)
    t2 = time.perf_counter()
    top, skipped = _merge(out, pool.n_shards, cfg.n)
    timing = {"model_s": t1 - t0, "score_s": t2 - t1, "merge_s": time.perf_counter() - t2, "shards_scored_now": scored}
    _write_outputs(cfg, out, pool, top, skipped, classes, fmt, timing)
    return {"scored": scored, "queries": len(top["ids"]), "skipped": len(skipped), "out": str(out), **timing}


def _context(cfg: QueryConfig, cache_dir):
    """(model, pool, strategy, class names, image format) of a query: trained now, or loaded from
    ``--model`` / ``out/model.pt`` (what a resumed query and every Ray actor do)."""
    from activegan.strategies import make_strategy

    out = Path(cfg.out)
    labeled = read_labeled(cfg.labeled)
    fmt = _format(cfg, labeled)
    pool = Pool(cfg.pool, fmt, cfg.shard_size)
    if cfg.format == "label-studio" and pool.is_arrays:
        raise ConfigError("format", "label-studio tasks point at image files; this pool is .npy arrays")
    _check_resumable(out, cfg, fmt)
    model, classes = _learner(cfg, labeled, fmt, pool, out, cache_dir)
    return model, pool, make_strategy(cfg.strategy), classes, fmt


def _format(cfg: QueryConfig, labeled) -> ImageFormat:
    if cfg.model:
        saved = _load_model_file(Path(cfg.model))
        return ImageFormat(saved["mode"], int(saved["side"]))
    return image_format(labeled, cfg.image_size)


def _check_resumable(out: Path, cfg: QueryConfig, fmt: ImageFormat) -> None:
    """Scores already in ``out`` must come from the same query; otherwise refuse instead of mixing."""
    path = out / "query.json"
    want = {k: v for k, v in asdict(cfg).items() if k not in ("out", "n", "format", "ray", "actors")} | \
        {"mode": fmt.mode, "side": fmt.side}
    if path.exists():
        have = json.loads(path.read_text())
        if have != want:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            raise ConfigError("out", f"{out} holds scores of another query (differs in {', '.join(diff)}); "
                                     "choose a new --out")
    else:
        atomic_write_json(path, want)


def _learner(cfg: QueryConfig, labeled, fmt: ImageFormat, pool: Pool, out: Path, cache_dir):
    """The trained learner and its class names: from ``--model``, from ``out/model.pt`` (a resumed
    query), or trained now on the labeled images (and the pool sample) and saved."""
    from activegan.learners import make_learner
    from activegan.loop import TrainOptions

    saved_path = Path(cfg.model) if cfg.model else out / "model.pt"
    classes = labeled.classes
    sample = _pool_sample(pool, cfg) if cfg.learner != "cnn" else None
    model = make_learner(cfg.learner, pool=sample, n_classes=len(classes), random_state=cfg.seed, cache_dir=cache_dir,
                         train=TrainOptions(epochs=cfg.epochs))
    if saved_path.exists():
        saved = _load_model_file(saved_path)
        if saved["learner"] != cfg.learner:
            raise ConfigError("model", f"{saved_path} holds a {saved['learner']} learner, not {cfg.learner}")
        classes = saved["classes"]
        if hasattr(model, "load_state") and saved["state"]:
            return model.load_state(fmt.shape, len(classes), saved["state"]), classes
        return model.fit(_labeled_images(labeled, fmt), labeled.y()), classes  # no weights (embedding): refit
    model.fit(_labeled_images(labeled, fmt), labeled.y())
    state = model.state_dict() if hasattr(model, "state_dict") else {}
    atomic_torch_save({"learner": cfg.learner, "classes": classes, "mode": fmt.mode, "side": fmt.side, "state": state},
                      saved_path)
    return model, classes


def _load_model_file(path: Path) -> dict:
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise DataError(f"{path}: not a model written by activegan query ({' '.join(str(e).split())[:200]})") from None
    if not isinstance(saved, dict) or not {"learner", "classes", "mode", "side", "state"} <= set(saved):
        raise DataError(f"{path}: not a model written by activegan query")
    return saved


def _labeled_images(labeled, fmt: ImageFormat) -> np.ndarray:
    images = []
    for path in labeled.paths:
        try:
            images.append(decode(path, fmt))
        except (OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{path}: a labeled image cannot be read ({' '.join(str(e).split())})") from None
    return np.stack(images)


def _pool_sample(pool: Pool, cfg: QueryConfig) -> np.ndarray:
    """Whole shards spread evenly over the pool, about ``fit_pool`` images (the same on every resume)."""
    k = min(pool.n_shards, max(1, -(-cfg.fit_pool // cfg.shard_size)))
    shards = np.unique(np.linspace(0, pool.n_shards - 1, k).round().astype(int))
    return np.concatenate([pool.shard(int(i))[1] for i in shards])


def _shard_path(out: Path, i: int) -> Path:
    return out / "shards" / f"{i:06d}.npz"


def _score_shards(cfg: QueryConfig, model, pool: Pool, strategy, progress: bool, cache_dir, die_once=None) -> int:
    """Score every shard without a file yet, here or on Ray actors; returns how many were scored now."""
    from tqdm import tqdm

    out = Path(cfg.out)
    todo = [i for i in range(pool.n_shards) if not _shard_path(out, i).exists()]
    bar = tqdm(total=len(pool), initial=len(pool) - sum(min(cfg.shard_size, len(pool) - i * cfg.shard_size) for i in todo),
               unit="img", disable=not progress, desc="scoring", smoothing=0.1)
    if cfg.ray:
        from activegan.distributed import map_over_actors

        map_over_actors(cfg.ray, ShardScorer, {"cfg": asdict(cfg), "cache_dir": None if cache_dir is None else str(cache_dir),
                                               "die_once": die_once}, todo, cfg.actors, lambda n: bar.update(int(n)))
    else:
        for i in todo:
            bar.update(score_shard(cfg, model, pool, strategy, i))
    bar.close()
    return len(todo)


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
    it is given exactly as a local query does."""

    def __init__(self, cfg: dict, cache_dir, die_once: str | None = None):
        from activegan.workers import limit_threads

        limit_threads(1)
        self.cfg = QueryConfig(**cfg)
        self.model, self.pool, self.strategy, _, _ = _context(self.cfg, cache_dir)
        self.die_once = die_once  # tests: the first actor to find this file missing creates it and dies

    def __call__(self, batch: dict) -> dict:
        import os

        done = []
        for i in batch["item"].tolist():
            if self.die_once and not os.path.exists(self.die_once):
                open(self.die_once, "w").close()
                os._exit(1)  # an actor killed mid-scoring
            done.append(score_shard(self.cfg, self.model, self.pool, self.strategy, int(i)))
        return {"result": np.asarray(done)}


def score_shard(cfg: QueryConfig, model, pool: Pool, strategy, i: int) -> int:
    """Score shard i with the strategy's own scores (run's code) and write them; returns its image count."""
    ids, images, skipped = pool.shard(i)
    if len(images):
        probs = model.predict_proba(images)
        scores = strategy.scores(_Known(model, images, probs), images, np.random.default_rng([cfg.seed, i]))
    else:
        probs, scores = np.empty((0, 1), np.float32), np.empty(0)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids, dtype=str), scores=np.asarray(scores, np.float64),
             pred=probs.argmax(axis=1), prob=probs.max(axis=1) if len(probs) else np.empty(0),
             skipped=np.array([s[0] for s in skipped], dtype=str), reasons=np.array([s[1] for s in skipped], dtype=str))
    atomic_write_bytes(_shard_path(Path(cfg.out), i), buf.getvalue())
    return len(ids) + len(skipped)


def _merge(out: Path, n_shards: int, n: int) -> tuple[dict, list[tuple[str, str]]]:
    """The ``n`` highest scores over all shards (ties: pool order), keeping at most n + one shard in memory."""
    keys = ("ids", "scores", "pred", "prob")
    top = {"ids": np.empty(0, str), "scores": np.empty(0), "pred": np.empty(0, int), "prob": np.empty(0), "order": np.empty(0, int)}
    skipped, seen = [], 0
    for i in range(n_shards):
        try:
            with np.load(_shard_path(out, i)) as z:
                part = {k: z[k] for k in keys}
                skipped += list(zip(z["skipped"].tolist(), z["reasons"].tolist()))
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{_shard_path(out, i)}: unreadable scores ({e}); delete it and rerun to rescore that shard") from None
        part["order"] = seen + np.arange(len(part["ids"]))
        seen += len(part["ids"])
        both = {k: np.concatenate([top[k], part[k]]) for k in top}
        keep = np.lexsort((both["order"], -both["scores"]))[:n]
        top = {k: v[keep] for k, v in both.items()}
    return top, skipped


def _write_outputs(cfg: QueryConfig, out: Path, pool: Pool, top: dict, skipped, classes, fmt: ImageFormat,
                   timing: dict) -> None:
    from activegan.plots import save_image_grid

    rows = ["rank,id,score,predicted,probability"]
    rows += [",".join([str(r + 1), _csv_cell(i), f"{s:.6g}", _csv_cell(classes[p]), f"{q:.4f}"])
             for r, (i, s, p, q) in enumerate(zip(top["ids"], top["scores"], top["pred"], top["prob"]))]
    atomic_write_text(out / "queries.csv", "\n".join(rows) + "\n")
    atomic_write_text(out / "skipped.csv", "id,reason\n" + "".join(f"{_csv_cell(i)},{_csv_cell(r)}\n" for i, r in skipped))
    sheet = [pool.image(i) for i in top["ids"][:64]]
    if sheet:
        save_image_grid(np.stack(sheet), out / "contact_sheet.png", nrow=8)
    atomic_write_json(out / "config.json", {**asdict(cfg), "classes": classes, "image_mode": fmt.mode, "image_side": fmt.side,
                                            "pool_images": len(pool), "skipped": len(skipped), "timing": timing})
    if cfg.format == "label-studio":
        _write_label_studio(cfg, out, pool, top, classes)


def _csv_cell(value) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def _write_label_studio(cfg: QueryConfig, out: Path, pool: Pool, top: dict, classes) -> None:
    """Tasks for Label Studio's import: images served from the pool's folder (its local-files document
    root), one prediction each. Label Studio serves the lowest prediction score first, so its score is
    the negated acquisition score (low = most informative); our rank is kept in the task data."""
    from urllib.parse import quote

    import os

    files = [Path(i).resolve() for i in top["ids"]]
    root = Path(os.path.commonpath([f.parent for f in files])) if files else pool.root().resolve()
    tasks = []
    for r, (i, s, p) in enumerate(zip(top["ids"], top["scores"], top["pred"])):
        rel = files[r].relative_to(root).as_posix()
        tasks.append({"data": {"image": f"/data/local-files/?d={quote(rel)}", "rank": r + 1, "path": str(i)},
                      "predictions": [{"model_version": f"activegan-{cfg.learner}-{cfg.strategy}", "score": -float(s),
                                       "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                                   "value": {"choices": [classes[int(p)]]}}]}]})
    atomic_write_json(out / "label-studio.json", tasks)
    atomic_write_text(out / "label-studio-root.txt", f"{root}\n")  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT
    choices = "".join(f'<Choice value="{c}"/>' for c in classes)
    atomic_write_text(out / "label-studio-config.xml", f'<View><Image name="image" value="$image"/>'
                                                        f'<Choices name="label" toName="image">{choices}</Choices></View>\n')
