"""Which accuracy estimate and which stop rule, chosen on the training pool's truth: candidates replayed on the
acquisition benchmark's runs.

    python -m benchmarks.stopping_replay --dataset cifar10            # the raw material (runs/stopping-replay/)
    python -m benchmarks.stopping_select --dataset cifar10            # → docs/results/stopping/selection-cifar10.{md,csv}

Every candidate sees what a run would have: each earlier round's queries as the model of the round before predicted them
(confidence, correct), optionally an audit's uniform draws predicted the same way, the earlier models' confidences on the
stop set, and the current model's probabilities of the stop set's unlabeled images. Each is judged against the accuracy
on those same images by the pool's labels (``pool_accuracy``): the simulation's truth from the training pool. The test
set is not read.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from activegan.stopping import GAIN_PER_100, MIN_AUDIT, AccuracyEstimate, Estimate, cohen_kappa, confidence_bins, difference_estimate, matched_weights
from benchmarks import reporting
from benchmarks.stopping_replay import FOLDS, OUT

FROM, AIM_ERROR, AIM_COVER, EARLY, LATE = 50, 0.02, 0.85, 0.98, 0.99
AUDIT_SHARES = (0.0, 0.1, 0.2)
CHOSEN = "AccuracyEstimate(): cross-validated uniform draws, else confidence-matched, all rounds (chosen)"


def rounds_of(z, r: int, share: float) -> list[tuple]:
    """Rounds 1..r as (labels of the predicting model, its stop-set confidences, confidences, correct, audit): the queries,
    ``share`` of each batch replaced by uniform draws from the unlabeled pool (the audit), predicted by the model before."""
    out = []
    for k in range(1, r + 1):
        p, y = z[f"next_probs_{k - 1}"], z[f"next_y_{k - 1}"]
        m = int(round(share * len(y))) if share else 0
        probs = np.concatenate([p[:len(y) - m], z["audit_probs"][k - 1][:m]]).astype(np.float64)
        labels = np.concatenate([y[:len(y) - m], z["audit_y"][k - 1][:m]])
        stop = z["stop_probs"][k - 1][z["stop_unlabeled"][k - 1]].astype(np.float64).max(axis=1)
        out.append((int(z["n_labeled"][k - 1]), stop, probs.max(axis=1), probs.argmax(axis=1) == labels,
                    np.arange(len(labels)) >= len(labels) - m, probs))
    return out


def flat(rounds: list[tuple]) -> dict:
    """The rounds' records as arrays: n, conf, correct, audit, weight (matched to the predicting model's stop set)."""
    cols = {k: [] for k in ("n", "conf", "correct", "audit", "weight")}
    for n, stop, conf, correct, audit, _ in rounds:
        w = np.ones(len(conf))
        w[~audit] = matched_weights(conf[~audit], *confidence_bins(stop)) if (~audit).any() else []
        for k, v in zip(cols, (np.full(len(conf), n), conf, correct, audit, w)):
            cols[k].append(np.asarray(v, dtype=np.float64))
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}


def back_to(rec: dict, labels: int | None) -> np.ndarray:
    """The records of the last rounds back to the first that brings them to ``labels`` (None: all)."""
    newest = np.unique(rec["n"])[::-1]
    if labels is None or not len(newest):
        return np.ones(len(rec["n"]), bool)
    counts = np.cumsum([(rec["n"] == k).sum() for k in newest])
    return rec["n"] >= newest[min(int(np.searchsorted(counts, labels)), len(newest) - 1)]


def diff(rec: dict, keep, c: np.ndarray, weights=None) -> Estimate:
    conf = rec["conf"][keep]
    return difference_estimate(c.mean(), c.var(ddof=1), len(c), rec["correct"][keep] - conf, weights=weights,
                               floor=float((conf * (1 - conf)).mean()) if len(conf) else 0.0)


def difference(labels: int | None = None, last_round: bool = False, matched: bool = False, power: float = 0.0):
    def f(rec, c, n):
        keep = rec["n"] == rec["n"].max() if last_round else back_to(rec, labels)
        w = (rec["weight"][keep] if matched else np.ones(int(keep.sum()))) * (rec["n"][keep] / n) ** power
        return diff(rec, keep, c, w)
    return f


def audit_only(rec, c, n):
    return diff(rec, rec["audit"] == 1 if rec["audit"].sum() >= 10 else np.ones(len(rec["n"]), bool), c)


def isotonic(last_round: bool):
    """The map confidence → accuracy (isotonic, on the records) applied to the current model's confidences."""
    def f(rec, c, n):
        from sklearn.isotonic import IsotonicRegression

        keep = rec["n"] == rec["n"].max() if last_round else np.ones(len(rec["n"]), bool)
        base = diff(rec, keep, c)
        iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(rec["conf"][keep], rec["correct"][keep])
        return Estimate(*(min(1.0, max(0.0, v + float(iso.predict(c).mean()) - base.value)) for v in base))
    return f


