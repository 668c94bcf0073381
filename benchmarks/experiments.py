"""The experiment benchmarks (poster, gal, gan_loop): one entry point, publishing, shared tables.

``main(benchmark, argv)`` is the command line of all three: the shared options (``--quick``,
``--resume``, ``--report-only``, ``--seeds``, ``--jobs``, ``--data-dir``, ``--out``, ``--state``)
and the one dispatch between a fresh run, a quick run, a resumed run and a report from what is
already there. A benchmark module only describes itself in a ``Benchmark``.

The resumable state (model weights per strategy and seed, the run log) lives under
``runs/bench/`` (git-ignored). The results folder under ``docs/results/`` receives config.json,
curves.csv, summary.json, progress.json, learning_curves.png and run.json (the run's command,
dates, wall time and machine), rebuilt from whatever rounds are done. A report is always written
from the results folder, so ``--report-only`` on a fresh checkout — no state at all — rewrites
every README from what is committed; summaries are recomputed from curves.csv with the library's
``activegan.results.summarize``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from activegan.io import atomic_write_json, atomic_write_text
from activegan.loop import ExperimentConfig, GanOptions, TrainOptions
from activegan.results import aulc, curve_matrix, read_curves, summarize, write_curves
from benchmarks import reporting

QUICK_ROOT = reporting.REPO / "runs" / "bench-quick"

# -- configs: the nested layout, and the flat one of the runs published before the redesign -------

TRAIN_FLAT = ("epochs", "steps", "batch_size", "lr", "batch_norm", "augment", "warm_start", "device")
GAN_FLAT = {"gan_epochs": "epochs", "gan_ngf": "ngf", "gan_ndf": "ndf", "gan_candidates": "candidates",
            "gan_refine_steps": "refine_steps", "gan_step_size": "step_size", "gan_dedup": "dedup",
            "gan_checkpoint": "checkpoint", "match_features": "match_features", "model_threshold": "model_threshold"}


# The poster's and Gal et al.'s protocols: the supervised CNN and class-balanced first labels (what every
# run before the learner option used, whatever today's defaults are).
POSTER_PROTOCOL = {"learner": "cnn", "initial_strategy": "balanced"}


def config_from_dict(d: dict) -> ExperimentConfig:
    """An ExperimentConfig from its config.json: nested (``train``, ``gan``) or the flat layout of
    configs written before the redesign (``epochs``, ``gan_ngf``, ``match_features``, …)."""
    d = {**POSTER_PROTOCOL, **d}
    if "balanced_initial" in d:  # before the initial_strategy option
        d["initial_strategy"] = "balanced" if d.pop("balanced_initial") else "random"
    if "train" in d or "gan" in d:
        train, gan = d.pop("train", None) or {}, d.pop("gan", None) or {}
    else:
        train = {k: d.pop(k) for k in TRAIN_FLAT if k in d}
        gan = {new: d.pop(old) for old, new in GAN_FLAT.items() if old in d}
    return ExperimentConfig(**d, train=TrainOptions(**train), gan=GanOptions(**gan))


def config_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def as_run(cfg: ExperimentConfig, *folders: Path) -> ExperimentConfig:
    """The config the rounds in the first of ``folders`` that has a config.json were run with
    (``cfg`` if none has): a report describes what ran, not the options of the command asking for it."""
    for folder in folders:
        if (folder / "config.json").exists():
            return config_from_dict(reporting.read_json(folder / "config.json"))
    return cfg


def budget(cfg: ExperimentConfig) -> int:
    """Labels at the end of the run."""
    return cfg.initial + cfg.rounds * cfg.query_size


# -- data for the quick modes ------------------------------------------------------------------------


def quick_data():
    """scikit-learn's digits (ships with a dependency): quick modes need no files."""
    from activegan.data import load_dataset

    d = load_dataset("digits")
    return dataclasses.replace(d, x_test=d.x_test[:200], y_test=d.y_test[:200])


def balanced_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of n items of y, n / classes from each class, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = n // len(classes)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per, replace=False) for c in classes]))


