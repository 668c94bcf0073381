"""The README of the label-efficiency benchmark: one table of learner × cold start × strategy, the aims,
and conclusions with numbers (every figure read from the committed curves and calibration files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from activegan import results as stats
from activegan.results import labels_to, read_curves, summarize
from benchmarks import changes, published, reporting, tables
from benchmarks.label_efficiency_sources import (TEST_IMAGES, calibration_cells, first_label_units, read_calibration,
                                                 tuning_words, units_words)

THRESHOLDS = {"mnist": ("0.90", "0.95", "0.98", "0.99"), "cifar10": ("0.40", "0.50", "0.60", "0.75"), "digits": ("0.90", "0.95")}


AT_LABELS = {"mnist": (40, 100, 250), "cifar10": (50, 110, 250), "digits": (10, 20)}


POOL_STRATEGIES = ["random", "margin", "entropy", "density-entropy"]


# (sub-folder, learner, cold start, strategies): the CNN learners run only the two strategies they can afford.
EXPERIMENTS = [
    ("embedding-typical", "embedding", "typical", [*POOL_STRATEGIES, "typiclust", "probcover"]),
    ("embedding-random", "embedding", "random", POOL_STRATEGIES),
    ("selftrain-typical", "selftrain", "typical", ["random", "margin"]),
    ("cnn-typical", "cnn", "typical", ["random", "margin"]),
    # Generated queries under the strong learner (needs --gan): paired with selftrain-typical's random and
    # margin, which have the same learner, seeds and first labels.
    ("selftrain-gan", "selftrain", "typical", ["gan-margin-match"]),
    ("cnn-random", "cnn", "random", ["random", "margin"]),
    # SEALS (Coleman et al. 2022): margin scored only on the 100 nearest unlabeled neighbours of each labeled
    # image; paired with embedding-typical's full-pool margin and random (same learner, seeds, first labels).
    ("embedding-seals", "embedding", "typical", ["margin"]),
    # The semi-supervised GAN, at the schedule the CPU allows (tuning-ssl-gan.md): to 100 labels on MNIST.
    ("ssl-gan-typical", "ssl-gan", "typical", ["random", "margin"]),
    # A 5th field names the representation (else pixels): the embedded pretrained backbone, for photographs.
    ("lite0-linear-typical", "linear", "typical", ["random", "margin", "entropy", "typiclust", "probcover"],
     "efficientnet-lite0@128"),
    ("lite0-embedding-typical", "embedding", "typical", ["random", "margin"], "efficientnet-lite0@128"),
    # The default since 2026-12-07 21:02 (auto: 160 px, representation/choice.md); the 128-px rows above stay as they ran.
    ("lite0-160-linear-typical", "linear", "typical", ["random", "typiclust"], "efficientnet-lite0@160"),
    # No pretrained weight: a fixed wavelet scattering transform of the pool's own pixels (representation/scattering.md).
    ("scattering-linear-typical", "linear", "typical", ["random", "typiclust"], "scattering"),
]


# X with ≤ N labels. CIFAR-10: 50 % was the aim on pixels; 60 % by 100 and 75 % by 250 are the pretrained backbone's;
# a third field restricts an aim to the learners whose label holds it (no pretrained weight: scattering).
AIMS = {"mnist": [("0.95", 30), ("0.98", 100), ("0.99", 300)], "cifar10": [("0.50", 250), ("0.60", 100), ("0.75", 250), ("0.45", 250, "scattering")]}


def accuracy_at(summary: dict, strategy: str, n: int) -> float | None:
    return summary[strategy]["accuracy_mean"][summary[strategy]["n_labeled"].index(n)] if n in summary[strategy]["n_labeled"] else None


def load(out: Path, sub: str, cfg, groups: list[list[int]] | None = None) -> tuple[dict, dict, dict]:
    """(summary, per-seed AULC, calibration by strategy) of one experiment's finished strategies."""
    path = out / sub / "curves.csv"
    if not path.exists():
        return {}, {}, {}
    rows = published.complete_rows(read_curves(path), cfg.strategies, cfg.seeds, cfg.rounds)
    calib = read_calibration(out / sub / "calibration.csv", rows)
    summary, seed_aulc = (summarize(rows, cfg.strategies) if rows else {}), stats.per_unit_aulc(rows, groups if groups is not None else first_label_units(out, cfg.initial_strategy, sub))
    if cfg.candidates:  # the same strategy on a restricted candidate set: its own name beside the full-pool one
        summary, seed_aulc, calib = ({label(cfg, k): v for k, v in d.items()} for d in (summary, seed_aulc, calib))
    return summary, seed_aulc, calib


