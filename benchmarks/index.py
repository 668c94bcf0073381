"""docs/results/README.md and docs/results/headline.md: every benchmark's numbers, read from its data.

    python -m benchmarks.index [RESULTS_DIR]     # default docs/results

Benchmarks without results are listed as "not run yet"; strategies that have not finished
every seed as "running". Summaries are recomputed from each curves.csv with the library's
``summarize``. No number here is typed by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import headline, headline_measures, published, reporting, tables

POSTERS = [("mnist-poster", "MNIST"), ("cifar10-poster", "CIFAR-10")]


def link(root: Path, folder: str) -> str:
    """A link to the benchmark's README, or its bare name while there is none (no dead links)."""
    return f"[{folder}/]({folder}/README.md)" if (root / folder / "README.md").exists() else f"`{folder}/`"


def finished(folder: Path) -> tuple[dict, set[str], dict | None, object] | None:
    """The summary of the finished strategies (recomputed from curves.csv), their names, the
    progress record and the config; None when the folder has no results."""
    from activegan.results import read_curves, summarize

    if not (folder / "curves.csv").exists():
        return None
    cfg = published.as_run(None, folder)
    rows = read_curves(folder / "curves.csv")
    done_rows = published.complete_rows(rows, cfg.strategies, cfg.seeds, cfg.rounds)
    progress = published.progress_of(rows, cfg)
    return summarize(done_rows, cfg.strategies), set(progress["complete_strategies"]), progress, cfg


def cell(summary: dict, done: set[str], s: str) -> list[str]:
    if s not in done:
        return ["running", "", ""] if s in summary else ["–", "", ""]
    v = summary[s]
    return [tables.pm(v["aulc_mean"], v["aulc_std"]), tables.labels_cell(v, "0.90", "–"), tables.labels_cell(v, "0.95", "–")]


def status(progress: dict | None) -> str:
    if progress is None:
        return "complete"
    return "complete" if progress["complete"] else f"partial: {progress['rounds_done']} of {progress['rounds_total']} rounds"


def poster_section(root: Path, folder: str, title: str) -> list[str]:
    lines = [f"## Poster comparison, {title} — {link(root, folder)}", ""]
    subs = sorted((root / folder).glob("epochs-*"), key=lambda p: int(p.name.split("-")[1])) if (root / folder).exists() else []
    data = {int(p.name.split("-")[1]): finished(p) for p in subs}
    data = {e: d for e, d in data.items() if d}
    if not data:
        return lines + ["Not run yet.", ""]
    head = ["strategy"]
    for e in data:
        head += [f"AULC, {e} epochs", "labels to 90 %", "labels to 95 %"]
    strategies = list(dict.fromkeys(s for d in data.values() for s in d[3].strategies))
    rows = [[s, *[c for e in data for c in cell(data[e][0], data[e][1], s)]] for s in strategies]
    notes = "; ".join(f"{e} epochs: {status(d[2])}" for e, d in data.items())
    return lines + [reporting.md_table(head, rows), "", f"Status — {notes}. Conclusions (a)–(d): see the [README]({folder}/README.md).", ""]


def gal_section(root: Path) -> list[str]:
    from benchmarks import gal_report

    lines = [f"## Gal et al. protocol, MNIST — {link(root, 'mnist-gal')}", ""]
    data = finished(root / "mnist-gal")
    if data is None:
        return lines + ["Not run yet.", ""]
    summary, done, progress, cfg = data
    rows = []
    for s in cfg.strategies:
        paper = gal_report.paper_row(s)
        rows.append([s + (" (deterministic)" if s == "entropy" else ""), *cell(summary, done, s),
                     *(map(str, paper) if paper else ["–", "–"])])
    return lines + [
        reporting.md_table(["strategy", "AULC", "labels to 90 %", "labels to 95 %", "paper: labels to 90 %", "paper: labels to 95 %"], rows),
        "",
        f"Status: {status(progress)}. '–' in our columns: not reached within the label budget. Paired tests against random and "
        "the paper's order: [README](mnist-gal/README.md)."
        + (" This run's entropy used one deterministic prediction; the paper's Max Entropy (our `mc-entropy`) averages MC-dropout "
           "samples — not rerun yet." if "entropy" in cfg.strategies and "mc-entropy" not in cfg.strategies else ""),
        "",
    ]


def gan_section(root: Path) -> list[str]:
    """The DCGAN page, and one table per run of gan_loop (gan/mnist-loop*: one folder per generator)."""
    lines = [f"## DCGAN sample quality — {link(root, 'gan')}", ""]
    row = headline_measures.gan_quality_row(root)
    lines += ([row.result[0].upper() + row.result[1:] + ".", ""] if row else ["Not run yet.", ""])
    folders = sorted((root / "gan").glob("mnist-loop*")) or [root / "gan" / "mnist-loop"]
    for folder in folders:
        name = f"gan/{folder.name}"
        lines += [f"## Generated queries in the loop, MNIST — {link(root, name)}", ""]
        data = finished(folder)
        if data is None:
            lines += ["Not run yet.", ""]
            continue
        summary, done, progress, cfg = data
        generator = f"the DCGAN `{cfg.gan.checkpoint}`" if cfg.gan.checkpoint else "one DCGAN per seed"
        rows = [[published.display_name(s), *cell(summary, done, s)] for s in cfg.strategies]
        lines += [
            reporting.md_table(["strategy", "AULC", "labels to 90 %", "labels to 95 %"], rows),
            "",
            f"Status: {status(progress)}. GAN strategies: {generator}. Sample quality of the DCGANs per epoch: "
            "[gan/](gan/README.md).",
            "",
        ]
    return lines