def test_subset(data, n: int | None):
    """The dataset with its test set cut to a fixed class-balanced subset of n (unchanged for None)."""
    if not n:
        return data
    keep = balanced_subset(data.y_test, n)
    return dataclasses.replace(data, x_test=data.x_test[keep], y_test=data.y_test[keep])


# -- names in reports ---------------------------------------------------------------------------------


def display_name(strategy: str) -> str:
    """A strategy as reports name it: the ``gan-*-model`` oracle is a CNN trained on the labels of
    the whole pool — an upper bound a real user does not have — so it is named a privileged oracle."""
    return f"{strategy} (privileged oracle)" if strategy.startswith("gan-") and strategy.endswith("-model") else strategy


PRIVILEGED_NOTE = ("*privileged oracle*: `gan-*-model` strategies are labelled by a CNN trained on the labels of the whole "
                   "pool — an upper bound that a real user, who has no such classifier, does not have.")


# -- publishing: state → results folder, or the committed results folder refreshed ---------------------


PUBLISHED = ("config.json", "curves.csv", "summary.json", "progress.json", "learning_curves.png")


def complete_rows(rows: list[dict], strategies: list[str], seeds: list[int], rounds: int) -> list[dict]:
    """Rows of the strategies whose every seed has finished: partial curves are not compared."""
    done = {(r["strategy"], r["seed"]) for r in rows if r["round"] == rounds}
    keep = {s for s in strategies if all((s, seed) in done for seed in seeds)}
    return [r for r in rows if r["strategy"] in keep]


def progress_of(rows: list[dict], cfg: ExperimentConfig) -> dict:
    total = len(cfg.strategies) * len(cfg.seeds) * (cfg.rounds + 1)
    done_units = {(r["strategy"], r["seed"]) for r in rows if r["round"] == cfg.rounds}
    return {
        "rounds_done": len(rows),
        "rounds_total": total,
        "complete": len(rows) == total,
        "complete_strategies": [s for s in cfg.strategies if all((s, seed) in done_units for seed in cfg.seeds)],
    }


def draw(rows: list[dict], cfg: ExperimentConfig, path: Path, partial: bool) -> None:
    """learning_curves.png from finished strategies, named as reports name them."""
    from activegan import plots

    finished = complete_rows(rows, cfg.strategies, cfg.seeds, cfg.rounds)
    if not finished:
        return
    named = [{**r, "strategy": display_name(r["strategy"])} for r in finished]
    order = [display_name(s) for s in cfg.strategies]
    title = f"{cfg.dataset}, {cfg.train.epochs} epochs: test accuracy" + (" (finished strategies)" if partial else "")
    plots.save_learning_curves(summarize(named, order), named, path, title=title)


def publish(cfg: ExperimentConfig, state: Path, results: Path) -> dict | None:
    """Write the results folder's data from the rounds done; returns the progress record (None
    when there is nothing to publish).

    With a run in ``state`` its curves and config are copied; without one (a fresh checkout) the
    committed curves.csv is the source. Either way summary.json and progress.json are recomputed
    from the curves, so they always say what the library's ``summarize`` says today.
    """
    from_state = (state / "curves.csv").exists()
    source = state / "curves.csv" if from_state else results / "curves.csv"
    if not source.exists():
        return None
    rows = read_curves(source)
    results.mkdir(parents=True, exist_ok=True)
    if from_state:
        write_curves(rows, results / "curves.csv", cfg.strategies)
        if (state / "config.json").exists():  # the run's own record (a field added since would not describe it)
            atomic_write_text(results / "config.json", (state / "config.json").read_text())
        else:
            atomic_write_json(results / "config.json", config_dict(cfg))
    atomic_write_json(results / "summary.json", summarize(rows, cfg.strategies))
    progress = progress_of(rows, cfg)
    plot, renamed = state / "learning_curves.png", any(display_name(s) != s for s in cfg.strategies)
    if from_state and progress["complete"] and not renamed and plot.exists() and plot.stat().st_mtime >= source.stat().st_mtime:
        shutil.copy(plot, results / "learning_curves.png")  # run_experiment drew it from these same rows
    elif from_state or renamed:
        draw(rows, cfg, results / "learning_curves.png", partial=not progress["complete"])
    atomic_write_json(results / "progress.json", progress)
    return progress


