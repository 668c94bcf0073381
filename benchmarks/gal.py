"""Gal, Islam & Ghahramani (2017), MNIST protocol: labels needed to reach 90 % and 95 % accuracy.

    python benchmarks/gal.py --jobs 2         # → docs/results/mnist-gal/   (about 1 h on 2 idle cores)
    python benchmarks/gal.py --resume         # continue an interrupted run
    python benchmarks/gal.py --report-only    # rewrite the results from the rounds done
    python benchmarks/gal.py --quick          # < 1 min on digits, for the smoke test

20 class-balanced initial labels, +10 per round for 38 rounds (400 labels), a random subset
of 2 000 pool images scored per round, 3 seeds. By default the paper's four strategies (random,
max entropy, BALD, variation ratios; MC dropout with 10 samples), a fixed 120 gradient steps per round, accuracy on a fixed class-balanced 2 000 of the test
images: what the 2-core machine finishes in a session. `--strategies all --steps 0
--epochs 50 --test-subset 0 --mc-samples 20` is the whole protocol (about 13 h).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import experiments
import reporting
from index import GAL_PAPER

from activegan.acquisition import POSTER_STRATEGIES
from activegan.experiment import ExperimentConfig, read_curves, summarize

ALL_STRATEGIES = ["random", *POSTER_STRATEGIES, "bald", "variation-ratios"]
STRATEGIES = ["random", "entropy", "bald", "variation-ratios"]  # the rows of the paper's Table 1


def config(quick: bool, args) -> ExperimentConfig:
    strategies = ALL_STRATEGIES if args.strategies == "all" else args.strategies.split(",")
    if quick:
        return ExperimentConfig(dataset="digits", strategies=strategies, seeds=[0], initial=10, query_size=5, rounds=2, subset=100, epochs=1, mc_samples=3)
    return ExperimentConfig(dataset="mnist", strategies=strategies, seeds=list(range(args.seeds)), initial=20, query_size=10,
                            rounds=args.rounds, subset=2000, epochs=args.epochs, steps=args.steps or None, mc_samples=args.mc_samples)


AIM = {"0.90": 60, "0.95": 150}  # labels, with the best strategy


def conclusions(summary: dict, seed_aulc: dict) -> list[str]:
    """The aim, the paper's ordering and the gap to random, from the finished strategies."""

    def labels(s, k):
        return summary[s]["labels_to"][k]

    out = []
    for k, limit in AIM.items():
        reached = {s: labels(s, k) for s in summary if labels(s, k) is not None}
        if reached:
            best = min(reached, key=reached.get)
            verdict = "**met**" if reached[best] <= limit else "**not met**"
            out.append(f"- Aim, {float(k):.0%} with at most {limit} labels: best {best} at {reached[best]} labels — {verdict}.")
        else:
            out.append(f"- Aim, {float(k):.0%} with at most {limit} labels: no strategy reached {float(k):.0%} within the budget — **not met**.")
    if "random" in seed_aulc:
        base = seed_aulc["random"]
        for s in summary:
            if s != "random" and s in seed_aulc:
                d = [seed_aulc[s][seed] - base[seed] for seed in seed_aulc[s] if seed in base]
                wins = sum(x > 0 for x in d)
                out.append(f"- {s} against random: AULC {sum(d) / len(d):+.4f} (ahead in {wins} of {len(d)} seeds); labels to 90 %: "
                           f"{labels(s, '0.90') or 'not reached'} vs {labels('random', '0.90') or 'not reached'}.")
    order = [s for s in GAL_PAPER if s in summary]
    if len(order) > 1:
        ours = sorted(order, key=lambda s: -summary[s]["aulc_mean"])
        paper = sorted(order, key=lambda s: GAL_PAPER[s][0])
        out.append(f"- Paper's order by labels to 90 %: {' < '.join(paper)}; ours by AULC (best first): {' > '.join(ours)} — "
                   + ("the same order." if ours == paper else "a different order."))
    return out


