"""Generated queries in the loop on MNIST: gan-entropy-match and gan-entropy-model against entropy and random.

    python -m benchmarks.gan_loop --gan runs/gan-mnist-64/checkpoint.pt   # → docs/results/gan/mnist-loop/
    python -m benchmarks.gan_loop --gan ... --resume                       # continue an interrupted run
    python -m benchmarks.gan_loop --gan ... --report-only                  # rewrite the results from the rounds done
    python -m benchmarks.gan_loop --quick                                  # < 1 min on digits, for the smoke test

The budget is the poster benchmark's MNIST one at 5 epochs (20 class-balanced labels + 20
rounds × 10, 2 000-image subset scored per round, 3 seeds), so random and entropy here can be
checked against ``docs/results/mnist-poster/epochs-5``. One trained DCGAN (``--gan``) serves
every seed; without ``--gan`` the loop trains one per seed (5 epochs each, cached).
``gan-entropy-model`` is labelled by a *privileged oracle*: a CNN trained on the labels of the
whole pool, an upper bound that a real user does not have.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from activegan.loop import ExperimentConfig, GanOptions, TrainOptions
from benchmarks.published import POSTER_PROTOCOL
from benchmarks import experiments, reporting
from benchmarks.gan_loop_report import experiments_root, render

STRATEGIES = ["random", "entropy", "gan-entropy-match", "gan-entropy-model"]
NAME = "mnist-loop"


def config(args) -> ExperimentConfig:
    if args.quick:
        return ExperimentConfig(**POSTER_PROTOCOL, dataset="digits", strategies=STRATEGIES, seeds=[0], initial=10, query_size=5, rounds=2, subset=100,
                                train=TrainOptions(epochs=1), gan=GanOptions(epochs=1, ngf=8, ndf=8, candidates=200, dedup=1.0))
    return ExperimentConfig(**POSTER_PROTOCOL, dataset="mnist", strategies=STRATEGIES, seeds=list(range(args.seeds)), initial=20, query_size=10,
                            rounds=20, subset=2000, train=TrainOptions(epochs=5),
                            gan=GanOptions(ngf=args.ngf, ndf=args.ngf, checkpoint=None if args.gan is None else str(args.gan)))


def model_oracle_acceptance(state: Path, cfgs: dict[str, ExperimentConfig]) -> dict:
    """{"model_oracle": {"accepted", "asked"}}: generated images the privileged oracle accepted, and
    labels spent on generated images, summed over seeds (from the run's state; {} if it has none)."""
    from activegan.experiment import load_state

    cfg = cfgs[""]
    accepted = asked = 0
    found = False
    for seed in cfg.seeds:
        for s in cfg.strategies:
            if not s.endswith("-model"):
                continue
            st = load_state(experiments.state_of(state, ""), s, seed)
            if st and "synthetic_x" in st:
                found = True
                accepted += len(st["synthetic_x"])
                asked += int(st["synthetic_spent"])
    return {"model_oracle": {"accepted": accepted, "asked": asked}} if found else {}


def copy_query_grids(state: Path, out: Path) -> None:
    for png in experiments.state_of(state, "").glob("*_gan-*.png"):
        shutil.copy(png, out / png.name)


def load(args):
    if args.quick:
        return experiments.quick_data()
    from activegan.data import load_dataset

    return load_dataset("mnist", args.data_dir)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gan", type=Path, help="a trained DCGAN checkpoint for every seed (default: train one per seed)")
    p.add_argument("--ngf", type=int, default=64, help="generator/discriminator width when training per seed (default 64)")


def judge_epochs(args, cfgs) -> dict:
    from activegan.gan.judge import default_reference_config

    return {"reference_epochs": default_reference_config(cfgs[""].dataset).epochs}  # the privileged oracle's judge


BENCHMARK = experiments.Benchmark(
    module="gan_loop",
    doc=__doc__,
    add_arguments=add_arguments,
    name=lambda args: "digits-loop" if args.quick else NAME,
    default_out=lambda name: reporting.RESULTS / "gan" / name,
    configs=lambda args: {"": config(args)},
    load=load,
    render=render,
    data_dir=reporting.SHARED / "mnist",
    log_extra=judge_epochs,
    run_extra=model_oracle_acceptance,
    after_publish=copy_query_grids,
    index_root=experiments_root,
)


def main(argv: list[str] | None = None) -> int:
    return experiments.main(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
