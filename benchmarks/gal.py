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

from activegan.loop import ExperimentConfig, TrainOptions
from activegan.active.strategies import POSTER_STRATEGIES
from benchmarks.published import POSTER_PROTOCOL
from benchmarks import experiments, reporting
from benchmarks.gal_report import DEFAULT_TEST_SUBSET, render

ALL_STRATEGIES = ["random", *POSTER_STRATEGIES, "mc-entropy", "bald", "variation-ratios"]
STRATEGIES = ["random", "mc-entropy", "bald", "variation-ratios"]  # the rows of the paper's Table 1


def config(args) -> ExperimentConfig:
    strategies = ALL_STRATEGIES if args.strategies == "all" else args.strategies.split(",")
    if args.quick:
        return ExperimentConfig(**POSTER_PROTOCOL, dataset="digits", strategies=strategies, seeds=[0], initial=10, query_size=5, rounds=2, subset=100,
                                train=TrainOptions(epochs=1), mc_samples=3)
    return ExperimentConfig(**POSTER_PROTOCOL, dataset="mnist", strategies=strategies, seeds=list(range(args.seeds)), initial=20, query_size=10,
                            rounds=args.rounds, subset=2000, train=TrainOptions(epochs=args.epochs, steps=args.steps or None),
                            mc_samples=args.mc_samples)


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
