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

from activegan import results as stats
from activegan.loop import ExperimentConfig, GanOptions, TrainOptions
from activegan.results import read_curves, summarize
from benchmarks.published import POSTER_PROTOCOL
from benchmarks import experiments, published, reporting, tables

STRATEGIES = ["random", "entropy", "gan-entropy-match", "gan-entropy-model"]
NAME = "mnist-loop"
GENERATED = ("gan-entropy-match", "gan-entropy-model")


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


def poster_check(results_root: Path, rows: list[dict]) -> str | None:
    """Do random and entropy here repeat the poster benchmark's 5-epoch rows exactly?"""
    other = results_root / "mnist-poster" / "epochs-5" / "curves.csv"
    if not other.exists():
        return None
    theirs = {(r["strategy"], r["seed"], r["round"]): r["accuracy"] for r in read_curves(other)}
    pairs = [(r["accuracy"], theirs.get((r["strategy"], r["seed"], r["round"]))) for r in rows if r["strategy"] in ("random", "entropy")]
    pairs = [(a, b) for a, b in pairs if b is not None]
    if not pairs:
        return None
    same = sum(abs(a - b) < 1e-6 for a, b in pairs)
    return (f"Random and entropy are the same runs as the poster benchmark's 5-epoch ones: {same} of {len(pairs)} "
            "rounds give the identical test accuracy (same seeds, same initial weights per round, one thread).")


def generator_words(cfg: ExperimentConfig) -> str:
    return (f"the DCGAN `{cfg.gan.checkpoint}` for every seed" if cfg.gan.checkpoint else
            f"one DCGAN per seed (width {cfg.gan.ngf}, trained {cfg.gan.epochs or 5} epochs on the pool images, cached)")


def render(rep: tables.Report) -> str:
    cfg = rep.cfgs[""]
    results = rep.out
    progress = reporting.read_json_if(results / "progress.json")
    judge_epochs = (rep.run or {}).get("reference_epochs")
    judge = f" trained {judge_epochs} epochs" if judge_epochs else ""
    lines = [
        "# Generated queries in the loop, MNIST" + (" (quick mode: digits)" if rep.quick else ""),
        "",
        f"{', '.join(published.display_name(s) for s in cfg.strategies)}; {len(cfg.seeds)} seeds, {cfg.initial} class-balanced "
        f"initial labels + {cfg.rounds} rounds × {cfg.query_size} (up to {published.budget(cfg)} labels), the poster's MNIST CNN "
        f"retrained from scratch for {cfg.train.epochs} epochs each round; pool strategies score a random subset of {cfg.subset:,} "
        f"unlabeled images per round. GAN strategies use {generator_words(cfg)}: each round {cfg.gan.candidates:,} z ~ U(−1, 1)^100 "
        f"are drawn, the generated images scored by entropy under the current classifier, and the top {cfg.query_size} kept "
        f"(near-duplicates above pixel cosine {cfg.gan.dedup} skipped). `match`: each is replaced by its nearest unlabeled pool "
        f"image ({cfg.gan.match_features}, faiss, never twice) whose true label is revealed. `model` — a **privileged oracle**: a "
        f"reference CNN{judge} on the labels of the whole pool labels the generated image if its confidence is ≥ "
        f"{cfg.gan.model_threshold}, otherwise it is rejected; either way it costs one label. No real user has a classifier "
        "trained on every label of the pool, so `gan-*-model` is an upper bound, not a method.",
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        *tables.run_bullets(rep),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format), [config.json](config.json), "
        "[progress.json](progress.json), [run.json](run.json).",
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = published.complete_rows(read_curves(results / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if not summary:
        return "\n".join(lines + ["Running: no strategy has finished all its seeds yet."])
    seed_aulc = stats.per_seed_aulc(rows)
    lines += ["## AULC and final accuracy", "", tables.strategy_table(summary, seed_aulc), "", tables.LABELS_NOTE, ""]
    missing = [s for s in cfg.strategies if s not in summary]
    if missing:
        lines += [f"Not finished yet: {', '.join(missing)}.", ""]
    lines += ["![learning curves](learning_curves.png)", ""]

    lines += ["## Generated against pool queries and random", ""]
    for gen in GENERATED:
        for base in ("entropy", "random"):
            g = stats.paired_gap(seed_aulc, gen, base)
            if g:
                word = ("not separated from" if not stats.separated(g) else "above" if g["mean"] > 0 else "below")
                lines.append(f"- {published.display_name(gen)} vs {base}: AULC {g['mean']:+.4f} (per seed "
                             f"{', '.join(f'{x:+.4f}' for x in g['per_seed'])}; ahead in {g['wins']} of {g['n']} seeds; paired "
                             f"t-test {reporting.p_words(g['p'])}, 95 % interval {reporting.fmt_ci(g['ci'])}: {word} {base}).")
    acc = (rep.run or {}).get("model_oracle")
    if acc:
        lines.append(f"- The privileged oracle accepted {acc['accepted']} of the {acc['asked']} generated images it was asked about "
                     f"({acc['accepted'] / max(acc['asked'], 1):.0%}); the rest were rejected and still cost their label.")
    check = poster_check(experiments_root(results), rows)
    if check:
        lines += ["", check]
    lines.append("")
    for s in GENERATED:
        if (results / f"queries_{s}.png").exists():
            lines += [f"First rounds' generated queries of {published.display_name(s)}, seed {cfg.seeds[0]}: ![{s}](queries_{s}.png)", ""]
    if (results / "matched_gan-entropy-match.png").exists():
        lines += ["The pool images the match oracle took for them, cell for cell: ![matched](matched_gan-entropy-match.png)", ""]
    if not rep.quick:
        lines += ["## Continue", "", tables.continue_text(rep.cmd, f"runs/bench/{rep.state.name}.log")]
    return "\n".join(lines)


def experiments_root(out: Path) -> Path:
    """docs/results for docs/results/gan/<run>; the folder above otherwise."""
    return out.parent.parent if out.parent.name == "gan" else out.parent


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
