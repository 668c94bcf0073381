"""The headline table: one row per benchmark result, negatives included, built from docs/results/.

Every number in a row is a ``Fact``: its value, how it is written, and where it comes from (the
file under the results folder and the key in it), so a test can look each one up again. Rows
state what the data say whichever way they fall ("no acquisition function beats random").

    python -m benchmarks.headline                    # writes docs/results/headline.md
    python -m benchmarks.headline --splice README.md # and puts it between README.md's markers
"""

from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path

from activegan import results as stats
from benchmarks import published, reporting
from benchmarks.facts import Facts, Row
from benchmarks.headline_measures import gan_quality_row, query_scale_row, speed_row

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


# -- experiment benchmarks --------------------------------------------------------------------------


def setting(fx: Facts, src: str, cfg) -> str:
    if cfg.learner != "cnn":
        train = f"{cfg.learner} learner"
    elif cfg.train.steps:
        train = f"{fx(cfg.train.steps, 'd', src, 'config', 'train.steps')} gradient steps per round"
    else:
        train = f"{fx(cfg.train.epochs, 'd', src, 'config', 'train.epochs')} epochs"
    return (f"{train}, "
            f"{fx(published.budget(cfg), 'd', src, 'config', 'budget')} labels, "
            f"{fx(len(cfg.seeds), 'd', src, 'config', 'n_seeds')} seeds")


def gap_text(fx: Facts, src: str, seed_aulc: dict, s: str, base: str = "random") -> tuple[str, dict]:
    g = stats.paired_gap(seed_aulc, s, base)
    p = fx(g["p"], "p", src, "paired", s, base, "p")
    return f"{fx(g['mean'], '+.3f', src, 'paired', s, base, 'mean')} (p {p if p.startswith('<') else '= ' + p})", g


def beats_random_row(root: Path, folder: str, name: str, acq: list[str] | None = None) -> Row | None:
    """Acquisition functions against random: how many above on mean AULC, how many separated, best and worst."""
    exp = published.load_experiment(root / folder)
    if exp is None:
        return None
    cfg, rows, summary, seed_aulc = exp
    src = f"{folder}/curves.csv"
    fx = Facts()
    acq = [s for s in (acq or cfg.strategies) if s != "random" and s in summary]
    if "random" not in summary or not acq:
        return None
    gaps = {s: stats.paired_gap(seed_aulc, s) for s in acq}
    above = [s for s in acq if summary[s]["aulc_mean"] > summary["random"]["aulc_mean"]]
    sep_up = [s for s in acq if stats.separated(gaps[s]) and gaps[s]["mean"] > 0]
    sep_down = [s for s in acq if stats.separated(gaps[s]) and gaps[s]["mean"] < 0]
    best = max(acq, key=lambda s: summary[s]["aulc_mean"])
    worst = min(acq, key=lambda s: summary[s]["aulc_mean"])
    n_above = fx(len(above), "d", src, "count_above_random", *acq)
    n_acq = fx(len(acq), "d", src, "count", *acq)
    best_gap, _ = gap_text(fx, src, seed_aulc, best)
    text = (f"{n_above} of {n_acq} above random on mean AULC (random "
            f"{fx(summary['random']['aulc_mean'], '.3f', src, 'summary', 'random', 'aulc_mean')}); best {best} "
            f"{fx(summary[best]['aulc_mean'], '.3f', src, 'summary', best, 'aulc_mean')}, {best_gap}")
    if worst != best:
        worst_gap, _ = gap_text(fx, src, seed_aulc, worst)
        text += f"; worst {worst} {worst_gap}"
    if not above:
        verdict = "no acquisition function beats random"
    elif len(above) == len(acq):
        verdict = "every acquisition function is above random on mean AULC"
    else:
        verdict = "some acquisition functions above random, others below"
    verdict += (f"; separated from random by a paired interval: {', '.join(sep_up) or 'none'} above, "
                f"{', '.join(sep_down) or 'none'} below")
    return Row(name, f"{folder.split('/')[0]}/README.md", setting(fx, f"{folder}/config.json", cfg), text, verdict, list(fx))


