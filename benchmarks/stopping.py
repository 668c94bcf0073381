"""Knowing when to stop: the accuracy estimate made without a test set, and the stop signal, judged against the test set.

    python -m benchmarks.stopping --quick                                 # < 2 min on digits, for the smoke test
    python -m benchmarks.stopping --dataset digits --seeds 5              # → docs/results/stopping/digits/
    python -m benchmarks.stopping --dataset mnist --seeds 5 --jobs 2      # → docs/results/stopping/mnist/
    python -m benchmarks.stopping --dataset cifar10 --seeds 5 --jobs 2    # → docs/results/stopping/cifar10/
    python -m benchmarks.stopping --dataset mnist --report-only           # rewrite from the rounds done
    python -m benchmarks.stopping --from-acquisition cifar10              # judge the acquisition benchmark's runs

The default learner, representation and first labels (``ExperimentConfig()``'s) at 10, 20, 30, 40, 60, 80, 100, 150, 200
and 250 labels; the default strategy (``activegan.active.DEFAULT_STRATEGY``) and random sampling in ``pool/``, the
default strategy with a 20 % audit in ``audit/`` (the digits run of 2026-12-06 used margin, then the default: its
config.json says so). Every number is read from the runs' curves.csv (columns estimate, estimate_low, estimate_high, stop) and,
where this checkout holds the runs' state, from the estimate's records (window_sweep.csv: the estimate recomputed with
other windows, which chose ``activegan.stopping.WINDOW``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from activegan.active import DEFAULT_STRATEGY
from activegan.loop import ExperimentConfig
from activegan.results import read_curves
from benchmarks import changes, experiments, reporting
from benchmarks.tables import Report, run_bullets

BUDGETS = [10, 20, 30, 40, 60, 80, 100, 150, 200, 250]
QUICK_BUDGETS = [10, 20, 30, 40, 60]
EXPERIMENTS = {"pool": {"strategies": [DEFAULT_STRATEGY, "random"]}, "audit": {"strategies": [DEFAULT_STRATEGY], "audit": 0.2}}
FROM = 50  # the estimate's aims count rounds from this many labels on
AIM_ERROR, AIM_COVER, EARLY, LATE = 0.02, 0.85, 0.98, 0.99  # LATE: at most 20 % of the budget after 99 %
WINDOWS = (1, 2, 3, 5, None)


def configs(args) -> dict[str, ExperimentConfig]:
    dataset = "digits" if args.quick else args.dataset
    return {sub: ExperimentConfig(dataset=dataset, seeds=[0] if args.quick else list(range(args.seeds)),
                                  budgets=QUICK_BUDGETS if args.quick else BUDGETS, **kw).resolved()
            for sub, kw in EXPERIMENTS.items()}



# -- measures -----------------------------------------------------------------------------------------------


def curves(rows: list[dict], strategy: str) -> dict[int, list[dict]]:
    """seed → its rows in round order (rows without the estimate, from runs before it, are left out)."""
    out: dict[int, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["seed"], r["round"])):
        if r["strategy"] == strategy and "estimate" in r:
            out.setdefault(r["seed"], []).append(r)
    return out


def first_at(curve: list[dict], share: float) -> int:
    """Labels at which the test accuracy first reaches ``share`` of its final value."""
    final = curve[-1]["accuracy"]
    return next(r["n_labeled"] for r in curve if r["accuracy"] >= share * final - 1e-12)


def judge(rows: list[dict], strategy: str) -> dict | None:
    """Per round and per seed: estimate − test accuracy, interval coverage, where the signal fired; the aims."""
    by_seed = curves(rows, strategy)
    if not by_seed:
        return None
    later = [r for c in by_seed.values() for r in c if r["n_labeled"] >= FROM]
    err = np.array([r["estimate"] - r["accuracy"] for r in later])
    cover = np.array([r["estimate_low"] <= r["accuracy"] <= r["estimate_high"] for r in later])
    pooled = [r for r in later if "pool_accuracy" in r]  # what it estimates: the unlabeled pool's accuracy
    pool_err = np.array([r["estimate"] - r["pool_accuracy"] for r in pooled])
    pool_cover = np.array([r["estimate_low"] <= r["pool_accuracy"] <= r["estimate_high"] for r in pooled])
    seeds = []
    for seed, c in by_seed.items():
        budget, fired = c[-1]["n_labeled"], next((r for r in c if r.get("stop") == 1), None)
        n98, n99 = first_at(c, EARLY), first_at(c, LATE)
        stop = fired["n_labeled"] if fired else None
        ok = stop is not None and n98 <= stop <= n99 + 0.2 * budget
        seeds.append({"seed": seed, "stop": stop, "n98": n98, "n99": n99, "budget": budget, "ok": ok,
                      "lost": c[-1]["accuracy"] - fired["accuracy"] if fired else 0.0, "saved": budget - stop if fired else 0,
                      "reason": fired["stop_reason"] if fired else "did not fire"})
    return {"err": err, "cover": cover, "seeds": seeds, "by_seed": by_seed, "pool_err": pool_err, "pool_cover": pool_cover,
            "aim_error": bool(len(err)) and bool(np.all(np.abs(err) <= AIM_ERROR + 1e-12)),
            "aim_cover": bool(len(cover)) and cover.mean() >= AIM_COVER, "aim_stop": all(s["ok"] for s in seeds)}


def per_round(j: dict) -> list[list]:
    """Rows of the per-round table: labels, test accuracy, estimate, their difference (mean ± std over seeds), coverage."""
    curves_ = list(j["by_seed"].values())
    length = min(len(c) for c in curves_)
    out = []
    for i in range(length):
        rs = [c[i] for c in curves_]
        acc, est = np.array([r["accuracy"] for r in rs]), np.array([r["estimate"] for r in rs])
        width = np.mean([r["estimate_high"] - r["estimate_low"] for r in rs])
        covered = sum(r["estimate_low"] <= r["accuracy"] <= r["estimate_high"] for r in rs)
        kappa = np.nanmean([r["stop_kappa"] for r in rs]) if i else float("nan")
        pool = np.array([r.get("pool_accuracy", np.nan) for r in rs])
        out.append([rs[0]["n_labeled"], f"{acc.mean():.4f}", f"{est.mean():.4f}", f"{(est - acc).mean():+.4f} ± {(est - acc).std():.4f}",
                    "–" if np.isnan(pool).any() else f"{pool.mean():.4f} ({(est - pool).mean():+.4f})",
                    f"{width:.3f}", f"{covered} of {len(rs)}", "–" if np.isnan(kappa) else f"{kappa:.4f}",
                    f"{sum(r.get('stop') == 1 for r in rs)} of {len(rs)}"])
    return out


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def aims_lines(j: dict, label: str) -> list[str]:
    err, cover, seeds = j["err"], j["cover"], j["seeds"]
    within = float((np.abs(err) <= AIM_ERROR + 1e-12).mean()) if len(err) else float("nan")
    on_time = sum(s["ok"] for s in seeds)
    early = sum(s["stop"] is not None and s["stop"] < s["n98"] for s in seeds)
    never = sum(s["stop"] is None for s in seeds)
    undecided = sum(s["stop"] is None and s["n99"] + 0.2 * s["budget"] >= s["budget"] for s in seeds)
    return [f"- {label}: estimate within ±{AIM_ERROR * 100:.0f} points of test accuracy from {FROM} labels on in "
            f"{within:.0%} of {len(err)} (seed, round) pairs (mean error {err.mean():+.4f}, mean |error| "
            f"{np.abs(err).mean():.4f}) — {met(j['aim_error'])} (the aim: every pair within).",
            f"- {label}: 90 % interval covers test accuracy in {cover.mean():.0%} of them (aim ≥ {AIM_COVER:.0%}) — "
            f"{met(j['aim_cover'])}.",
            f"- {label}: stop signal between the test curve's {EARLY:.0%} point and 20 % of the budget after its {LATE:.0%} "
            f"point in {on_time} of {len(seeds)} seeds ({early} early, {len(seeds) - on_time - early - never} late, {never} "
            f"did not fire within the budget, {undecided} of them where the aim's deadline lies at or past the budget) — "
            f"{met(j['aim_stop'])}.",
            *([f"- {label}: against the unlabeled pool's accuracy (what it estimates; the simulation's truth), mean error "
               f"{j['pool_err'].mean():+.4f}, mean |error| {np.abs(j['pool_err']).mean():.4f}, within ±2 points in "
               f"{(np.abs(j['pool_err']) <= AIM_ERROR + 1e-12).mean():.0%}, interval covering it in {j['pool_cover'].mean():.0%}."]
              if len(j["pool_err"]) else [])]


def stop_table(j: dict) -> str:
    return reporting.md_table(
        ["seed", "fired at (labels)", "test reaches 98 % at", "99 % at", "labels saved", "accuracy lost", "within aim", "reason"],
        [[s["seed"], s["stop"] if s["stop"] is not None else "–", s["n98"], s["n99"], s["saved"], f"{s['lost']:+.4f}",
          "yes" if s["ok"] else "no", s["reason"]] for s in j["seeds"]])


# -- the window sweep: the estimate recomputed from the runs' records ---------------------------------------


def window_sweep(state: Path, cfg: ExperimentConfig, sub: str) -> list[dict]:
    """Per strategy and window: error and coverage from FROM labels on, recomputed from the saved records."""
    import torch

    from activegan.experiment import state_path
    from activegan.stopping import difference_estimate, used_records

    out = []
    for strategy in cfg.strategies:
        saved = [torch.load(p, map_location="cpu", weights_only=True) for seed in cfg.seeds
                 if (p := state_path(state, strategy, seed)).exists()]
        saved = [s for s in saved if "stopping" in s]
        for w, weighted in [(w, True) for w in WINDOWS] + [(None, False)]:
            err, cover = [], []
            for s in saved:
                rec = {k: np.asarray(v) for k, v in s["stopping"]["accuracy"].items() if k not in ("rounds", "edges", "shares")}
                for r, (row, (mean, var, n)) in enumerate(zip(s["rows"], s["stopping"]["confidence"])):
                    if row["n_labeled"] < FROM:
                        continue
                    done = rec["round"] < r  # recorded before this round's estimate
                    keep = used_records({k: v[done] for k, v in rec.items()}, r, w, recent=None)
                    conf = rec["conf"][done][keep]
                    weights = rec["weight"][done][keep] if "weight" in rec and weighted else None
                    e = difference_estimate(mean, var, int(n), rec["correct"][done][keep] - conf, weights=weights,
                                            floor=float((conf * (1 - conf)).mean()) if len(conf) else 0.0)
                    err.append(e.value - row["accuracy"])
                    cover.append(e.low <= row["accuracy"] <= e.high)
            if err:
                label = (w or "all") if weighted else "all, unweighted (the estimator before)"
                out.append({"experiment": sub, "strategy": strategy, "window": label, "pairs": len(err),
                            "mean_error": round(float(np.mean(err)), 5), "mean_abs_error": round(float(np.mean(np.abs(err))), 5),
                            "within_2_points": round(float(np.mean(np.abs(np.asarray(err)) <= AIM_ERROR)), 4),
                            "coverage": round(float(np.mean(cover)), 4)})
    return out


def after_publish(state: Path, out: Path) -> None:
    """window_sweep.csv beside each experiment's curves, from the state when this checkout ran it."""
    from benchmarks import published

    for sub in EXPERIMENTS:
        if (state / sub / "config.json").exists() and (rows := window_sweep(state / sub, published.as_run(None, state / sub), sub)):
            reporting.write_rows_csv(out / sub / "window_sweep.csv", rows)


