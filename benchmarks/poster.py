"""The poster's comparison: random against its five acquisition functions, at few and many epochs.

    python -m benchmarks.poster --dataset mnist                 # → docs/results/mnist-poster/   (hours)
    python -m benchmarks.poster --dataset mnist --resume        # continue an interrupted run
    python -m benchmarks.poster --dataset cifar10               # → docs/results/cifar10-poster/
    python -m benchmarks.poster --dataset mnist --report-only   # rewrite the results from the rounds done
    python -m benchmarks.poster --quick                         # < 1 min on digits, for the smoke test

One experiment per epoch setting (``epochs-5/``, ``epochs-50/``), each with its own curves.csv
and summary.json in the core format; the README states the poster's four conclusions, each
decided from the measured numbers with a 95 % interval over seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from activegan import results as stats
from activegan.loop import ExperimentConfig, TrainOptions
from activegan.results import read_curves, summarize
from activegan.active.strategies import POSTER_STRATEGIES
from benchmarks.published import POSTER_PROTOCOL
from benchmarks import experiments, published, reporting, tables

STRATEGIES = ["random", *POSTER_STRATEGIES]
# Label budgets the shared 2-core machine can finish in a few sessions (see the README).
BUDGETS = {
    "mnist": dict(initial=20, query_size=10, rounds=20, subset=2000),
    "cifar10": dict(initial=100, query_size=50, rounds=6, subset=2000),
}
# Fewer rounds where an epoch setting costs too much for the machine: {dataset: {epochs: rounds}}
# (MNIST at 50 epochs: 10 rounds; CIFAR-10 at 50 epochs: 3 rounds, 250 labels instead of 400).
# The READMEs estimate each setting's time from the speed benchmark.
ROUNDS_AT = {"mnist": {50: 10}, "cifar10": {50: 3}}
QUICK = dict(initial=10, query_size=5, rounds=2, subset=200, seeds=[0], epochs=(2, 3))
# Test images per round where evaluating all 10 000 costs more than training: a fixed,
# class-balanced subset (the same for every strategy, seed and round).
TEST_SUBSET = {"cifar10": 2000}


def sub(e: int) -> str:
    return f"epochs-{e}"


def configs(dataset: str, quick: bool, epochs: tuple[int, ...], seeds: list[int], rounds_at: dict[int, int] | None = None) -> dict[str, ExperimentConfig]:
    if quick:
        b = {k: QUICK[k] for k in ("initial", "query_size", "rounds", "subset")}
        return {sub(e): ExperimentConfig(**POSTER_PROTOCOL, dataset="digits", strategies=STRATEGIES, seeds=QUICK["seeds"], train=TrainOptions(epochs=e), **b)
                for e in QUICK["epochs"]}
    rounds_at = ROUNDS_AT.get(dataset, {}) if rounds_at is None else rounds_at
    return {sub(e): ExperimentConfig(**POSTER_PROTOCOL, dataset=dataset, strategies=STRATEGIES, seeds=seeds, train=TrainOptions(epochs=e),
                                     **{**BUDGETS[dataset], "rounds": rounds_at.get(e, BUDGETS[dataset]["rounds"])}) for e in epochs}


def parse_rounds_at(text: str) -> dict[int, int]:
    """'50:10,20:15' → {50: 10, 20: 15}."""
    out = {}
    for part in filter(None, (t.strip() for t in text.split(","))):
        e, sep, r = part.partition(":")
        if not sep or not e.isdigit() or not r.isdigit():
            raise argparse.ArgumentTypeError(f"expected EPOCHS:ROUNDS pairs such as 50:10, got {part!r}")
        out[int(e)] = int(r)
    return out


def load(args):
    if args.quick:
        return experiments.quick_data()
    from activegan.data import load_dataset

    default = reporting.SHARED / ("mnist" if args.dataset == "mnist" else "cifar10-jpeg.zip")
    data = load_dataset(args.dataset, args.data_dir or default)
    return experiments.test_subset(data, TEST_SUBSET.get(args.dataset))


# -- the poster's conclusions -------------------------------------------------------------------


def analyse(results: Path, cfg: ExperimentConfig, upto: int | None = None) -> dict | None:
    """Gaps to random (paired by seed) and smoothness, from the strategies whose every seed has finished.

    ``upto``: only rounds 0..upto, to compare settings run for different numbers of rounds.
    """
    path = results / "curves.csv"
    if not path.exists():
        return None
    rows = published.complete_rows(read_curves(path), cfg.strategies, cfg.seeds, cfg.rounds)
    if upto is not None:
        rows = [r for r in rows if r["round"] <= upto]
    summary = summarize(rows, cfg.strategies) if rows else {}
    seed_aulc = stats.per_unit_aulc(rows)
    acq = [s for s in POSTER_STRATEGIES if s in summary]
    gaps = {s: stats.paired_gap(seed_aulc, s) for s in acq} if "random" in summary else {}
    # Per seed, the mean over the acquisition functions of their gap to random: one number per seed.
    seed_gap = {k: float(np.mean([seed_aulc[s][k] - seed_aulc["random"][k] for s in acq])) for k in cfg.seeds} if gaps else {}
    smooth = tables.smoothness(summary)
    # Per seed, the mean over strategies of |second difference| of that seed's own curve: one number per seed.
    seed_rough = {}
    for k in cfg.seeds:
        per = []
        for s in summary:
            acc = np.array([r["accuracy"] for r in sorted((r for r in rows if r["strategy"] == s and r["seed"] == k), key=lambda r: r["round"])])
            if len(acc) >= 3:
                per.append(np.abs(np.diff(acc, 2)).mean())
        if per:
            seed_rough[k] = float(np.mean(per))
    return {
        "summary": summary,
        "seed_aulc": seed_aulc,
        "gaps": gaps,
        "seed_gap": seed_gap,
        "mean_gap": float(np.mean(list(seed_gap.values()))) if seed_gap else None,
        "smoothness": smooth,
        "seed_rough": seed_rough,
        "mean_second_diff": float(np.mean([v["mean_abs_second_diff"] for v in smooth.values()])) if smooth else None,
        "mean_reversals": float(np.mean([v["reversal_share"] for v in smooth.values()])) if smooth else None,
        "complete": len(summary) == len(cfg.strategies),
        "labels": cfg.initial + (cfg.rounds if upto is None else upto) * cfg.query_size,
    }


def verdict(word: str | bool | None) -> str:
    if word is None:
        return "not measurable yet"
    if isinstance(word, bool):
        word = "holds" if word else "does not hold"
    return f"**{word}**"


def interval_words(test: dict) -> str:
    return f"difference {test['mean']:+.4f}, 95 % interval {reporting.fmt_ci(test['ci'])}"


def conclusions(an: dict[int, dict | None], other: dict[int, dict | None], dataset: str, other_name: str,
                common: dict[int, dict | None] | None = None) -> list[str]:
    """The poster's four conclusions. (b) and (c) compare ``common`` (both settings cut to the
    same rounds) when the settings ran for different numbers of rounds. (b) and (d) are decided by
    a 95 % interval over seeds: 'holds' / 'does not hold' only when it excludes 0, else 'inconclusive'."""
    few, many = min(an), max(an)
    lines = []
    # (a) acquisition beats random
    for e in sorted(an):
        a = an[e]
        if a and a["gaps"]:
            gaps = a["gaps"]
            wins = sum(g["mean"] > 0 for g in gaps.values())
            sep_up = [s for s, g in gaps.items() if stats.separated(g) and g["mean"] > 0]
            sep_down = [s for s, g in gaps.items() if stats.separated(g) and g["mean"] < 0]
            finished = len(gaps) == len(POSTER_STRATEGIES)
            pooled = stats.paired(a["seed_gap"].values())
            # Contradicted by any function separated below random or by none above it; supported by the
            # mean gap's interval lying above 0; otherwise inconclusive.
            word = stats.decide(pooled, expect_negative=False)
            if sep_down or wins == 0:
                word = "does not hold"
            said = verdict(word) if finished else "not decided yet (not every strategy has finished)"
            sep = (f", 95 % interval over seeds {reporting.fmt_ci(pooled['ci'])}; per function, paired intervals exclude 0 for "
                   f"{len(sep_up)} function(s) above random" + (f" ({', '.join(sep_up)})" if sep_up else "")
                   + f" and {len(sep_down)} below" + (f" ({', '.join(sep_down)})" if sep_down else ""))
            listed = ", ".join(f"{s} {g['mean']:+.4f}" for s, g in gaps.items())
            lines.append(
                f"- **(a) acquisition AULC beats random, {e} epochs:** {wins} of {len(gaps)} finished acquisition functions beat "
                f"random on mean AULC (gaps {listed}; mean gap {a['mean_gap']:+.4f}"
                f"{sep}) — {said}."
            )
        else:
            lines.append(f"- **(a) acquisition AULC beats random, {e} epochs:** not measurable yet (random and at least one acquisition function must finish all seeds).")
    cmp = common or an
    upto = f" (both up to {cmp[few]['labels']} labels, the budget of the shorter setting)" if common and cmp[few] else ""
    # (b) gap shrinks with epochs: the same seeds and initial labels at both settings, so paired by seed.
    f_, m_ = cmp.get(few) or {}, cmp.get(many) or {}
    if few != many and f_.get("seed_gap") and m_.get("seed_gap"):
        seeds = [k for k in f_["seed_gap"] if k in m_["seed_gap"]]
        test = stats.paired(m_["seed_gap"][k] - f_["seed_gap"][k] for k in seeds)
        lines.append(f"- **(b) the gap shrinks as epochs grow{upto}:** mean gap {f_['mean_gap']:+.4f} at {few} epochs, "
                     f"{m_['mean_gap']:+.4f} at {many} ({many} − {few} epochs paired by seed: {interval_words(test)}) — "
                     f"{verdict(stats.decide(test, expect_negative=True))}"
                     + ("" if f_["complete"] and m_["complete"] else " (partial: not every strategy has finished)") + ".")
    else:
        lines.append(f"- **(b) the gap shrinks as epochs grow:** not measurable yet (needs both {few} and {many} epochs).")
    # (c) smoother with more epochs
    sf, sm = f_.get("mean_second_diff"), m_.get("mean_second_diff")
    if few != many and sf is not None and sm is not None:
        rf, rm = f_["mean_reversals"], m_["mean_reversals"]
        seeds = [k for k in f_["seed_rough"] if k in m_["seed_rough"]]
        test = stats.paired(m_["seed_rough"][k] - f_["seed_rough"][k] for k in seeds)
        lines.append(
            f"- **(c) curves are smoother with more epochs{upto}:** mean |second difference| of the seed-mean curves {sf:.4f} at {few} epochs, "
            f"{sm:.4f} at {many}; share of rounds where the seed-mean accuracy fell {rf:.0%} → {rm:.0%} (per-seed curves, {many} − {few} "
            f"epochs paired by seed: {interval_words(test)}) — {verdict(stats.decide(test, expect_negative=True))}."
        )
    else:
        lines.append(f"- **(c) curves are smoother with more epochs:** not measurable yet (needs both {few} and {many} epochs).")
    # (d) gap smaller on CIFAR-10 than on MNIST: different datasets and label budgets, so unpaired (Welch).
    parts = []
    for e in sorted(an):
        mine, theirs = an[e] or {}, other.get(e) or {}
        if mine.get("seed_gap") and theirs.get("seed_gap"):
            g_m, g_c = (mine, theirs) if dataset == "mnist" else (theirs, mine)
            test = stats.welch(g_m["seed_gap"].values(), g_c["seed_gap"].values())
            parts.append(f"{e} epochs: MNIST {g_m['mean_gap']:+.4f} ({g_m['labels']} labels), CIFAR-10 {g_c['mean_gap']:+.4f} "
                         f"({g_c['labels']} labels); CIFAR-10 − MNIST {interval_words(test)} (Welch) — "
                         f"{verdict(stats.decide(test, expect_negative=True))}")
    if parts:
        lines.append("- **(d) the gap is smaller on CIFAR-10 than on MNIST** (different datasets, models and label budgets, so at "
                     "best indicative): " + "; ".join(parts) + ".")
    else:
        lines.append(f"- **(d) the gap is smaller on CIFAR-10 than on MNIST:** not measurable yet (needs the {other_name} results too).")
    return lines


def budget_text(dataset: str, cfgs: dict[str, ExperimentConfig], speed_json: Path) -> str:
    """The label budget, and for MNIST the time it should take, estimated from the speed benchmark."""
    cfg0 = next(iter(cfgs.values()))
    units = len(cfg0.strategies) * len(cfg0.seeds)
    text = (
        "Label budget: " + "; ".join(
            f"{c.initial} + {c.rounds} × {c.query_size} = {published.budget(c)} labels at {c.train.epochs} epochs "
            f"({units * (c.rounds + 1)} rounds)" for c in cfgs.values())
        + " — each round retrains on every label so far and evaluates the test set; chosen so that the shared "
        "2-core machine can finish every setting."
    )
    if dataset != "mnist" or not speed_json.exists():
        return text
    sp = reporting.read_json(speed_json)
    rnd = sp.get("round")
    if not rnd:
        return text
    est = {c.train.epochs: estimate_s(sp, c) * units for c in cfgs.values()}
    return text + (
        " Estimated from the [speed benchmark](../speed/README.md) (test evaluation + scoring per round, training time "
        "proportional to epochs × labels): " + ", ".join(f"{reporting.fmt_seconds(v)} at {e} epochs" for e, v in est.items()) + "."
    )


def estimate_s(speed: dict, cfg: ExperimentConfig) -> float:
    """Seconds one (strategy, seed) of ``cfg`` should take by the speed benchmark's MNIST round:
    per round, evaluating the test set and scoring the subset, plus training ∝ epochs × labels."""
    rnd = speed["round"]
    per_label_epoch = float(np.mean([v["train_s"] / (rnd["epochs"] * np.mean(v["n_labeled"])) for v in rnd["per_strategy"].values()]))
    fixed = rnd["test"] / speed["scoring"][0]["images_per_s"] + max(v["score_s"] for v in rnd["per_strategy"].values())
    return sum(fixed + per_label_epoch * cfg.train.epochs * (cfg.initial + r * cfg.query_size) for r in range(cfg.rounds + 1))


def other_configs(other_name: str, folder: Path, mine: dict[str, ExperimentConfig]) -> dict[int, ExperimentConfig]:
    """The other dataset's configs as they ran (its config.json), by epochs."""
    out = {}
    for s, c in mine.items():
        cfg = published.as_run(None, folder / s)
        if cfg is not None:
            out[c.train.epochs] = cfg
    return out


