"""What the label-efficiency report reads besides the curves: each unit's calibration.csv row (test log-loss and
ECE of its final learner, checked against the curve it belongs to), the tuning sweeps behind the learners'
settings, and which seeds drew the same first labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from activegan import results as stats
from activegan.results import read_curves
from benchmarks import published

# A refit of a unit's final learner (for calibration.csv) may differ from the run's by a test image or two (the
# embedding's transform); a row further than this from the curve's final accuracy is from another learner.
CALIBRATION_TOLERANCE = 1e-3
TEST_IMAGES = {"mnist": 10_000, "cifar10": 10_000}


def read_calibration(path: Path, rows: list[dict]) -> dict:
    """calibration.csv by strategy: one dict per seed with its log-loss, ECE, classes labeled at the end, and
    ``off_curve``: its test accuracy is further than CALIBRATION_TOLERANCE from the curve's final one."""
    if not path.exists():
        return {}
    final = {}
    for r in rows:
        if r["round"] >= final.get((r["strategy"], r["seed"]), {"round": -1})["round"]:
            final[(r["strategy"], r["seed"])] = r
    calib: dict = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            curve = final.get((r["strategy"], int(r["seed"])))
            calib.setdefault(r["strategy"], []).append({
                "seed": int(r["seed"]), "log_loss": float(r["log_loss"]), "ece": float(r["ece"]),
                "classes_labeled": float(r.get("classes_labeled") or "nan"), "classes": float(r.get("classes") or "nan"),
                "accuracy": float(r["accuracy"]), "curve_accuracy": curve["accuracy"] if curve else float("nan"),
                "off_curve": curve is not None and abs(float(r["accuracy"]) - curve["accuracy"]) > CALIBRATION_TOLERANCE})
    return calib


def calibration_cells(calib: dict, s: str) -> list[str]:
    """Test log-loss and ECE, mean over the seeds whose calibration row is the run's own final learner; '†' marks a
    mean that leaves a seed out (see calibration_notes)."""
    kept = [c for c in calib.get(s, []) if not c["off_curve"]]
    if not kept:
        return ["–", "–"]
    mark = "†" if len(kept) < len(calib[s]) else ""
    return [f"{np.mean([c['log_loss'] for c in kept]):.3f}{mark}", f"{np.mean([c['ece'] for c in kept]):.3f}{mark}"]


def tuning_words(out: Path, dataset: str) -> str:
    """Where this folder's hyperparameters came from: its own sweeps, or MNIST's for the embedding graph."""
    own = sorted(p.name for p in out.glob("tuning*.md"))
    links = ", ".join(f"[{n}]({n})" for n in own)
    if (out / "tuning.md").exists():
        return (f"Hyperparameters from the validation sweeps in {links}; the test set gives only these numbers.")
    kg = tuned_graph(out.parent / "mnist" / "tuning.csv")
    graph = (f"k = {kg[0]} graph neighbours and spreading α = {kg[1]}" if kg else "graph neighbours k and spreading α")
    return (f"The embedding learner's {graph} were tuned on MNIST ([../mnist/tuning.md](../mnist/tuning.md)) and used "
            f"here unchanged: not tuned on {dataset}."
            + (f" Swept on {dataset}'s own validation split: {links}." if links else "")
            + " The test set gives only these numbers.")


def tuned_graph(path: Path) -> tuple[int, float] | None:
    """(k, α) with the highest mean validation accuracy in MNIST's tuning.csv: the embedding learner's defaults."""
    if not path.exists():
        return None
    with open(path, newline="") as f:
        graph = [r for r in csv.DictReader(f) if r["part"] == "graph"]
    means = {}
    for r in graph:
        means.setdefault((int(r["k"]), float(r["alpha"])), []).append(float(r["val_accuracy"]))
    return max(means, key=lambda k: np.mean(means[k])) if means else None


# Round 0 of a deterministic learner in a run since replaced (2026-12-01): the runs that did not record their first labels
# drew them by its rule from its cached embedding that day, so its equal round-0 accuracies show which seeds shared them.
EVIDENCE = "first-labels-2026-12-01.csv"


def first_label_units(out: Path, initial_strategy: str, sub: str | None = None) -> list[list[int]]:
    """Seeds that drew the same first labels. An experiment that recorded its first labels (``sub``) is
    grouped by them alone. Runs that did not (before 2026-12-06) are grouped together: their first labels
    were chosen before a learner saw them, one deterministic typical pick per seed, so one deterministic
    learner reveals them for all."""
    runs = {p.parent.name: read_curves(p) for p in sorted(out.glob("*/curves.csv"))
            if published.as_run(None, p.parent).initial_strategy == initial_strategy}
    if sub is not None and stats.recorded_first_labels(runs.get(sub, [])):
        return stats.first_label_groups(runs[sub])
    older = [read_curves(out / EVIDENCE)] if initial_strategy == "typical" and (out / EVIDENCE).exists() else []
    return stats.merge_groups(*[stats.first_label_groups(r) for r in [*runs.values(), *older] if not stats.recorded_first_labels(r)])


def units_words(out: Path, cfgs: dict) -> str:
    """'typical first labels: 3 distinct sets over 5 seeds (seeds 0, 3, 4 drew the same)'; one part per cold start."""
    parts = []
    for start in dict.fromkeys(c.initial_strategy for c in cfgs.values()):
        recorded = [sub for sub, c in cfgs.items() if c.initial_strategy == start
                    and (out / sub / "curves.csv").exists() and stats.recorded_first_labels(read_curves(out / sub / "curves.csv"))]
        for who, groups in [*((f"`{sub}`", first_label_units(out, start, sub)) for sub in recorded),
                            ("the runs that did not record them" if recorded else "", first_label_units(out, start))]:
            if not groups:
                continue
            seeds = sum(len(g) for g in groups)
            same = "; ".join("seeds " + ", ".join(map(str, g)) for g in groups if len(g) > 1)
            how = ("recorded" if who.startswith("`") else "inferred from equal round-0 accuracies"
                   + (f" of a deterministic learner in `{EVIDENCE}`" if start == "typical" and (out / EVIDENCE).exists() else ""))
            parts.append(f"{start} first labels{' in ' + who if who else ''}: {len(groups)} distinct sets over {seeds} seeds "
                         f"({how}" + (f"; {same} drew the same)" if same else ")"))
    return "; ".join(parts)
