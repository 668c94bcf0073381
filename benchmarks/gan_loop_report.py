"""The report of generated queries in the loop (gan_loop's results folder): each GAN strategy against
random and against pool entropy, paired over first-label sets. Reads the results folder only."""

from __future__ import annotations

from pathlib import Path

from activegan import results as stats
from activegan.loop import ExperimentConfig
from activegan.results import read_curves, summarize
from benchmarks import published, reporting, tables


GENERATED = ("gan-entropy-match", "gan-entropy-model")


def poster_check(results_root: Path, rows: list[dict]) -> str | None:
    """Do random and entropy here repeat the poster benchmark's 5-epoch rows exactly?"""
    other = results_root / "mnist-poster" / "epochs-5" / "curves.csv"
    if not other.exists():
        return None
    theirs = {(r["strategy"], r["seed"], r["round"]): r["accuracy"] for r in read_curves(other)}
    pairs = [(r["accuracy"], theirs.get((r["strategy"], r["seed"], r["round"]))) for r in rows if r["strategy"] in ("random", "entropy")]
    pairs = [(a, b) for a, b in pairs if b is not None]
    if not pairs:
        return None
    same = sum(abs(a - b) < 1e-6 for a, b in pairs)
    return (f"Random and entropy are the same runs as the poster benchmark's 5-epoch ones: {same} of {len(pairs)} "
            "rounds give the identical test accuracy (same seeds, same initial weights per round, one thread).")


def generator_words(cfg: ExperimentConfig) -> str:
    return (f"the DCGAN `{cfg.gan.checkpoint}` for every seed" if cfg.gan.checkpoint else
            f"one DCGAN per seed (width {cfg.gan.ngf}, trained {cfg.gan.epochs or 5} epochs on the pool images, cached)")


def render(rep: tables.Report) -> str:
    cfg = rep.cfgs[""]
    results = rep.out
    progress = reporting.read_json_if(results / "progress.json")
    judge_epochs = (rep.run or {}).get("reference_epochs")
    judge = f" trained {judge_epochs} epochs" if judge_epochs else ""
    lines = [
        "# Generated queries in the loop, MNIST" + (" (quick mode: digits)" if rep.quick else ""),
        "",
        f"{', '.join(published.display_name(s) for s in cfg.strategies)}; {len(cfg.seeds)} seeds, {cfg.initial} class-balanced "
        f"initial labels + {cfg.rounds} rounds × {cfg.query_size} (up to {published.budget(cfg)} labels), the poster's MNIST CNN "
        f"retrained from scratch for {cfg.train.epochs} epochs each round; pool strategies score a random subset of {cfg.subset:,} "
        f"unlabeled images per round. GAN strategies use {generator_words(cfg)}: each round {cfg.gan.candidates:,} z ~ U(−1, 1)^100 "
        f"are drawn, the generated images scored by entropy under the current classifier, and the top {cfg.query_size} kept "
        f"(near-duplicates above pixel cosine {cfg.gan.dedup} skipped). `match`: each is replaced by its nearest unlabeled pool "
        f"image ({cfg.gan.match_features}, faiss, never twice) whose true label is revealed. `model` — a **privileged oracle**: a "
        f"reference CNN{judge} on the labels of the whole pool labels the generated image if its confidence is ≥ "
        f"{cfg.gan.model_threshold}, otherwise it is rejected; either way it costs one label. No real user has a classifier "
        "trained on every label of the pool, so `gan-*-model` is an upper bound, not a method.",
        "",
        f"- Status: {'not run yet' if progress is None else ('complete' if progress['complete'] else 'partial')}"
        + (f", {progress['rounds_done']} of {progress['rounds_total']} rounds." if progress else "."),
        *tables.run_bullets(rep),
        "- Raw data: [curves.csv](curves.csv), [summary.json](summary.json) (the core format), [config.json](config.json), "
        "[progress.json](progress.json), [run.json](run.json).",
        "",
    ]
    if progress is None:
        return "\n".join(lines + ["Not run yet."])
    rows = published.complete_rows(read_curves(results / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    summary = summarize(rows, cfg.strategies) if rows else {}
    if not summary:
        return "\n".join(lines + ["Running: no strategy has finished all its seeds yet."])
    seed_aulc = stats.per_unit_aulc(rows)
    lines += ["## AULC and final accuracy", "", tables.strategy_table(summary, seed_aulc), "", tables.LABELS_NOTE, ""]
    missing = [s for s in cfg.strategies if s not in summary]
    if missing:
        lines += [f"Not finished yet: {', '.join(missing)}.", ""]
    lines += ["![learning curves](learning_curves.png)", ""]

    lines += ["## Generated against pool queries and random", ""]
    for gen in GENERATED:
        for base in ("entropy", "random"):
            g = stats.paired_gap(seed_aulc, gen, base)
            if g:
                word = ("not separated from" if not stats.separated(g) else "above" if g["mean"] > 0 else "below")
                lines.append(f"- {published.display_name(gen)} vs {base}: AULC {g['mean']:+.4f} (per seed "
                             f"{', '.join(f'{x:+.4f}' for x in g['per_seed'])}; ahead in {g['wins']} of {g['n']} seeds; paired "
                             f"t-test {reporting.p_words(g['p'])}, 95 % interval {reporting.fmt_ci(g['ci'])}: {word} {base}).")
    acc = (rep.run or {}).get("model_oracle")
    if acc:
        lines.append(f"- The privileged oracle accepted {acc['accepted']} of the {acc['asked']} generated images it was asked about "
                     f"({acc['accepted'] / max(acc['asked'], 1):.0%}); the rest were rejected and still cost their label.")
    check = poster_check(experiments_root(results), rows)
    if check:
        lines += ["", check]
    lines.append("")
    for s in GENERATED:
        if (results / f"queries_{s}.png").exists():
            lines += [f"First rounds' generated queries of {published.display_name(s)}, seed {cfg.seeds[0]}: ![{s}](queries_{s}.png)", ""]
    if (results / "matched_gan-entropy-match.png").exists():
        lines += ["The pool images the match oracle took for them, cell for cell: ![matched](matched_gan-entropy-match.png)", ""]
    if not rep.quick:
        lines += ["## Continue", "", tables.continue_text(rep.cmd, f"runs/bench/{rep.state.name}.log")]
    return "\n".join(lines)


def experiments_root(out: Path) -> Path:
    """docs/results for docs/results/gan/<run>; the folder above otherwise."""
    return out.parent.parent if out.parent.name == "gan" else out.parent
