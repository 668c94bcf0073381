"""What the label-efficiency report reads besides the curves: each unit's calibration.csv row (test log-loss and
ECE of its final learner, checked against the curve it belongs to) and the tuning sweeps behind the learners'
settings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

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