def render(cfg: ExperimentConfig, results: Path, runlog: dict | None, quick: bool, cmd: str, test_subset: int | None) -> str:
    inv = (runlog or {}).get("invocations", [])
    progress = reporting.read_json(results / "progress.json") if (results / "progress.json").exists() else None
    lines = [
        "# Gal et al. (2017) protocol on MNIST" + (" (quick mode: digits)" if quick else ""),
        "",
        f"{cfg.initial} class-balanced initial labels + {cfg.rounds} rounds × {cfg.query_size} (up to "
        f"{cfg.initial + cfg.rounds * cfg.query_size} labels), a random subset of {cfg.subset:,} unlabeled images scored per "
        f"round, {len(cfg.seeds)} seeds, the Keras-style MNIST CNN of the poster retrained from scratch each round for "
        + (f"{cfg.steps} gradient steps" if cfg.steps else f"{cfg.epochs} epochs")
        + f" (Adam, lr {cfg.lr}, batch {cfg.batch_size}), MC dropout with {cfg.mc_samples} samples for BALD "
        "and variation ratios, "
        + (f"accuracy on a fixed class-balanced {test_subset:,} of the 10 000 test images (the same for every strategy, seed "
           "and round)." if test_subset else "the full test set for accuracy."),
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        f"- Command: `{cmd}` (continue with `--resume`).",
        reporting.dates_bullet(inv),
        reporting.machine_bullet(inv),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format, all rounds done so far), "
        "[config.json](config.json), [progress.json](progress.json).",
        "",
        "Differences from the paper: Adam without weight decay instead of the paper's training set-up, a budget of "
        f"{cfg.initial + cfg.rounds * cfg.query_size} labels instead of 1 000, {len(cfg.seeds)} seeds"
        + (f", {cfg.steps} gradient steps per round whatever the number of labels (an epoch count would give the "
           "smallest labeled sets only a few steps)" if cfg.steps else "")
        + (f", MC dropout with {cfg.mc_samples} samples instead of 20" if cfg.mc_samples != 20 else "")
        + (f", accuracy on {test_subset:,} test images" if test_subset else "") + ". Labels to an accuracy are read off "
        "the seed-mean curve, so 'not reached' means not within our budget (the paper's random needed 835 for 95 %)."
        + (f" With {cfg.steps} steps per round our classifier is trained far less than the paper's, so our label counts are "
           "higher than theirs for every strategy; the strategies are compared like for like (same model, training and "
           "seeds; random included)." if cfg.steps else ""),
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = experiments.complete_rows(read_curves(results / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if summary:
        extra = {"headers": ["paper (Table 1): 90 %", "paper: 95 %"]}
        for s in summary:
            extra[s] = list(map(str, GAL_PAPER[s])) if s in GAL_PAPER else ["–", "–"]
        seed_aulc = experiments.per_seed_aulc(rows)
        lines += ["## Labels to 90 % and 95 % test accuracy", "", experiments.strategy_table(summary, seed_aulc, extra), "",
                  "## What this shows", "", *conclusions(summary, seed_aulc), ""]
        missing = [s for s in cfg.strategies if s not in summary]
        if missing:
            lines += [f"Not finished yet: {', '.join(missing)}.", ""]
        lines += ["![learning curves](learning_curves.png)", ""]
    else:
        lines += ["Running: no strategy has finished all its seeds yet.", ""]
    if not quick:
        lines += ["## Continue", "", experiments.continue_text(cmd, "runs/bench/mnist-gal.log")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny run on digits (< 1 min), for the smoke test")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from runs/bench/mnist-gal")
    p.add_argument("--report-only", action="store_true", help="rewrite the results folder from the rounds done; no training")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, or 'all' (random, the poster's six, bald, variation-ratios)")
    p.add_argument("--steps", type=int, default=120, help="gradient steps per round (0: train --epochs instead)")
    p.add_argument("--epochs", type=int, default=50, help="epochs per round when --steps is 0")
    p.add_argument("--mc-samples", type=int, default=10, help="MC dropout samples for bald and variation-ratios")
    p.add_argument("--test-subset", type=int, default=2000, help="test images for accuracy, a fixed class-balanced subset (0: all 10 000)")
    p.add_argument("--rounds", type=int, default=38)
    p.add_argument("--jobs", type=int, default=1, help="processes, each one thread (2 on this machine when it is otherwise idle)")
    p.add_argument("--data-dir", type=Path, default=reporting.SHARED / "mnist")
    p.add_argument("--out", type=Path, help="results folder (default docs/results/mnist-gal; quick: runs/bench-quick/digits-gal)")
    p.add_argument("--state", type=Path, help="resumable state (default runs/bench/mnist-gal)")
    args = p.parse_args(argv)
    argv_used = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--resume", "--report-only")]
    name = "digits-gal" if args.quick else "mnist-gal"
    out = args.out or (reporting.REPO / "runs" / "bench-quick" / name if args.quick else reporting.RESULTS / name)
    state = args.state or (out.parent / "_state" / name if args.quick else reporting.STATE / name)
    cfg = config(args.quick, args)
    cmd = reporting.command("gal.py", argv_used)
    runlog_path = state / "runlog.json"

    def report():
        experiments.publish(cfg, state / "experiment", out)
        runlog = reporting.read_json(runlog_path) if runlog_path.exists() else None
        reporting.write_readme(out / "README.md", render(cfg, out, runlog, args.quick, cmd, None if args.quick else args.test_subset))
        import index

        index.write_index(out.parent)

    if args.report_only:
        cfg, cmd = experiments.as_run(cfg, state / "experiment"), reporting.recorded_command(runlog_path, cmd)
        report()
        return 0
    if not experiments.prepare_state("gal", state, (state / "experiment" / "config.json").exists(), args.quick, args.resume):
        return 2
    reporting.one_thread()
    if args.quick:
        data = experiments.quick_data()
    else:
        from activegan.data import load_dataset

        data = experiments.test_subset(load_dataset("mnist", args.data_dir), args.test_subset)
    from activegan.data import default_cache_dir
    from activegan.errors import UsageError

    try:
        with reporting.RunLog(runlog_path, cmd + (" --resume" if args.resume else "")) as log:
            log.entry["machine"] = reporting.machine()
            log.entry["jobs"] = args.jobs
            experiments.run(cfg, data, state / "experiment", resume=args.resume, cache_dir=None if args.quick else default_cache_dir(), jobs=args.jobs)
    except UsageError as exc:
        print(f"gal: error: {exc}", file=sys.stderr)
        return 2
    report()
    print(f"gal: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