# -- what the tables say ------------------------------------------------------------------------------


def per_seed_aulc(rows: list[dict]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for s in dict.fromkeys(r["strategy"] for r in rows):
        n, acc, seeds = curve_matrix(rows, s)
        out[s] = {seed: aulc(n, a) for seed, a in zip(seeds, acc)}
    return out


def paired_gap(seed_aulc: dict, strategy: str, base: str = "random") -> dict | None:
    """AULC of ``strategy`` − AULC of ``base``, paired by seed (same initial labels and weights)."""
    if strategy not in seed_aulc or base not in seed_aulc:
        return None
    seeds = [k for k in seed_aulc[strategy] if k in seed_aulc[base]]
    out = reporting.paired(seed_aulc[strategy][k] - seed_aulc[base][k] for k in seeds)
    out["per_seed"] = [seed_aulc[strategy][k] - seed_aulc[base][k] for k in seeds]
    return out


def separated(gap: dict | None) -> bool:
    """True when the paired 95 % interval excludes 0."""
    return bool(gap and gap["ci"] and (gap["ci"][0] > 0 or gap["ci"][1] < 0))


def gap_words(gap: dict) -> str:
    """'+0.0285 (3 of 3 seeds ahead, paired t-test p = 0.08)'."""
    return f"{gap['mean']:+.4f} ({gap['wins']} of {gap['n']} seeds ahead, paired t-test {reporting.p_words(gap['p'])})"


def smoothness(summary: dict) -> dict[str, float]:
    """Per strategy: mean |second difference| of the seed-mean accuracy curve (lower = smoother),
    and the share of rounds in which the seed-mean accuracy fell (reversals)."""
    out = {}
    for s, v in summary.items():
        acc = np.asarray(v["accuracy_mean"])
        if len(acc) < 3:
            continue
        out[s] = {"mean_abs_second_diff": float(np.abs(np.diff(acc, 2)).mean()), "reversal_share": float((np.diff(acc) < 0).mean())}
    return out


def trained_how(cfg) -> str:
    """How a run's classifier was trained, in words: the learner, or the CNN's epochs."""
    if cfg.learner != "cnn":
        return f"{cfg.learner} learner"
    return f"{cfg.train.steps} gradient steps per round" if cfg.train.steps else f"{cfg.train.epochs} epochs"


def pm(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def labels_cell(v: dict, key: str, none: str = "not reached") -> str:
    """Labels after which the seed-mean accuracy stays ≥ the target; the first count that touched
    it in brackets where that differs ("340 (first touch 300)", "not reached (first touch 340)")."""
    stays, touch = v["labels_to"][key], v.get("first_reach", {}).get(key)
    text = none if stays is None else str(stays)
    return text if touch is None or touch == stays else f"{text} (first touch {touch})"


def strategy_table(summary: dict, seed_aulc: dict, extra: dict | None = None) -> str:
    """AULC, paired gap to random (mean ± std over seeds, t-test p), final accuracy, labels to 90 / 95 %."""
    extra = extra or {}
    head = ["strategy", "AULC (mean ± std)", "AULC − random, paired by seed", "paired t-test p", "final accuracy",
            "labels to 90 %", "labels to 95 %", *extra.get("headers", [])]
    rows = []
    for s, v in summary.items():
        gap = paired_gap(seed_aulc, s) if s != "random" else None
        rows.append([display_name(s), pm(v["aulc_mean"], v["aulc_std"]),
                     "–" if gap is None else pm(gap["mean"], gap["std"]).replace(f"{gap['mean']:.4f}", f"{gap['mean']:+.4f}", 1),
                     "–" if gap is None else reporting.fmt_p(gap["p"]),
                     pm(v["final_accuracy_mean"], v["final_accuracy_std"]),
                     labels_cell(v, "0.90"), labels_cell(v, "0.95"), *extra.get(s, [])])
    return reporting.md_table(head, rows)


LABELS_NOTE = ("Labels to X: the label count after which the seed-mean accuracy stays ≥ X to the end of the budget "
               "(within 1e-9, so 0.94999… counts as 0.95); where the curve first touched X earlier and fell back, "
               "that first touch is in brackets. Paired: per seed, against random with the same initial labels and "
               "initial weights; p from a two-sided paired t-test over the seeds (3 seeds give it little power).")


def continue_text(cmd: str, log: str) -> str:
    return (
        "The resumable state (model weights per strategy and seed, the run log) is in `runs/bench/` (git-ignored). On the\n"
        "same checkout, one command continues where the run stopped (completed rounds are never recomputed) and rewrites\n"
        "this folder from the rounds that are done each time one experiment finishes:\n\n"
        f"```sh\nnohup nice -n 19 .venv/bin/{cmd} --resume >> {log} 2>&1 &\n```\n\n"
        "`--report-only` rewrites this folder from the rounds done so far, without training — from the state when there\n"
        "is one, otherwise from the data committed here (config.json, curves.csv, run.json).\n"
    )


# -- one command line for the three experiment benchmarks ------------------------------------------------


@dataclass
class Report:
    """What a benchmark's ``render`` gets: the results folder and what ran there."""

    out: Path
    state: Path
    cfgs: dict[str, ExperimentConfig]  # sub-folder ("" for one experiment) → the config that ran
    run: dict | None  # run.json: command, dates, machine …
    cmd: str  # the command that started the run, in today's form
    quick: bool
    name: str
    args: Any


@dataclass
class Benchmark:
    module: str  # run as ``python -m benchmarks.<module>``
    doc: str  # the module's docstring; its first line is the --help description
    configs: Callable[[Any], dict[str, ExperimentConfig]]  # args → {sub-folder: config}
    load: Callable[[Any], Any]  # args → the dataset (not called by --report-only)
    render: Callable[[Report], str]
    name: Callable[[Any], str]  # args → "mnist-poster": folder name under runs/bench/
    default_out: Callable[[str], Path]  # name → the results folder of a full run
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
    data_dir: Path | None = None  # default --data-dir
    log_extra: Callable[[Any, dict], dict] = lambda args, cfgs: {}  # entries for each invocation's log
    run_extra: Callable[[Path, dict], dict] = lambda state, cfgs: {}  # entries for run.json, from the state
    after_publish: Callable[[Path, Path], None] | None = None  # (state, out): copy extra files
    index_root: Callable[[Path], Path] = field(default=lambda out: out.parent)


def parser(bench: Benchmark) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{bench.module}", description=bench.doc.strip().splitlines()[0])
    g = p.add_argument_group("every experiment benchmark")
    g.add_argument("--quick", action="store_true", help="tiny run on digits (< 1 min), for the smoke test")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run from its state under runs/bench/")
    g.add_argument("--report-only", action="store_true",
                   help="rewrite the results folder and its README from the rounds done (the state, else the committed data); no training")
    g.add_argument("--seeds", type=int, default=3)
    g.add_argument("--jobs", type=int, default=1, help="worker processes, one thread each (default 1)")
    g.add_argument("--data-dir", type=Path, default=bench.data_dir)
    g.add_argument("--out", type=Path, help="results folder (default under docs/results/; quick: under runs/bench-quick/)")
    g.add_argument("--state", type=Path, help="resumable state (default runs/bench/<name>)")
    bench.add_arguments(p)
    return p


def prepare_state(module: str, state: Path, started: bool, quick: bool, resume: bool) -> bool:
    """Make the state folder ready for a run; False (after one line on stderr) when a run would
    overwrite state that --resume should continue. Quick runs start afresh each time."""
    if quick and not resume and state.exists():
        shutil.rmtree(state)  # quick runs are disposable
        started = False
    if started and not resume:
        print(f"{module}: error: {state} already holds this benchmark's state; pass --resume to continue it", file=sys.stderr)
        return False
    state.mkdir(parents=True, exist_ok=True)
    return True


def state_of(state: Path, sub: str) -> Path:
    """Where run_experiment keeps one experiment's state: a sub-folder, never the run log's folder."""
    return state / (sub or "experiment")


def report(bench: Benchmark, args, cfgs: dict[str, ExperimentConfig], out: Path, state: Path, cmd: str) -> None:
    """Publish what is done and rewrite the README and the results index: from the state when this
    checkout ran the benchmark, otherwise from the committed results folder."""
    from benchmarks import index

    runlog = reporting.read_json_if(state / "runlog.json")
    ran = {sub: as_run(cfg, state_of(state, sub)) if runlog else as_run(cfg, out / sub) for sub, cfg in cfgs.items()}
    for sub, cfg in ran.items():
        if runlog and not state_of(state, sub).exists():
            continue  # run by another invocation with its own state: its published files stay as they are
        if runlog and not (state_of(state, sub) / "curves.csv").exists():
            for f in PUBLISHED:  # a new run has not reached this experiment: an older run's files would be mixed in
                (out / sub / f).unlink(missing_ok=True)
        publish(cfg, state_of(state, sub), out / sub)
    if runlog:
        run = reporting.run_record(runlog, **bench.run_extra(state, ran))
        atomic_write_json(out / "run.json", run)
    else:
        run = reporting.read_json_if(out / "run.json")
    if bench.after_publish:
        bench.after_publish(state, out)
    shown = reporting.module_command(run["command"]) if run and run.get("command") else cmd
    rep = Report(out=out, state=state, cfgs=ran, run=run, cmd=shown, quick=args.quick, name=bench.name(args), args=args)
    reporting.write_readme(out / "README.md", bench.render(rep))
    index.write_index(bench.index_root(out))


def main(bench: Benchmark, argv: list[str] | None = None) -> int:
    """Fresh, quick, resumed or report-only: the same for every experiment benchmark."""
    from activegan.errors import ConfigError, DataError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser(bench).parse_args(argv)
    name = bench.name(args)
    out = args.out or (QUICK_ROOT / name if args.quick else bench.default_out(name))
    state = args.state or (out.parent / "_state" / name if args.quick else reporting.STATE / name)
    cmd = reporting.command(bench.module, [a for a in argv if a not in ("--resume", "--report-only")])
    cfgs = bench.configs(args)
    if args.report_only:
        report(bench, args, cfgs, out, state, cmd)
        print(f"{bench.module}: {out / 'README.md'}")
        return 0
    started = any((state_of(state, sub) / "config.json").exists() for sub in cfgs)
    if not prepare_state(bench.module, state, started, args.quick, args.resume):
        return 2
    reporting.one_thread()
    from activegan.data import default_cache_dir
    from activegan.experiment import run_experiment

    try:
        with reporting.RunLog(state / "runlog.json", cmd + (" --resume" if args.resume else "")) as log:
            log.entry.update(machine=reporting.machine(), jobs=args.jobs, **bench.log_extra(args, cfgs))
            log.save()
            data = bench.load(args)
            for sub, cfg in cfgs.items():
                state_of(state, sub).mkdir(parents=True, exist_ok=True)
                run_experiment(cfg, state_of(state, sub), data=data, resume=args.resume, jobs=args.jobs, progress=True,
                               cache_dir=state / "cache" if args.quick else default_cache_dir())
                log.save()
                report(bench, args, cfgs, out, state, cmd)  # publish each experiment as soon as it is done
    except (ConfigError, DataError) as exc:
        print(f"{bench.module}: error: {exc}", file=sys.stderr)
        return 2
    report(bench, args, cfgs, out, state, cmd)  # the run log is closed: run.json gets the final wall time
    print(f"{bench.module}: {out / 'README.md'}")
    return 0


def run_bullets(rep: Report, note: str = "") -> list[str]:
    """Command, dates and machine bullets of a README, from the run record."""
    return [f"- Command: `{rep.cmd}` (continue with `--resume`).",
            reporting.dates_bullet(rep.run, note),
            reporting.machine_bullet(rep.run)]
