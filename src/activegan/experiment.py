"""Many strategies × seeds: resumable state, parallel workers, the DCGANs made before the loop,
and the outputs (curves, summary, plots). One run of one strategy and seed is ``loop.run_strategy``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from activegan import plots
from activegan.errors import ConfigError, DataError
from activegan.io import atomic_torch_save, atomic_write_json, file_sha1
from activegan.loop import ExperimentConfig, GanOptions, TrainOptions, flatten, run_strategy
from activegan.results import format_table, summarize, write_curves
from activegan.active import parse
from activegan.workers import run_in_processes

logger = logging.getLogger("activegan")

__all__ = ["ExperimentConfig", "GanOptions", "TrainOptions", "run_experiment", "config_dict", "check_resumable",
           "load_state", "format_table", "default_out_dir"]


@dataclass
class Job:
    """What every (strategy, seed) unit of one experiment shares; handed to each worker explicitly."""

    cfg: ExperimentConfig
    data: object
    out: Path
    cache_dir: Path | None
    gans: dict  # seed -> DCGAN checkpoint path (gan-* strategies only)
    representation: object = None  # the pool's PoolRepresentation: one per process, shared by its units


def config_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def state_path(out: Path, strategy: str, seed: int) -> Path:
    return Path(out) / "state" / f"{strategy}__seed{seed}.pt"


def load_state(out: Path, strategy: str, seed: int) -> dict | None:
    """The saved state of one (strategy, seed) unit, or None if it has not started."""
    path = state_path(out, strategy, seed)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable state is reported the same way
        raise DataError(f"cannot read resume state {path}: {exc.__class__.__name__}; delete it to redo that run") from None
    if state["rows"] and "first_labels" not in state:  # saved before runs recorded it: the first labeled indices
        from activegan.loop import labels_key

        state["first_labels"] = labels_key(state["labeled"][: state["rows"][0]["n_labeled"]])
        for row in state["rows"]:
            row["first_labels"] = state["first_labels"]
    return state


def check_resumable(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Refuse to mix two experiments in one directory: a rerun needs resume and the same config (or the
    same with strategies added)."""
    existing = Path(out) / "config.json"
    if not existing.exists():
        return
    if not resume:
        raise ConfigError("out", f"{out} already holds an experiment; resume it, or choose another directory")
    try:
        old = json.loads(existing.read_text())
    except (OSError, ValueError):
        raise DataError(f"{existing} is unreadable; cannot resume from it") from None
    new, defaults = flatten(config_dict(cfg)), {**flatten(config_dict(ExperimentConfig())), **IMPLIED_BEFORE}
    old = flatten(old)
    for key, value in new.items():
        if key not in old and value == defaults.get(key):
            continue  # a field added since that run, at the value that run implied: it did the same
        if key == "strategies" and isinstance(old.get(key), list) and set(old[key]) < set(value):
            continue  # strategies added to a run: each (strategy, seed) is its own unit, the ones done are kept
        if old.get(key) != value:
            raise ConfigError(key, f"{out} was run with {old.get(key)!r}, not {value!r}; resume with the same "
                              "configuration (more strategies may be added) or choose another directory")


# Fields added after runs already existed, and what those runs did in their place (not today's default).
IMPLIED_BEFORE = {"learner": "cnn", "initial_strategy": "balanced", "features": "pixels"}




def run_experiment(cfg: ExperimentConfig, out, *, data=None, resume: bool = False, jobs: int = 1,
                   progress: bool = True, cache_dir=None, ray: str | None = None) -> dict:
    """Run every (strategy, seed) pair; write config, curves, summary and plots under ``out``.
    ``ray``: a Ray cluster's address ('auto', HOST:PORT) that runs each pair as a task instead of ``jobs``
    local workers (same state files; ``out`` must be reachable from its nodes)."""
    from tqdm.auto import tqdm

    out = Path(out)
    if data is None:
        from activegan.data import load_dataset

        data = load_dataset(cfg.dataset, cfg.data_dir, test=not cfg.no_test)
    elif cfg.no_test and len(data.y_test):
        from activegan.data import without_test

        data = without_test(data)
    cfg.validate(len(data.y_pool))
    cfg = cfg.for_images(data.image_shape).resolved()  # a copy: what config.json records (the caller's is not changed)
    if cfg.gan.checkpoint is not None:
        from activegan.gan.prepare import check_gan_checkpoint

        check_gan_checkpoint(cfg.gan.checkpoint, data)
        cfg.gan.checkpoint_sha1 = file_sha1(cfg.gan.checkpoint)
    if ray:
        from activegan.distributed import connect

        connect(ray)
    check_resumable(out, cfg, resume)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", config_dict(cfg))

    units = [(s, seed) for s in cfg.strategies for seed in cfg.seeds]
    rows = _previous_rows(out, units) if resume else {}
    if not resume:  # a fresh run never inherits stale state files
        for s, seed in units:
            state_path(out, s, seed).unlink(missing_ok=True)
    bar = tqdm(total=len(units) * (cfg.rounds + 1), initial=len(rows), desc=cfg.dataset, unit="round", disable=not progress)

    def on_row(row):
        rows[(row["strategy"], row["seed"], row["round"])] = row
        write_curves(list(rows.values()), out / "curves.csv", cfg.strategies)
        bar.set_postfix_str(f"{row['strategy']} s{row['seed']} n={row['n_labeled']} acc={row['accuracy']:.3f}")
        bar.update(1)

    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    job = Job(cfg, data, out, None if cache_dir is None else Path(cache_dir), _prepare_gans(cfg, data, jobs, cache, progress))
    if ray:
        from activegan.distributed import run_units

        run_units(run_unit, job, units, ray, on_row)
    else:
        run_in_processes(run_unit, job, units, jobs, on_row)
    bar.close()
    return _write_outputs(job, list(rows.values()))