# -- the report ---------------------------------------------------------------------------------------------


def sections(out: Path, cfgs: dict) -> tuple[list[str], list[str]]:
    """(aims bullets, detailed sections) of every experiment and strategy in a results folder."""
    import csv

    aims, detail = [], []
    for sub, cfg in cfgs.items():
        path = out / sub / "curves.csv"
        rows = read_curves(path) if path.exists() else []
        for strategy in cfg.strategies:
            j = judge(rows, strategy)
            label = f"{strategy}" + (f" with a {cfg.audit:.0%} audit" if cfg.audit else "")
            if j is None:
                detail += [f"### {label} (`{sub}/`)", "", "Not run yet.", ""]
                continue
            aims += aims_lines(j, label)
            detail += [f"### {label} (`{sub}/`), {len(j['seeds'])} seeds", "",
                       reporting.md_table(["labels", "test accuracy", "estimate", "estimate − test (mean ± std over seeds)",
                                           "unlabeled-pool accuracy (estimate − it)", "interval width", "interval covers", "κ to last round", "stop fired"], per_round(j)),
                       "", stop_table(j), ""]
        sweep = out / sub / "window_sweep.csv"
        if sweep.exists():
            with open(sweep, newline="") as f:
                srows = list(csv.DictReader(f))
            detail += [f"Window sweep (`{sub}/window_sweep.csv`): the estimate recomputed from the runs' records with the "
                       f"residuals of the last W rounds only, weighted as the estimate weighs them or (the estimator before "
                       f"this one) not, judged against test accuracy from {FROM} labels on — a comparison, not how the "
                       "setting was chosen (that was on the pool's truth, [selection](../selection-cifar10.md)).", "",
                       reporting.md_table(["strategy", "W", "pairs", "mean error", "mean |error|", "within ±2 points", "coverage"],
                                          [[r["strategy"], r["window"], r["pairs"], r["mean_error"], r["mean_abs_error"],
                                            r["within_2_points"], r["coverage"]] for r in srows]), ""]
    return aims, detail


