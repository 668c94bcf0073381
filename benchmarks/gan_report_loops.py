"""The DCGAN page's sections on generated queries in the loop (every gan/mnist-loop* run, the demo's
GAN strategy) and on the CIFAR-10 DCGAN. Reads the committed results only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from activegan import results as stats
from benchmarks import published, reporting, tables
from benchmarks.gan_runs import LOOPS, judged, read_csv, rng


def loop_section(root: Path, runs: dict, m: dict) -> tuple[list[str], dict]:
    from activegan.results import read_curves, summarize
    from benchmarks import gan_loop_report

    old, new = m["target"]["judge_epochs"], m["judge_switch"]["to_epochs"]
    loops = {}
    for name in LOOPS:
        folder = root / name
        if not (folder / "curves.csv").exists():
            continue
        cfg = published.as_run(None, folder)
        rows = published.complete_rows(read_curves(folder / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
        loops[name] = {"cfg": cfg, "rows": rows, "summary": summarize(rows, cfg.strategies), "seed_aulc": stats.per_unit_aulc(rows),
                       "run": reporting.read_json_if(folder / "run.json") or {}, "gen": m["loop_generators"].get(name)}
    if not loops:
        return ["## MNIST: generated queries in the loop", "", "Not run yet.", ""], {}
    first = next(iter(loops.values()))
    c = first["cfg"]
    lines = [
        "## MNIST: generated queries in the loop",
        "",
        f"Benchmark `python -m benchmarks.gan_loop`, run {len(loops)} times with a different generator behind the GAN strategies — "
        "full reports, tables per seed, query grids and raw curves in "
        + ", ".join(f"[{n}/]({n}/README.md)" for n in loops)
        + f". The poster benchmark's MNIST budget at {c.train.epochs} epochs: {c.initial} class-balanced labels + {c.rounds} rounds × "
        f"{c.query_size} ({published.budget(c)} labels), {len(c.seeds)} seeds, classifier retrained from scratch each round; pool "
        f"strategies score a {c.subset:,}-image random subset each round; the GAN strategies score {c.gan.candidates:,} generated "
        "images each round (the same generator for every seed). `gan-entropy-model` is labelled by a **privileged oracle** — a "
        "reference CNN trained on the labels of the whole pool, an upper bound a real user does not have; `gan-entropy-match` "
        "reveals the true label of the nearest real pool image.",
        "",
    ]
    for i, (name, L) in enumerate(loops.items(), 1):
        run, gen = L["run"], L["gen"]
        g = f"the DCGAN [{gen}](mnist-dcgan/{gen}/epochs.csv) (recognisability {judged(runs[gen], new)['recognisability']:.3f} / " \
            f"{judged(runs[gen], old)['recognisability']:.3f} by the {new}- / {old}-epoch judges)" if gen in runs else f"`{L['cfg'].gan.checkpoint}`"
        lines.append(f"- **Run {i}** ({run.get('started', '–')} to {run.get('ended', '–')}, {reporting.fmt_seconds(run.get('wall_s', 0))}, "
                     f"{'one process' if run.get('jobs', 1) == 1 else str(run.get('jobs')) + ' processes'}): "
                     f"`{reporting.module_command(run.get('command', ''))}` — {g}; the privileged oracle is the "
                     f"{run.get('reference_epochs', '?')}-epoch judge.")
    check = gan_loop_report.poster_check(root.parent, first["rows"])
    lines += ["", check or "", ""]
    head = ["strategy"]
    for i in range(1, len(loops) + 1):
        head += [f"AULC run {i}", "− random, paired (p)", "final accuracy"]
    table = []
    for s in c.strategies:
        row = [published.display_name(s) + (" (pool)" if s == "entropy" else "")]
        for L in loops.values():
            v = L["summary"][s]
            gap = stats.paired_gap(L["seed_aulc"], s) if s != "random" else None
            row += [tables.pm(v["aulc_mean"], v["aulc_std"]),
                    "–" if gap is None else f"{gap['mean']:+.4f} ± {gap['std']:.4f} ({reporting.fmt_p(gap['p'])})",
                    f"{v['final_accuracy_mean']:.3f}"]
        table.append(row)
    lines += [reporting.md_table(head, table), "",
              reporting.md_table([f"run {i} ({n})" for i, n in enumerate(loops, 1)],
                                 [[f"![learning curves, run {i}]({n}/learning_curves.png)" for i, n in enumerate(loops, 1)]]), ""]
    # The verdicts, from the paired gaps of every run.
    gaps = {n: {(s, b): stats.paired_gap(L["seed_aulc"], s, b) for s in gan_loop_report.GENERATED for b in ("entropy", "random")}
            for n, L in loops.items()}
    above_random = [(n, s) for n, G in gaps.items() for (s, b), g in G.items() if b == "random" and stats.separated(g) and g["mean"] > 0]
    mean_above = [(n, s) for n, G in gaps.items() for (s, b), g in G.items() if b == "random" and g["mean"] > 0]
    match_vs_entropy = [G[("gan-entropy-match", "entropy")] for G in gaps.values()]
    verdict = ("GAN strategies level with or below random in every run" if not above_random else
               "a GAN strategy is above random in " + ", ".join(f"{n} ({s})" for n, s in above_random))
    lines += [f"**Do generated queries beat pool queries and random? Random: no — {verdict}** (no paired 95 % interval over "
              f"seeds puts a GAN strategy above random; mean AULC above random in {len(mean_above)} of "
              f"{sum(1 for G in gaps.values() for (s, b) in G if b == 'random')} strategy-runs). "
              f"**Pool entropy: `gan-entropy-match` is ahead on average in {sum(g['mean'] > 0 for g in match_vs_entropy)} of "
              f"{len(match_vs_entropy)} runs**, separated by a paired interval in {sum(stats.separated(g) for g in match_vs_entropy)}.", ""]
    for i, (n, G) in enumerate(gaps.items(), 1):
        parts = [f"{published.display_name(s)} vs {b} {tables.gap_words(g)}" for (s, b), g in G.items()]
        acc = loops[n]["run"].get("model_oracle")
        lines.append(f"- Run {i}: " + "; ".join(parts) + "."
                     + (f" The privileged oracle accepted {acc['accepted']} of the {acc['asked']} generated images it was asked about "
                        f"({acc['accepted'] / acc['asked']:.0%}); rejected ones still cost their label." if acc else ""))
    demo = root.parent / "demo" / "curves.csv"
    if demo.exists():
        from activegan.results import read_curves as rc

        drows = rc(demo)
        dsum = summarize(drows)
        dseed = stats.per_unit_aulc(drows)
        gs = [s for s in dsum if s.startswith("gan-")]
        dcfg = published.as_run(None, demo.parent)
        for s in gs:
            acq = s.split("-")[1]
            g_r, g_a = stats.paired_gap(dseed, s, "random"), stats.paired_gap(dseed, s, acq)
            lines.append(
                f"- The setting is unfavourable to every uncertainty strategy, pool ones included: at {c.train.epochs} epochs a model "
                f"trained on {c.initial}–{published.budget(c)} labels is too weak for its uncertainty to be informative (in the "
                f"poster benchmark at {c.train.epochs} epochs see [mnist-poster/](../mnist-poster/README.md)). On the digits demo "
                f"({published.trained_how(dcfg) if dcfg else '?'}) `{s}` scores {tables.pm(dsum[s]['aulc_mean'], dsum[s]['aulc_std'])} "
                f"against random {tables.pm(dsum['random']['aulc_mean'], dsum['random']['aulc_std'])} ({tables.gap_words(g_r)}) "
                f"and pool {acq} {tables.pm(dsum[acq]['aulc_mean'], dsum[acq]['aulc_std'])} ({tables.gap_words(g_a)}) "
                "([../../demo.md](../../demo.md)).")
    lines += ["", "Not run: the GAN strategies at 50 epochs, where pool acquisition has a chance to help; a per-seed generator "
              "(`python -m benchmarks.gan_loop` without `--gan` trains one per seed; here one generator served all seeds to fit the machine).", ""]
    return lines, {"loops": loops, "gaps": gaps, "verdict": verdict}


def cifar_section(root: Path, m: dict) -> list[str]:
    path = root / "cifar10-dcgan" / "epochs.csv"
    if not path.exists():
        return []
    ep = read_csv(path)
    cm = m["cifar10"]
    real = cm["real_images"]
    cfg = reporting.read_json(root / "cifar10-dcgan" / "config.json")
    best_fid = min(ep, key=lambda e: e["fid"])
    rows = [[e["epoch"], f"{e['seconds']:.0f}", f"{e['fid']:.2f}", f"{e['recognisability']:.3f}", f"{e['coverage']:.3f}"] for e in ep]
    rows.append(["*real training images*", "", f"*{real['fid']:.2f}*", f"*{real['recognisability']:.3f}*", f"*{real['coverage']:.3f}*"])
    return [
        "## CIFAR-10",
        "",
        f"Command ({cm['dates_utc']} UTC, one thread, the other core busy): `{cm['command']}` — **{len(ep)} epochs**, as many as "
        f"fitted beside the other jobs of this session (about {np.mean([e['seconds'] for e in ep]) / 60:.0f} min an epoch, plus "
        f"{cm['judge_training_min']} min to train the reference once). {cfg['image_size']} × {cfg['image_size']} × {cfg['channels']}; "
        "data: the JPEG re-encoding of CIFAR-10 in `../shared/datasets/cifar10-jpeg.zip` (50 000 training images, labels unused).",
        "",
        f"The judge is the project's CIFAR CNN trained {cm['judge_epochs']} epochs on the 50 000 training images: test accuracy "
        f"**{cm['judge_test_accuracy']:.3f}**, so its confidence is low even on real images — real training images ({m['eval_samples']['n']:,}) give "
        f"recognisability {real['recognisability']:.3f}, classifier-FID {real['fid']:.2f} and coverage {real['coverage']:.3f}. "
        "Those are the scale for the generated samples:",
        "",
        reporting.md_table(["epoch", "training s", "classifier-FID", "recognisability", "coverage"], rows),
        "",
        f"After {len(ep)} epochs the samples have CIFAR's colours and layouts but no recognisable objects; the last FID, "
        f"{ep[-1]['fid'] / real['fid']:.0f}× that of real images, says the same (lowest {best_fid['fid']:.2f} at epoch "
        f"{best_fid['epoch']}). Coverage {rng([e['coverage'] for e in ep], '.3f')} (no collapse onto a class). A {len(ep)}-epoch "
        "CIFAR-10 DCGAN of this size is not a source of informative queries; the loop on CIFAR-10 was not run with GAN strategies. "
        "Raw data: [cifar10-dcgan/epochs.csv](cifar10-dcgan/epochs.csv), [config.json](cifar10-dcgan/config.json), "
        "[losses.png](cifar10-dcgan/losses.png).",
        "",
        f"![CIFAR-10 samples after epoch {len(ep)}](cifar10-dcgan/samples_epoch{len(ep):03d}.png)",
        "",
    ]
