"""Learning curves and what is read off them: AULC, labels to an accuracy, summaries, tables.

``curves.csv`` has one row per (strategy, seed, round); everything else is computed from it.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from activegan.io import atomic_write_text

CURVE_COLUMNS = ["strategy", "seed", "round", "n_labeled", "accuracy", "train_s", "score_s", "select_s"]
THRESHOLDS = (0.90, 0.95)
# Seed-means are sums of floats: (0.958 + 0.954 + 0.938) / 3 is 0.94999…; a target within this is reached.
TOLERANCE = 1e-9


def aulc(n_labeled, accuracy) -> float:
    """Area under accuracy-vs-labels by the trapezoid rule, over the label range: a mean accuracy."""
    x = np.asarray(n_labeled, dtype=np.float64)
    y = np.asarray(accuracy, dtype=np.float64)
    if len(x) == 1:
        return float(y[0])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labels_to(n_labeled, mean_accuracy, target: float) -> int | None:
    """The first label count after which the (seed-mean) accuracy stays ≥ target to the end of the
    curve, or None if the last point is below it."""
    below = np.flatnonzero(np.asarray(mean_accuracy, dtype=np.float64) < target - TOLERANCE)
    first = 0 if len(below) == 0 else below[-1] + 1
    return int(np.asarray(n_labeled)[first]) if first < len(n_labeled) else None


def first_reach(n_labeled, mean_accuracy, target: float) -> int | None:
    """The first label count at which the accuracy touches target (it may fall below again later)."""
    hits = np.flatnonzero(np.asarray(mean_accuracy, dtype=np.float64) >= target - TOLERANCE)
    return int(np.asarray(n_labeled)[hits[0]]) if len(hits) else None


def write_curves(rows: list[dict], path, strategies: list[str]) -> None:
    """Rows sorted by strategy (in the given order), seed and round; written atomically."""
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


def curve_matrix(rows: list[dict], strategy: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(n_labeled, accuracy (seeds × points), seeds) of one strategy, cut to its shortest seed."""
    by_seed: dict[int, list[dict]] = {}
    for r in rows:
        if r["strategy"] == strategy:
            by_seed.setdefault(r["seed"], []).append(r)
    curves = [sorted(v, key=lambda r: r["round"]) for _, v in sorted(by_seed.items())]
    length = min((len(c) for c in curves), default=0)
    n = np.array([r["n_labeled"] for r in curves[0][:length]]) if curves else np.empty(0, dtype=np.int64)
    acc = np.array([[r["accuracy"] for r in c[:length]] for c in curves]).reshape(len(curves), length)
    return n, acc, sorted(by_seed)


def summarize(rows: list[dict], strategies: list[str] | None = None) -> dict:
    """Per strategy: AULC and final accuracy (mean, std over seeds); labels to 90 % / 95 % (the
    seed-mean stays at or above) and the first count that touches it."""
    strategies = strategies or list(dict.fromkeys(r["strategy"] for r in rows))
    summary = {}
    for s in strategies:
        n, acc, seeds = curve_matrix(rows, s)
        if not seeds:
            continue
        aulcs, finals, mean_curve = np.array([aulc(n, a) for a in acc]), acc[:, -1], acc.mean(axis=0)
        ddof = 1 if len(seeds) > 1 else 0
        summary[s] = {
            "aulc_mean": float(aulcs.mean()),
            "aulc_std": float(aulcs.std(ddof=ddof)),
            "final_accuracy_mean": float(finals.mean()),
            "final_accuracy_std": float(finals.std(ddof=ddof)),
            "labels_to": {f"{t:.2f}": labels_to(n, mean_curve, t) for t in THRESHOLDS},
            "first_reach": {f"{t:.2f}": first_reach(n, mean_curve, t) for t in THRESHOLDS},
            "n_seeds": len(seeds),
            "n_labeled": n.tolist(),
            "accuracy_mean": [round(float(a), 6) for a in mean_curve],
        }
    return summary


def _labels_cell(v: dict, key: str) -> str:
    stays, touch = v["labels_to"][key], v.get("first_reach", {}).get(key)
    text = "-" if stays is None else str(stays)
    return text if touch is None or touch == stays else f"{text} ({touch})"


def format_table(summary: dict) -> str:
    """A plain-text table; labels-to cells show where the seed-mean stays ≥ X, and in brackets the
    first count that touched X where that differs."""
    head = f"{'strategy':<26} {'AULC':>15} {'final acc':>15} {'labels to 90%':>14} {'labels to 95%':>14}"
    lines = [head, "-" * len(head)]
    for s, v in summary.items():
        lines.append(
            f"{s:<26} {v['aulc_mean']:>8.4f} ± {v['aulc_std']:.4f} {v['final_accuracy_mean']:>8.4f} ± {v['final_accuracy_std']:.4f}"
            f" {_labels_cell(v, '0.90'):>14} {_labels_cell(v, '0.95'):>14}"
        )
    return "\n".join(lines)
