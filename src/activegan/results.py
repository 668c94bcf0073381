"""Learning curves and what is read off them: AULC, labels to an accuracy, summaries, tables.

``curves.csv`` has one row per (strategy, seed, round); everything else is computed from it.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from activegan.io import atomic_write_text

# The estimate and the stop signal, from the labels alone (activegan.stopping); runs before them have none:
# read as missing, written empty.
# pool_accuracy: a simulation's truth on the stop set's unlabeled images (what the estimate estimates).
STOP_COLUMNS = ["estimate", "estimate_low", "estimate_high", "stop_kappa", "stop", "stop_reason", "pool_accuracy"]
CURVE_COLUMNS = ["strategy", "seed", "round", "n_labeled", "accuracy", "train_s", "score_s", "select_s", "classes_labeled",
                 "first_labels", *STOP_COLUMNS]
_FLOAT_STOP = ("estimate", "estimate_low", "estimate_high", "stop_kappa", "pool_accuracy")
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
    # the stop columns only where a run made them: an older run's curves keep the columns they had
    columns = [c for c in CURVE_COLUMNS if c not in STOP_COLUMNS or any(c in r for r in rows)]
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="", extrasaction="ignore")  # older runs: no classes_labeled
    w.writeheader()
    for r in rows:
        w.writerow({**r, "accuracy": f"{r['accuracy']:.6f}", **{k: f"{r[k]:.4f}" for k in ("train_s", "score_s", "select_s")},
                    **{k: f"{r[k]:.6f}" for k in _FLOAT_STOP if isinstance(r.get(k), float)}})
    atomic_write_text(path, buf.getvalue())


def read_curves(path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["seed"], r["round"], r["n_labeled"] = int(r["seed"]), int(r["round"]), int(r["n_labeled"])
        for k in ("accuracy", "train_s", "score_s", "select_s"):
            r[k] = float(r[k])
        for k in _FLOAT_STOP:  # absent or empty in runs made before the estimate: left out
            if r.get(k):
                r[k] = float(r[k])
            else:
                r.pop(k, None)
        if r.get("stop"):
            r["stop"] = int(r["stop"])
        else:
            r.pop("stop", None)
    return rows


def curve_matrix(rows: list[dict], strategy: str, key: str = "accuracy") -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(n_labeled, accuracy (seeds × points), seeds) of one strategy, cut to its shortest seed; ``key``
    "estimate": the estimated accuracy instead (a row without it: nan)."""
    by_seed: dict[int, list[dict]] = {}
    for r in rows:
        if r["strategy"] == strategy:
            by_seed.setdefault(r["seed"], []).append(r)
    curves = [sorted(v, key=lambda r: r["round"]) for _, v in sorted(by_seed.items())]
    length = min((len(c) for c in curves), default=0)
    n = np.array([r["n_labeled"] for r in curves[0][:length]]) if curves else np.empty(0, dtype=np.int64)
    acc = np.array([[r.get(key, np.nan) for r in c[:length]] for c in curves], dtype=np.float64).reshape(len(curves), length)
    return n, acc, sorted(by_seed)


def summarize(rows: list[dict], strategies: list[str] | None = None, key: str = "accuracy") -> dict:
    """Per strategy: AULC and final accuracy (mean, std over seeds); labels to 90 % / 95 % (the
    seed-mean stays at or above) and the first count that touches it. ``key`` "estimate" (a run without a
    test split): the same of the estimated accuracy, each strategy marked ``"measure": "estimate"``."""
    strategies = strategies or list(dict.fromkeys(r["strategy"] for r in rows))
    summary = {}
    for s in strategies:
        n, acc, seeds = curve_matrix(rows, s, key)
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
        if key != "accuracy":
            summary[s]["measure"] = key
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


# -- paired statistics over seeds ---------------------------------------------------------------

ALPHA = 0.05  # two-sided: a difference "separates" when its 95 % interval excludes 0


def per_seed_aulc(rows: list[dict]) -> dict[str, dict[int, float]]:
    """Per strategy: seed → AULC of that seed's curve."""
    out: dict[str, dict[int, float]] = {}
    for s in dict.fromkeys(r["strategy"] for r in rows):
        n, acc, seeds = curve_matrix(rows, s)
        out[s] = {seed: aulc(n, a) for seed, a in zip(seeds, acc)}
    return out


def paired(diffs) -> dict:
    """Mean, std, units ahead, two-sided paired t-test p and 95 % interval of per-unit differences.

    With one unit (or identical differences) there is no spread to test against: p and the
    interval are None.
    """
    from scipy import stats

    d = np.asarray(list(diffs), dtype=np.float64)
    n = len(d)
    out = {"mean": float(d.mean()) if n else float("nan"), "std": float(d.std(ddof=1)) if n > 1 else 0.0,
           "n": n, "wins": int((d > 0).sum()), "p": None, "ci": None}
    if n > 1 and out["std"] > 0:
        se = out["std"] / np.sqrt(n)
        out["p"] = float(2 * stats.t.sf(abs(out["mean"] / se), n - 1))
        half = float(stats.t.ppf(1 - ALPHA / 2, n - 1) * se)
        out["ci"] = [out["mean"] - half, out["mean"] + half]
    return out