def calibration_notes(rep) -> list[str]:
    """One line per calibration row left out of the means, with how far its learner is from the curve's."""
    out = []
    for sub, cfg in rep.cfgs.items():
        for s, v in load(rep.out, sub, cfg)[2].items():
            for c in (c for c in v if c["off_curve"]):
                d = abs(c["accuracy"] - c["curve_accuracy"])
                n = TEST_IMAGES.get(cfg.dataset)
                out.append(f"† {learner_label(cfg)} / {cfg.initial_strategy} / {s}: test log-loss and ECE over "
                           f"{len(v) - 1} of {len(v)} seeds. Seed {c['seed']}'s row of `{sub}/calibration.csv` comes from a "
                           f"refit final learner whose test accuracy ({c['accuracy']:.4f}) is "
                           + (f"{round(d * n)} test images" if n else f"{d:.4f}")
                           + f" away from the curve's ({c['curve_accuracy']:.4f}): not the run's learner, so it is left out "
                           "of the mean (its row stays in the file).")
    return out


def classes_at_first_budget(rep) -> list[str]:
    """Classes among each seed's first labels, from curves.csv's classes_labeled (runs before that column: not
    recorded). The first labels are the same for every strategy of an experiment."""
    out = []
    for sub, cfg in rep.cfgs.items():
        path = rep.out / sub / "curves.csv"
        if not path.exists():
            continue
        first = {r["seed"]: r.get("classes_labeled") for r in read_curves(path) if r["round"] == 0}
        recorded = [first[s] for s in sorted(first) if first[s] not in (None, "")]
        what = (", ".join(str(int(float(x))) for x in recorded) if len(recorded) == len(first) and first
                else "not recorded by this run (its curves.csv has no classes_labeled column)")
        what = f"classes labeled at {cfg.schedule()[0]} labels, per seed: {what}"
        out.append(f"- {learner_label(cfg)} / {cfg.initial_strategy} (`{sub}`): {what}.")
    return out


def label(cfg, strategy: str) -> str:
    """'margin' → 'margin (knn:100)' when the experiment scores a restricted candidate set (SEALS)."""
    return f"{strategy} ({cfg.candidates})" if cfg.candidates else strategy


def strategy_of(name: str) -> str:
    return name.split(" (")[0]


def same_first_labels(out: Path, a: str, b: str) -> bool:
    """Whether two experiments' seeds drew the same first labels, so that they pair by seed: both recorded
    and equal, or neither recorded (the runs before 2026-12-06, one deterministic typical pick per seed)."""
    rows = [read_curves(out / x / "curves.csv") if (out / x / "curves.csv").exists() else [] for x in (a, b)]
    recorded = [stats.recorded_first_labels(r) for r in rows]
    if not all(recorded):
        return not any(recorded)
    first = [{(r["seed"], r["first_labels"]) for r in rr if r["round"] == 0} for rr in rows]
    return first[0] == first[1]


def with_baseline(rep, sub: str, cfg) -> tuple[dict, dict, dict]:
    """``load``, with random and the pool strategies of the sibling experiment of the same learner and
    first labels added to the per-seed AULC when this one has no random of its own (the GAN experiment)."""
    summary, seed_aulc, calib = load(rep.out, sub, cfg)
    if "random" in cfg.strategies:
        return summary, seed_aulc, calib
    for other, ocfg in rep.cfgs.items():
        if other != sub and "random" in ocfg.strategies and (learner_label(ocfg), ocfg.initial_strategy, ocfg.seeds, ocfg.budgets) \
                == (learner_label(cfg), cfg.initial_strategy, cfg.seeds, cfg.budgets) and same_first_labels(rep.out, sub, other):
            osummary, oseed, _ = load(rep.out, other, ocfg)
            return {**osummary, **summary}, {**oseed, **seed_aulc}, calib
    return summary, seed_aulc, calib


