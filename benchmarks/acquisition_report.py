"""The README of the acquisition benchmark: each strategy against random under the dataset's default learner
and representation, paired by first-label set, over 10–100 and 10–250 labels and at each budget; classes
labeled per seed; the aims, met or not (every figure read from the committed curves)."""

from __future__ import annotations

import numpy as np

from activegan import results as stats
from activegan.results import labels_to, read_curves
from benchmarks import published, reporting, tables
from benchmarks.changes import change_notes

RANGES = (100, 250)  # AULC over 10–100 and 10–250 labels
TARGETS = {"mnist": [("0.95", 20), ("0.98", 40), ("0.99", 100)], "cifar10": [], "digits": []}
CIFAR_GAIN_AT, CIFAR_GAIN = 40, 0.10  # CIFAR-10: +10 points over random at 40 labels
COVERED_BY = 20  # every class labeled by 20 labels


def default_strategy() -> str:
    from activegan.active import DEFAULT_STRATEGY

    return DEFAULT_STRATEGY


def unit_curves(rows: list[dict], strategy: str, groups: list[list[int]]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(label counts, first-label unit → its seeds' mean accuracy curve) of one strategy."""
    n, acc, seeds = stats.curve_matrix(rows, strategy)
    unit_of = {s: g[0] for g in groups for s in g}
    units: dict[int, list[np.ndarray]] = {}
    for seed, a in zip(seeds, acc):
        units.setdefault(unit_of.get(seed, seed), []).append(a)
    return n, {u: np.mean(v, axis=0) for u, v in units.items()}


def gap(rows, strategy: str, groups, upto: int | None = None, at: int | None = None) -> dict | None:
    """strategy − random, paired by first-label unit: AULC over 10–``upto`` labels, or accuracy ``at`` a budget."""
    n, mine = unit_curves(rows, strategy, groups)
    n0, base = unit_curves(rows, "random", groups)
    units = [u for u in mine if u in base]
    if not units or len(n) != len(n0):
        return None
    if at is not None:
        if at not in n.tolist():
            return None
        i = n.tolist().index(at)
        return stats.paired(mine[u][i] - base[u][i] for u in units)
    keep = n <= upto
    if keep.sum() < 2:
        return None
    return stats.paired(stats.aulc(n[keep], mine[u][keep]) - stats.aulc(n[keep], base[u][keep]) for u in units)


def gap_cell(g: dict | None) -> str:
    if g is None:
        return "–"
    return f"{g['mean']:+.4f} {reporting.fmt_ci(g['ci'])}" + (" **above**" if stats.separated(g) and g["mean"] > 0 else
                                                           " **below**" if stats.separated(g) else "")


def classes_at(rows: list[dict], strategy: str, n_labeled: int) -> list[int]:
    return [int(r["classes_labeled"]) for r in sorted(rows, key=lambda r: r["seed"])
            if r["strategy"] == strategy and r["n_labeled"] == n_labeled and r.get("classes_labeled")]


def seconds(rows: list[dict], strategy: str, later: bool) -> float | None:
    t = [r["train_s"] + r["score_s"] + r["select_s"] for r in rows if r["strategy"] == strategy and (r["round"] > 0) == later]
    return float(np.mean(t)) if t else None


def table(rows, strategies, groups, budgets, compact: bool = False) -> list[str]:
    head = ["strategy", *[f"acc. at {b}" for b in budgets], *[f"AULC 10–{r}" for r in RANGES],
            *[f"10–{r} − random [95 % CI]" for r in RANGES], f"classes at 10 / {COVERED_BY} (per seed)", "s / round 0",
            "s / later round"]
    keep = len(head) - (3 if compact else 0)  # compact: accuracies, AULCs and gaps only
    body = []
    for s in strategies:
        n, mine = unit_curves(rows, s, groups)
        mean = np.mean(list(mine.values()), axis=0)
        accs = [f"{mean[n.tolist().index(b)]:.4f}" if b in n.tolist() else "–" for b in budgets]
        aulcs = [f"{stats.aulc(n[n <= r], mean[n <= r]):.4f}" if (n <= r).sum() > 1 else "–" for r in RANGES]
        gaps = ["–" if s == "random" else gap_cell(gap(rows, s, groups, upto=r)) for r in RANGES]
        cls = " / ".join(",".join(map(str, classes_at(rows, s, b))) or "–" for b in (10, COVERED_BY))
        t0, t1 = seconds(rows, s, False), seconds(rows, s, True)
        body.append([s, *accs, *aulcs, *gaps, cls, "–" if t0 is None else f"{t0:.1f}", "–" if t1 is None else f"{t1:.1f}"])
    return [reporting.md_table(head[:keep], [b[:keep] for b in body])]


def below_anywhere(rows, s, groups, budgets) -> list[int]:
    """Budgets ≤ 250 at which s is separated below random."""
    out = []
    for b in budgets:
        g = gap(rows, s, groups, at=b) if b <= 250 else None
        if g and stats.separated(g) and g["mean"] < 0:
            out.append(b)
    return out


def earlier_runs(out) -> list[tuple[dict, list[dict]]]:
    """(run record, rows) of each earlier run kept beside this one (``published.earlier_folders``) that ran the default."""
    runs = [(reporting.read_json(f / "run.json"), read_curves(f / "curves.csv")) for f in published.earlier_folders(out)]
    return [(run, rows) for run, rows in runs if any(r["strategy"] == default_strategy() for r in rows)]


def separation(rows, strategy: str) -> str:
    g = gap(rows, strategy, stats.first_label_groups(rows), upto=100)
    return f"{gap_cell(g)} — **{'met' if stats.separated(g) and g['mean'] > 0 else 'not met'}**"


def earlier_lines(earlier) -> list[str]:
    default = default_strategy()
    lines = [f"- {published.run_label(run)}: `{run['command']}` — `{default}` − random over 10–100: {separation(rows, default)}; "
             f"accuracy at 10 labels {np.mean([r['accuracy'] for r in rows if r['strategy'] == default and r['round'] == 0]):.4f}, "
             f"classes at 10 per seed {', '.join(map(str, classes_at(rows, default, 10)))}." for run, rows in earlier]
    return ["## Earlier runs (the same protocol on another machine)", "",
            "Kept so that each verdict is read beside the one before it; the aims above are judged on the run above.", "",
            *lines, ""] if lines else []


def aims(rows, strategies, groups, dataset: str, n_classes: int, earlier=()) -> list[str]:
    default = default_strategy()
    lines = []
    if default not in strategies:
        return [f"- The default strategy (`{default}`) has not run here yet: no aim can be judged."]
    below = below_anywhere(rows, default, groups, sorted({r["n_labeled"] for r in rows}))
    before = "".join(f" (the run of {published.run_label(run)}: {separation(old, default)})" for run, old in earlier)
    lines.append(f"- The default strategy (`{default}`) separated above random on AULC over 10–100 labels: "
                 f"{separation(rows, default)}{before}.")
    lines.append(f"- … and not separated below random at any budget ≤ 250: "
                 + (f"below at {', '.join(map(str, below))} — **not met**." if below else "**met**."))
    n, mine = unit_curves(rows, default, groups)
    mean = np.mean(list(mine.values()), axis=0)
    for target, within in TARGETS.get(dataset, []):
        got = labels_to(n, mean, float(target))
        lines.append(f"- {float(target):.0%} test accuracy from ≤ {within} labels (staying there): "
                     + (f"from {got} labels" if got is not None else "not within the budget")
                     + f" — **{'met' if got is not None and got <= within else 'not met'}**.")
    if dataset == "cifar10":
        g = gap(rows, default, groups, at=CIFAR_GAIN_AT)
        ok = g is not None and g["mean"] >= CIFAR_GAIN
        lines.append(f"- +{CIFAR_GAIN * 100:.0f} points over random at {CIFAR_GAIN_AT} labels: "
                     + ("–" if g is None else f"{g['mean'] * 100:+.1f} points"
                        + (f" [{g['ci'][0] * 100:+.1f}, {g['ci'][1] * 100:+.1f}]" if g["ci"] else ""))
                     + f" — **{'met' if ok else 'not met'}**.")
    covered = classes_at(rows, default, COVERED_BY)
    full = bool(covered) and all(c == n_classes for c in covered)
    lines.append(f"- Every class labeled by {COVERED_BY} labels on every seed: classes per seed "
                 f"{', '.join(map(str, covered)) or '–'} of {n_classes} — **{'met' if full else 'not met'}**.")
    return lines


def verdicts(rows, strategies, groups, budgets) -> list[str]:
    out = []
    for s in strategies:
        if s == "random":
            continue
        g100, g250 = gap(rows, s, groups, upto=100), gap(rows, s, groups, upto=RANGES[1])
        below = below_anywhere(rows, s, groups, budgets)
        words = []
        for g, r in ((g100, 100), (g250, RANGES[1])):
            if g is not None:
                side = "above" if stats.separated(g) and g["mean"] > 0 else "below" if stats.separated(g) else "level with"
                words.append(f"{side} random over 10–{r} ({g['mean']:+.4f}, {g['wins']} of {g['n']} units ahead)")
        out.append(f"- `{s}`: " + "; ".join(words) + (f"; separated below random at {', '.join(map(str, below))} labels"
                                                     if below else "") + ".")
    return out


def load(out, cfg=None):
    """(config, complete rows, strategies with rows, first-label groups, budgets) of a published run, or None."""
    cfg = cfg or published.as_run(None, out / "default")
    path = out / "default" / "curves.csv"
    if cfg is None or not path.exists():
        return None
    rows = read_curves(path)
    strategies = [s for s in cfg.strategies if any(r["strategy"] == s for r in rows)]
    rows = published.complete_rows(rows, strategies, cfg.seeds, cfg.rounds)
    strategies = [s for s in strategies if any(r["strategy"] == s for r in rows)]
    if not rows:
        return None
    return cfg, rows, strategies, stats.first_label_groups(rows), sorted({r["n_labeled"] for r in rows})


def front(results, link_prefix: str = "") -> list[str]:
    """The README's part: each dataset's strategies against random under its defaults, compact, and the aims."""
    parts = []
    for dataset, title in (("mnist", "MNIST"), ("cifar10", "CIFAR-10")):
        got = load(results / "acquisition" / dataset)
        if got is None:
            continue
        cfg, rows, strategies, groups, budgets = got
        link = f"{link_prefix}acquisition/{dataset}/README.md"
        shown = [b for b in (10, 20, 40, 100, 250) if b in budgets]
        parts += [f"### Acquisition against random on {title} — [acquisition/{dataset}/]({link})", "",
                  f"The default learner and representation (`{cfg.learner}`, features `{cfg.features}`), typical first labels, "
                  f"{len({r['seed'] for r in rows})} seeds ({len(groups)} distinct first-label sets); each strategy − random "
                  "paired by first-label set, AULC over 10–100 and 10–250 labels, 95 % interval:", "",
                  *table(rows, strategies, groups, shown, compact=True), "", *aims(rows, strategies, groups, dataset, 10, earlier_runs(results / "acquisition" / dataset)),
                  *changes(results / "acquisition" / dataset, cfg), ""]
    return parts


def changes(out, cfg) -> list[str]:
    """Library changes since the run that would move its numbers (changes.CODE_CHANGES)."""
    return change_notes(out, {"default": cfg}, reporting.read_json_if(out / "run.json"),
                        lambda _: f"the {cfg.dataset} acquisition run")


def render(rep) -> str:
    cfg = rep.cfgs.get("default") or published.as_run(None, rep.out / "default")
    title = f"# Acquisition against random on {cfg.dataset}" + (" (quick mode)" if rep.quick else "")
    got = load(rep.out, cfg)
    if got is None:
        return title + "\n\nNo round has finished yet.\n"
    cfg, rows, strategies, groups, budgets = got
    n_classes, earlier = 10, earlier_runs(rep.out)
    seeds = sorted({r["seed"] for r in rows})
    learner = f"`{cfg.learner}` on `{cfg.features}`" if cfg.features != "auto" else f"`{cfg.learner}`"
    lines = [title, "",
             f"What `activegan run --dataset {cfg.dataset}` does with no option — learner {learner} (the default "
             f"`auto`, features `{cfg.features}`), typical first labels — under each strategy. Labels after each round: "
             f"{', '.join(map(str, budgets))}; {len(seeds)} seeds, {len(groups)} distinct first-label sets (recorded); "
             "every strategy of a seed starts from the same first labels, so each is compared with random paired by "
             "first-label set (t interval over distinct sets). Strategy settings: δ of `probcover` by the k-means "
             "purity rule (no label), `switch`'s switch point from the validation split "
             "([tuning-cifar10.md](../tuning-cifar10.md)); the test set gives only these numbers.", "",
             *tables.run_bullets(rep), *changes(rep.out, cfg), "",
             "- Raw data: [default/curves.csv](default/curves.csv) (one row per strategy, seed and round), "
             "`default/summary.json`, `default/config.json`, `default/learning_curves.png`.", "",
             "## Strategy against random", "", *table(rows, strategies, groups, budgets), "",
             "AULC: area under the seed-mean accuracy curve over the label range, divided by its width. Classes: how many "
             "classes the labeled set holds at 10 and 20 labels, per seed. Seconds: train + score + select, as timed inside "
             "each run (round 0 is the first fit, with the representation built or read from the cache).", "",
             "## What this shows", "", *verdicts(rows, strategies, groups, budgets), "",
             f"## Aims (default strategy: `{default_strategy()}`)", "", *aims(rows, strategies, groups, cfg.dataset, n_classes, earlier),
             "", *earlier_lines(earlier), "## Curves", "", "![curves](default/learning_curves.png)", ""]
    return "\n".join(lines)


def write_overview(results) -> None:
    """docs/results/acquisition/README.md: both datasets' compact tables and aims, and the pages beside them."""
    folder = results / "acquisition"
    pages = [f"- [{p.stem}]({p.name})" for p in sorted(folder.glob("*.md")) if p.name != "README.md"]
    text = "\n".join(["# Acquisition against random under the default learner", "",
                      "Every strategy against random sampling, paired by first-label set, under what `activegan run` does by "
                      "default on each dataset. Full tables, commands and machines: [mnist/](mnist/README.md), "
                      "[cifar10/](cifar10/README.md).", "", *front(results, "../"), "## Settings and costs", "", *pages, ""])
    reporting.write_readme(folder / "README.md", text.replace("](../acquisition/", "]("))
