"""Shared by poster.py and gal.py: run a resumable experiment outside docs/, publish its data.

The experiment's resumable state (model weights per strategy and seed) lives under
``runs/bench/`` (git-ignored); the results folder under ``docs/results/`` receives only
config.json, curves.csv, summary.json, learning_curves.png and progress.json, rebuilt from
whatever rounds are done, so a partial run is publishable and a finished one is complete.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import reporting

from activegan.experiment import (
    ExperimentConfig,
    read_curves,
    run_experiment,
    summarize,
    write_curves,
)
from activegan.io import atomic_write_json
from activegan.metrics import aulc


def quick_data():
    """scikit-learn's digits (ships with a dependency): quick modes need no files."""
    from activegan.data import load_dataset

    d = load_dataset("digits")
    return dataclasses.replace(d, x_test=d.x_test[:200], y_test=d.y_test[:200])


def balanced_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of n items of y, n / classes from each class, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = n // len(classes)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per, replace=False) for c in classes]))


def test_subset(data, n: int | None):
    """The dataset with its test set cut to a fixed class-balanced subset of n (unchanged for None)."""
    if not n:
        return data
    keep = balanced_subset(data.y_test, n)
    return dataclasses.replace(data, x_test=data.x_test[keep], y_test=data.y_test[keep])


def run(cfg: ExperimentConfig, data, state: Path, resume: bool, cache_dir, jobs: int = 1) -> None:
    state.mkdir(parents=True, exist_ok=True)
    run_experiment(cfg, state, data=data, resume=resume, jobs=jobs, progress=True, cache_dir=cache_dir)


def publish(cfg: ExperimentConfig, state: Path, results: Path) -> dict | None:
    """Copy what is done from ``state`` into ``results``; returns the progress record (None if nothing yet)."""
    from activegan import plots

    curves = state / "curves.csv"
    if not curves.exists():
        return None
    rows = read_curves(curves)
    results.mkdir(parents=True, exist_ok=True)
    write_curves(rows, results / "curves.csv", cfg.strategies)
    summary = summarize(rows, cfg.strategies)
    atomic_write_json(results / "summary.json", summary)
    atomic_write_json(results / "config.json", dataclasses.asdict(cfg))
    total = len(cfg.strategies) * len(cfg.seeds) * (cfg.rounds + 1)
    done_units = {(r["strategy"], r["seed"]) for r in rows if r["round"] == cfg.rounds}
    progress = {
        "rounds_done": len(rows),
        "rounds_total": total,
        "complete": len(rows) == total,
        "complete_strategies": [s for s in cfg.strategies if all((s, seed) in done_units for seed in cfg.seeds)],
    }
    plot = state / "learning_curves.png"
    title = f"{cfg.dataset}, {cfg.epochs} epochs: test accuracy"
    if progress["complete"] and plot.exists() and plot.stat().st_mtime >= curves.stat().st_mtime:
        shutil.copy(plot, results / "learning_curves.png")  # run_experiment drew it from these same rows
    elif progress["complete_strategies"]:  # a partial run: only the curves that are finished
        finished = complete_rows(rows, cfg.strategies, cfg.seeds, cfg.rounds)
        plots.save_learning_curves(summarize(finished, cfg.strategies), finished, results / "learning_curves.png", title=title + " (finished strategies)")
    atomic_write_json(results / "progress.json", progress)
    return progress


def complete_rows(rows: list[dict], strategies: list[str], seeds: list[int], rounds: int) -> list[dict]:
    """Rows of the strategies whose every seed has finished: partial curves are not compared."""
    done = {(r["strategy"], r["seed"]) for r in rows if r["round"] == rounds}
    keep = {s for s in strategies if all((s, seed) in done for seed in seeds)}
    return [r for r in rows if r["strategy"] in keep]


def per_seed_aulc(rows: list[dict]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    curves: dict[tuple, list] = {}
    for r in rows:
        curves.setdefault((r["strategy"], r["seed"]), []).append(r)
    for (s, seed), rs in curves.items():
        rs.sort(key=lambda r: r["round"])
        out.setdefault(s, {})[seed] = aulc([r["n_labeled"] for r in rs], [r["accuracy"] for r in rs])
    return out


def smoothness(summary: dict) -> dict[str, float]:
    """Per strategy: mean |second difference| of the seed-mean accuracy curve (lower = smoother),
    and the share of rounds in which the seed-mean accuracy fell (reversals)."""
    out = {}
    for s, v in summary.items():
        acc = np.asarray(v["accuracy_mean"])
        if len(acc) < 3:
            continue
        out[s] = {"mean_abs_second_diff": float(np.abs(np.diff(acc, 2)).mean()), "reversal_share": float((np.diff(acc) < 0).mean())}
    return out


def pm(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def strategy_table(summary: dict, seed_aulc: dict, extra: dict | None = None) -> str:
    """AULC, paired gap to random (mean ± std over seeds), final accuracy, labels to 90 / 95 %."""
    base = seed_aulc.get("random", {})
    extra = extra or {}
    head = ["strategy", "AULC (mean ± std)", "AULC − random, paired by seed", "final accuracy", "labels to 90 %", "labels to 95 %", *extra.get("headers", [])]
    rows = []
    for s, v in summary.items():
        if s != "random" and base and s in seed_aulc:
            d = np.array([seed_aulc[s][k] - base[k] for k in seed_aulc[s] if k in base])
            gap = f"{d.mean():+.4f} ± {d.std(ddof=1) if len(d) > 1 else 0:.4f}"
        else:
            gap = "–"
        l90, l95 = (v["labels_to"][k] for k in ("0.90", "0.95"))
        rows.append([s, pm(v["aulc_mean"], v["aulc_std"]), gap, pm(v["final_accuracy_mean"], v["final_accuracy_std"]),
                     "not reached" if l90 is None else l90, "not reached" if l95 is None else l95, *extra.get(s, [])])
    return reporting.md_table(head, rows)


def continue_text(cmd: str, log: str) -> str:
    return (
        "The resumable state (model weights per strategy and seed) is in `runs/bench/` (git-ignored). On the same\n"
        "checkout, one command continues where the run stopped (completed rounds are never recomputed) and rewrites this\n"
        "folder from the rounds that are done each time one experiment finishes:\n\n"
        f"```sh\nnohup nice -n 19 .venv/bin/{cmd} --resume >> {log} 2>&1 &\n```\n\n"
        "`--report-only` rewrites this folder at any moment from the rounds done so far, without training.\n"
    )


def copy_if_exists(src: Path, dst: Path) -> None:
    if src.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)


def as_run(cfg: ExperimentConfig, state: Path) -> ExperimentConfig:
    """The config the rounds in ``state`` were run with (``cfg`` if none ran yet): a report is
    rewritten from what ran, not from the options of the command that asks for the report."""
    saved = state / "config.json"
    return ExperimentConfig(**reporting.read_json(saved)) if saved.exists() else cfg


def prepare_state(name: str, state: Path, started: bool, quick: bool, resume: bool) -> bool:
    """Make the state folder ready for a run; False (after one line on stderr) when a run would
    overwrite state that --resume should continue. Quick runs start afresh each time."""
    import sys

    if quick and not resume and state.exists():
        shutil.rmtree(state)  # quick runs are disposable
        started = False
    if started and not resume:
        print(f"{name}: error: {state} already holds this benchmark's state; pass --resume to continue it", file=sys.stderr)
        return False
    state.mkdir(parents=True, exist_ok=True)
    return True