def units(out: Path, cfgs: dict) -> str:
    """'5 distinct first-label sets (recorded)' per experiment folder: the seeds are independent units only if so."""
    from activegan import results as stats

    parts = []
    for sub in cfgs:
        path = out / sub / "curves.csv"
        rows = read_curves(path) if path.exists() else []
        if rows:
            how = "recorded" if stats.recorded_first_labels(rows) else "inferred from equal round-0 accuracies"
            parts.append(f"`{sub}/`: {len(stats.first_label_groups(rows))} distinct first-label sets ({how})")
    return "; ".join(parts)


def fast_learners() -> list[str]:
    """The learners whose estimate cross-validates uniform draws (``LearnerSpec.cross_validates``)."""
    from activegan.learners import LEARNERS

    return [name for name, spec in LEARNERS.items() if spec.cross_validates]


def render(rep: Report) -> str:
    from activegan.monitor import FOLDS
    from activegan.stopping import BINS, GAIN_PER_100, MIN_AUDIT, RECENT, STOP_SET_SIZE, WINDOW

    cfg = next(iter(rep.cfgs.values()))
    aims, detail = sections(rep.out, rep.cfgs)
    return "\n".join([
        f"# Knowing when to stop — {cfg.dataset}" + (" (quick)" if rep.quick else ""), "",
        "Generated by `python -m benchmarks.stopping` from the runs' curves.csv; every number below is read from them.", "",
        f"- Learner {cfg.learner}, features {cfg.features}, first labels {cfg.initial_strategy}; labels "
        f"{', '.join(map(str, cfg.schedule()))}; seeds {', '.join(map(str, cfg.seeds))} ({units(rep.out, rep.cfgs)}).",
        f"- Estimate: mean confidence of the current model on the unlabeled part of the stop set ({STOP_SET_SIZE} pool images, "
        f"the whole pool when smaller) + weighted mean (correct − confidence) of the labels, each predicted before it was "
        f"told, weighted to the stop set's confidence distribution ({BINS} quantile bins) under the model that predicted it "
        f"(window: {'all rounds' if WINDOW is None else f'the last {WINDOW} rounds'}"
        + ("" if RECENT is None else f", back to the first that brings them to {RECENT} labels") + f"; once an audit has {MIN_AUDIT} labels, the audit's labels only, unweighted); "
        f"with a learner that refits fast ({', '.join(fast_learners())}), the labels drawn uniformly from the pool (the audit's, "
        f"the random strategy's) once there are {MIN_AUDIT}, each predicted by the current learner refitted without its fold "
        f"({FOLDS} folds; runs started before 2026-12-07T16:20Z: the recorded predictions); 90 % t interval "
        "(effective count of the weights), the residuals' variance at least the mean c(1 − c) of their confidences. "
        "Never reads the test set. Chosen on the training pool's truth: [../selection-cifar10.md](../selection-cifar10.md).",
        "- Stop: Cohen's κ ≥ 0.99 between successive rounds' predictions on the stop set for 3 rounds, or the estimate "
        f"rising less than {100 * GAIN_PER_100:g} points per 100 labels over the last round while its interval is within "
        "±5 points (runs before 2026-12-06 evening: less than 0.5 point over 3 rounds); judged against the test curve's "
        "first reach of 98 % and 99 % of its final value (per seed).",
        "- Unlabeled-pool accuracy: the simulation's truth on the stop set's unlabeled images (curves.csv "
        "`pool_accuracy`) — what the estimate estimates; it differs from test accuracy where the strategy's labels took "
        "the hard images out of a small pool, or where the learner fits the pool's own images (selftrain's label spreading).",
        *run_bullets(rep), *changes.change_notes(rep.out, rep.cfgs, rep.run, lambda sub: f"`{sub}/` ran"), "",
        "## Aims", "", *(aims or ["Not run yet."]), "", "## Per round", "", *detail,
    ])