def _previous_rows(out: Path, units) -> dict:
    rows = {}
    for s, seed in units:
        for r in (load_state(out, s, seed) or {}).get("rows", []):
            rows[(s, seed, r["round"])] = r
    return rows


def _prepare_gans(cfg: ExperimentConfig, data, jobs: int, cache: Path, progress: bool) -> dict:
    """One DCGAN checkpoint per seed (and the privileged model oracle), before any round is timed."""
    oracles = {parse(s).oracle for s in cfg.strategies} - {None}
    if not oracles:
        return {}
    from activegan.gan.prepare import prepare_gans

    if progress:
        where = f"{cfg.gan.checkpoint} for every seed" if cfg.gan.checkpoint else \
            f"for seeds {', '.join(map(str, cfg.seeds))} (trained once, then cached)"
        logger.info("DCGAN %s", where)
    return prepare_gans(cfg.gan, data, cfg.seeds, "model" in oracles, jobs, cache)


def run_unit(job: Job, unit: tuple[str, int], report) -> None:
    """One (strategy, seed) run, resumed from its state file; every round is saved, then reported."""
    strategy, seed = unit
    saved = load_state(job.out, strategy, seed)
    if saved is not None and len(saved["rows"]) == job.cfg.rounds + 1:
        return

    def persist(state, row):
        atomic_torch_save(state, state_path(job.out, strategy, seed))
        report(row)

    gan = None
    if parse(strategy).oracle is not None:
        from activegan.gan.prepare import gan_queries

        gan = gan_queries(job.gans[seed], parse(strategy).oracle, job.cfg.gan, job.data, job.out / "cache"
                          if job.cache_dir is None else job.cache_dir)
    if job.representation is None:
        from activegan.representation import PoolRepresentation

        job.representation = PoolRepresentation(job.data.x_pool, job.cache_dir, features=job.cfg.features)
    run_strategy(job.data, strategy, seed, job.cfg, saved=saved, on_round=persist, gan=gan, cache_dir=job.cache_dir,
                 representation=job.representation)


def _write_outputs(job: Job, rows: list[dict]) -> dict:
    cfg, out, data = job.cfg, job.out, job.data
    write_curves(rows, out / "curves.csv", cfg.strategies)
    key = "accuracy" if len(data.y_test) else "estimate"  # no test split: the estimate is all there is
    summary = summarize(rows, cfg.strategies, key=key)
    atomic_write_json(out / "summary.json", summary)
    plots.save_learning_curves(summary, rows, out / "learning_curves.png", key=key,
                               title=f"{cfg.dataset}: " + ("test accuracy" if key == "accuracy" else "estimated accuracy"))
    for s in cfg.strategies:
        state = load_state(out, s, cfg.seeds[0])
        queried = [i for q in state["queries"][:3] for i in q][:64]
        # The first 3 rounds: what the generator proposed and, for match, the pool images it got, cell for cell.
        generated = state.get("generated", torch.empty(0))[: 3 * cfg.query_size][:64].numpy()
        if len(generated):
            plots.save_image_grid(generated, out / f"queries_{s}.png", nrow=min(len(generated), 10))
        if queried:
            name = f"matched_{s}.png" if len(generated) else f"queries_{s}.png"
            plots.save_image_grid(data.x_pool[queried], out / name, nrow=min(len(queried), 10))
    return summary


def default_out_dir(dataset: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{dataset.replace(':', '_').replace(os.sep, '_')}-{stamp}"