def welch(a, b) -> dict:
    """Mean of b − mean of a with a Welch 95 % interval and two-sided p (unpaired samples)."""
    from scipy import stats

    a, b = np.asarray(list(a), dtype=np.float64), np.asarray(list(b), dtype=np.float64)
    out = {"mean": float(b.mean() - a.mean()), "p": None, "ci": None}
    if len(a) > 1 and len(b) > 1:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = float(np.sqrt(va + vb))
        if se > 0:
            df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
            out["p"] = float(2 * stats.t.sf(abs(out["mean"]) / se, df))
            half = float(stats.t.ppf(1 - ALPHA / 2, df) * se)
            out["ci"] = [out["mean"] - half, out["mean"] + half]
    return out


def decide(test: dict, expect_negative: bool) -> str:
    """'holds' when the 95 % interval lies on the predicted side of 0, 'does not hold' when it lies
    on the other side, 'inconclusive' when it contains 0 (or there is no interval)."""
    ci = test.get("ci")
    if not ci:
        return "inconclusive"
    lo, hi = ci
    if (hi < 0) if expect_negative else (lo > 0):
        return "holds"
    if (lo > 0) if expect_negative else (hi < 0):
        return "does not hold"
    return "inconclusive"


def first_label_groups(rows: list[dict]) -> list[list[int]]:
    """Seeds grouped by the first labels they drew, in seed order: by the ``first_labels`` column where
    the run recorded it, else by their round-0 accuracy under every strategy.

    Round 0 is trained on the first labels only; a learner that is deterministic given its labels
    scores equal first labels equally, so seeds with equal round-0 rows are taken to have drawn the same
    first labels (an inference: different first labels that the learner scores alike look the same).
    (Under a learner with per-seed initial weights shared first labels do not show: pass the groups of
    a sibling experiment with the same first labels.)
    """
    first: dict[int, dict[str, object]] = {}
    recorded = all(r.get("first_labels") for r in rows if r["round"] == 0)
    for r in rows:
        if r["round"] == 0:
            first.setdefault(r["seed"], {})[r["strategy"]] = r["first_labels"] if recorded else r["accuracy"]
    groups: dict[tuple, list[int]] = {}
    for seed in sorted(first):
        groups.setdefault(tuple(sorted(first[seed].items())), []).append(seed)
    return list(groups.values())


def recorded_first_labels(rows: list[dict]) -> bool:
    """Whether a run's curves name each unit's first labels (``first_labels``), not only its accuracy."""
    return bool(rows) and all(r.get("first_labels") for r in rows if r["round"] == 0)


def merge_groups(*groupings: list[list[int]]) -> list[list[int]]:
    """The finest grouping in which seeds grouped together by any of ``groupings`` stay together."""
    parent: dict[int, int] = {}

    def root(s: int) -> int:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    for grouping in groupings:
        for g in grouping:
            for s in g:
                parent[root(s)] = root(g[0])
    out: dict[int, list[int]] = {}
    for s in sorted(parent):
        out.setdefault(root(s), []).append(s)
    return sorted(out.values())


def paired_gap(seed_aulc: dict, strategy: str, base: str = "random") -> dict | None:
    """AULC of ``strategy`` − AULC of ``base``, paired by seed or unit (``per_unit_aulc``): the same
    first labels and initial weights on both sides."""
    if strategy not in seed_aulc or base not in seed_aulc:
        return None
    seeds = [k for k in seed_aulc[strategy] if k in seed_aulc[base]]
    out = paired(seed_aulc[strategy][k] - seed_aulc[base][k] for k in seeds)
    out["per_seed"] = [seed_aulc[strategy][k] - seed_aulc[base][k] for k in seeds]
    return out


def separated(gap: dict | None) -> bool:
    """True when the paired 95 % interval excludes 0."""
    return bool(gap and gap["ci"] and (gap["ci"][0] > 0 or gap["ci"][1] < 0))


def per_unit_aulc(rows: list[dict], groups: list[list[int]] | None = None) -> dict[str, dict[int, float]]:
    """``per_seed_aulc`` with the seeds of each group (the same first labels, ``first_label_groups``
    of these rows by default) averaged into one unit, keyed by its first seed: paired gaps over
    these count independent first-label sets, not replicates."""
    groups = first_label_groups(rows) if groups is None else groups
    unit_of = {s: g[0] for g in groups for s in g}
    out: dict[str, dict[int, float]] = {}
    for s, by_seed in per_seed_aulc(rows).items():
        units: dict[int, list[float]] = {}
        for seed, v in by_seed.items():
            units.setdefault(unit_of.get(seed, seed), []).append(v)
        out[s] = {u: float(np.mean(v)) if len(v) > 1 else v[0] for u, v in units.items()}
    return out