def seconds_per_round(out: Path, sub: str, strategy: str, column: str | None = None, first: int = 1) -> float:
    """Mean seconds per round from round ``first`` on (1: later rounds; 0: all rounds): train + score +
    select, or one of those ``column``s."""
    rows = [r for r in read_curves(out / sub / "curves.csv") if r["strategy"] == strategy and r["round"] >= first]
    cols = [column] if column else ["train_s", "score_s", "select_s"]
    return float(np.mean([sum(r[c] for c in cols) for r in rows])) if rows else float("nan")


def _sibling_score_s(rep, cfg, strategy: str) -> float:
    """Scoring seconds per round of ``strategy`` in the experiment with the same learner and first labels
    that scores the whole pool."""
    for other, ocfg in rep.cfgs.items():
        if not ocfg.candidates and strategy in ocfg.strategies and (learner_label(ocfg), ocfg.initial_strategy) == \
                (learner_label(cfg), cfg.initial_strategy) and (rep.out / other / "curves.csv").exists():
            return seconds_per_round(rep.out, other, strategy, "score_s")
    return float("nan")


def table(rep, compact: bool = False) -> tuple[str, dict]:
    """The learner × first labels × strategy table; ``compact`` keeps accuracy, AULC and the gap to random only."""
    dataset = next(iter(rep.cfgs.values())).dataset
    thresholds, at = THRESHOLDS[dataset], AT_LABELS[dataset]
    head = ["learner", "first labels", "strategy", *[f"labels to {float(t):.0%}" for t in thresholds],
            *[f"acc. at {n}" for n in at], "AULC", "AULC − random [95 % CI]", "s / round (all)", "s / later round", "test log-loss", "ECE"]
    body, everything = [], {}
    for sub, cfg in rep.cfgs.items():
        summary, seed_aulc, calib = load(rep.out, sub, cfg)
        seed_aulc = with_baseline(rep, sub, cfg)[1]
        for s, v in summary.items():
            everything[(learner_label(cfg), cfg.initial_strategy, s)] = v
            gap = stats.paired_gap(seed_aulc, s) if s != "random" else None
            n, mean = v["n_labeled"], v["accuracy_mean"]
            body.append([learner_label(cfg), cfg.initial_strategy, s,
                         *[_labels(n, mean, float(t)) for t in thresholds],
                         *[f"{accuracy_at(summary, s, k):.4f}" if k in n else "–" for k in at],
                         f"{v['aulc_mean']:.4f}", _gap(gap), f"{seconds_per_round(rep.out, sub, strategy_of(s), first=0):.1f}",
                         f"{seconds_per_round(rep.out, sub, strategy_of(s)):.1f}",
                         *calibration_cells(calib, s)])
    if compact:
        keep = [i for i, h in enumerate(head) if not h.startswith(("labels to", "s / ", "test log-loss", "ECE"))]
        head, body = [head[i] for i in keep], [[row[i] for i in keep] for row in body]
    return reporting.md_table(head, body), everything


def _labels(n, mean, target: float) -> str:
    stays = labels_to(n, mean, target)
    return "–" if stays is None else str(stays)


def _gap(gap: dict | None) -> str:
    if not gap:
        return "–"
    ci = gap["ci"]
    return f"{gap['mean']:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


def aims(everything: dict, dataset: str, stale: set = frozenset()) -> list[str]:
    """Each aim of ``dataset`` read from the table's rows; a row named that ``stale`` holds is flagged as run before
    library changes that would move it."""
    out = []
    for target, limit, *only in AIMS.get(dataset, []):
        if not (among := {k: v for k, v in everything.items() if not only or only[0] in k[0]}):
            continue  # not run here
        best = {k: b for k, v in among.items() if (b := labels_to(v["n_labeled"], v["accuracy_mean"], float(target))) is not None}
        pct = f"{float(target):.0%}" + (f" ({only[0]}: no pretrained weight)" if only else "")
        if not best:
            top = max(among.items(), key=lambda kv: kv[1]["accuracy_mean"][-1])
            where = f" (highest final seed-mean: {top[1]['accuracy_mean'][-1]:.4f}, {' / '.join(top[0])}{_stale(top[0], stale)})"
            out.append(f"- {pct} with ≤ {limit} labels: no learner and strategy stays ≥ {pct} within the budget{where} — **not met**.")
            continue
        k, b = min(best.items(), key=lambda kv: kv[1])
        judged, today = b, ""
        fresh = {key: n for key, n in best.items() if key not in stale}
        if k in stale and fresh:  # the verdict is read on the rows run with today's library
            f = min(fresh, key=fresh.get)
            judged, today = fresh[f], f"; among rows run with today's library, {' / '.join(f)} from {fresh[f]} labels"
        out.append(f"- {pct} with ≤ {limit} labels: best {' / '.join(k)}{_stale(k, stale)} stays ≥ {pct} from {b} labels{today} — "
                   + ("**met**." if judged <= limit else "**not met**."))
    from benchmarks.speed_report import features_time_aim, round_speed_aim

    return out + round_speed_aim(dataset) + features_time_aim(dataset)


