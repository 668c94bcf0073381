"""docs/results/README.md: the headline numbers of every benchmark, read from their summaries.

    python benchmarks/index.py [RESULTS_DIR]     # default docs/results

Benchmarks without results are listed as "not run yet"; strategies that have not finished
every seed as "running". No number here is typed by hand.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reporting

ORDER = ["random", "least-confidence", "margin", "entropy", "density-least-confidence", "density-entropy", "bald", "variation-ratios"]
POSTERS = [("mnist-poster", "MNIST"), ("cifar10-poster", "CIFAR-10")]
EPOCHS = (5, 50)


def link(root: Path, folder: str) -> str:
    """A link to the benchmark's README, or its bare name while there is none (no dead links)."""
    return f"[{folder}/]({folder}/README.md)" if (root / folder / "README.md").exists() else f"`{folder}/`"


def finished(folder: Path) -> tuple[dict, set[str], dict | None]:
    """The summary, the strategies whose every seed is done, and the progress record."""
    summary = reporting.read_json(folder / "summary.json")
    progress = reporting.read_json(folder / "progress.json") if (folder / "progress.json").exists() else None
    done = set(progress["complete_strategies"]) if progress else set(summary)
    return summary, done, progress


def cell(summary: dict, done: set[str], s: str) -> list[str]:
    if s not in done:
        return ["running", "", ""] if s in summary else ["–", "", ""]
    v = summary[s]
    l90, l95 = (v["labels_to"][k] for k in ("0.90", "0.95"))
    return [f"{v['aulc_mean']:.4f} ± {v['aulc_std']:.4f}", "–" if l90 is None else str(l90), "–" if l95 is None else str(l95)]


def status(progress: dict | None) -> str:
    if progress is None:
        return "complete"
    return "complete" if progress["complete"] else f"partial: {progress['rounds_done']} of {progress['rounds_total']} rounds"


def poster_section(root: Path, folder: str, title: str) -> list[str]:
    lines = [f"## Poster comparison, {title} — {link(root, folder)}", ""]
    have = [e for e in EPOCHS if (root / folder / f"epochs-{e}" / "summary.json").exists()]
    if not have:
        return lines + ["Not run yet.", ""]
    data = {e: finished(root / folder / f"epochs-{e}") for e in have}
    head = ["strategy"]
    for e in EPOCHS:
        head += [f"AULC, {e} epochs", "labels to 90 %", "labels to 95 %"]
    rows = []
    strategies = [s for s in ORDER if any(s in d[0] for d in data.values())]
    for s in strategies:
        row = [s]
        for e in EPOCHS:
            row += cell(*data[e][:2], s) if e in data else ["not run yet", "", ""]
        rows.append(row)
    notes = "; ".join(f"{e} epochs: {status(data[e][2])}" if e in data else f"{e} epochs: not run yet" for e in EPOCHS)
    return lines + [reporting.md_table(head, rows), "", f"Status — {notes}. Conclusions (a)–(d): see the [README]({folder}/README.md).", ""]


GAL_PAPER = {"variation-ratios": (120, 295), "bald": (145, 335), "entropy": (165, 355), "random": (255, 835)}


def gal_section(root: Path) -> list[str]:
    lines = [f"## Gal et al. protocol, MNIST — {link(root, 'mnist-gal')}", ""]
    if not (root / "mnist-gal" / "summary.json").exists():
        return lines + ["Not run yet.", ""]
    summary, done, progress = finished(root / "mnist-gal")
    rows = []
    for s in [s for s in ORDER if s in summary]:
        paper = GAL_PAPER.get(s)
        rows.append([s, *cell(summary, done, s), *(map(str, paper) if paper else ["–", "–"])])
    return lines + [
        reporting.md_table(["strategy", "AULC", "labels to 90 %", "labels to 95 %", "paper: labels to 90 %", "paper: labels to 95 %"], rows),
        "",
        f"Status: {status(progress)}. '–' in our columns: not reached within the label budget.",
        "",
    ]