def poster_rows(root: Path) -> list[Row]:
    from activegan.active.strategies import POSTER_STRATEGIES

    rows = []
    for folder, title in (("mnist-poster", "MNIST poster"), ("cifar10-poster", "CIFAR-10 poster")):
        subs = sorted((root / folder).glob("epochs-*"), key=lambda p: int(p.name.split("-")[1])) if (root / folder).exists() else []
        for sub in subs:
            row = beats_random_row(root, f"{folder}/{sub.name}", title, list(POSTER_STRATEGIES))
            if row:
                rows.append(row)
        if not subs:
            rows.append(Row(title, f"{folder}/README.md", "", "not run yet", "–"))
    return rows


def gal_row(root: Path) -> Row:
    from benchmarks import gal_report

    exp = published.load_experiment(root / "mnist-gal")
    if exp is None:
        return Row("Gal et al. protocol, MNIST", "mnist-gal/README.md", "", "not run yet", "–")
    cfg, rows, summary, seed_aulc = exp
    src = "mnist-gal/curves.csv"
    fx = Facts()
    others = [s for s in summary if s != "random"]
    best = max(others, key=lambda s: summary[s]["aulc_mean"])
    parts = []
    for s in sorted(others, key=lambda s: -summary[s]["aulc_mean"]):
        g_text, _ = gap_text(fx, src, seed_aulc, s)
        parts.append(f"{s}{' (deterministic)' if s == 'entropy' else ''} {g_text}")
    text = (f"AULC − random: {'; '.join(parts)}. Labels to 90 % (stays): best {best} "
            f"{fx(summary[best]['labels_to']['0.90'], 'd', src, 'summary', best, 'labels_to', '0.90')}")
    touch = summary[best]["first_reach"]["0.90"]
    if touch != summary[best]["labels_to"]["0.90"]:
        text += f" (first touch {fx(touch, 'd', src, 'summary', best, 'first_reach', '0.90')})"
    text += f", aim ≤ {fx(gal_report.AIM['0.90'], 'd', 'benchmarks/gal_report.py', 'const', 'AIM', '0.90')}"
    nine5 = {s: v["labels_to"]["0.95"] for s, v in summary.items() if v["labels_to"]["0.95"] is not None}
    text += "; 95 % not reached by any strategy" if not nine5 else ""
    sep = [s for s in others if stats.separated(stats.paired_gap(seed_aulc, s))]
    noisy = [s for s in others if s not in sep]
    ours = sorted([s for s in summary if gal_report.paper_row(s)], key=lambda s: -summary[s]["aulc_mean"])
    paper = sorted(ours, key=lambda s: gal_report.paper_row(s)[0])
    verdict = ("ordered as the paper by mean AULC" if ours == paper else "not in the paper's order")
    verdict += (f", but {', '.join(noisy)} within noise of random (no paired interval excludes zero)" if noisy else ", each separated from random")
    aim_met = any(v["labels_to"]["0.90"] is not None and v["labels_to"]["0.90"] <= gal_report.AIM["0.90"] for v in summary.values())
    verdict += f"; label aim {'met' if aim_met else 'not met'}"
    if "entropy" in summary and "mc-entropy" not in summary:
        verdict += "; entropy was deterministic (the paper's is MC-averaged), not rerun yet"
    return Row("Gal et al. protocol, MNIST", "mnist-gal/README.md", setting(fx, "mnist-gal/config.json", cfg), text, verdict, list(fx))


