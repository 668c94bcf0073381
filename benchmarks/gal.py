"""Gal, Islam & Ghahramani (2017), MNIST protocol: labels needed to reach 90 % and 95 % accuracy.

    python -m benchmarks.gal --jobs 2         # → docs/results/mnist-gal/
    python -m benchmarks.gal --resume         # continue an interrupted run
    python -m benchmarks.gal --report-only    # rewrite the results from the rounds done
    python -m benchmarks.gal --quick          # < 1 min on digits, for the smoke test

20 class-balanced initial labels, +10 per round for 38 rounds (400 labels), a random subset
of 2 000 pool images scored per round, 3 seeds. By default the paper's four strategies: random,
Max Entropy (``mc-entropy``: entropy of the mean of T MC-dropout predictions, as the paper),
BALD and variation ratios (MC dropout with 10 samples), a fixed 120 gradient steps per round,
accuracy on a fixed class-balanced 2 000 of the test images: what the 2-core machine finishes
in a session. ``--strategies all --steps 0 --epochs 50 --test-subset 0 --mc-samples 20`` is the
whole protocol (many hours).
"""

from __future__ import annotations

import argparse
import sys

from activegan import results as stats
from activegan.loop import ExperimentConfig, TrainOptions
from activegan.results import read_curves, summarize
from activegan.strategies import POSTER_STRATEGIES
from benchmarks.published import POSTER_PROTOCOL
from benchmarks import experiments, published, reporting, tables

# The paper's Table 1: labels to 90 % and 95 % test accuracy on MNIST. Its "Max Entropy" is the
# entropy of the mean MC-dropout prediction: our mc-entropy. Our plain `entropy` (one
# deterministic prediction) is not the same acquisition function.
GAL_PAPER = {"variation-ratios": (120, 295), "bald": (145, 335), "mc-entropy": (165, 355), "random": (255, 835)}
PAPER_BUDGET, PAPER_MC_SAMPLES = 1000, 20  # the paper's label budget and MC-dropout samples
ALL_STRATEGIES = ["random", *POSTER_STRATEGIES, "mc-entropy", "bald", "variation-ratios"]
STRATEGIES = ["random", "mc-entropy", "bald", "variation-ratios"]  # the rows of the paper's Table 1
MC = ("mc-entropy", "bald", "variation-ratios")


def paper_row(s: str) -> tuple[int, int] | None:
    """The paper's numbers for our strategy: deterministic entropy is shown against Max Entropy, marked."""
    return GAL_PAPER.get("mc-entropy" if s == "entropy" else s)


def config(args) -> ExperimentConfig:
    strategies = ALL_STRATEGIES if args.strategies == "all" else args.strategies.split(",")
    if args.quick:
        return ExperimentConfig(**POSTER_PROTOCOL, dataset="digits", strategies=strategies, seeds=[0], initial=10, query_size=5, rounds=2, subset=100,
                                train=TrainOptions(epochs=1), mc_samples=3)
    return ExperimentConfig(**POSTER_PROTOCOL, dataset="mnist", strategies=strategies, seeds=list(range(args.seeds)), initial=20, query_size=10,
                            rounds=args.rounds, subset=2000, train=TrainOptions(epochs=args.epochs, steps=args.steps or None),
                            mc_samples=args.mc_samples)


AIM = {"0.90": 60, "0.95": 150}  # labels, with the best strategy


