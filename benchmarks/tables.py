"""How the experiment reports word and tabulate results: paired gaps, labels-to cells, the strategy
table, the run's bullets. Statistics come from ``activegan.results``; this module only writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activegan.loop import ExperimentConfig
from activegan.results import paired_gap
from benchmarks import reporting
from benchmarks.published import display_name


def gap_words(gap: dict, seeds: int | None = None) -> str:
    """'+0.0285 (3 of 3 seeds ahead, paired t-test p = 0.08)'; where ``seeds`` collapsed into fewer
    first-label sets, '(3 of 3 first-label sets ahead, 5 seeds, …)'."""
    units = "seeds" if seeds is None or seeds == gap["n"] else "first-label sets"
    extra = "" if units == "seeds" else f", {seeds} seeds"
    return f"{gap['mean']:+.4f} ({gap['wins']} of {gap['n']} {units} ahead{extra}, paired t-test {reporting.p_words(gap['p'])})"


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


def run_bullets(rep: Report, note: str = "") -> list[str]:
    """Command, dates and machine bullets of a README, from the run record."""
    log = (rep.run or {}).get("invocation_log") or []
    commands = list(dict.fromkeys(i["command"].removesuffix(" --resume") for i in log)) or [rep.cmd]
    return [(f"- Command: `{commands[0]}`" if len(commands) == 1 else
             "- Commands, in the order they first ran: " + "; ".join(f"`{c}`" for c in commands)) + " (continue with `--resume`).",
            reporting.dates_bullet(rep.run, note),
            reporting.machine_bullet(rep.run)]


def separate_runs(rep) -> list[str]:
    """Experiments run by another invocation (their own run.json beside their curves), one line per run."""
    runs = {}
    for sub in rep.cfgs:
        run = reporting.read_json_if(rep.out / sub / "run.json")
        if run:
            runs.setdefault((run["started"], run["command"]), (run, []))[1].append(f"`{sub}`")
    return [f"- {', '.join(subs)} ran separately: `{reporting.module_command(run['command'])}`, "
            f"{run['started']} to {run['ended']}, wall time {reporting.fmt_seconds(run['wall_s'])}"
            + (f", on {run['machine']['cpu_model']}." if run.get("machine") else ".") for run, subs in runs.values()]