def trend(rec, c, n):
    """The residuals' least-squares line in log(labels of the predicting model), read at the current model's labels."""
    from scipy import stats

    res, x = rec["correct"] - rec["conf"], np.log(rec["n"])
    if len(np.unique(x)) < 2 or len(res) < 4:
        return diff(rec, np.ones(len(res), bool), c)
    X, x0 = np.stack([np.ones(len(x)), x], axis=1), np.array([1.0, np.log(n)])
    inv = np.linalg.inv(X.T @ X)
    beta = inv @ X.T @ res
    s2 = max(float(((res - X @ beta) ** 2).sum()) / (len(res) - 2), float((rec["conf"] * (1 - rec["conf"])).mean()))
    half = stats.t.ppf(0.95, len(res) - 2) * np.sqrt(s2 * x0 @ inv @ x0 + c.var(ddof=1) / len(c))
    v = c.mean() + x0 @ beta
    return Estimate(*(float(min(1.0, max(0.0, t))) for t in (v, v - half, v + half)))


def library(rounds: list[tuple], c: np.ndarray, oof=None) -> Estimate:
    """``activegan.stopping.AccuracyEstimate`` as ``run``'s Monitor drives it: an estimate after every fit (which keeps
    that model's stop-set confidence bins), the next round's batch recorded before its labels are told; ``oof``: the
    out-of-fold predictions of the uniformly drawn labels (``uniform_draws``)."""
    est = AccuracyEstimate()
    for _, stop, conf, correct, audit, probs in rounds:
        est.estimate(stop[:, None])  # one column: its maximum is the confidence
        est.record(probs, np.where(correct, probs.argmax(axis=1), (probs.argmax(axis=1) + 1) % probs.shape[1]), audit)
    return est.estimate(c[:, None], oof)


def uniform_draws(strategy: str, z, r: int):
    """What ``run`` cross-validates: the out-of-fold predictions of the labels drawn uniformly from the pool — random's
    queries (not its first labels, which are typical) — with at least ``MIN_AUDIT`` of them; None otherwise."""
    key, n0 = f"oof_probs_{r}", int(z["n_labeled"][0])
    if strategy != "random" or key not in z or len(z[key]) - n0 < MIN_AUDIT:
        return None
    return z[key][n0:].astype(np.float64), z[f"oof_y_{r}"][n0:]


CANDIDATES = {"difference, all rounds (before)": difference(), "difference, last round": difference(last_round=True),
              **{f"difference, back to {m} labels": difference(m) for m in (30, 60, 120)},
              "difference, weighted by (labels / current labels)²": difference(power=2),
              "isotonic map, all rounds": isotonic(False), "isotonic map, last round": isotonic(True),
              "trend in log labels": trend, "confidence-matched, all rounds": difference(matched=True),
              **{f"confidence-matched, back to {m} labels": difference(m, matched=True) for m in (60, 120)},
              "audit only (difference, all rounds)": audit_only}