def write_front(root: Path) -> None:
    """docs/results/stopping/README.md: each dataset's aims, linking its page."""
    from benchmarks import published

    lines = ["# Knowing when to stop", "",
             "The accuracy estimate without a test set and the stop signal (`activegan.stopping`), judged against the test "
             "set: generated by `python -m benchmarks.stopping`; one folder per dataset.", ""]
    for folder in sorted(p for p in root.iterdir() if (p / "README.md").exists()):
        cfgs = {sub: published.as_run(None, folder / sub) for sub in EXPERIMENTS if (folder / sub / "config.json").exists()}
        aims, _ = sections(folder, cfgs)
        lines += [f"## [{folder.name}]({folder.name}/README.md)", "", *(aims or ["Not run yet."]), ""]
    pages = sorted(root.glob("*-acquisition.md"))
    lines += ["## On the acquisition benchmark's runs", "", *[f"- [{p.stem}]({p.name})" for p in pages], ""] if pages else []
    chosen = sorted(root.glob("selection-*.md"))
    lines += ["## How the estimate and the stop rule were chosen (on the training pool's truth)", "",
              *[f"- [{p.stem}]({p.name})" for p in chosen], ""] if chosen else []
    reporting.write_readme(root / "README.md", "\n".join(lines))


def from_acquisition(dataset: str) -> Path:
    """docs/results/stopping/<dataset>-acquisition.md: the estimate and the stop signal judged on the acquisition
    benchmark's runs (the default learner, every strategy it ran), whose curves carry the estimate's columns."""
    from benchmarks import published

    folder = reporting.RESULTS / "acquisition" / dataset
    cfg = published.as_run(None, folder / "default")
    aims, detail = sections(folder, {"default": cfg})
    run = reporting.read_json_if(folder / "run.json")
    earlier = []  # the same protocol run before on another machine (acquisition/<dataset>/earlier/): read beside this run
    for d in published.earlier_folders(folder):
        old_aims, _ = sections(folder / "earlier", {d.name: published.as_run(None, d)})
        earlier += [f"## Aims on an earlier run: {published.run_label(reporting.read_json(d / 'run.json'))} "
                    f"(`acquisition/{dataset}/earlier/{d.name}/`)", "",
                    *(old_aims or ["No strategy of that run has the estimate's columns."]), ""]
    page = reporting.RESULTS / "stopping" / f"{dataset}-acquisition.md"
    reporting.write_readme(page, "\n".join([
        f"# Knowing when to stop — {dataset}, on the acquisition benchmark's runs", "",
        f"Generated by `python -m benchmarks.stopping --from-acquisition {dataset}` from "
        f"[acquisition/{dataset}/default/curves.csv](../acquisition/{dataset}/default/curves.csv) (their run: "
        f"[acquisition/{dataset}](../acquisition/{dataset}/README.md){', ' + run['started'] if run else ''}); the estimate "
        "and stop columns were computed in those runs from their labels only. The same estimate, stop rule and aims as "
        "the other pages here; strategies without the columns (runs that predate them) are left out.", "",
        f"- Learner {cfg.learner}, features {cfg.features}, first labels {cfg.initial_strategy}; labels "
        f"{', '.join(map(str, cfg.schedule()))}; seeds {', '.join(map(str, cfg.seeds))} ({units(folder, {'default': cfg})}).",
        *changes.change_notes(folder, {"default": cfg}, run, lambda sub: f"`{sub}/` ran"), "",
        "## Aims", "", *(aims or ["No strategy of this run has the estimate's columns."]), "", *earlier,
        "## Per round", "", *detail]))
    return page


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="mnist", choices=["digits", "mnist", "cifar10"])


