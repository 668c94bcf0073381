"""The Gal et al. (2017) report: the paper's Table 1 beside ours, each MC-dropout acquisition against
random with a paired interval over first-label sets, and the label aims. Reads the results folder only."""

from __future__ import annotations

from activegan import results as stats
from activegan.results import read_curves, summarize
from benchmarks import published, reporting, tables

MC = ("mc-entropy", "bald", "variation-ratios")  # the acquisition functions that average MC-dropout samples


# The paper's Table 1: labels to 90 % and 95 % test accuracy on MNIST. Its "Max Entropy" is the
# entropy of the mean MC-dropout prediction: our mc-entropy. Our plain `entropy` (one
# deterministic prediction) is not the same acquisition function.
GAL_PAPER = {"variation-ratios": (120, 295), "bald": (145, 335), "mc-entropy": (165, 355), "random": (255, 835)}


PAPER_BUDGET, PAPER_MC_SAMPLES = 1000, 20  # the paper's label budget and MC-dropout samples


def paper_row(s: str) -> tuple[int, int] | None:
    """The paper's numbers for our strategy: deterministic entropy is shown against Max Entropy, marked."""
    return GAL_PAPER.get("mc-entropy" if s == "entropy" else s)


AIM = {"0.90": 60, "0.95": 150}  # labels, with the best strategy


def conclusions(summary: dict, seed_aulc: dict) -> list[str]:
    """The aim, each strategy against random with a paired test, and the paper's ordering."""

    def labels(s, k):
        return summary[s]["labels_to"][k]

    out = []
    for k, limit in AIM.items():
        reached = {s: labels(s, k) for s in summary if labels(s, k) is not None}
        pct = f"{float(k):.0%}"
        if reached:
            best = min(reached, key=reached.get)
            word = "**met**" if reached[best] <= limit else "**not met**"
            out.append(f"- Aim, {pct} with at most {limit} labels: best {best}, whose seed-mean accuracy stays ≥ {pct} from "
                       f"{tables.labels_cell(summary[best], k)} labels — {word}.")
        else:
            touched = {s: summary[s].get("first_reach", {}).get(k) for s in summary}
            touched = {s: v for s, v in touched.items() if v is not None}
            note = (" (" + ", ".join(f"{s} touched it at {v} and fell back" for s, v in touched.items()) + ")") if touched else ""
            out.append(f"- Aim, {pct} with at most {limit} labels: no strategy stays ≥ {pct} within the budget{note} — **not met**.")
    gaps = {s: stats.paired_gap(seed_aulc, s) for s in summary if s != "random"}
    gaps = {s: g for s, g in gaps.items() if g}
    for s, g in gaps.items():
        noise = ("within noise of random" if not stats.separated(g) else
                 "separated from random" if g["mean"] > 0 else "below random")
        out.append(f"- {s} against random: AULC {tables.gap_words(g)}, 95 % interval {reporting.fmt_ci(g['ci'])} — {noise}; "
                   f"labels to 90 %: {tables.labels_cell(summary[s], '0.90')} vs {tables.labels_cell(summary['random'], '0.90')}.")
    order = [s for s in summary if paper_row(s)]
    if len(order) > 1:
        ours = sorted(order, key=lambda s: -summary[s]["aulc_mean"])
        paper = sorted(order, key=lambda s: paper_row(s)[0])
        same = ours == paper
        noisy = [s for s in ours if s in gaps and not stats.separated(gaps[s])]
        tests = "; ".join(f"{s} {reporting.p_words(gaps[s]['p'])}" for s in ours if s in gaps)
        text = (f"- The paper's order by labels to 90 %: {' < '.join(paper)}; ours by mean AULC (best first): {' > '.join(ours)} — "
                + ("the same order" if same else "a different order") + f" (paired t-tests against random: {tests}).")
        if noisy:
            text += (f" {', '.join(noisy)} {'is' if len(noisy) == 1 else 'are'} within noise of random with {len(seed_aulc['random'])} "
                     "seeds, so the order does not establish " + ("it" if len(noisy) == 1 else "their places") + ".")
        out.append(text)
    if "entropy" in summary and "mc-entropy" not in summary:
        out.append("- This run's `entropy` scores one deterministic prediction; the paper's Max Entropy averages MC-dropout "
                   "samples (`mc-entropy`, the default since this run). The `entropy` row is set beside the paper's Max Entropy "
                   "for reference only: not like for like, and not rerun yet.")
    return out