def _stale(key: tuple, stale: set) -> str:
    return " (run before library changes that would move it: the notes above)" if key in stale else ""


def conclusions(rep, everything: dict) -> list[str]:
    out = []
    for sub, cfg in rep.cfgs.items():
        summary, seed_aulc, _ = with_baseline(rep, sub, cfg)
        if "random" not in summary:
            continue
        gaps = {label(cfg, s): stats.paired_gap(seed_aulc, label(cfg, s)) for s in cfg.strategies
                if s != "random" and label(cfg, s) in summary}
        for s in [s for s in gaps if s != strategy_of(s) and strategy_of(s) in seed_aulc]:  # SEALS against the full pool
            g = stats.paired_gap(seed_aulc, s, strategy_of(s))
            out.append(f"- {learner_label(cfg)}, {cfg.initial_strategy} first labels: {s} against {strategy_of(s)} on the whole pool "
                       f"(AULC {summary[strategy_of(s)]['aulc_mean']:.4f}): {tables.gap_words(g, len(cfg.seeds))}, 95 % interval "
                       f"{_gap(g)}; scoring {seconds_per_round(rep.out, sub, strategy_of(s), 'score_s'):.2f} s per round against "
                       f"{_sibling_score_s(rep, cfg, strategy_of(s)):.2f} s.")
        for s in [s for s in gaps if s.startswith("gan-")]:  # generated queries against their pool acquisition too
            acq = s.split("-")[1]
            if acq in seed_aulc:
                out.append(f"- {learner_label(cfg)}, {cfg.initial_strategy} first labels: {s} against pool {acq} "
                           f"(AULC {summary[acq]['aulc_mean']:.4f}): {tables.gap_words(stats.paired_gap(seed_aulc, s, acq), len(cfg.seeds))}.")
        above = [s for s, g in gaps.items() if stats.separated(g) and g["mean"] > 0]
        below = [s for s, g in gaps.items() if stats.separated(g) and g["mean"] < 0]
        if gaps:
            out.append(f"- {learner_label(cfg)}, {cfg.initial_strategy} first labels: against random (AULC {summary['random']['aulc_mean']:.4f}), "
                       + "; ".join(f"{s} {tables.gap_words(g, len(cfg.seeds))}" for s, g in gaps.items())
                       + f". Separated above random: {', '.join(above) or 'none'}; below: {', '.join(below) or 'none'}.")
        out += missing_classes(rep, sub, cfg)
    out += against_default(rep)
    pairs = [(k, v) for k, v in everything.items() if k[2] == "random"]
    if len(pairs) > 1:
        ranked = sorted(pairs, key=lambda kv: -kv[1]["aulc_mean"])
        full = max(len(v["n_labeled"]) for _, v in pairs)
        out.append("- Random sampling under each learner and cold start, by AULC: "
                   + "; ".join(f"{k[0]} / {k[1]} {v['aulc_mean']:.4f}" + _span(v, full) for k, v in ranked) + ".")
    return out


DEFAULTS = {"colour": ("linear on efficientnet-lite0@160", "typical"), "grey": ("selftrain", "typical")}  # `run`'s, per kind


def default_of(dataset: str) -> tuple[str, str]:
    """The default learner (with its representation) and first labels for a dataset's kind of images."""
    return DEFAULTS["colour" if dataset == "cifar10" else "grey"]