BENCHMARK = experiments.Benchmark(
    module="stopping", doc=__doc__, add_arguments=add_arguments, configs=configs, load=experiments.load_data, render=render,
    name=lambda args: "stopping-" + ("digits" if args.quick else args.dataset),
    default_out=lambda name: reporting.RESULTS / "stopping" / name.removeprefix("stopping-"),
    after_publish=after_publish, index_root=lambda out: out / "_index")


def main(argv: list[str] | None = None) -> int:
    import shutil

    argv = sys.argv[1:] if argv is None else list(argv)
    if "--from-acquisition" in argv:
        print(from_acquisition(argv[argv.index("--from-acquisition") + 1]))
        write_front(reporting.RESULTS / "stopping")
        return 0
    code = experiments.main(BENCHMARK, argv)
    args = experiments.parser(BENCHMARK).parse_args(argv)
    out = args.out or (experiments.QUICK_ROOT / BENCHMARK.name(args) if args.quick else
                       BENCHMARK.default_out(BENCHMARK.name(args)))
    shutil.rmtree(out / "_index", ignore_errors=True)  # this page is not in the results index (yet)
    if code == 0 and out.parent == reporting.RESULTS / "stopping":
        write_front(out.parent)
    return code


if __name__ == "__main__":
    sys.exit(main())
