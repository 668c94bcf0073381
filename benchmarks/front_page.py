"""The README's lead: for each dataset, what the label-efficiency data say in plain words, a compact table
and the aims, all from the committed data (the full tables are in docs/results/label-efficiency/)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from activegan import results as stats
from benchmarks import published
from benchmarks.label_efficiency_report import (EXPERIMENTS, ROUND_NOTE, against_default, aims, code_changes, default_of,
                                                learner_label, shorter_runs, stale_rows, table, units_words, with_baseline)

CLASSES = {"mnist": 10, "cifar10": 10}


def plain_findings(rep, everything: dict, dataset: str, title: str) -> list[str]:
    """Acquisition against random under the default learner, and the best accuracy reached against chance."""
    out = []
    gaps = {}
    DEFAULT = default_of(dataset)
    for sub, cfg in rep.cfgs.items():
        if (learner_label(cfg), cfg.initial_strategy) != DEFAULT:
            continue
        seed_aulc = with_baseline(rep, sub, cfg)[1]
        for s in cfg.strategies:
            if s != "random" and s in seed_aulc and "random" in seed_aulc:
                gaps[s] = stats.paired_gap(seed_aulc, s)
    if gaps:
        above = [s for s, g in gaps.items() if stats.separated(g) and g["mean"] > 0]
        lead = (f"{', '.join(above)} beats" if above else "none of the acquisition functions beats")
        out.append(f"- {title}: {lead} random sampling under the default learner ({' / '.join(DEFAULT)} first labels); AULC "
                   "against random, 95 % interval: " + "; ".join(
                       f"{s} {g['mean']:+.4f}" + (f" [{g['ci'][0]:+.4f}, {g['ci'][1]:+.4f}]" if g["ci"] else "") for s, g in gaps.items()) + ".")
    full = max((len(v["n_labeled"]) for v in everything.values()), default=0)
    finals = {k: v for k, v in everything.items() if len(v["n_labeled"]) == full}
    if finals:
        k, v = max(finals.items(), key=lambda kv: kv[1]["accuracy_mean"][-1])
        best, chance = v["accuracy_mean"][-1], 1 / CLASSES[dataset]
        out.append(f"- {title}: best test accuracy at {v['n_labeled'][-1]} labels {best:.1%} ({' / '.join(k)}); chance is "
                   f"{chance:.0%}" + (": near chance." if best < 3 * chance else "."))
    return out


def front_page(results: Path, link_prefix: str = "", compact: bool = False) -> str | None:
    """Each dataset's learner × first labels × strategy table and its aims (``compact``: plain findings first, and
    accuracy, AULC and the gap to random only)."""
    parts = []
    for dataset, title in (("mnist", "MNIST"), ("cifar10", "CIFAR-10")):
        out = results / "label-efficiency" / dataset
        cfgs = {sub: published.as_run(None, out / sub) for sub, *_ in EXPERIMENTS if (out / sub / "config.json").exists()}
        if not cfgs:
            continue
        rep = SimpleNamespace(out=out, cfgs=cfgs)  # what table() reads of a Report
        text, everything = table(rep, compact)
        link = f"{link_prefix}label-efficiency/{dataset}/README.md"
        seeds = sorted({len(c.seeds) for c in cfgs.values()})
        parts += [f"### Label efficiency on {title} — [label-efficiency/{dataset}/]({link})", "",
                  *(plain_findings(rep, everything, dataset, title) + [""] if compact else []),
                  f"Test accuracy against labels, {' or '.join(map(str, seeds))} seeds ({units_words(out, cfgs)}), first labels "
                  "chosen without labels; every strategy compared with random under the same learner and first labels, paired "
                  "by first-label set (each distinct set once)"
                  + (f"; labels-to, seconds per round and calibration: [the full table]({link})." if compact else "."), "", text, "",
                  *([] if compact else [ROUND_NOTE.replace("../../", link_prefix), ""]),
                  *shorter_runs(rep, max(cfgs.values(), key=lambda c: len(c.schedule()))),
                  *against_default(rep), *aims(everything, dataset, stale_rows(rep)), *code_changes(rep), ""]
    from benchmarks.acquisition_report import front

    parts += front(results, link_prefix)
    return "\n".join(parts) if parts else None