def render(rep: tables.Report) -> str:
    dataset = rep.args.dataset
    cfgs = rep.cfgs
    results = rep.out
    by_e = {c.train.epochs: (s, c) for s, c in cfgs.items()}
    other_name = "cifar10" if dataset == "mnist" else "mnist"
    an = {e: analyse(results / s, c) for e, (s, c) in by_e.items()}
    other_folder = results.parent / f"{other_name}-poster"
    other = {e: analyse(other_folder / sub(e), c) for e, c in other_configs(other_name, other_folder, cfgs).items()} if not rep.quick else {}
    cfg0 = next(iter(cfgs.values()))
    shortest = min(c.rounds for c in cfgs.values())
    common = None
    if any(c.rounds != shortest for c in cfgs.values()):
        common = {e: analyse(results / s, c, upto=shortest) for e, (s, c) in by_e.items()}
    progress = {e: reporting.read_json_if(results / s / "progress.json") for e, (s, _) in by_e.items()}
    status = []
    for e, p in progress.items():
        if p is None:
            status.append(f"{e} epochs: not run yet")
        else:
            status.append(f"{e} epochs: {'complete' if p['complete'] else 'partial'}, {p['rounds_done']} of {p['rounds_total']} rounds")
    title = "MNIST" if dataset == "mnist" else "CIFAR-10"
    lines = [
        f"# The poster's comparison on {title}" + (" (quick mode: digits)" if rep.quick else ""),
        "",
        f"Random sampling against the poster's five acquisition functions ({', '.join(POSTER_STRATEGIES)}), "
        f"{len(cfg0.seeds)} seeds, {cfg0.initial} class-balanced initial labels + "
        + "; ".join(f"{c.rounds} rounds × {c.query_size} (up to {published.budget(c)} labels) at {e} epochs" for e, (_, c) in by_e.items())
        + f", a random subset of {cfg0.subset:,} unlabeled images "
        f"scored per round, the classifier retrained from scratch each round for **{' and '.join(str(e) for e in by_e)} epochs** "
        f"(one experiment each), density on pixels with k = {cfg0.density_k}"
        + (f"; test accuracy on a fixed class-balanced subset of {TEST_SUBSET[dataset]:,} of the 10 000 test images "
           "(evaluating all of them each round would cost more than the training)" if dataset in TEST_SUBSET and not rep.quick else "") + ".",
        "",
        f"- Status: {'; '.join(status)}.",
        *tables.run_bullets(rep, " (heartbeat every 30 s; [run.json](run.json))"),
        "- Layout: `epochs-<E>/` holds each experiment's `curves.csv`, `summary.json` (the core format, all rounds done so far), "
        "`config.json`, `progress.json` and `learning_curves.png`. Tables below use only strategies whose every seed has finished.",
        "",
    ]
    if not rep.quick and dataset in BUDGETS:
        lines += [budget_text(dataset, cfgs, results.parent / "speed" / "speed.json"), ""]
    lines += ["## Conclusions of the poster, with our numbers", ""] + conclusions(an, other, dataset, other_name, common) + [
        "",
        "Gap = AULC of an acquisition function − AULC of random, per seed (the same initial labels and initial weights); the",
        "mean gap averages the five acquisition functions. A conclusion **holds** or **does not hold** only when the 95 %",
        "interval over seeds (paired by seed across epochs for (b) and (c); Welch, unpaired, across datasets for (d)) excludes 0;",
        "otherwise it is **inconclusive**. Smoothness = mean absolute second difference of the seed-mean accuracy curve over",
        "rounds (0 for a straight line), averaged over the six strategies; reversals = share of rounds in which the seed-mean",
        "accuracy fell.",
        "",
    ]
    for e, a in an.items():
        s = by_e[e][0]
        lines += [f"## {e} epochs", ""]
        if not a or not a["summary"]:
            lines += ["Not run yet." if progress[e] is None else "Running: no strategy has finished all its seeds yet.", ""]
            continue
        extra = {"headers": ["mean |Δ²acc|", "reversals"]}
        for st, v in a["smoothness"].items():
            extra[st] = [f"{v['mean_abs_second_diff']:.4f}", f"{v['reversal_share']:.0%}"]
        missing = [st for st in by_e[e][1].strategies if st not in a["summary"]]
        lines += [tables.strategy_table(a["summary"], a["seed_aulc"], extra), ""]
        if missing:
            lines += [f"Not finished yet: {', '.join(missing)}.", ""]
        lines += [f"Raw data: [curves.csv]({s}/curves.csv), [summary.json]({s}/summary.json).",
                  "", f"![learning curves, {e} epochs]({s}/learning_curves.png)", ""]
    lines += [tables.LABELS_NOTE, ""]
    if not rep.quick:
        lines += ["## Continue", "", tables.continue_text(rep.cmd, f"runs/bench/{rep.name}.log")]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=sorted(BUDGETS), default="mnist")
    p.add_argument("--epochs", default="5,50", help="comma list of epoch settings, one experiment each (default 5,50)")
    p.add_argument("--rounds-at", type=parse_rounds_at, default=None,
                   help="EPOCHS:ROUNDS pairs that shorten an epoch setting (default: mnist 50:10, cifar10 50:3; '' for none)")


BENCHMARK = experiments.Benchmark(
    module="poster",
    doc=__doc__,
    add_arguments=add_arguments,
    name=lambda args: f"{'digits' if args.quick else args.dataset}-poster",
    default_out=lambda name: reporting.RESULTS / name,
    configs=lambda args: configs(args.dataset, args.quick, tuple(int(e) for e in args.epochs.split(",")), list(range(args.seeds)), args.rounds_at),
    load=load,
    render=render,
)


def main(argv: list[str] | None = None) -> int:
    return experiments.main(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
