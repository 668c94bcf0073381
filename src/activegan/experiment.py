"""Active-learning experiments: the loop, resumable state, curves and summaries.

This is the only module that holds a model, an acquisition function and the labeled set at
once. One round reads top to bottom in ``run_strategy``:
candidates → model probabilities → acquisition scores → selection → oracle → labeled set → training.
Candidates are unlabeled pool images, or images from a DCGAN (``gan-<acquisition>-<oracle>``
strategies); only the source of candidates and the oracle differ.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from activegan import acquisition
from activegan.acquisition import POSTER_STRATEGIES, select_top
from activegan.errors import UsageError
from activegan.generation import DIFFERENTIABLE, MATCH_FEATURES, generate_queries, label_by_model, match_to_pool
from activegan.io import atomic_torch_save, atomic_write_json, atomic_write_text
from activegan.metrics import aulc, labels_to
from activegan.models import CNNClassifier
from activegan.pool import Pool, SimulatedOracle, initial_indices

CURVE_COLUMNS = ["strategy", "seed", "round", "n_labeled", "accuracy", "train_s", "score_s", "select_s"]
THRESHOLDS = (0.90, 0.95)


@dataclass
class ExperimentConfig:
    """Everything that determines an experiment's curves (not where they go or how fast)."""

    dataset: str = "digits"
    data_dir: str | None = None
    # gan-margin-match beat gan-entropy-match on digits AULC (0.834 vs 0.828, 3 seeds): the demo's GAN strategy.
    strategies: list[str] = field(default_factory=lambda: ["random", *POSTER_STRATEGIES, "gan-margin-match"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    initial: int = 20
    balanced_initial: bool = True
    query_size: int = 10
    rounds: int = 8
    subset: int | None = None  # score a random subset of the unlabeled pool each round
    epochs: int = 50
    steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    batch_norm: bool = False
    augment: bool = False
    warm_start: bool = False
    density_k: int | None = 10
    density_features: str = "pixels"  # or "penultimate": the classifier's features, each round
    mc_samples: int = 20
    device: str = "cpu"
    # gan-<acquisition>-<match|model> strategies: one DCGAN per dataset and seed, cached.
    gan_epochs: int | None = None  # None: 20 for digits (about 20 s), 5 otherwise
    gan_ngf: int = 32
    gan_ndf: int = 32
    gan_candidates: int = 2000  # z drawn per round (M)
    gan_refine_steps: int = 0  # gradient-ascent steps on the score in z
    gan_step_size: float = 0.02
    gan_dedup: float = 0.98  # skip a generated image this similar (pixel cosine) to a kept one
    gan_checkpoint: str | None = None  # a trained DCGAN for every seed instead of training one per seed
    match_features: str = "pixels"  # match oracle's space: pixels, discriminator or classifier
    model_threshold: float = 0.9  # model oracle: reject below this reference confidence

    def validate(self, pool_size: int) -> None:
        acquisition.check_strategy_names(self.strategies)
        if not self.seeds:
            raise UsageError("--seeds: give at least one seed")
        for name, value in [("--query-size", self.query_size), ("--epochs", self.epochs), ("--batch-size", self.batch_size)]:
            if value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")
        if self.rounds < 0:
            raise UsageError(f"--rounds must be at least 0, got {self.rounds}")
        if self.initial > pool_size:
            raise UsageError(f"--initial {self.initial} is larger than the pool ({pool_size} images)")
        if self.initial < 1:
            raise UsageError(f"--initial must be at least 1, got {self.initial}")
        needed = self.initial + self.rounds * self.query_size
        if needed > pool_size:
            raise UsageError(
                f"--initial {self.initial} + --rounds {self.rounds} x --query-size {self.query_size} = {needed} "
                f"labels, more than the pool's {pool_size} images"
            )
        if self.subset is not None and self.subset < self.query_size:
            raise UsageError(f"--subset {self.subset} is smaller than --query-size {self.query_size}")
        if self.match_features not in MATCH_FEATURES:
            raise UsageError(f"--match-features must be one of {', '.join(MATCH_FEATURES)}, got {self.match_features!r}")
        if self.gan_candidates < self.query_size:
            raise UsageError(f"--gan-candidates {self.gan_candidates} is smaller than --query-size {self.query_size}")
        if self.gan_epochs is not None and self.gan_epochs < 1:
            raise UsageError(f"--gan-epochs must be at least 1, got {self.gan_epochs}")
        if self.gan_refine_steps < 0:
            raise UsageError(f"--gan-refine-steps must be 0 or more, got {self.gan_refine_steps}")
        if self.gan_checkpoint is not None and not Path(self.gan_checkpoint).is_file():
            raise UsageError(f"--gan-checkpoint: no such file: {self.gan_checkpoint}")
        for name in self.strategies:
            acq, via = acquisition.parse_strategy(name)
            if via and self.gan_refine_steps and acq not in DIFFERENTIABLE:
                raise UsageError(f"{name}: --gan-refine-steps needs one of {', '.join(DIFFERENTIABLE)}")
        if self.density_features not in ("pixels", "penultimate"):
            raise UsageError(f"--density-features must be 'pixels' or 'penultimate', got {self.density_features!r}")
        uses_density = any(s.startswith("density-") for s in self.strategies)
        if uses_density and self.density_k is not None and not 1 <= self.density_k < pool_size:
            raise UsageError(f"--density-k {self.density_k} must be between 1 and the pool size - 1 ({pool_size - 1})")
        if self.device != "cpu":
            import torch

            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise UsageError(f"--device {self.device}: CUDA is not available on this machine")


# -- one strategy, one seed ----------------------------------------------------------------


def make_classifier(cfg: ExperimentConfig, n_classes: int, seed: int, round_: int) -> CNNClassifier:
    # Same seed and round give the same initial weights for every strategy: paired comparison.
    return CNNClassifier(
        n_classes=n_classes,
        epochs=cfg.epochs,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        batch_norm=cfg.batch_norm,
        augment=cfg.augment,
        warm_start=cfg.warm_start,
        device=cfg.device,
        random_state=seed * 10_007 + round_,
    )


def score_candidates(strategy: str, model: CNNClassifier, x, rng, *, dens=None, mc_samples: int = 20, seed: int = 0):
    """Model outputs → acquisition scores, for pool images and generated images alike."""
    needs = acquisition.STRATEGIES[strategy].needs
    if needs == "nothing":
        return acquisition.score(strategy, rng=rng, n=len(x))
    if needs == "mc":
        return acquisition.score(strategy, mc_probs=model.predict_proba_mc(x, mc_samples, seed=seed))
    return acquisition.score(strategy, probs=model.predict_proba(x), dens=dens)


def round_rng(seed: int, strategy: str, round_: int) -> np.random.Generator:
    return np.random.default_rng([seed, round_, zlib.crc32(strategy.encode())])


@dataclass
class GanSource:
    """What gan-* strategies need beside the pool: the generator, its discriminator, the reference."""

    G: object
    image_size: int  # the side G generates; resized to the dataset's when they differ
    D: object | None = None  # for --match-features discriminator
    reference: CNNClassifier | None = None  # the model oracle


def run_strategy(
    data,
    strategy: str,
    seed: int,
    cfg: ExperimentConfig,
    pool_density: np.ndarray | None = None,
    saved: dict | None = None,
    on_round: Callable[[dict, dict], None] | None = None,
    oracle: Callable[[np.ndarray], np.ndarray] | None = None,
    gan: GanSource | None = None,
) -> dict:
    """Run (or resume from ``saved``) one strategy with one seed; returns its state.

    ``on_round(state, row)`` is called after every completed round with the full state, so a
    caller can persist it: that is what makes a killed experiment resumable. ``gan`` is needed
    by gan-* strategies only. ``n_labeled`` counts labels spent: a generated image the model
    oracle rejects costs its label but does not join the training set.
    """
    acq, via = acquisition.parse_strategy(strategy)  # via: None (pool), "match" or "model"
    if via is not None and (gan is None or (via == "model" and gan.reference is None)):
        raise ValueError(f"{strategy} needs a GanSource with a generator (and a reference classifier for model)")
    oracle = oracle or SimulatedOracle(data.y_pool)
    pool = Pool(len(data.y_pool))
    x_test, y_test = data.x_test, data.y_test
    pool_pixels = data.x_pool.reshape(len(data.x_pool), -1)
    gan_size = data.image_shape[1] if via and gan.image_size != data.image_shape[1] else None

    if saved is None:
        first = initial_indices(data.y_pool, cfg.initial, np.random.default_rng(seed), cfg.balanced_initial)
        pool.label(first, oracle(first))
        t = time.perf_counter()
        model = make_classifier(cfg, data.n_classes, seed, 0).fit(data.x_pool[pool.labeled], pool.labels)
        train_s = time.perf_counter() - t
        row = _row(strategy, seed, 0, len(pool), model.score(x_test, y_test), train_s, 0.0, 0.0)
        state = {"rows": [row], "queries": [], "labeled": pool.labeled.tolist()}
        if via is not None:
            state.update(_empty_synthetic(data.image_shape))
        _checkpoint(state, model, on_round, row)
    else:
        state = saved
        labeled = np.asarray(state["labeled"], dtype=np.int64)
        pool.label(labeled, oracle(labeled))  # re-reveal what was labeled before the interruption
        model = make_classifier(cfg, data.n_classes, seed, len(state["rows"]) - 1)
        model.load_state(data.image_shape, data.n_classes, state["model"])

    for r in range(len(state["rows"]), cfg.rounds + 1):
        rng = round_rng(seed, strategy, r)
        t0 = time.perf_counter()
        if via is None:
            # Candidates: the unlabeled pool, or a random subset of it (Gal et al. scored 2 000).
            candidates = pool.unlabeled
            if cfg.subset is not None and cfg.subset < len(candidates):
                candidates = np.sort(rng.choice(candidates, cfg.subset, replace=False))
            dens = None
            if acq.startswith("density-"):
                if cfg.density_features == "penultimate":
                    pool_density = acquisition.density(model.features(data.x_pool), cfg.density_k)
                dens = pool_density[candidates]
            scores = score_candidates(acq, model, data.x_pool[candidates], rng, dens=dens, mc_samples=cfg.mc_samples, seed=r)
            t1 = time.perf_counter()
            chosen = candidates[select_top(scores, cfg.query_size, rng)]
        else:
            # Candidates: M generated images, scored the same way; the best distinct n are kept.
            queries = generate_queries(
                gan.G, model, acq, cfg.query_size, cfg.gan_candidates, rng=rng, pool_features=pool_pixels,
                density_k=cfg.density_k, refine_steps=cfg.gan_refine_steps, step_size=cfg.gan_step_size,
                dedup_threshold=cfg.gan_dedup, image_size=gan_size, mc_samples=cfg.mc_samples,
            ).images
            t1 = time.perf_counter()
            state["generated"] = torch.cat([state["generated"], torch.from_numpy(queries)])

        # Oracle: ground truth of pool images (chosen, or matched to the generated queries), or
        # the reference classifier's label of the generated image itself.
        if via == "match":
            pool_features = _match_features(cfg, data.x_pool, gan, model)
            chosen = match_to_pool(_match_features(cfg, queries, gan, model), pool_features, pool.unlabeled)
        if via == "model":
            labels, accepted = label_by_model(queries, gan.reference, cfg.model_threshold)
            state["synthetic_x"] = torch.cat([state["synthetic_x"], torch.from_numpy(queries[accepted])])
            state["synthetic_y"] = torch.cat([state["synthetic_y"], torch.from_numpy(labels[accepted])])
            state["synthetic_spent"] += len(queries)
            state["queries"].append([])
        else:
            pool.label(chosen, oracle(chosen))
            state["queries"].append(chosen.tolist())

        t2 = time.perf_counter()
        x_train, y_train = data.x_pool[pool.labeled], pool.labels
        if via is not None and len(state["synthetic_y"]):
            x_train = np.concatenate([x_train, state["synthetic_x"].numpy()])
            y_train = np.concatenate([y_train, state["synthetic_y"].numpy()])
        if not cfg.warm_start:
            model = make_classifier(cfg, data.n_classes, seed, r)
        model.fit(x_train, y_train)
        train_s = time.perf_counter() - t2

        spent = len(pool) + int(state.get("synthetic_spent", 0))
        row = _row(strategy, seed, r, spent, model.score(x_test, y_test), train_s, t1 - t0, t2 - t1)
        state["rows"].append(row)
        state["labeled"] = pool.labeled.tolist()
        _checkpoint(state, model, on_round, row)
    return state


def _empty_synthetic(image_shape) -> dict:
    """State of gan-* strategies: every generated query, and the synthetic labeled images (model oracle)."""
    return {
        "generated": torch.empty((0, *image_shape)),
        "synthetic_x": torch.empty((0, *image_shape)),
        "synthetic_y": torch.empty(0, dtype=torch.int64),
        "synthetic_spent": 0,
    }


def _match_features(cfg: ExperimentConfig, images: np.ndarray, gan: GanSource, model: CNNClassifier) -> np.ndarray:
    """Images in the match oracle's feature space: pixels, the discriminator's or the classifier's features."""
    if cfg.match_features == "classifier":
        return model.features(images)
    if cfg.match_features == "discriminator":
        from activegan.gan import discriminator_features

        with torch.inference_mode():
            return np.concatenate([discriminator_features(gan.D, torch.from_numpy(b)).numpy() for b in np.array_split(images, max(1, len(images) // 256))])
    return images.reshape(len(images), -1)


def _row(strategy, seed, round_, n_labeled, accuracy, train_s, score_s, select_s) -> dict:
    return {
        "strategy": strategy,
        "seed": int(seed),
        "round": int(round_),
        "n_labeled": int(n_labeled),
        "accuracy": float(accuracy),
        "train_s": float(train_s),
        "score_s": float(score_s),
        "select_s": float(select_s),
    }


def _checkpoint(state: dict, model: CNNClassifier, on_round, row: dict) -> None:
    state["model"] = model.model_.state_dict()
    if on_round is not None:
        on_round(state, row)


# -- a whole experiment: many strategies and seeds, resumable ------------------------------


def pool_density_cached(x_pool: np.ndarray, k: int | None, cache_dir: Path | None) -> np.ndarray:
    """Density of every pool image on its pixels, computed once per pool and cached on disk."""
    import hashlib

    if cache_dir is None:
        return acquisition.density(x_pool, k)
    digest = hashlib.sha1(np.ascontiguousarray(x_pool).view(np.uint8)).hexdigest()[:16]
    path = Path(cache_dir) / f"density-{digest}-k{k}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    dens = acquisition.density(x_pool, k)
    buf = io.BytesIO()
    np.save(buf, dens)
    from activegan.io import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())
    return dens


def _state_path(out: Path, strategy: str, seed: int) -> Path:
    return out / "state" / f"{strategy}__seed{seed}.pt"


def _load_state(path: Path) -> dict | None:
    import torch

    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable state is reported the same way
        raise UsageError(f"cannot read resume state {path}: {exc.__class__.__name__}; delete it to redo that run") from None


def write_curves(rows: list[dict], path: Path, strategies: list[str]) -> None:
    order = {s: i for i, s in enumerate(strategies)}
    rows = sorted(rows, key=lambda r: (order.get(r["strategy"], len(order)), r["seed"], r["round"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "accuracy": f"{r['accuracy']:.6f}", **{k: f"{r[k]:.4f}" for k in ("train_s", "score_s", "select_s")}})
    atomic_write_text(path, buf.getvalue())


def read_curves(path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["seed"], r["round"], r["n_labeled"] = int(r["seed"]), int(r["round"]), int(r["n_labeled"])
        for k in ("accuracy", "train_s", "score_s", "select_s"):
            r[k] = float(r[k])
    return rows


def summarize(rows: list[dict], strategies: list[str] | None = None) -> dict:
    """Per strategy: AULC and final accuracy (mean, std over seeds) and labels to 90 % / 95 %."""
    strategies = strategies or list(dict.fromkeys(r["strategy"] for r in rows))
    summary = {}
    for s in strategies:
        by_seed: dict[int, list[dict]] = {}
        for r in rows:
            if r["strategy"] == s:
                by_seed.setdefault(r["seed"], []).append(r)
        if not by_seed:
            continue
        curves = [sorted(v, key=lambda r: r["round"]) for v in by_seed.values()]
        length = min(len(c) for c in curves)
        n = np.array([r["n_labeled"] for r in curves[0][:length]])
        acc = np.array([[r["accuracy"] for r in c[:length]] for c in curves])
        aulcs = np.array([aulc(n, a) for a in acc])
        finals = acc[:, -1]
        ddof = 1 if len(curves) > 1 else 0
        mean_curve = acc.mean(axis=0)
        summary[s] = {
            "aulc_mean": float(aulcs.mean()),
            "aulc_std": float(aulcs.std(ddof=ddof)),
            "final_accuracy_mean": float(finals.mean()),
            "final_accuracy_std": float(finals.std(ddof=ddof)),
            "labels_to": {f"{t:.2f}": labels_to(n, mean_curve, t) for t in THRESHOLDS},
            "n_seeds": len(curves),
            "n_labeled": n.tolist(),
            "accuracy_mean": [round(float(a), 6) for a in mean_curve],
        }
    return summary


def format_table(summary: dict) -> str:
    head = f"{'strategy':<26} {'AULC':>15} {'final acc':>15} {'labels to 90%':>14} {'labels to 95%':>14}"
    lines = [head, "-" * len(head)]
    for s, v in summary.items():
        l90, l95 = (v["labels_to"][k] for k in ("0.90", "0.95"))
        lines.append(
            f"{s:<26} {v['aulc_mean']:>8.4f} ± {v['aulc_std']:.4f} {v['final_accuracy_mean']:>8.4f} ± {v['final_accuracy_std']:.4f}"
            f" {('-' if l90 is None else l90):>14} {('-' if l95 is None else l95):>14}"
        )
    return "\n".join(lines)


def config_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def check_resumable(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    existing = out / "config.json"
    if not existing.exists():
        return
    if not resume:
        raise UsageError(f"{out} already holds an experiment; pass --resume to continue it, or choose another --out")
    try:
        old = json.loads(existing.read_text())
    except (OSError, ValueError):
        raise UsageError(f"{existing} is unreadable; cannot resume from it") from None
    new = config_dict(cfg)
    defaults = config_dict(ExperimentConfig())
    for key in new:
        if key not in old and new[key] == defaults[key]:
            continue  # a field added since that run, at its default: the run did the same
        if old.get(key) != new[key]:
            raise UsageError(
                f"--resume: {out} was run with {key}={old.get(key)!r}, not {new[key]!r}; use the same arguments or another --out"
            )


# Set in the parent before forking workers, so the pool is shared, not pickled per task.
_WORKER: dict = {}


def _run_unit(unit) -> tuple[str, int]:
    strategy, seed = unit
    w = _WORKER
    saved = _load_state(_state_path(w["out"], strategy, seed))
    if saved is not None and len(saved["rows"]) == w["cfg"].rounds + 1:
        return unit

    def persist(state, row):
        atomic_torch_save(state, _state_path(w["out"], strategy, seed))
        w["report"](row)

    gan = None
    if acquisition.parse_strategy(strategy)[1] is not None:
        from activegan.gan import load_checkpoint

        G, D, gan_cfg, _ = load_checkpoint(w["gans"][seed])
        reference = None
        if acquisition.parse_strategy(strategy)[1] == "model":
            from activegan.reference import reference_classifier

            reference = reference_classifier(w["data"], w["gan_cache"])  # from the cache: trained before the loop
        gan = GanSource(G, gan_cfg.image_size, D, reference)
    run_strategy(w["data"], strategy, seed, w["cfg"], w["density"], saved, persist, gan=gan)
    return unit


# -- the generators and the reference classifier, made once before the loop ----------------


def gan_config(cfg: ExperimentConfig, data, seed: int):
    from activegan.gan import GanConfig, default_image_size

    epochs = cfg.gan_epochs if cfg.gan_epochs is not None else (20 if data.name == "digits" else 5)
    return GanConfig(
        image_size=default_image_size(data.image_shape), channels=data.image_shape[0], ngf=cfg.gan_ngf,
        ndf=cfg.gan_ndf, epochs=epochs, seed=seed, device=cfg.device, dataset=data.name,
        # The 1 297 digits: 64 keeps the demo's three DCGANs at about 20 s each (16 is the
        # default because on MNIST it gave better samples per epoch, see docs/results/gan).
        **({"batch_size": 64} if data.name == "digits" else {}),
    )


def gan_checkpoint(data, cfg: ExperimentConfig, seed: int, cache_dir) -> Path:
    """The DCGAN of this pool, GAN config and seed: trained once into the cache (resumed if cut short)."""
    import hashlib

    from activegan.gan import CHECKPOINT, train_gan
    from activegan.reference import pool_hash

    gcfg = gan_config(cfg, data, seed)
    described = {k: v for k, v in dataclasses.asdict(gcfg).items() if k != "device"}
    key = hashlib.sha1(json.dumps([pool_hash(data.x_pool, data.y_pool), described], sort_keys=True).encode()).hexdigest()[:16]
    out = Path(cache_dir) / "gan" / key
    return train_gan(data.x_pool, gcfg, out, resume=(out / CHECKPOINT).is_file(), progress=False)


def check_gan_checkpoint(path, data) -> None:
    """UsageError unless ``path`` is a DCGAN checkpoint whose images have the pool's channels."""
    from activegan.gan import read_checkpoint

    gcfg = read_checkpoint(path)["config"]
    if gcfg.channels != data.image_shape[0]:
        raise UsageError(
            f"--gan-checkpoint {path}: the generator makes {gcfg.channels}-channel images, "
            f"the {data.name} pool has {data.image_shape[0]}"
        )


def _prepare(task):
    """One generator (task = a seed) or the reference classifier (task = "reference"), into the cache."""
    w = _WORKER
    if task == "reference":
        from activegan.reference import reference_classifier

        reference_classifier(w["data"], w["gan_cache"])
        return None
    return gan_checkpoint(w["data"], w["cfg"], task, w["gan_cache"])


def _prepare_gans(seeds, reference: bool, jobs: int) -> dict[int, Path]:
    """Train (or find cached) one generator per seed and the reference classifier.

    With jobs > 1 they train in forked processes (one thread each), so the parent has run no
    torch threads before it forks the loop's workers.
    """
    tasks = [*seeds, *(["reference"] if reference else [])]
    if not tasks:
        return {}
    if jobs == 1:
        done = [_prepare(t) for t in tasks]
    else:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(jobs, len(tasks)), initializer=_set_threads, initargs=(1,)) as pool:
            done = pool.map(_prepare, tasks, chunksize=1)
    return dict(zip(seeds, done))


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


def _worker_init(queue, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:  # die with the parent (kill -9 included) instead of writing state behind its back
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except OSError:
        pass
    _WORKER["report"] = queue.put


def run_experiment(
    cfg: ExperimentConfig,
    out,
    *,
    data=None,
    resume: bool = False,
    jobs: int = 1,
    progress: bool = True,
    cache_dir=None,
) -> dict:
    """Run every (strategy, seed) pair; write config, curves, summary and plots under ``out``."""
    from tqdm.auto import tqdm

    from activegan import plots

    out = Path(out)
    if data is None:
        from activegan.data import load_dataset

        data = load_dataset(cfg.dataset, cfg.data_dir)
    cfg.validate(len(data.y_pool))
    if cfg.gan_checkpoint is not None:
        check_gan_checkpoint(cfg.gan_checkpoint, data)
    check_resumable(out, cfg, resume)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", config_dict(cfg))

    density = None
    if any(s.startswith("density-") for s in cfg.strategies) and cfg.density_features == "pixels":
        density = pool_density_cached(data.x_pool, cfg.density_k, cache_dir)

    units = [(s, seed) for s in cfg.strategies for seed in cfg.seeds]
    rows: dict[tuple, dict] = {}
    for s, seed in units:
        saved = _load_state(_state_path(out, s, seed)) if resume else None
        for r in (saved or {}).get("rows", []):
            rows[(s, seed, r["round"])] = r
    if not resume:  # a fresh run never inherits stale state files
        for s, seed in units:
            _state_path(out, s, seed).unlink(missing_ok=True)

    total = len(units) * (cfg.rounds + 1)
    bar = tqdm(total=total, initial=len(rows), desc=f"{cfg.dataset}", unit="round", disable=not progress)

    def on_row(row):
        rows[(row["strategy"], row["seed"], row["round"])] = row
        write_curves(list(rows.values()), out / "curves.csv", cfg.strategies)
        bar.set_postfix_str(f"{row['strategy']} s{row['seed']} n={row['n_labeled']} acc={row['accuracy']:.3f}")
        bar.update(1)

    _WORKER.update(out=out, cfg=cfg, data=data, density=density, report=on_row)
    jobs = max(1, min(jobs, len(units)))
    oracles = {acquisition.parse_strategy(s)[1] for s in cfg.strategies}
    if oracles - {None}:  # before the loop, and not counted in any round's train_s
        _WORKER.update(gan_cache=Path(cache_dir) if cache_dir is not None else out / "cache")
        if cfg.gan_checkpoint is not None:
            if progress:
                print(f"activegan: DCGAN {cfg.gan_checkpoint} for every seed", flush=True)
            _prepare_gans([], "model" in oracles, jobs)  # the reference classifier only, if needed
            _WORKER["gans"] = {seed: Path(cfg.gan_checkpoint) for seed in cfg.seeds}
        else:
            if progress:
                print(f"activegan: DCGAN for seeds {', '.join(map(str, cfg.seeds))} (trained once, then cached)", flush=True)
            _WORKER["gans"] = _prepare_gans(cfg.seeds, "model" in oracles, jobs)
    if jobs == 1:
        for unit in units:
            _run_unit(unit)
    else:
        _run_parallel(units, jobs, on_row, expected=total - len(rows))
    bar.close()

    all_rows = list(rows.values())
    write_curves(all_rows, out / "curves.csv", cfg.strategies)
    summary = summarize(all_rows, cfg.strategies)
    atomic_write_json(out / "summary.json", summary)
    plots.save_learning_curves(summary, all_rows, out / "learning_curves.png", title=f"{cfg.dataset}: test accuracy")
    first_seed = cfg.seeds[0]
    for s in cfg.strategies:
        state = _load_state(_state_path(out, s, first_seed))
        queried = [i for q in state["queries"][:3] for i in q][:64]
        # The first 3 rounds: what the generator proposed and, for match, the pool images it got, cell for cell.
        generated = state.get("generated", torch.empty(0))[: 3 * cfg.query_size][:64].numpy()
        if len(generated):
            plots.save_image_grid(generated, out / f"queries_{s}.png", nrow=min(len(generated), 10))
            if queried:
                plots.save_image_grid(data.x_pool[queried], out / f"matched_{s}.png", nrow=min(len(queried), 10))
        elif queried:
            plots.save_image_grid(data.x_pool[queried], out / f"queries_{s}.png", nrow=min(len(queried), 10))
    return summary


def _run_parallel(units, jobs: int, on_row, expected: int) -> None:
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    received = 0
    # Oversubscribed OpenMP threads spin against each other: share the cores out instead.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ctx.Pool(jobs, initializer=_worker_init, initargs=(q, threads)) as pool:
        result = pool.map_async(_run_unit, units, chunksize=1)
        while received < expected:
            try:
                on_row(q.get(timeout=0.2))
                received += 1
            except queue_mod.Empty:
                if result.ready() and not result.successful():
                    break
        result.get()  # re-raise a worker's exception here


def default_out_dir(dataset: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{dataset.replace(':', '_').replace(os.sep, '_')}-{stamp}"