def render(rep: tables.Report) -> str:
    cfg = rep.cfgs[""]
    test_subset = None if rep.quick else test_subset_of(rep)
    progress = reporting.read_json_if(rep.out / "progress.json")
    mc = [s for s in cfg.strategies if s in MC]
    steps = cfg.train.steps
    lines = [
        "# Gal et al. (2017) protocol on MNIST" + (" (quick mode: digits)" if rep.quick else ""),
        "",
        f"{cfg.initial} class-balanced initial labels + {cfg.rounds} rounds × {cfg.query_size} (up to "
        f"{published.budget(cfg)} labels), a random subset of {cfg.subset:,} unlabeled images scored per "
        f"round, {len(cfg.seeds)} seeds, the Keras-style MNIST CNN of the poster retrained from scratch each round for "
        + (f"{steps} gradient steps" if steps else f"{cfg.train.epochs} epochs")
        + f" (Adam, lr {cfg.train.lr}, batch {cfg.train.batch_size})"
        + (f", MC dropout with {cfg.mc_samples} samples for {', '.join(mc)}" if mc else "") + ", "
        + (f"accuracy on a fixed class-balanced {test_subset:,} of the 10 000 test images (the same for every strategy, seed "
           "and round)." if test_subset else "the full test set for accuracy."),
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        *tables.run_bullets(rep),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format, all rounds done so far), "
        "[config.json](config.json), [progress.json](progress.json), [run.json](run.json).",
        "",
        "Differences from the paper: Adam without weight decay instead of the paper's training set-up, a budget of "
        f"{published.budget(cfg)} labels instead of {PAPER_BUDGET:,}, {len(cfg.seeds)} seeds"
        + (f", {steps} gradient steps per round whatever the number of labels (an epoch count would give the "
           "smallest labeled sets only a few steps)" if steps else "")
        + (f", MC dropout with {cfg.mc_samples} samples instead of {PAPER_MC_SAMPLES}" if cfg.mc_samples != PAPER_MC_SAMPLES and mc else "")
        + (", entropy from one deterministic prediction instead of the paper's MC-dropout mean (Max Entropy)"
           if "entropy" in cfg.strategies and "mc-entropy" not in cfg.strategies else "")
        + (f", accuracy on {test_subset:,} test images" if test_subset else "") + ". Labels to an accuracy are read off "
        "the seed-mean curve, so 'not reached' means not within our budget (the paper's random needed "
        f"{GAL_PAPER['random'][1]} for 95 %)."
        + (f" With {steps} steps per round our classifier is trained far less than the paper's, so our label counts are "
           "higher than theirs for every strategy; the strategies are compared like for like (same model, training and "
           "seeds; random included)." if steps else ""),
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = published.complete_rows(read_curves(rep.out / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if summary:
        extra = {"headers": ["paper (Table 1): 90 %", "paper: 95 %"]}
        for s in summary:
            p = paper_row(s)
            mark = " (Max Entropy, MC)" if s == "entropy" else ""
            extra[s] = [f"{p[0]}{mark}", str(p[1])] if p else ["–", "–"]
        seed_aulc = stats.per_unit_aulc(rows)
        lines += ["## Labels to 90 % and 95 % test accuracy", "", tables.strategy_table(summary, seed_aulc, extra), "",
                  tables.LABELS_NOTE, "", "## What this shows", "", *conclusions(summary, seed_aulc), ""]
        missing = [s for s in cfg.strategies if s not in summary]
        if missing:
            lines += [f"Not finished yet: {', '.join(missing)}.", ""]
        lines += ["![learning curves](learning_curves.png)", ""]
    else:
        lines += ["Running: no strategy has finished all its seeds yet.", ""]
    if not rep.quick:
        lines += ["## Continue", "", tables.continue_text(rep.cmd, f"runs/bench/{rep.name}.log")]
    return "\n".join(lines)


def test_subset_of(rep: tables.Report) -> int | None:
    """The test subset the run used: from its recorded command (default 2 000), else this command's option."""
    import shlex

    if rep.run and "test_subset" in rep.run:
        return rep.run["test_subset"] or None
    words = shlex.split(rep.cmd)
    if "--test-subset" in words:
        return int(words[words.index("--test-subset") + 1]) or None
    return DEFAULT_TEST_SUBSET if rep.run else (rep.args.test_subset or None)


DEFAULT_TEST_SUBSET = 2000
