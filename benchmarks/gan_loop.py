"""Generated queries in the loop on MNIST: gan-entropy-match and gan-entropy-model against entropy and random.

    python benchmarks/gan_loop.py --gan runs/gan-mnist-64/checkpoint.pt   # → docs/results/gan/mnist-loop/
    python benchmarks/gan_loop.py --gan ... --resume                       # continue an interrupted run
    python benchmarks/gan_loop.py --gan ... --report-only                  # rewrite the results from the rounds done
    python benchmarks/gan_loop.py --quick                                  # < 1 min on digits, for the smoke test

The budget is the poster benchmark's MNIST one at 5 epochs (20 class-balanced labels + 20
rounds × 10, 2 000-image subset scored per round, 3 seeds), so random and entropy here can be
checked against ``docs/results/mnist-poster/epochs-5``. One trained DCGAN (``--gan``) serves
every seed; without ``--gan`` the loop trains one per seed (5 epochs each, cached).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import experiments
import reporting

from activegan.errors import UsageError
from activegan.experiment import ExperimentConfig, read_curves, summarize

STRATEGIES = ["random", "entropy", "gan-entropy-match", "gan-entropy-model"]
NAME = "mnist-loop"


def config(quick: bool, seeds: int, gan: Path | None, ngf: int) -> ExperimentConfig:
    if quick:
        return ExperimentConfig(dataset="digits", strategies=STRATEGIES, seeds=[0], initial=10, query_size=5, rounds=2,
                                subset=100, epochs=1, gan_epochs=1, gan_ngf=8, gan_ndf=8, gan_candidates=200, gan_dedup=1.0)
    return ExperimentConfig(dataset="mnist", strategies=STRATEGIES, seeds=list(range(seeds)), initial=20, query_size=10,
                            rounds=20, subset=2000, epochs=5, gan_ngf=ngf, gan_ndf=ngf,
                            gan_checkpoint=None if gan is None else str(gan))


def model_oracle_acceptance(state: Path, cfg: ExperimentConfig) -> dict[int, tuple[int, int]]:
    """Per seed: (generated images the model oracle accepted, labels it spent on generated images)."""
    import torch

    out = {}
    for seed in cfg.seeds:
        path = state / "state" / f"gan-entropy-model__seed{seed}.pt"
        if path.exists():
            st = torch.load(path, weights_only=True)
            if "synthetic_x" in st:
                out[seed] = (len(st["synthetic_x"]), int(st["synthetic_spent"]))
    return out


def poster_check(results: Path, rows: list[dict]) -> str | None:
    """Do random and entropy here repeat the poster benchmark's 5-epoch rows exactly?"""
    other = reporting.RESULTS / "mnist-poster" / "epochs-5" / "curves.csv"
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