def cross_validated(matched: bool, difference_form: bool):
    """From the current round's out-of-fold predictions of the labeled set (``stopping_replay.out_of_fold``): their
    accuracy, or the current model's mean confidence plus their mean residual; ``matched``: each weighted to the current
    model's stop-set confidence quintiles."""
    def f(z, r, c):
        probs, y = z[f"oof_probs_{r}"].astype(np.float64), z[f"oof_y_{r}"]
        conf, correct = probs.max(axis=1), (probs.argmax(axis=1) == y).astype(np.float64)
        w = matched_weights(conf, *confidence_bins(c)) if matched else np.ones(len(y))
        if difference_form:
            return difference_estimate(c.mean(), c.var(ddof=1), len(c), correct - conf, weights=w,
                                       floor=float((conf * (1 - conf)).mean()))
        return difference_estimate(0.0, 0.0, 1, correct, weights=w, floor=float((conf * (1 - conf)).mean()))
    return f


CV_CANDIDATES = {f"cross-validated{', confidence-matched' * m} {'difference' if d else 'accuracy'}": cross_validated(m, d)
                 for d in (False, True) for m in (False, True)}


def replays(dataset: str):
    for path in sorted(OUT.glob(f"{dataset}-*.npz")):
        _, strategy, seed = path.stem.split("-")
        yield strategy, int(seed), dict(np.load(path))


def current(z, r: int) -> tuple[np.ndarray, float]:
    """The current model's confidences on the stop set's unlabeled images, and its accuracy on them (the truth)."""
    m = z["stop_unlabeled"][r]
    probs = z["stop_probs"][r][m].astype(np.float64)
    return probs.max(axis=1), float((probs.argmax(axis=1) == z["stop_y"][m]).mean())


def measure(dataset: str) -> list[dict]:
    pairs: dict[tuple, list] = {}
    for strategy, _, z in replays(dataset):
        for r in range(1, len(z["n_labeled"])):
            n = int(z["n_labeled"][r])
            if n < FROM:
                continue
            c, truth = current(z, r)
            for share in AUDIT_SHARES:
                rounds = rounds_of(z, r, share)
                rec = flat(rounds)
                found = {name: f(rec, c, n) for name, f in CANDIDATES.items() if share or not name.startswith("audit")}
                if not share and f"oof_probs_{r}" in z:
                    found.update({name: f(z, r, c) for name, f in CV_CANDIDATES.items()})
                chosen = library(rounds, c, None if share else uniform_draws(strategy, z, r))
                for name, e in {**found, CHOSEN: chosen}.items():
                    pairs.setdefault((strategy, share, name), []).append((e.value - truth, e.low <= truth <= e.high,
                                                                          (e.high - e.low) / 2))
    out = []
    for (strategy, share, name), v in sorted(pairs.items()):
        err, cover, half = (np.asarray(x) for x in zip(*v))
        out.append({"strategy": strategy, "audit": share, "candidate": name, "pairs": len(err),
                    "mean_error": round(float(err.mean()), 4), "mean_abs_error": round(float(np.abs(err).mean()), 4),
                    "within_2_points": round(float((np.abs(err) <= AIM_ERROR).mean()), 3),
                    "coverage": round(float(cover.mean()), 3), "mean_half_width": round(float(half.mean()), 4)})
    return out


# -- the stop rule: where it fires against the pool truth's curve ---------------------------------------------


def series(dataset: str) -> dict:
    """(strategy, seed) → per round: labels, the chosen estimate, κ to the round before, the truth."""
    out = {}
    for strategy, seed, z in replays(dataset):
        rows = []
        for r in range(len(z["n_labeled"])):
            c, truth = current(z, r)
            kappa = cohen_kappa(z["stop_probs"][r - 1].argmax(1), z["stop_probs"][r].argmax(1)) if r else float("nan")
            e = library(rounds_of(z, r, 0.0), c, uniform_draws(strategy, z, r)) if r else Estimate(float(c.mean()), 0.0, 1.0)
            rows.append({"n": int(z["n_labeled"][r]), "est": e, "kappa": kappa, "truth": truth})
        out[(strategy, seed)] = rows
    return out


LIBRARY_RULE = f"gain under {100 * GAIN_PER_100:g} point per 100 labels over 1 round, within ±5 points"