def gan_section(root: Path) -> list[str]:
    """One table per run of gan_loop.py (gan/mnist-loop*: one folder per generator)."""
    folders = sorted((root / "gan").glob("mnist-loop*")) or [root / "gan" / "mnist-loop"]
    lines = []
    for folder in folders:
        name = f"gan/{folder.name}"
        lines += [f"## Generated queries in the loop, MNIST — {link(root, name)}", ""]
        if not (folder / "summary.json").exists():
            lines += ["Not run yet.", ""]
            continue
        summary, done, progress = finished(folder)
        cfg = reporting.read_json(folder / "config.json") if (folder / "config.json").exists() else {}
        generator = f"the DCGAN `{cfg['gan_checkpoint']}`" if cfg.get("gan_checkpoint") else "one DCGAN per seed"
        rows = [[s, *cell(summary, done, s)] for s in summary]
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
        ["float32 matmul peak, 1 / 2 threads", f"{r['matmul']['gflops_1_thread']:.1f} / {r['matmul']['gflops_2_threads']:.1f} GFLOP/s", ""],
        ["pool scoring, MNIST CNN, 1 thread", f"{s1['images_per_s']:,.0f} images/s = {s1['images_per_s'] * flops / 1e9 / r['matmul']['gflops_1_thread']:.0%} of the 1-thread peak", "≥ 60 %"],
    ]
    for d in r["density"]:
        m = d["modal"]
        if "seconds" in m:
            rows.append([f"density, N = {d['n']:,}: modAL ÷ ours (k = all / k = {r['density_k']})",
                         f"time {fr(m['seconds'] / d['ours_all']['seconds'])} / {fr(m['seconds'] / d['ours_k']['seconds'])}; "
                         f"memory {mem(extra(m, d['base_modal']), extra(d['ours_all'], d['base_ours']))} / "
                         f"{mem(extra(m, d['base_modal']), extra(d['ours_k'], d['base_ours']))}",
                         "≥ 100× at 20 000" if d["n"] == 20000 else ""])
        else:
            rows.append([f"density, N = {d['n']:,}", f"ours {d['ours_all']['seconds']:.2f} s (k = all), {d['ours_k']['seconds']:.1f} s (k = {r['density_k']}); modAL not run", ""])
    if r.get("round"):
        worst = max(v["train_s"] + v["score_s"] + v["select_s"] for v in r["round"]["per_strategy"].values())
        rows.append([f"one MNIST round (subset {r['round']['subset']:,}, {r['round']['epochs']} epochs), slowest strategy", f"{worst:.1f} s", "≤ 10 s"])
    g = r["dcgan"]
    rows.append(["DCGAN epoch on the pool (ngf = ndf = 32)", f"{g['s_per_epoch_extrapolated']:.0f} s (extrapolated from {g['steps']} steps)", ""])
    return lines + [reporting.md_table(["measure", "value", "aim"], rows), "", f"Measured {r['date']} UTC; machine: {reporting.machine_line(r['machine'])}.", ""]


def write_index(root: Path) -> None:
    root = Path(root)
    lines = [
        "# Results",
        "",
        "Headline numbers, gathered by `benchmarks/index.py` from each benchmark's summary (every benchmark script rewrites",
        f"this page when it finishes; last written {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC). AULC: mean ± std over",
        "seeds of the area under accuracy vs labels divided by the label range; labels to 90 % / 95 %: first label count at which",
        "the seed-mean accuracy reaches it ('–': not within the budget). Raw data (curves.csv, summary.json) is beside every",
        "table. How to run or continue each benchmark: [benchmarks/README.md](../../benchmarks/README.md).",
        "",
    ]
    for folder, title in POSTERS:
        lines += poster_section(root, folder, title)
    lines += gal_section(root) + gan_section(root) + speed_section(root)
    if (root / "demo").exists():
        lines += ["## Demo", "", "The `make demo` run on digits: [../demo.md](../demo.md), data in [demo/](demo/).", ""]
    reporting.write_readme(root / "README.md", "\n".join(lines))


if __name__ == "__main__":
    write_index(Path(sys.argv[1]) if len(sys.argv) > 1 else reporting.RESULTS)
