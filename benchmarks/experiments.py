"""The experiment benchmarks' runner (poster, gal, gan_loop, label_efficiency): one entry point, publishing.

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
from activegan.loop import ExperimentConfig
from activegan.results import read_curves, summarize, write_curves
from benchmarks import index, reporting
from benchmarks.published import as_run, complete_rows, display_name, progress_of
from benchmarks.tables import Report

QUICK_ROOT = reporting.REPO / "runs" / "bench-quick"

# -- data for the quick modes ------------------------------------------------------------------------


def quick_data():
    """scikit-learn's digits (ships with a dependency): quick modes need no files."""
    from activegan.data import load_dataset

    d = load_dataset("digits")
    return dataclasses.replace(d, x_test=d.x_test[:200], y_test=d.y_test[:200])


def load_data(args):
    """The dataset a benchmark's ``--dataset`` / ``--data-dir`` name (digits in ``--quick``)."""
    if args.quick:
        return quick_data()
    from activegan.data import load_dataset

    return load_dataset(args.dataset, args.data_dir or reporting.DATA_DIRS.get(args.dataset))


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


# -- publishing: state → results folder, or the committed results folder refreshed ---------------------


PUBLISHED = ("config.json", "curves.csv", "summary.json", "progress.json", "learning_curves.png")


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


def with_published(rows: list[dict], cfg: ExperimentConfig, results: Path) -> tuple[list[dict], ExperimentConfig]:
    """A run that adds strategies to published results (``--add``): its rows with the published rows of every
    other strategy, and its config listing them all. Refused (``DataError``) unless the published run had the same
    settings and every seed started from the first labels it started from there — the pairing by seed holds."""
    from activegan.errors import DataError
    from activegan.experiment import config_dict

    old_cfg = as_run(None, results)
    if old_cfg is None or not (results / "curves.csv").exists():
        return rows, cfg
    same = {k: v for k, v in config_dict(cfg).items() if k != "strategies"}
    if (differ := [k for k, v in config_dict(old_cfg).items() if k != "strategies" and same.get(k) != v]):
        raise DataError(f"--add: {results} was run with another {differ[0]!r}; its rows cannot be paired with this run's")
    old = [r for r in read_curves(results / "curves.csv") if r["strategy"] not in cfg.strategies]
    first = {(r["seed"], r["first_labels"]) for r in old if r["round"] == 0}
    seeds = {seed for seed, _ in first}
    if any(r["round"] == 0 and r["seed"] in seeds and (r["seed"], r["first_labels"]) not in first for r in rows):
        raise DataError(f"--add: a seed of this run started from other first labels than in {results}; run every strategy afresh")
    strategies = [*dict.fromkeys([*old_cfg.strategies, *cfg.strategies])]
    return old + rows, dataclasses.replace(cfg, strategies=strategies)


def publish(cfg: ExperimentConfig, state: Path, results: Path, add: bool = False) -> dict | None:
    """Write the results folder's data from the rounds done; returns the progress record (None
    when there is nothing to publish).

    With a run in ``state`` its curves and config are copied (``add``: beside the published rows of
    other strategies, ``with_published``); without one (a fresh checkout) the committed curves.csv is
    the source. Either way summary.json and progress.json are recomputed from the curves, so they
    always say what the library's ``summarize`` says today.
    """
    from_state = (state / "curves.csv").exists()
    source = state / "curves.csv" if from_state else results / "curves.csv"
    if not source.exists():
        return None
    rows = read_curves(source)
    results.mkdir(parents=True, exist_ok=True)
    if from_state and add:
        rows, cfg = with_published(rows, cfg, results)
        write_curves(rows, results / "curves.csv", cfg.strategies)
        from activegan.experiment import config_dict

        atomic_write_json(results / "config.json", config_dict(cfg))
    elif from_state:
        write_curves(rows, results / "curves.csv", cfg.strategies)
        if (state / "config.json").exists():  # the run's own record (a field added since would not describe it)
            atomic_write_text(results / "config.json", (state / "config.json").read_text())
        else:
            atomic_write_json(results / "config.json", dataclasses.asdict(cfg))
    atomic_write_json(results / "summary.json", summarize(rows, cfg.strategies))
    progress = progress_of(rows, cfg)
    plot, renamed = state / "learning_curves.png", any(display_name(s) != s for s in cfg.strategies)
    if from_state and not add and progress["complete"] and not renamed and plot.exists() and plot.stat().st_mtime >= source.stat().st_mtime:
        shutil.copy(plot, results / "learning_curves.png")  # run_experiment drew it from these same rows
    elif from_state or renamed:
        draw(rows, cfg, results / "learning_curves.png", partial=not progress["complete"])
    atomic_write_json(results / "progress.json", progress)
    return progress