def learner_label(cfg) -> str:
    """The learner as the tables name it: with its representation when that is not the pixels."""
    features = getattr(cfg, "features", "pixels")
    return cfg.learner if features in ("pixels", None) else f"{cfg.learner} on {features}"


def against_default(rep) -> list[str]:
    """Each learner's random sampling against the default learner's, paired by seed: the same seeds, first
    labels and label schedule (the measurement behind the defaults)."""
    runs = {(learner_label(c), c.initial_strategy): (sub, c) for sub, c in rep.cfgs.items() if "random" in c.strategies}
    DEFAULT = default_of(next(iter(rep.cfgs.values())).dataset)
    if DEFAULT not in runs:
        return []
    dsub, dcfg = runs[DEFAULT]
    out = []
    for key, (sub, cfg) in runs.items():
        if key == DEFAULT or (cfg.seeds, cfg.schedule()) != (dcfg.seeds, dcfg.schedule()):
            continue
        if cfg.initial_strategy != dcfg.initial_strategy or not same_first_labels(rep.out, dsub, sub):
            out.append(f"- The default ({' / '.join(DEFAULT)}) against {' / '.join(key)}: not compared — `{dsub}` and `{sub}` "
                       "drew different first labels (another cold start, a rerun after each seed began drawing its own, or another "
                       "representation), so they do not pair by seed.")
            continue
        units = stats.merge_groups(first_label_units(rep.out, dcfg.initial_strategy, dsub), first_label_units(rep.out, cfg.initial_strategy, sub))
        base = load(rep.out, dsub, dcfg, units)[1].get("random", {})
        other = load(rep.out, sub, cfg, units)[1].get("random", {})
        g = stats.paired_gap({"default": base, "other": other}, "default", "other")
        if g and g["n"]:
            out.append(f"- The default ({' / '.join(DEFAULT)}) against {' / '.join(key)}, both under random sampling, paired by "
                       f"first-label set: {tables.gap_words(g, len(cfg.seeds))}, 95 % interval "
                       + (f"[{g['ci'][0]:+.4f}, {g['ci'][1]:+.4f}]" if g["ci"] else "–")
                       + ("." if stats.separated(g) else " — not separated."))
    return out


def _span(v: dict, full: int) -> str:
    """' (10–100 labels only)' for a curve shorter than the others: its AULC covers fewer, harder rounds."""
    n = v["n_labeled"]
    return "" if len(n) == full else f" ({n[0]}–{n[-1]} labels only, not comparable)"


def shorter_runs(rep, cfg0) -> list[str]:
    """Experiments whose label schedule ends early (as the machine allows), and what that does to their AULC."""
    return [f"- `{sub}` ran to {cfg.schedule()[-1]} labels only ({', '.join(map(str, cfg.schedule()))}), as this machine "
            f"allows: its AULC spans {cfg.schedule()[0]}–{cfg.schedule()[-1]} labels, the early rounds where accuracy is "
            "lowest, and is not comparable with the full-length rows." for sub, cfg in rep.cfgs.items()
            if cfg.schedule() != cfg0.schedule()]


def missing_classes(rep, sub: str, cfg) -> list[str]:
    """Strategies whose final labeled sets miss classes (from calibration.csv's classes_labeled)."""
    _, _, calib = load(rep.out, sub, cfg)
    out = []
    for s, v in calib.items():
        short = [c for c in v if c["classes_labeled"] < c["classes"]]  # (False for the nan of files written before these columns)
        if short:
            out.append(f"  - {s}: {len(short)} of {len(v)} seeds end with classes never labeled (labeled classes per seed: "
                       f"{', '.join(format(c['classes_labeled'], '.0f') for c in v)} of {v[0]['classes']:.0f}): a class without a label gets no spread mass, so the learner never predicts it"
                       + ("." if s == "random" else " and no uncertainty score points at its images."))
    return out


def stale_rows(rep) -> set[tuple]:
    """The table's rows (learner, first labels, strategy) whose units a library change since their run would move."""
    return changes.stale_rows(rep.out, rep.cfgs, lambda cfg, s: (learner_label(cfg), cfg.initial_strategy, s))


def code_changes(rep) -> list[str]:
    """Library changes since each experiment ran that would move its numbers (changes.CODE_CHANGES)."""
    return changes.change_notes(rep.out, rep.cfgs, reporting.read_json_if(rep.out / "run.json"))