def conclusions(summary: dict, seed_aulc: dict) -> list[str]:
    """The aim, each strategy against random with a paired test, and the paper's ordering."""

    def labels(s, k):
        return summary[s]["labels_to"][k]

    out = []
    for k, limit in AIM.items():
        reached = {s: labels(s, k) for s in summary if labels(s, k) is not None}
        pct = f"{float(k):.0%}"
        if reached:
            best = min(reached, key=reached.get)
            word = "**met**" if reached[best] <= limit else "**not met**"
            out.append(f"- Aim, {pct} with at most {limit} labels: best {best}, whose seed-mean accuracy stays ≥ {pct} from "
                       f"{tables.labels_cell(summary[best], k)} labels — {word}.")
        else:
            touched = {s: summary[s].get("first_reach", {}).get(k) for s in summary}
            touched = {s: v for s, v in touched.items() if v is not None}
            note = (" (" + ", ".join(f"{s} touched it at {v} and fell back" for s, v in touched.items()) + ")") if touched else ""
            out.append(f"- Aim, {pct} with at most {limit} labels: no strategy stays ≥ {pct} within the budget{note} — **not met**.")
    gaps = {s: stats.paired_gap(seed_aulc, s) for s in summary if s != "random"}
    gaps = {s: g for s, g in gaps.items() if g}
    for s, g in gaps.items():
        noise = ("within noise of random" if not stats.separated(g) else
                 "separated from random" if g["mean"] > 0 else "below random")
        out.append(f"- {s} against random: AULC {tables.gap_words(g)}, 95 % interval {reporting.fmt_ci(g['ci'])} — {noise}; "
                   f"labels to 90 %: {tables.labels_cell(summary[s], '0.90')} vs {tables.labels_cell(summary['random'], '0.90')}.")
    order = [s for s in summary if paper_row(s)]
    if len(order) > 1:
        ours = sorted(order, key=lambda s: -summary[s]["aulc_mean"])
        paper = sorted(order, key=lambda s: paper_row(s)[0])
        same = ours == paper
        noisy = [s for s in ours if s in gaps and not stats.separated(gaps[s])]
        tests = "; ".join(f"{s} {reporting.p_words(gaps[s]['p'])}" for s in ours if s in gaps)
        text = (f"- The paper's order by labels to 90 %: {' < '.join(paper)}; ours by mean AULC (best first): {' > '.join(ours)} — "
                + ("the same order" if same else "a different order") + f" (paired t-tests against random: {tests}).")
        if noisy:
            text += (f" {', '.join(noisy)} {'is' if len(noisy) == 1 else 'are'} within noise of random with {len(seed_aulc['random'])} "
                     "seeds, so the order does not establish " + ("it" if len(noisy) == 1 else "their places") + ".")
        out.append(text)
    if "entropy" in summary and "mc-entropy" not in summary:
        out.append("- This run's `entropy` scores one deterministic prediction; the paper's Max Entropy averages MC-dropout "
                   "samples (`mc-entropy`, the default since this run). The `entropy` row is set beside the paper's Max Entropy "
                   "for reference only: not like for like, and not rerun yet.")
    return out


