"""The poster's comparison: random against its five acquisition functions, at few and many epochs.

    python benchmarks/poster.py --dataset mnist            # → docs/results/mnist-poster/   (hours)
    python benchmarks/poster.py --dataset mnist --resume   # continue an interrupted run
    python benchmarks/poster.py --dataset cifar10          # → docs/results/cifar10-poster/
    python benchmarks/poster.py --dataset mnist --report-only   # rewrite the results from the rounds done
    python benchmarks/poster.py --quick                    # < 1 min on digits, for the smoke test

One experiment per epoch setting (``epochs-5/``, ``epochs-50/``), each with its own curves.csv
and summary.json in the core format; the README states the poster's four conclusions with
the measured numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import experiments
import reporting

from activegan.acquisition import POSTER_STRATEGIES
from activegan.errors import UsageError
from activegan.experiment import ExperimentConfig, read_curves, summarize

STRATEGIES = ["random", *POSTER_STRATEGIES]
# Label budgets the shared 2-core machine can finish in a few sessions (see the README).
BUDGETS = {
    "mnist": dict(initial=20, query_size=10, rounds=20, subset=2000),
    "cifar10": dict(initial=100, query_size=50, rounds=6, subset=2000),
}
# Fewer rounds where an epoch setting costs too much for the machine: {dataset: {epochs: rounds}}.
# MNIST at 50 epochs: 20 rounds would take about 3.6 h on one core, 10 rounds about 1.4 h;
# CIFAR-10 at 50 epochs: 3 rounds (250 labels) instead of 6 (400).
ROUNDS_AT = {"mnist": {50: 10}, "cifar10": {50: 3}}
QUICK = dict(initial=10, query_size=5, rounds=2, subset=200, seeds=[0], epochs=(2, 3))


def configs(dataset: str, quick: bool, epochs: tuple[int, ...], seeds: list[int], rounds_at: dict[int, int] | None = None) -> dict[int, ExperimentConfig]:
    if quick:
        b = {k: QUICK[k] for k in ("initial", "query_size", "rounds", "subset")}
        return {e: ExperimentConfig(dataset="digits", strategies=STRATEGIES, seeds=QUICK["seeds"], epochs=e, **b) for e in QUICK["epochs"]}
    rounds_at = ROUNDS_AT.get(dataset, {}) if rounds_at is None else rounds_at
    return {e: ExperimentConfig(dataset=dataset, strategies=STRATEGIES, seeds=seeds, epochs=e,
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


# Test images per round where evaluating all 10 000 costs more than training: a fixed,
# class-balanced subset (the same for every strategy, seed and round).
TEST_SUBSET = {"cifar10": 2000}


def load(dataset: str, quick: bool, data_dir: Path | None):
    if quick:
        return experiments.quick_data()
    from activegan.data import load_dataset

    default = reporting.SHARED / ("mnist" if dataset == "mnist" else "cifar10-jpeg.zip")
    data = load_dataset(dataset, data_dir or default)
    return experiments.test_subset(data, TEST_SUBSET.get(dataset))


# -- the poster's conclusions -------------------------------------------------------------------


def analyse(results: Path, cfg: ExperimentConfig, upto: int | None = None) -> dict | None:
    """Gap to random and smoothness, from the strategies whose every seed has finished.

    ``upto``: only rounds 0..upto, to compare settings run for different numbers of rounds.
    """
    path = results / "curves.csv"
    if not path.exists():
        return None
    rows = experiments.complete_rows(read_curves(path), cfg.strategies, cfg.seeds, cfg.rounds)
    if upto is not None:
        rows = [r for r in rows if r["round"] <= upto]
    summary = summarize(rows, cfg.strategies) if rows else {}
    seed_aulc = experiments.per_seed_aulc(rows)
    acq = [s for s in POSTER_STRATEGIES if s in summary]
    gaps = {s: summary[s]["aulc_mean"] - summary["random"]["aulc_mean"] for s in acq} if "random" in summary else {}
    smooth = experiments.smoothness(summary)
    return {
        "summary": summary,
        "seed_aulc": seed_aulc,
        "gaps": gaps,
        "mean_gap": float(np.mean(list(gaps.values()))) if gaps else None,
        "smoothness": smooth,
        "mean_second_diff": float(np.mean([v["mean_abs_second_diff"] for v in smooth.values()])) if smooth else None,
        "mean_reversals": float(np.mean([v["reversal_share"] for v in smooth.values()])) if smooth else None,
        "complete": len(summary) == len(cfg.strategies),
    }


def verdict(ok: bool | None) -> str:
    return {True: "**holds**", False: "**does not hold**", None: "not measurable yet"}[ok]


def conclusions(an: dict[int, dict | None], other: dict[int, dict | None], dataset: str, other_name: str,
                common: dict[int, dict | None] | None = None, common_labels: int | None = None) -> list[str]:
    """The poster's four conclusions. (b) and (c) compare ``common`` (both settings cut to the
    same rounds) when the settings ran for different numbers of rounds."""
    few, many = min(an), max(an)
    lines = []
    # (a) acquisition beats random
    for e in sorted(an):
        a = an[e]
        if a and a["gaps"]:
            wins = sum(g > 0 for g in a["gaps"].values())
            finished = len(a["gaps"]) == len(POSTER_STRATEGIES)
            said = verdict(wins == len(a["gaps"])) if finished else "not decided yet (not every strategy has finished)"
            if finished and 0 < wins < len(a["gaps"]):
                said += f" for all five; it holds for {wins} of them"
            lines.append(
                f"- **(a) acquisition AULC beats random, {e} epochs:** {wins} of {len(a['gaps'])} finished acquisition functions beat "
                f"random on mean AULC (gaps {', '.join(f'{s} {g:+.4f}' for s, g in a['gaps'].items())}; mean {a['mean_gap']:+.4f}) — {said}."
            )
        else:
            lines.append(f"- **(a) acquisition AULC beats random, {e} epochs:** not measurable yet (random and at least one acquisition function must finish all seeds).")
    cmp = common or an
    upto = f" (both up to {common_labels} labels, the budget of the shorter setting)" if common else ""
    # (b) gap shrinks with epochs
    gf, gm = (cmp[few] or {}).get("mean_gap"), (cmp[many] or {}).get("mean_gap")
    if few == many:  # one epoch setting run: nothing to compare across epochs
        gf = gm = None
    if gf is not None and gm is not None:
        lines.append(f"- **(b) the gap shrinks as epochs grow{upto}:** mean gap {gf:+.4f} at {few} epochs, {gm:+.4f} at {many} — {verdict(gm < gf)}"
                     + ("" if cmp[few]["complete"] and cmp[many]["complete"] else " (partial: not every strategy has finished)") + ".")
    else:
        lines.append(f"- **(b) the gap shrinks as epochs grow:** not measurable yet (needs both {few} and {many} epochs).")
    # (c) smoother with more epochs
    sf, sm = (cmp[few] or {}).get("mean_second_diff"), (cmp[many] or {}).get("mean_second_diff")
    if few == many:
        sf = sm = None
    if sf is not None and sm is not None:
        rf, rm = cmp[few]["mean_reversals"], cmp[many]["mean_reversals"]
        lines.append(
            f"- **(c) curves are smoother with more epochs{upto}:** mean |second difference| of the seed-mean curves {sf:.4f} at {few} epochs, "
            f"{sm:.4f} at {many}; share of rounds where the seed-mean accuracy fell {rf:.0%} → {rm:.0%} — {verdict(sm < sf)}."
        )
    else:
        lines.append(f"- **(c) curves are smoother with more epochs:** not measurable yet (needs both {few} and {many} epochs).")
    # (d) gap smaller on CIFAR-10 than on MNIST
    parts = []
    for e in sorted(an):
        mine, theirs = (an[e] or {}).get("mean_gap"), (other.get(e) or {}).get("mean_gap")
        if mine is not None and theirs is not None:
            g_m, g_c = (mine, theirs) if dataset == "mnist" else (theirs, mine)
            parts.append(f"{e} epochs: MNIST {g_m:+.4f}, CIFAR-10 {g_c:+.4f} — {verdict(g_c < g_m)}")
    if parts:
        lines.append("- **(d) the gap is smaller on CIFAR-10 than on MNIST** (different label budgets; see both READMEs): " + "; ".join(parts) + ".")
    else:
        lines.append(f"- **(d) the gap is smaller on CIFAR-10 than on MNIST:** not measurable yet (needs the {other_name} results too).")
    return lines


def budget_text(dataset: str, cfgs: dict[int, ExperimentConfig], speed_json: Path) -> str:
    """The label budget, and for MNIST the time it should take, estimated from the speed benchmark."""
    cfg0 = next(iter(cfgs.values()))
    units = len(cfg0.strategies) * len(cfg0.seeds)
    text = (
        "Label budget: " + "; ".join(
            f"{c.initial} + {c.rounds} × {c.query_size} = {c.initial + c.rounds * c.query_size} labels at {e} epochs "
            f"({units * (c.rounds + 1)} rounds)" for e, c in cfgs.items())
        + " — each round retrains on every label so far and evaluates the test set; chosen so that the shared "
        "2-core machine can finish every setting."
    )
    if dataset != "mnist" or not speed_json.exists():
        return text
    sp = reporting.read_json(speed_json)
    rnd = sp.get("round")
    if not rnd:
        return text
    per_label_epoch = float(np.mean([v["train_s"] / (rnd["epochs"] * np.mean(v["n_labeled"])) for v in rnd["per_strategy"].values()]))
    fixed = rnd["test"] / sp["scoring"][0]["images_per_s"] + max(v["score_s"] for v in rnd["per_strategy"].values())
    est = {e: units * sum(fixed + per_label_epoch * e * (c.initial + r * c.query_size) for r in range(c.rounds + 1)) for e, c in cfgs.items()}
    return text + (
        " Estimated from the [speed benchmark](../speed/README.md) (test evaluation + scoring per round, training time "
        "proportional to epochs × labels): " + ", ".join(f"{reporting.fmt_seconds(v)} at {e} epochs" for e, v in est.items()) + "."
    )


def render(name: str, dataset: str, cfgs: dict[int, ExperimentConfig], results: Path, runlog: dict | None, quick: bool, cmd: str) -> str:
    other_name = "cifar10" if dataset == "mnist" else "mnist"
    an = {e: analyse(results / f"epochs-{e}", cfg) for e, cfg in cfgs.items()}
    other_cfgs = configs(other_name, False, tuple(cfgs), next(iter(cfgs.values())).seeds) if not quick else {}
    other = {e: analyse(results.parent / f"{other_name}-poster" / f"epochs-{e}", c) for e, c in other_cfgs.items()}
    cfg0 = next(iter(cfgs.values()))
    shortest = min(c.rounds for c in cfgs.values())
    common = None
    if any(c.rounds != shortest for c in cfgs.values()):
        common = {e: analyse(results / f"epochs-{e}", cfg, upto=shortest) for e, cfg in cfgs.items()}
    inv = (runlog or {}).get("invocations", [])
    progress = {e: reporting.read_json(results / f"epochs-{e}" / "progress.json") if (results / f"epochs-{e}" / "progress.json").exists() else None for e in cfgs}
    status = []
    for e, p in progress.items():
        if p is None:
            status.append(f"{e} epochs: not run yet")
        else:
            status.append(f"{e} epochs: {'complete' if p['complete'] else 'partial'}, {p['rounds_done']} of {p['rounds_total']} rounds")
    lines = [
        f"# The poster's comparison on {dataset.upper() if dataset == 'mnist' else 'CIFAR-10'}" + (" (quick mode: digits)" if quick else ""),
        "",
        f"Random sampling against the poster's five acquisition functions ({', '.join(POSTER_STRATEGIES)}), "
        f"{len(cfg0.seeds)} seeds, {cfg0.initial} class-balanced initial labels + "
        + "; ".join(f"{c.rounds} rounds × {c.query_size} (up to {c.initial + c.rounds * c.query_size} labels) at {e} epochs" for e, c in cfgs.items())
        + f", a random subset of {cfg0.subset:,} unlabeled images "
        f"scored per round, the classifier retrained from scratch each round for **{' and '.join(str(e) for e in cfgs)} epochs** "
        f"(one experiment each), density on pixels with k = {cfg0.density_k}"
        + (f"; test accuracy on a fixed class-balanced subset of {TEST_SUBSET[dataset]:,} of the 10 000 test images "
           "(evaluating all of them each round would cost more than the training)" if dataset in TEST_SUBSET and not quick else "") + ".",
        "",
        f"- Status: {'; '.join(status)}.",
        f"- Command: `{cmd}` (continue with `--resume`).",
        reporting.dates_bullet(inv, ' (heartbeat every 30 s, from `runs/bench/` run log)'),
        reporting.machine_bullet(inv),
        "- Layout: `epochs-<E>/` holds each experiment's `curves.csv`, `summary.json` (the core format, all rounds done so far), "
        "`config.json`, `progress.json` and `learning_curves.png`. Tables below use only strategies whose every seed has finished.",
        "",
    ]
    if not quick and dataset in BUDGETS:
        lines += [budget_text(dataset, cfgs, results.parent / "speed" / "speed.json"), ""]
    common_labels = cfg0.initial + shortest * cfg0.query_size
    lines += ["## Conclusions of the poster, with our numbers", ""] + conclusions(an, other, dataset, other_name, common, common_labels) + [
        "",
        "Gap = AULC of an acquisition function − AULC of random (seed means). Smoothness = mean absolute second difference",
        "of the seed-mean accuracy curve over rounds (0 for a straight line), averaged over the six strategies; reversals =",
        "share of rounds in which the seed-mean accuracy fell.",
        "",
    ]
    for e, a in an.items():
        lines += [f"## {e} epochs", ""]
        if not a or not a["summary"]:
            lines += ["Not run yet." if progress[e] is None else "Running: no strategy has finished all its seeds yet.", ""]
            continue
        extra = {"headers": ["mean |Δ²acc|", "reversals"]}
        for s, v in a["smoothness"].items():
            extra[s] = [f"{v['mean_abs_second_diff']:.4f}", f"{v['reversal_share']:.0%}"]
        missing = [s for s in cfgs[e].strategies if s not in a["summary"]]
        lines += [experiments.strategy_table(a["summary"], a["seed_aulc"], extra), ""]
        if missing:
            lines += [f"Not finished yet: {', '.join(missing)}.", ""]
        lines += [f"Raw data: [curves.csv](epochs-{e}/curves.csv), [summary.json](epochs-{e}/summary.json). ",
                  "", f"![learning curves, {e} epochs](epochs-{e}/learning_curves.png)", ""]
    if not quick:
        lines += ["## Continue", "", experiments.continue_text(cmd, f"runs/bench/{name}.log")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(BUDGETS), default="mnist")
    p.add_argument("--quick", action="store_true", help="tiny run on digits (< 1 min), for the smoke test")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from runs/bench/")
    p.add_argument("--report-only", action="store_true", help="rewrite the results folder from the rounds done; no training")
    p.add_argument("--epochs", default="5,50", help="comma list of epoch settings, one experiment each (default 5,50)")
    p.add_argument("--rounds-at", type=parse_rounds_at, default=None,
                   help="EPOCHS:ROUNDS pairs that shorten an epoch setting (default: mnist 50:10, cifar10 50:3; '' for none)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--data-dir", type=Path, help="default ../shared/datasets/mnist or ../shared/datasets/cifar10-jpeg.zip")
    p.add_argument("--out", type=Path, help="results folder (default docs/results/<dataset>-poster; quick: runs/bench-quick/mnist-poster)")
    p.add_argument("--state", type=Path, help="resumable state (default runs/bench/<name>)")
    args = p.parse_args(argv)
    argv_used = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--resume", "--report-only")]
    name = f"{'digits' if args.quick else args.dataset}-poster"
    out = args.out or (reporting.REPO / "runs" / "bench-quick" / name if args.quick else reporting.RESULTS / name)
    state = args.state or (out.parent / "_state" / name if args.quick else reporting.STATE / name)
    epochs = tuple(int(e) for e in args.epochs.split(","))
    cfgs = configs(args.dataset, args.quick, epochs, list(range(args.seeds)), args.rounds_at)
    cmd = reporting.command("poster.py", argv_used)
    runlog_path = state / "runlog.json"

    def report():
        for e, cfg in cfgs.items():
            experiments.publish(cfg, state / f"epochs-{e}", out / f"epochs-{e}")
        runlog = reporting.read_json(runlog_path) if runlog_path.exists() else None
        reporting.write_readme(out / "README.md", render(name, args.dataset, cfgs, out, runlog, args.quick, cmd))
        import index

        index.write_index(out.parent)

    if args.report_only:
        cfgs = {e: experiments.as_run(cfg, state / f"epochs-{e}") for e, cfg in cfgs.items()}
        report()
        return 0
    started = any((state / f"epochs-{e}" / "config.json").exists() for e in cfgs)
    if not experiments.prepare_state("poster", state, started, args.quick, args.resume):
        return 2
    reporting.one_thread()
    from activegan.data import default_cache_dir

    try:
        with reporting.RunLog(runlog_path, cmd + (" --resume" if args.resume else "")) as log:
            log.entry["machine"] = reporting.machine()
            data = load(args.dataset, args.quick, args.data_dir)
            for e, cfg in cfgs.items():
                exp_state = state / f"epochs-{e}"
                experiments.run(cfg, data, exp_state, resume=args.resume, cache_dir=None if args.quick else default_cache_dir())
                report()
    except UsageError as exc:
        print(f"poster: error: {exc}", file=sys.stderr)
        return 2
    print(f"poster: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