def gan_loop_rows(root: Path) -> list[Row]:
    from benchmarks import gan_loop_report

    rows = []
    for folder in sorted((root / "gan").glob("mnist-loop*")):
        exp = published.load_experiment(folder)
        if exp is None:
            continue
        cfg, _, summary, seed_aulc = exp
        name = f"gan/{folder.name}"
        src = f"{name}/curves.csv"
        fx = Facts()
        parts = []
        above = []
        for s in gan_loop_report.GENERATED:
            if s in summary:
                g_text, g = gap_text(fx, src, seed_aulc, s)
                parts.append(f"{published.display_name(s)} {g_text}")
                if stats.separated(g) and g["mean"] > 0:
                    above.append(s)
        text = "AULC − random: " + "; ".join(parts)
        if "gan-entropy-match" in summary and "entropy" in summary:
            g_text, _ = gap_text(fx, src, seed_aulc, "gan-entropy-match", "entropy")
            text += f"; gan-entropy-match − pool entropy {g_text}"
        verdict = "GAN strategies level with or below random" if not above else f"{', '.join(above)} above random"
        gen = f"generator `{cfg.gan.checkpoint}`" if cfg.gan.checkpoint else "one generator per seed"
        rows.append(Row(f"GAN queries in the loop ({folder.name})", f"{name}/README.md",
                        setting(fx, f"{name}/config.json", cfg) + f"; {gen}", text, verdict, list(fx)))
    return rows


def demo_row(root: Path) -> Row | None:
    exp = published.load_experiment(root / "demo")
    if exp is None:
        return None
    cfg, _, summary, seed_aulc = exp
    src = "demo/curves.csv"
    fx = Facts()
    pool = [s for s in summary if s != "random" and not s.startswith("gan-") and "@" not in s]
    gans = [s for s in summary if s.startswith("gan-")]
    cnn = [s for s in summary if s.endswith("@cnn") and s != "random@cnn"]
    above = [s for s in pool if summary[s]["aulc_mean"] > summary["random"]["aulc_mean"]]
    best = max(pool, key=lambda s: summary[s]["aulc_mean"])
    b_text, _ = gap_text(fx, src, seed_aulc, best)
    text = (f"{fx(len(above), 'd', src, 'count_above_random', *pool)} of {fx(len(pool), 'd', src, 'count', *pool)} pool strategies "
            f"above random on mean AULC (random {fx(summary['random']['aulc_mean'], '.3f', src, 'summary', 'random', 'aulc_mean')}); "
            f"best {best} {fx(summary[best]['aulc_mean'], '.3f', src, 'summary', best, 'aulc_mean')}, {b_text}")
    verdicts = []
    for s in gans:
        g_text, g = gap_text(fx, src, seed_aulc, s)
        text += f"; {published.display_name(s)} {fx(summary[s]['aulc_mean'], '.3f', src, 'summary', s, 'aulc_mean')}, {g_text}"
        verdicts.append(f"{s} {'level with' if not stats.separated(g) else 'above' if g['mean'] > 0 else 'below'} random")
    if "random@cnn" in summary:  # the poster's supervised CNN beside the default learner, same first labels
        text += (f"; the poster's CNN (learner `cnn`): random {fx(summary['random@cnn']['aulc_mean'], '.3f', src, 'summary', 'random@cnn', 'aulc_mean')}"
                 + "".join(f", {s} {fx(summary[s]['aulc_mean'], '.3f', src, 'summary', s, 'aulc_mean')}, "
                           f"{gap_text(fx, src, seed_aulc, s, 'random@cnn')[0]} against its random" for s in cnn))
        l_text, lg = gap_text(fx, src, seed_aulc, "random", "random@cnn")
        verdicts.append(f"the default learner {'above' if lg['mean'] > 0 else 'below'} the poster's CNN under random sampling "
                        f"({l_text})")
    sep = [s for s in pool if stats.separated(stats.paired_gap(seed_aulc, s))]
    verdict = ("pool acquisition above random" if len(above) == len(pool) else "pool acquisition mixed against random")
    verdict += f" (separated by a paired interval: {', '.join(sep) or 'none'})"
    if verdicts:
        verdict += "; " + "; ".join(verdicts)
    return Row(f"Demo ({cfg.dataset}, `make demo`)", "../demo.md", setting(fx, "demo/config.json", cfg), text, verdict, list(fx))