def render(rep: tables.Report) -> str:
    cfg = rep.cfgs[""]
    test_subset = None if rep.quick else test_subset_of(rep)
    progress = reporting.read_json_if(rep.out / "progress.json")
    mc = [s for s in cfg.strategies if s in MC]
    steps = cfg.train.steps
    lines = [
        "# Gal et al. (2017) protocol on MNIST" + (" (quick mode: digits)" if rep.quick else ""),
        "",
        f"{cfg.initial} class-balanced initial labels + {cfg.rounds} rounds × {cfg.query_size} (up to "
        f"{published.budget(cfg)} labels), a random subset of {cfg.subset:,} unlabeled images scored per "
        f"round, {len(cfg.seeds)} seeds, the Keras-style MNIST CNN of the poster retrained from scratch each round for "
        + (f"{steps} gradient steps" if steps else f"{cfg.train.epochs} epochs")
        + f" (Adam, lr {cfg.train.lr}, batch {cfg.train.batch_size})"
        + (f", MC dropout with {cfg.mc_samples} samples for {', '.join(mc)}" if mc else "") + ", "
        + (f"accuracy on a fixed class-balanced {test_subset:,} of the 10 000 test images (the same for every strategy, seed "
           "and round)." if test_subset else "the full test set for accuracy."),
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        *tables.run_bullets(rep),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format, all rounds done so far), "
        "[config.json](config.json), [progress.json](progress.json), [run.json](run.json).",
        "",
        "Differences from the paper: Adam without weight decay instead of the paper's training set-up, a budget of "
        f"{published.budget(cfg)} labels instead of {PAPER_BUDGET:,}, {len(cfg.seeds)} seeds"
        + (f", {steps} gradient steps per round whatever the number of labels (an epoch count would give the "
           "smallest labeled sets only a few steps)" if steps else "")
        + (f", MC dropout with {cfg.mc_samples} samples instead of {PAPER_MC_SAMPLES}" if cfg.mc_samples != PAPER_MC_SAMPLES and mc else "")
        + (", entropy from one deterministic prediction instead of the paper's MC-dropout mean (Max Entropy)"
           if "entropy" in cfg.strategies and "mc-entropy" not in cfg.strategies else "")
        + (f", accuracy on {test_subset:,} test images" if test_subset else "") + ". Labels to an accuracy are read off "
        "the seed-mean curve, so 'not reached' means not within our budget (the paper's random needed "
        f"{GAL_PAPER['random'][1]} for 95 %)."
        + (f" With {steps} steps per round our classifier is trained far less than the paper's, so our label counts are "
           "higher than theirs for every strategy; the strategies are compared like for like (same model, training and "
           "seeds; random included)." if steps else ""),
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = published.complete_rows(read_curves(rep.out / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if summary:
        extra = {"headers": ["paper (Table 1): 90 %", "paper: 95 %"]}
        for s in summary:
            p = paper_row(s)
            mark = " (Max Entropy, MC)" if s == "entropy" else ""
            extra[s] = [f"{p[0]}{mark}", str(p[1])] if p else ["–", "–"]
        seed_aulc = stats.per_seed_aulc(rows)
        lines += ["## Labels to 90 % and 95 % test accuracy", "", tables.strategy_table(summary, seed_aulc, extra), "",
                  tables.LABELS_NOTE, "", "## What this shows", "", *conclusions(summary, seed_aulc), ""]
        missing = [s for s in cfg.strategies if s not in summary]
        if missing:
            lines += [f"Not finished yet: {', '.join(missing)}.", ""]
        lines += ["![learning curves](learning_curves.png)", ""]
    else:
        lines += ["Running: no strategy has finished all its seeds yet.", ""]
    if not rep.quick:
        lines += ["## Continue", "", tables.continue_text(rep.cmd, f"runs/bench/{rep.name}.log")]
    return "\n".join(lines)


def test_subset_of(rep: tables.Report) -> int | None:
    """The test subset the run used: from its recorded command (default 2 000), else this command's option."""
    import shlex

    if rep.run and "test_subset" in rep.run:
        return rep.run["test_subset"] or None
    words = shlex.split(rep.cmd)
    if "--test-subset" in words:
        return int(words[words.index("--test-subset") + 1]) or None
    return DEFAULT_TEST_SUBSET if rep.run else (rep.args.test_subset or None)


DEFAULT_TEST_SUBSET = 2000


def load(args):
    if args.quick:
        return experiments.quick_data()
    from activegan.data import load_dataset

    return experiments.test_subset(load_dataset("mnist", args.data_dir), args.test_subset)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, or 'all' (random, the poster's five, mc-entropy, bald, variation-ratios)")
    p.add_argument("--steps", type=int, default=120, help="gradient steps per round (0: train --epochs instead)")
    p.add_argument("--epochs", type=int, default=50, help="epochs per round when --steps is 0")
    p.add_argument("--mc-samples", type=int, default=10, help="MC dropout samples for mc-entropy, bald and variation-ratios")
    p.add_argument("--test-subset", type=int, default=DEFAULT_TEST_SUBSET, help="test images for accuracy, a fixed class-balanced subset (0: all 10 000)")
    p.add_argument("--rounds", type=int, default=38)


BENCHMARK = experiments.Benchmark(
    module="gal",
    doc=__doc__,
    add_arguments=add_arguments,
    name=lambda args: "digits-gal" if args.quick else "mnist-gal",
    default_out=lambda name: reporting.RESULTS / name,
    configs=lambda args: {"": config(args)},
    load=load,
    render=render,
    data_dir=reporting.SHARED / "mnist",
    log_extra=lambda args, cfgs: {} if args.quick else {"test_subset": args.test_subset},
)


def main(argv: list[str] | None = None) -> int:
    return experiments.main(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