def speed_section(root: Path) -> list[str]:
    lines = [f"## Speed — {link(root, 'speed')}", ""]
    path = root / "speed" / "speed.json"
    if not path.exists():
        return lines + ["Not run yet.", ""]
    r = reporting.read_json(path)
    fr, mem, extra = reporting.fmt_ratio, reporting.fmt_mem_ratio, reporting.extra_mib
    flops = r["model_flops"]["flops"]
    s1 = r["scoring"][0]
    rows = [
        ["float32 matmul rate (measured; no peak), 1 / 2 threads", f"{r['matmul']['gflops_1_thread']:.1f} / {r['matmul']['gflops_2_threads']:.1f} GFLOP/s", ""],
        ["pool scoring, MNIST CNN, 1 thread", f"{s1['images_per_s']:,.0f} images/s = {s1['images_per_s'] * flops / 1e9 / r['matmul']['gflops_1_thread']:.0%} of the 1-thread matmul rate",
         "≥ 60 % of that rate: retired (the rate is no peak)"],
    ]
    for d in r["density"]:
        m = d["modal"]
        if "seconds" in m:
            rows.append([f"density, N = {d['n']:,}: modAL ÷ ours (k = all / k = {r['density_k']})",
                         f"time {fr(m['seconds'] / d['ours_all']['seconds'])} / {fr(m['seconds'] / d['ours_k']['seconds'])}; "
                         f"memory {mem(extra(m, d['base_modal']), extra(d['ours_all'], d['base_ours']))} / "
                         f"{mem(extra(m, d['base_modal']), extra(d['ours_k'], d['base_ours']))}",
                         f"≥ 100× at 20 000, k = {r['density_k']} (the default)" if d["n"] == 20000 else ""])
        else:
            rows.append([f"density, N = {d['n']:,}", f"ours {d['ours_all']['seconds']:.2f} s (k = all), {d['ours_k']['seconds']:.1f} s (k = {r['density_k']}); modAL not run", ""])
    if r.get("round"):
        worst = max(v["train_s"] + v["score_s"] + v["select_s"] for v in r["round"]["per_strategy"].values())
        rows.append([f"one MNIST round (subset {r['round']['subset']:,}, {r['round']['epochs']} epochs), slowest strategy", f"{worst:.1f} s", "≤ 10 s"])
    g = r["dcgan"]
    rows.append(["DCGAN epoch on the pool (ngf = ndf = 32)", f"{g['s_per_epoch_extrapolated']:.0f} s (extrapolated from {g['steps']} steps)", ""])
    return lines + [reporting.md_table(["measure", "value", "aim"], rows), "", f"Measured {r['date']} UTC; machine: {reporting.machine_line(r['machine'])}.", ""]


def demo_section(root: Path) -> list[str]:
    data = finished(root / "demo")
    if data is None:
        return []
    summary, done, _, cfg = data
    rows = [[published.display_name(s), *cell(summary, done, s)] for s in cfg.strategies]
    return ["## Demo", "", f"The `make demo` run on {cfg.dataset}: [../demo.md](../demo.md), data in [demo/](demo/) (summary recomputed "
            "here from its curves.csv with today's definitions).", "",
            reporting.md_table(["strategy", "AULC", "labels to 90 %", "labels to 95 %"], rows), ""]


def write_index(root: Path) -> None:
    """docs/results/README.md (every benchmark's table) and docs/results/headline.md."""
    root = Path(root)
    lines = [
        "# Results",
        "",
        "Gathered by `python -m benchmarks.index` from each benchmark's data (every benchmark rewrites this page and",
        "[headline.md](headline.md) when it reports). AULC: mean ± std over seeds of the area under accuracy vs labels",
        "divided by the label range; labels to 90 % / 95 %: the label count after which the seed-mean accuracy stays at or",
        "above it, with the first count that touched it in brackets where that differs ('–': not within the budget).",
        "Raw data (curves.csv, config.json, run.json) is beside every table. How to run or continue each benchmark:",
        "[benchmarks/README.md](../../benchmarks/README.md).",
        "",
        "## Headline",
        "",
        headline.markdown(root),
        "",
    ]
    lines += demo_section(root)
    for folder, title in POSTERS:
        lines += poster_section(root, folder, title)
    lines += gal_section(root) + gan_section(root) + speed_section(root)
    reporting.write_readme(root / "README.md", "\n".join(lines))
    headline.write(root)


if __name__ == "__main__":
    write_index(Path(sys.argv[1]) if len(sys.argv) > 1 else reporting.RESULTS)