# -- GAN sample quality and speed ---------------------------------------------------------------------------


def rows(root: Path) -> list[Row]:
    out = []
    for make in (demo_row,):
        r = make(root)
        if r:
            out.append(r)
    out += poster_rows(root)
    out.append(gal_row(root))
    r = gan_quality_row(root)
    if r:
        out.append(r)
    out += gan_loop_rows(root)
    for make in (speed_row, query_scale_row):
        r = make(root)
        if r:
            out.append(r)
    return out


def table(root: Path) -> str:
    rs = rows(root)
    return reporting.md_table(["benchmark", "setting", "result", "verdict"], [r.cells() for r in rs])


def markdown(root: Path, link_prefix: str = "", compact: bool = False) -> str:
    """The headline as a Markdown block; ``link_prefix`` makes its links work from another folder. ``compact`` (the
    README's front page): each benchmark's verdict only, the full rows in headline.md."""
    rs = rows(root)
    link = lambda r: f"[{r.benchmark}]({posixpath.normpath(link_prefix + r.link)})"
    from benchmarks.front_page import front_page

    lead = front_page(root, link_prefix, compact)
    if compact:
        return "\n".join([
            *([lead, "### Every benchmark", ""] if lead else []),
            f"Each benchmark's verdict; its numbers, setting and definitions: [headline.md]({link_prefix}headline.md).",
            "`gan-*-model` is labelled by a *privileged oracle* (a CNN trained on the labels of the whole pool — an upper",
            "bound a real user does not have).",
            "",
            reporting.md_table(["benchmark", "setting", "verdict"], [[link(r), r.setting, r.verdict] for r in rs]),
        ])
    body = reporting.md_table(["benchmark", "setting", "result", "verdict"], [[link(r), r.setting, r.result, r.verdict] for r in rs])
    return "\n".join([
        *([lead, "### Every benchmark", ""] if lead else []),
        "Every benchmark's headline, generated from `docs/results/` by `python -m benchmarks.headline` (no number typed by hand).",
        "AULC: mean over seeds of the area under accuracy vs labels divided by the label range; gaps are paired by seed against",
        "random and p is a two-sided paired t-test over the seeds; \"separated\" means the paired 95 % interval excludes 0.",
        "Labels to X: where the seed-mean accuracy stays ≥ X. `gan-*-model` is labelled by a *privileged oracle* (a CNN trained",
        "on the labels of the whole pool — an upper bound a real user does not have).",
        "",
        body,
    ])


def write(root: Path = reporting.RESULTS) -> Path:
    path = root / "headline.md"
    reporting.write_readme(path, "# Headline results\n\n" + markdown(root))
    return path


def splice(readme: Path, root: Path = reporting.RESULTS) -> None:
    """Put the headline between README's markers; add the markers before '## Set-up' when absent.
    Nothing outside the markers changes."""
    text = readme.read_text()
    import os

    rel = Path(os.path.relpath(Path(root).resolve(), readme.resolve().parent)).as_posix()
    block = f"{BEGIN}\n## Results\n\n{markdown(root, link_prefix=rel + '/', compact=True)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        marker = "\n## Set-up"
        if marker not in text:
            raise SystemExit(f"{readme}: no '## Set-up' heading to put the results before; add {BEGIN} / {END} by hand")
        head, tail = text.split(marker, 1)
        text = head.rstrip("\n") + "\n\n" + block + "\n" + marker + tail
    from activegan.io import atomic_write_text

    atomic_write_text(readme, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.headline", description=__doc__.strip().splitlines()[0])
    p.add_argument("--results", type=Path, default=reporting.RESULTS)
    p.add_argument("--splice", type=Path, metavar="README", help=f"also replace what is between {BEGIN} and {END} in README")
    args = p.parse_args(argv)
    print(write(args.results))
    if args.splice:
        splice(args.splice, args.results.resolve())
        print(args.splice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
