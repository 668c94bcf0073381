"""The README's lead: each dataset's label-efficiency table and its aims, from the committed data."""

from __future__ import annotations

from pathlib import Path

from benchmarks import published
from benchmarks.label_efficiency_report import (EXPERIMENTS, ROUND_NOTE, against_default, aims, shorter_runs, table,
                                                units_words)


def front_page(results: Path, link_prefix: str = "") -> str | None:
    """The README's lead: each dataset's learner × first labels × strategy table and its aims, from the committed data."""
    parts = []
    for dataset, title in (("mnist", "MNIST"), ("cifar10", "CIFAR-10")):
        out = results / "label-efficiency" / dataset
        cfgs = {sub: published.as_run(None, out / sub) for sub, *_ in EXPERIMENTS if (out / sub / "config.json").exists()}
        if not cfgs:
            continue

        class _Rep:  # what table() reads of a Report
            pass

        rep = _Rep()
        rep.out, rep.cfgs = out, cfgs
        text, everything = table(rep)
        link = f"{link_prefix}label-efficiency/{dataset}/README.md"
        seeds = sorted({len(c.seeds) for c in cfgs.values()})
        parts += [f"### Label efficiency on {title} — [label-efficiency/{dataset}/]({link})", "",
                  f"Test accuracy against labels, {' or '.join(map(str, seeds))} seeds ({units_words(out, cfgs)}), first labels "
                  "chosen without labels; every strategy compared with random under the same learner and first labels, paired "
                  "by first-label set (each distinct set once).", "", text, "",
                  ROUND_NOTE.replace("../../", link_prefix), "",
                  *shorter_runs(rep, max(cfgs.values(), key=lambda c: len(c.schedule()))),
                  *against_default(rep), *aims(everything, dataset), ""]
    return "\n".join(parts) if parts else None