def kappa_rule(threshold: float, rounds: int = 3):
    return lambda h: len(h) > rounds and all(r["kappa"] >= threshold for r in h[-rounds:])


def gain_rule(per_100: float, rounds: int, max_half: float):
    """The estimate rose less than ``per_100`` per 100 labels over the last ``rounds`` rounds, its interval within
    ±``max_half``."""
    def fire(h):
        if len(h) <= rounds:
            return False
        a, b = h[-1 - rounds], h[-1]
        gain = (b["est"].value - a["est"].value) / (b["n"] - a["n"]) * 100
        return gain < per_100 and (b["est"].high - b["est"].low) / 2 <= max_half
    return fire


def before(h) -> bool:
    return kappa_rule(0.99)(h) or (len(h) > 3 and h[-1]["est"].value - h[-4]["est"].value < 0.005
                                   and (h[-1]["est"].high - h[-1]["est"].low) / 2 <= 0.05)


STOP_RULES = {"κ ≥ 0.99 for 3 rounds, or a gain under 0.5 point over 3 rounds within ±5 points (before)": before,
              **{f"κ ≥ {t:g} for 3 rounds": kappa_rule(t) for t in (0.75, 0.8, 0.85)},
              **{f"gain under {g:g} point per 100 labels over {k} round{'s' * (k > 1)}, within ±{100 * w:g} points":
                 gain_rule(g / 100, k, w) for g in (1, 2, 4) for k in (1, 2) for w in (0.05, 0.1)}}


def stop_measure(dataset: str) -> list[dict]:
    """Per rule and strategy: seeds where it fires inside the aim's window on the pool truth's curve (its 98 % point …
    99 % point + 20 % of the budget), early, or late / never."""
    out, data = [], series(dataset)
    for name, rule in STOP_RULES.items():
        for strategy in sorted({k[0] for k in data}):
            count = {"on_time": 0, "early": 0, "late_or_never": 0}
            for rows in (v for k, v in data.items() if k[0] == strategy):
                final, budget = rows[-1]["truth"], rows[-1]["n"]
                n98, n99 = (next(r["n"] for r in rows if r["truth"] >= s * final - 1e-12) for s in (EARLY, LATE))
                stop = next((rows[i]["n"] for i in range(len(rows)) if rule(rows[:i + 1])), None)
                key = ("early" if stop is not None and stop < n98 else
                       "on_time" if stop is not None and stop <= n99 + 0.2 * budget else "late_or_never")
                count[key] += 1
            out.append({"rule": name, "strategy": strategy, **count})
    kappas = np.array([r["kappa"] for rows in data.values() for r in rows[1:]])
    return out, (float(kappas.min()), float(np.median(kappas)), float(kappas.max()))