# -- one command line for the three experiment benchmarks ------------------------------------------------


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
    g.add_argument("--add", action="store_true", help="add this run's strategies to the published results, keeping the "
                   "published rows of the others (refused unless every seed started from the same first labels)")
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


def separate_run(out: Path, state: Path, runlog: dict, args) -> bool:
    """Whether this state ran some of a published page's experiments apart from the run log that wrote the
    page's run.json (another ``--state``): then the page keeps its run.json and each experiment run here
    gets its own beside its curves. A quick run, an ``--add`` and a run of every published experiment
    write the page's run.json."""
    page = reporting.read_json_if(out / "run.json")
    if args.quick or args.add or not page or not runlog.get("invocations"):
        return False
    first = (page.get("invocation_log") or [{}])[0]
    mine = runlog["invocations"][0]
    if (first.get("started"), first.get("command")) == (mine["started"], mine["command"]):
        return False  # the page's own run log, continued
    published = [d.name for d in out.iterdir() if (d / "curves.csv").exists()] if out.is_dir() else []
    return any(not state_of(state, sub).exists() for sub in published)


def report(bench: Benchmark, args, cfgs: dict[str, ExperimentConfig], out: Path, state: Path, cmd: str) -> None:
    """Publish what is done and rewrite the README and the results index: from the state when this
    checkout ran the benchmark, otherwise from the committed results folder."""
    runlog = reporting.read_json_if(state / "runlog.json")
    if runlog and args.add:  # the published run's invocations come first (each once: a report runs after every experiment)
        before = (reporting.read_json_if(out / "run.json") or {}).get("invocation_log", [])
        runlog = {**runlog, "invocations": list({(i["started"], i["command"]): i for i in [*before, *runlog["invocations"]]}.values())}
    ran = {sub: as_run(cfg, state_of(state, sub), out / sub) if runlog else as_run(cfg, out / sub) for sub, cfg in cfgs.items()}
    for sub, cfg in ran.items():
        if runlog and not state_of(state, sub).exists():
            continue  # run by another invocation with its own state: its published files stay as they are
        if runlog and not args.add and not (state_of(state, sub) / "curves.csv").exists():
            for f in PUBLISHED:  # a new run has not reached this experiment: an older run's files would be mixed in
                (out / sub / f).unlink(missing_ok=True)
        publish(cfg, state_of(state, sub), out / sub, add=args.add)
        if args.add:  # the report describes the published rows: the earlier strategies and this run's
            ran[sub] = as_run(cfg, out / sub)
    if runlog and separate_run(out, state, runlog, args):
        for sub in ran:  # the page's run log stays; this run's record goes beside the experiments it ran
            if sub and state_of(state, sub).exists():
                atomic_write_json(out / sub / "run.json", reporting.run_record(runlog, **bench.run_extra(state, {sub: ran[sub]})))
        run = reporting.read_json_if(out / "run.json")
    elif runlog:
        run = reporting.run_record(runlog, **bench.run_extra(state, ran))
        atomic_write_json(out / "run.json", run)
        for sub in ran:
            if sub and state_of(state, sub).exists():
                (out / sub / "run.json").unlink(missing_ok=True)  # an earlier separate run's record: this log covers it now
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