def render(cfg: ExperimentConfig, results: Path, state: Path, runlog: dict | None, quick: bool, cmd: str) -> str:
    inv = (runlog or {}).get("invocations", [])
    progress = reporting.read_json(results / "progress.json") if (results / "progress.json").exists() else None
    gan = f"the DCGAN `{cfg.gan_checkpoint}` for every seed" if cfg.gan_checkpoint else (
        f"one DCGAN per seed (width {cfg.gan_ngf}, trained {cfg.gan_epochs or 5} epochs on the pool images, cached)")
    judge_epochs = next((i["reference_epochs"] for i in inv if "reference_epochs" in i), None)
    judge = f" (trained {judge_epochs} epochs on the whole pool)" if judge_epochs else ""
    lines = [
        "# Generated queries in the loop, MNIST" + (" (quick mode: digits)" if quick else ""),
        "",
        f"{', '.join(cfg.strategies)}; {len(cfg.seeds)} seeds, {cfg.initial} class-balanced initial labels + {cfg.rounds} "
        f"rounds × {cfg.query_size} (up to {cfg.initial + cfg.rounds * cfg.query_size} labels), the poster's MNIST CNN retrained "
        f"from scratch for {cfg.epochs} epochs each round; pool strategies score a random subset of {cfg.subset:,} unlabeled "
        f"images per round. GAN strategies use {gan}: each round {cfg.gan_candidates:,} z ~ U(−1, 1)^100 are drawn, the "
        f"generated images scored by entropy under the current classifier, and the top {cfg.query_size} kept (near-duplicates "
        f"above pixel cosine {cfg.gan_dedup} skipped). `match`: each is replaced by its nearest unlabeled pool image "
        f"({cfg.match_features}, faiss, never twice) whose true label is revealed. `model`: the reference classifier{judge} "
        f"labels it if its confidence is ≥ {cfg.model_threshold}, otherwise it is rejected; either way it costs one label.",
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        f"- Command: `{cmd}` (continue with `--resume`).",
        reporting.dates_bullet(inv),
        reporting.machine_bullet(inv),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format), [config.json](config.json), "
        "[progress.json](progress.json).",
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = experiments.complete_rows(read_curves(results / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if not summary:
        return "\n".join(lines + ["Running: no strategy has finished all its seeds yet."])
    seed_aulc = experiments.per_seed_aulc(rows)
    lines += ["## AULC and final accuracy", "", experiments.strategy_table(summary, seed_aulc), ""]
    missing = [s for s in cfg.strategies if s not in summary]
    if missing:
        lines += [f"Not finished yet: {', '.join(missing)}.", ""]
    lines += ["![learning curves](learning_curves.png)", ""]

    lines += ["## Generated against pool queries and random", ""]
    for gen in ("gan-entropy-match", "gan-entropy-model"):
        for base in ("entropy", "random"):
            if gen in seed_aulc and base in seed_aulc:
                d = np.array([seed_aulc[gen][k] - seed_aulc[base][k] for k in cfg.seeds])
                wins = int((d > 0).sum())
                word = "higher" if d.mean() > 0 else "lower"
                lines.append(f"- {gen} vs {base}: AULC {d.mean():+.4f} (per seed {', '.join(f'{x:+.4f}' for x in d)}; "
                             f"{word} on average, ahead in {wins} of {len(d)} seeds).")
    acc = model_oracle_acceptance(state, cfg)
    if acc:
        kept, spent = sum(a for a, _ in acc.values()), sum(b for _, b in acc.values())
        lines.append(f"- The model oracle accepted {kept} of the {spent} generated images it was asked about "
                     f"({kept / max(spent, 1):.0%}); the rest were rejected and still cost their label.")
    check = poster_check(results, rows)
    if check:
        lines += ["", check]
    lines.append("")
    for s in ("gan-entropy-match", "gan-entropy-model"):
        if (results / f"queries_{s}.png").exists():
            lines += [f"First rounds' generated queries of {s}, seed {cfg.seeds[0]}: ![{s}](queries_{s}.png)", ""]
    if (results / "matched_gan-entropy-match.png").exists():
        lines += ["The pool images the match oracle took for them, cell for cell: ![matched](matched_gan-entropy-match.png)", ""]
    if not quick:
        lines += ["## Continue", "", experiments.continue_text(cmd, f"runs/bench/{state.parent.name}.log")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny run on digits (< 1 min), for the smoke test")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from runs/bench/mnist-loop")
    p.add_argument("--report-only", action="store_true", help="rewrite the results folder from the rounds done; no training")
    p.add_argument("--gan", type=Path, help="a trained DCGAN checkpoint for every seed (default: train one per seed)")
    p.add_argument("--ngf", type=int, default=64, help="generator/discriminator width when training per seed (default 64)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=1, help="worker processes, one thread each (default 1)")
    p.add_argument("--data-dir", type=Path, default=reporting.SHARED / "mnist")
    p.add_argument("--out", type=Path, help="results folder (default docs/results/gan/mnist-loop; quick: runs/bench-quick/digits-loop)")
    p.add_argument("--state", type=Path, help="resumable state (default runs/bench/mnist-loop)")
    args = p.parse_args(argv)
    argv_used = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--resume", "--report-only")]
    name = "digits-loop" if args.quick else NAME
    out = args.out or (reporting.REPO / "runs" / "bench-quick" / name if args.quick else reporting.RESULTS / "gan" / NAME)
    state = args.state or (out.parent / "_state" / name if args.quick else reporting.STATE / name)
    cfg = config(args.quick, args.seeds, args.gan, args.ngf)
    cmd = reporting.command("gan_loop.py", argv_used)
    runlog_path = state / "runlog.json"

    def report():
        experiments.publish(cfg, state / "experiment", out)
        for png in (state / "experiment").glob("*_gan-*.png"):
            shutil.copy(png, out / png.name)
        runlog = reporting.read_json(runlog_path) if runlog_path.exists() else None
        reporting.write_readme(out / "README.md", render(cfg, out, state / "experiment", runlog, args.quick, cmd))

    if args.report_only:
        cfg, cmd = experiments.as_run(cfg, state / "experiment"), reporting.recorded_command(runlog_path, cmd)
        report()
        return 0
    if not experiments.prepare_state("gan_loop", state, (state / "experiment" / "config.json").exists(), args.quick, args.resume):
        return 2
    reporting.one_thread()
    from activegan.data import default_cache_dir
    from activegan.reference import default_reference_config

    try:
        with reporting.RunLog(runlog_path, cmd + (" --resume" if args.resume else "")) as log:
            log.entry["machine"] = reporting.machine()
            log.entry["jobs"] = args.jobs
            log.entry["reference_epochs"] = default_reference_config(cfg.dataset).epochs  # the model oracle's judge
            if args.quick:
                data = experiments.quick_data()
            else:
                from activegan.data import load_dataset

                data = load_dataset("mnist", args.data_dir)
            experiments.run(cfg, data, state / "experiment", resume=args.resume,
                            cache_dir=state / "cache" if args.quick else default_cache_dir(), jobs=args.jobs)
    except UsageError as exc:
        print(f"gan_loop: error: {exc}", file=sys.stderr)
        return 2
    report()
    print(f"gan_loop: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