def render(rows: list[dict], stops: list[dict], kappas: tuple, dataset: str) -> str:
    units = sorted({(s, seed) for s, seed, _ in replays(dataset)})
    by = {s: sum(1 for u in units if u[0] == s) for s in sorted({u[0] for u in units})}
    return "\n".join([
        f"# Choosing the accuracy estimate and the stop rule — {dataset}, on the training pool's truth", "",
        f"Generated by `python -m benchmarks.stopping_select --dataset {dataset}` from the acquisition benchmark's runs "
        f"replayed by `python -m benchmarks.stopping_replay` (each round's model refitted on the run's labeled set: "
        f"{', '.join(f'{s} {k} seeds' for s, k in by.items())}). Judged against the accuracy on the stop set's unlabeled "
        f"images by the pool's labels (the simulation's truth, `pool_accuracy`), from {FROM} labels on; the test set is "
        "not read. An audit share a replaces a of each batch's queries by uniform draws from the unlabeled pool (the "
        "replay keeps the run's training set: the audit's effect on the models themselves is not simulated, nor the "
        "cross-validation of audit labels that `run` does, since the replayed audit images are not in the training set: "
        "`python -m benchmarks.stopping` measures that in real runs). `cross-validated`: the labeled set's out-of-fold "
        f"predictions ({FOLDS} folds stratified by label, the round's learner refitted without each fold). "
        "`confidence-matched`: each round's residuals weighted to the stop set's confidence quintiles under the model that "
        f"predicted them. The first row of each group, `{CHOSEN}`, is the library's estimator as `run` drives it.", "",
        "## The choice", "",
        "Without an audit (the default), candidates ranked by mean |error| averaged over the strategies (then coverage):", "",
        reporting.md_table(["candidate", "mean |error|", "interval covers", "mean error per strategy"], ranking(rows)), "",
        "## The estimate", "",
        reporting.md_table(["strategy", "audit", "candidate", "pairs", "mean error", "mean |error|", "within ±2 points",
                            f"interval covers (aim ≥ {AIM_COVER:.0%})", "mean half-width"],
                           [[r["strategy"], f"{r['audit']:.0%}", r["candidate"], r["pairs"], f"{r['mean_error']:+.4f}",
                             f"{r['mean_abs_error']:.4f}", f"{r['within_2_points']:.0%}", f"{r['coverage']:.0%}",
                             f"{r['mean_half_width']:.3f}"] for r in rows]), "",
        "## The stop rule", "",
        f"With the chosen estimate, no audit; labels {', '.join(map(str, series_labels(dataset)))}. Cohen's κ between "
        f"successive rounds' predictions on the stop set: min {kappas[0]:.3f}, median {kappas[1]:.3f}, max {kappas[2]:.3f} "
        "(the learner retrains from a new seed every round). The aim's window: from the pool curve's 98 % point to 20 % "
        "of the budget after its 99 % point.", "",
        f"Best (most seeds on time, then fewest early): {' and '.join(f'**{b}**' for b in best_rules(stops))}. The library's "
        f"rule: **{LIBRARY_RULE}** — `activegan.stopping.GAIN_PER_100` with one round and ±5 points, "
        f"{'one of the best' if LIBRARY_RULE in best_rules(stops) else 'not among the best here'} (κ ≥ 0.99 for 3 "
        "rounds stays: it fires where successive models do agree).", "",
        reporting.md_table(["rule", "strategy", "on time", "early", "late or never"],
                           [[r["rule"], r["strategy"], r["on_time"], r["early"], r["late_or_never"]] for r in stops]), ""])


def best_rules(stops: list[dict]) -> list[str]:
    """The rules with the most seeds on time, then the fewest early (every one of a tie)."""
    total: dict[str, tuple[int, int]] = {}
    for r in stops:
        t = total.get(r["rule"], (0, 0))
        total[r["rule"]] = (t[0] + r["on_time"], t[1] - r["early"])
    top = max(total.values())
    return [k for k, v in total.items() if v == top]


def ranking(rows: list[dict]) -> list[list]:
    by: dict[str, list[dict]] = {}
    for r in rows:
        if not r["audit"]:
            by.setdefault(r["candidate"], []).append(r)
    order = sorted(by.items(), key=lambda kv: (np.mean([r["mean_abs_error"] for r in kv[1]]),
                                               -np.mean([r["coverage"] for r in kv[1]])))
    return [[name, f"{np.mean([r['mean_abs_error'] for r in v]):.4f}", f"{np.mean([r['coverage'] for r in v]):.0%}",
             ", ".join(f"{r['strategy']} {r['mean_error']:+.4f}" for r in v)] for name, v in order]


def series_labels(dataset: str) -> list[int]:
    return next((z["n_labeled"].tolist() for _, _, z in replays(dataset)), [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stopping_select", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cifar10")
    args = p.parse_args(argv)
    rows = measure(args.dataset)
    stops, kappas = stop_measure(args.dataset)
    root = reporting.RESULTS / "stopping"
    reporting.write_rows_csv(root / f"selection-{args.dataset}.csv", rows)
    reporting.write_rows_csv(root / f"selection-{args.dataset}-stop.csv", stops)
    reporting.write_readme(root / f"selection-{args.dataset}.md", render(rows, stops, kappas, args.dataset))
    print(root / f"selection-{args.dataset}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
