"""Acquisition against random under each dataset's default learner and representation (issue: acquisition
that beats random; coverage first, uncertainty after).

    python -m benchmarks.acquisition                    # MNIST → docs/results/acquisition/mnist/
    python -m benchmarks.acquisition --dataset cifar10  # → docs/results/acquisition/cifar10/
    python -m benchmarks.acquisition --only random,typiclust --seeds 5 --jobs 2   # the strategies the machine allows
    python -m benchmarks.acquisition --resume           # continue an interrupted run
    python -m benchmarks.acquisition --only entropy --add   # add a strategy to the published run (same first labels)
    python -m benchmarks.acquisition --report-only      # rewrite the results from the rounds done
    python -m benchmarks.acquisition --quick            # < 1 min on digits, for the smoke test

One experiment per dataset (``default``): what ``activegan run`` does with no option (learner ``auto``,
representation ``auto``, typical first labels), so every strategy shares its seeds' first labels and is
compared with random paired by seed. Budgets 10, 20, 30, 40, 60, 100, 250 (CIFAR-10 also 500): the budgets
users meet. Settings of the strategies (δ, clusters, switch point) are chosen without labels or on the
validation split (docs/results/acquisition/tuning-cifar10.md); the test set gives only the reported numbers.
"""

from __future__ import annotations

import argparse
import sys

from activegan.loop import ExperimentConfig
from benchmarks import experiments, reporting
from benchmarks.acquisition_report import render, write_overview

BUDGETS = {"mnist": [10, 20, 30, 40, 60, 100, 250], "cifar10": [10, 20, 30, 40, 60, 100, 250, 500], "digits": [5, 10, 15, 20]}
# In the order their units run: the coverage strategies and the switch first, uncertainty last (margin and entropy
# under the same learner are also in docs/results/label-efficiency/cifar10/, another label schedule).
STRATEGIES = ["random", "typiclust", "probcover", "switch", "diverse-margin", "margin", "entropy"]


def configs(args) -> dict[str, ExperimentConfig]:
    dataset = "digits" if args.quick else args.dataset
    strategies = [s for s in STRATEGIES if not args.only or s in args.only.split(",")]
    if args.quick:  # random, the default and the switch: the smoke test's minute
        from activegan.active import DEFAULT_STRATEGY

        strategies = [s for s in dict.fromkeys(["random", DEFAULT_STRATEGY, "switch"]) if s in strategies]
    cfg = ExperimentConfig(dataset=dataset, strategies=strategies, seeds=[0] if args.quick else list(range(args.seeds)),
                           budgets=BUDGETS[dataset])
    return {"default": cfg.resolved()}



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--only", help=f"comma list: run only these strategies (default all: {', '.join(STRATEGIES)})")


BENCHMARK = experiments.Benchmark(
    module="acquisition", doc=__doc__, add_arguments=add_arguments, configs=configs, load=experiments.load_data, render=render,
    name=lambda args: "acquisition-" + ("digits" if args.quick else args.dataset),
    default_out=lambda name: reporting.RESULTS / "acquisition" / name.removeprefix("acquisition-"),
    index_root=lambda out: out.parent.parent, after_publish=lambda state, out: write_overview(out.parent.parent))


def main(argv: list[str] | None = None) -> int:
    return experiments.main(BENCHMARK, sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(main())