def render(rep) -> str:
    # Every experiment published in this folder, not only those this invocation ran.
    found = {sub: published.as_run(None, rep.out / sub) for sub, *_ in EXPERIMENTS if (rep.out / sub / "config.json").exists()}
    rep.cfgs = {**{s: c for s, c in found.items() if c is not None}, **rep.cfgs}
    # an experiment this dataset never ran (no curves here) has nothing to report: its config is only the command's
    rep.cfgs = {s: c for s, c in rep.cfgs.items() if (rep.out / s / "curves.csv").exists()} or rep.cfgs
    dataset = next(iter(rep.cfgs.values())).dataset
    cfg0 = max(rep.cfgs.values(), key=lambda c: len(c.schedule()))
    text, everything = table(rep)
    lines = [f"# Label efficiency on {dataset}" + (" (quick mode)" if rep.quick else ""), "",
             f"Labels after each round: {', '.join(map(str, cfg0.schedule()))}; {len(cfg0.seeds)} seeds ({units_words(rep.out, rep.cfgs)}; "
             "paired intervals count each distinct set once, averaging its seeds); first labels chosen "
             "without labels (random, or typical = TypiClust on the pool's embedding). Learners: `embedding` (label "
             "spreading over a k-NN graph of a PCA → UMAP embedding fit on the pool's images only; test images mapped with "
             "`transform`), `selftrain` (a CNN trained each round on every pool image against the spread labels — in runs "
             "made before 2026-12-07 from the second round against their mean with its own predictions while the spread "
             "labels are sure of themselves and the round labels no class it has not seen; warm-started; classifies test "
             "images itself), `cnn` (the poster's supervised CNN, 50 epochs per round, 2 000 "
             "candidates scored per round) and `ssl-gan` (the DCGAN's discriminator as a K+1-class semi-supervised "
             "classifier trained on labeled, pool and generated images, feature matching; warm-started). Learners `on "
             "efficientnet-lite0@SIZE` work on the embedded pretrained backbone's features of the pool (SIZE px: 160, the "
             "default since 2026-12-07, or 128 before; L2-normalised, "
             "PCA-128 fit on the pool, no UMAP) instead of its pixels: `embedding` spreads over their k-NN graph, `linear` is "
             "a logistic-regression head fit on every pool image's spread label weighted by its confidence "
             "(docs/results/representation/). "
             + tuning_words(rep.out, dataset),
             "", *tables.run_bullets(rep), *tables.separate_runs(rep), *shorter_runs(rep, cfg0), *code_changes(rep), "",
             "- Raw data: each sub-folder's `curves.csv`, `summary.json`, `config.json`, `calibration.csv` (test log-loss and "
             "15-bin expected calibration error of each unit's final learner), `learning_curves.png`.", "",
             "## Learner × first labels × strategy", "", text, "",
             "Labels to X: the first count after which the seed-mean accuracy stays ≥ X ('–': not within the budget). "
             "AULC − random: paired by first-label set under the same learner (t interval over distinct sets). "
             + ROUND_NOTE, "", *sum(([n, ""] for n in calibration_notes(rep)), []),
             "## First labels", "", *classes_at_first_budget(rep),
             *(["- Which typical cold start covers the most classes, and what it does to accuracy: [cold-start.md](cold-start.md) "
                "(validation)."] if (rep.out / "cold-start.md").exists() else []), "",
             "## Aims", "", *aims(everything, dataset, stale_rows(rep)), "",
             "## What this shows", "", *conclusions(rep, everything), "", "## Curves", ""]
    lines += [f"![{sub}]({sub}/learning_curves.png)" for sub in rep.cfgs if (rep.out / sub / "learning_curves.png").exists()]
    return "\n".join(lines)


ROUND_NOTE = ("s / round (all): train + score + select, mean over every round including round 0 (the first fit); "
              "s / later round: the same from round 1 on, as timed inside each run — on a shared machine, and "
              "before 2026-12-01 16:00 UTC with worker processes that oversubscribed the cores (fixed since: "
              "`workers.limit_threads`); the default learner's round measured alone: [speed](../../speed/README.md), section (e).")
