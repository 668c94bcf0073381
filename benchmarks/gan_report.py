"""docs/results/gan/README.md: DCGAN sample quality and the loop runs, generated from the data beside it.

    python -m benchmarks.gan_report [GAN_RESULTS_DIR]     # default docs/results/gan

Sources, all committed under docs/results/gan/: each training run's ``epochs.csv`` (per epoch,
3-epoch judge) and ``config.json``; ``mnist-dcgan/judges.csv`` (every run re-scored by the 3-
and the 12-epoch judge: recognisability and FID belong to the judge on their row);
``measurements.json`` (what no CSV holds: the judges on real images, timings, the target); the
loop runs' ``curves.csv``, ``config.json`` and ``run.json``; ``cifar10-dcgan/epochs.csv``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from activegan.gan.judge import CONFIDENT
from benchmarks import reporting
from benchmarks.gan_report_loops import cifar_section, loop_section
from benchmarks.gan_runs import arrow, judged, last, load_runs, rng


def options(cfg: dict) -> str:
    parts = [f"--batch-size {cfg['batch_size']}", f"--ngf {cfg['ngf']}"]
    if cfg.get("image_size", 28) != 28:
        parts.append(f"--image-size {cfg['image_size']}")
    if cfg.get("ema"):
        parts.append(f"--ema {cfg['ema']}")
    if cfg.get("real_label", 1.0) != 1.0:
        parts.append(f"--real-label {cfg['real_label']}")
    if cfg.get("g_steps", 1) != 1:
        parts.append(f"--g-steps {cfg['g_steps']}")
    if cfg.get("extra_layers", 0):
        parts.append(f"--extra-layers {cfg['extra_layers']}")
    return " ".join(parts)


def s_per_epoch(run: dict) -> str:
    secs = [r["seconds"] for r in run["epochs"]]
    return ", ".join(f"{s:,.0f}" for s in secs) if len(secs) == 2 else f"{np.mean(secs):,.0f}"


# -- the sections --------------------------------------------------------------------------------------


def target_section(runs: dict, m: dict) -> tuple[list[str], dict]:
    """The headline: the target, judged by the judge in force when it was set, and by the later one."""
    t = m["target"]
    old, new = t["judge_epochs"], m["judge_switch"]["to_epochs"]
    at_target = {n: r for n, r in runs.items() if last(r)["epoch"] == t["epochs"]}
    best = max(at_target, key=lambda n: judged(at_target[n], old)["recognisability"] if judged(at_target[n], old) else last(at_target[n])["recognisability"])
    b_old, b_new = judged(runs[best], old), judged(runs[best], new)
    met_old, met_new = b_old["recognisability"] >= t["recognisability"], b_new["recognisability"] >= t["recognisability"]
    n = m["eval_samples"]["n"]
    short = round((t["recognisability"] - b_old["recognisability"]) * n)
    real = {r["judge_epochs"]: r for r in m["judges_on_real_images"]["rows"]}
    lift = [judged(r, new, e)["recognisability"] - judged(r, old, e)["recognisability"]
            for r in runs.values() for (j, e) in r["judged"] if j == old and (new, e) in r["judged"]]
    facts = {"best": best, "old": old, "new": new, "b_old": b_old, "b_new": b_new, "met_old": met_old, "met_new": met_new,
             "lift": (min(lift), max(lift)), "real_lift": real[new]["recognisability"] - real[old]["recognisability"], "target": t}
    lines = [
        "## Headline: the recognisability target",
        "",
        f"The target — recognisability ≥ {t['recognisability']} after {t['epochs']} MNIST epochs — was set while the "
        f"{old}-epoch judge was the default. The best DCGAN ([{best}](mnist-dcgan/{best}/epochs.csv), `{options(runs[best]['cfg'])}`) "
        f"scores **{b_old['recognisability']:.3f} by the judge in force when the target was set (target "
        f"{'met' if met_old else 'NOT met'}"
        + (f": {short} samples of {n:,} short" if not met_old else "") + f"); {b_new['recognisability']:.3f} by a more lenient judge "
        f"adopted afterwards** (the {new}-epoch judge, default since {m['judge_switch']['utc']} UTC, after the runs until then "
        f"had missed the target by the {old}-epoch one).",
        "",
        f"- Each judge's recognisability comes with its own FID: {b_old['recognisability']:.4f} and classifier-FID "
        f"{b_old['fid']:.1f} by the {old}-epoch judge; {b_new['recognisability']:.4f} and FID {b_new['fid']:.1f} by the "
        f"{new}-epoch judge ([judges.csv](mnist-dcgan/judges.csv)). FIDs of different judges are in different feature spaces "
        "and are not compared with each other.",
        f"- The {new}-epoch judge adds {min(lift):+.3f} to {max(lift):+.3f} recognisability to every generator it re-scored "
        f"({len(lift)} rows of judges.csv) but only {facts['real_lift']:+.3f} to real training digits "
        f"({real[old]['recognisability']:.3f} → {real[new]['recognisability']:.3f}): it is more lenient with generated "
        "digits, not only better trained.",
        "",
    ]
    return lines, facts


def judges_section(runs: dict, m: dict) -> list[str]:
    real = m["judges_on_real_images"]
    old, new = m["target"]["judge_epochs"], m["judge_switch"]["to_epochs"]
    ratios = [judged(r, new, e)["fid"] / judged(r, old, e)["fid"] for r in runs.values() for (j, e) in r["judged"]
              if j == old and (new, e) in r["judged"]]
    r_old = next(r for r in real["rows"] if r["judge_epochs"] == old)
    rows = [[f"{r['judge_epochs']} epochs", f"{r['test_accuracy']:.4f}", f"{r['recognisability']:.3f}", f"{r['fid']:.2f}",
             f"{r['coverage']:.3f}", r["training_time"]] for r in real["rows"]]
    return [
        "## MNIST: 5 epochs, quality per epoch",
        "",
        f"Measures (`activegan.gan.judge`), from {m['eval_samples']['n']:,} samples (z seed 0) against the 10 000 test images, judged by",
        "the reference CNN — the poster's MNIST CNN trained on the whole 60 000-image pool (trained once, cached, not",
        "committed):",
        "",
        "- **classifier-FID**: Fréchet distance between its penultimate (128-d) features of the samples and of the",
        "  test images;",
        f"- **recognisability**: share of samples it classifies with confidence ≥ {CONFIDENT} (`activegan.gan.judge.CONFIDENT`);",
        f"- **coverage**: entropy (natural log) of the histogram of its predicted classes; at most ln 10 = {np.log(10):.3f}.",
        "",
        f"**Two judges.** The same network trained for {old} epochs (the first default, the judge of every per-epoch column "
        f"in the `epochs.csv` files) and for {new} epochs (the default since {m['judge_switch']['utc']} UTC). Real images "
        f"measured the same way ({real['note']}):",
        "",
        reporting.md_table(["judge", "test accuracy", "real training images: recognisability", "FID", "coverage", "training time"], rows),
        "",
        "Measured with (`.venv/bin/python`, from the repository root; the module was `activegan.reference` then):",
        "",
        "```python",
        "import os, numpy as np",
        "from activegan.data import load_dataset",
        "from activegan.gan.judge import ReferenceConfig, reference_classifier, sample_quality",
        'data = load_dataset("mnist", "../shared/datasets/mnist")',
        "idx = np.random.default_rng(0).choice(len(data.y_pool), 5000, replace=False)",
        "for e in (3, 12):",
        '    clf = reference_classifier(data, os.path.expanduser("~/.cache/activegan"), ReferenceConfig(epochs=e))',
        "    print(e, (clf.predict(data.x_test) == data.y_test).mean(), sample_quality(data.x_pool[idx], clf, clf.features(data.x_test)))",
        "```",
        "",
        f"The {old}-epoch judge is unsure (confidence < {CONFIDENT}) of {1 - r_old['recognisability']:.1%} of *real* training digits, "
        "and recognisability — a share of samples above a confidence — moves with the judge's confidence as much as with the "
        f"samples. A judge's FIDs are in its own feature space: the {new}-epoch judge gives the same samples "
        f"{(min(ratios) - 1):.0%}–{(max(ratios) - 1):.0%} higher FIDs ({len(ratios)} rows of judges.csv), so FIDs are only "
        "compared within one judge. `activegan gan eval CHECKPOINT --dataset mnist --data-dir ../shared/datasets/mnist "
        f"--reference-epochs E` scores a checkpoint with either; every row of [mnist-dcgan/judges.csv](mnist-dcgan/judges.csv) "
        f"is that command's output (for E = {old} it repeats each run's last `epochs.csv` row).",
        "",
    ]


def runs_table(runs: dict, m: dict) -> list[str]:
    old, new = m["target"]["judge_epochs"], m["judge_switch"]["to_epochs"]
    notes = m["load_notes"]
    head = ["run", "batch", "size", "ngf = ndf", "weight avg.", "real label", "G steps", "extra layers", "epochs", "s / epoch",
            f"FID e1 → last ({old}-epoch judge)", f"recognisability e1 → last ({old}-epoch judge)", "coverage e1 → last",
            f"recognisability last, {new}-epoch judge", f"FID last, {new}-epoch judge"]
    rows = []
    for name, r in runs.items():
        c, ep = r["cfg"], r["epochs"]
        j = judged(r, new)
        rows.append([f"[{name}](mnist-dcgan/{name}/epochs.csv)", c["batch_size"], c["image_size"], c["ngf"], c.get("ema") or "–",
                     c.get("real_label", 1.0), c.get("g_steps", 1), c.get("extra_layers", 0), len(ep),
                     s_per_epoch(r) + notes.get(name, ""), arrow([e["fid"] for e in ep], ".0f"),
                     arrow([e["recognisability"] for e in ep], ".3f"), f"{ep[0]['coverage']:.3f} → {ep[-1]['coverage']:.3f}",
                     "–" if j is None else f"{j['recognisability']:.3f}", "–" if j is None else f"{j['fid']:.0f}"])
    plain_w64 = runs["b16-s28-w64"]
    g2x1, g2x2 = runs["b16-s28-w64-g2x1"], runs["b16-s28-w64-g2x2"]
    per_step = m["per_step_alone"]
    ms = [x / per_step["plain_ms"] for x in per_step["g2x1_ms"]]
    g2x1_step_ms = np.mean([e["seconds"] for e in g2x1["epochs"]]) / g2x1["epochs"][0]["steps"] * 1000
    x2_secs = [e["seconds"] for e in g2x2["epochs"]]
    plain_mean = np.mean([e["seconds"] for e in plain_w64["epochs"]])
    per_epoch_new = [judged(g2x2, new, e["epoch"]) for e in g2x2["epochs"]]
    return [
        f"Every run is `activegan gan train --dataset mnist --data-dir ../shared/datasets/mnist --epochs 5 --eval-every-epoch "
        f"--threads 1` with the options in its row ({m['training_dates_utc']['plain']} UTC; the `--g-steps` / `--extra-layers` "
        f"runs {m['training_dates_utc']['g_steps_extra_layers_1']}; `--extra-layers 2` {m['training_dates_utc']['extra_layers_2']}); "
        "each folder holds the `epochs.csv` that command wrote and its `config.json`. Architecture as the poster: 28 × 28 "
        "output (z ∈ U(−1, 1)^100 → 2·ngf × 7 × 7 → ngf × 14 × 14 → 1 × 28 × 28), batch norm except at the generator output "
        "and the discriminator input, Adam 2e-4 / β1 0.5, seed 0. Size 64 resizes the digits to 64 × 64 (the poster's size, "
        "4 stride-2 blocks); its samples are resized back to 28 for the judge. Runs with fewer than 5 epochs were stopped "
        "early to free the 2 cores once they were clearly no better; the two width-32 pilots of `--g-steps 2` and "
        "`--extra-layers 1` ran 2 epochs only, to choose what the width-64 run would use.",
        "",
        reporting.md_table(head, rows),
        "",
        f"\\* {notes['*']} Per step, alone on a quiet machine ({per_step['note']}): plain {per_step['plain_ms']} ms, two generator "
        f"updates + one extra block {rng(per_step['g2x1_ms'], '.0f')} ms ({rng(ms, '.1f')}×); the loaded run's "
        f"{np.mean([e['seconds'] for e in g2x1['epochs']]):,.0f} s per epoch over {g2x1['epochs'][0]['steps']:,} steps is "
        f"{g2x1_step_ms:.0f} ms per step.",
        "",
        f"† {notes['†']} {rng(x2_secs, ',.0f')} s per epoch, {np.mean(x2_secs) / plain_mean:.1f}× the plain width-64 run's "
        f"{plain_mean:,.0f} s. By the {new}-epoch judge, epochs 1–{len(per_epoch_new)}: "
        f"{arrow([j['recognisability'] for j in per_epoch_new], '.3f')} (FID {arrow([j['fid'] for j in per_epoch_new], '.0f')}). "
        "b16-s28-w32 has no 12-epoch-judge number: its checkpoint was continued to epoch 8 before that judge existed.",
        "",
    ]


def findings(runs: dict, m: dict, tf: dict) -> list[str]:
    old, new = tf["old"], tf["new"]
    t = m["target"]["recognisability"]
    rec = lambda name, e=None: (runs[name]["epochs"][e - 1] if e else last(runs[name]))["recognisability"]
    fid = lambda name, e=None: (runs[name]["epochs"][e - 1] if e else last(runs[name]))["fid"]
    best = tf["best"]
    real = {r["judge_epochs"]: r for r in m["judges_on_real_images"]["rows"]}
    five = [n for n, r in runs.items() if last(r)["epoch"] == m["target"]["epochs"]]
    reach_new = [n for n in five if judged(runs[n], new) and judged(runs[n], new)["recognisability"] >= t]
    reach_old = [n for n in five if judged(runs[n], old) and judged(runs[n], old)["recognisability"] >= t]
    pc = m["best_run_per_class"]
    lo, hi = pc["recognisable_3_epoch_judge_range"]["low"], pc["recognisable_3_epoch_judge_range"]["high"]
    b_ep = runs[best]["epochs"]
    b_new_prev = judged(runs[best], new, b_ep[-2]["epoch"])
    first_over = next((e["epoch"] for e in b_ep if judged(runs[best], new, e["epoch"]) and judged(runs[best], new, e["epoch"])["recognisability"] >= t), None)
    w32, g2, x1 = "b16-s28-w32", "b16-s28-w32-g2", "b16-s28-w32-x1"
    w64, g2x1, ema, emals, s64 = "b16-s28-w64", "b16-s28-w64-g2x1", "b16-s28-w32-ema", "b16-s28-w64-ema-ls", "b16-s64-w16-ls"
    losses = m["losses"]
    b16 = [n for n in (w32, ema, w64, emals)]
    d_rec = [runs[n]["epochs"][-1]["recognisability"] - runs[n]["epochs"][-2]["recognisability"] for n in b16]
    d_fid = [runs[n]["epochs"][-1]["fid"] - runs[n]["epochs"][-2]["fid"] for n in b16]
    b64 = runs["b64-s28-w32"]["epochs"]
    cov1 = [runs[n]["epochs"][0]["coverage"] for n in b16]
    cov5 = [runs[n]["epochs"][-1]["coverage"] for n in b16]
    cont = runs[w32]["continued"]
    extra = [e for e in cont if e["epoch"] > len(runs[w32]["epochs"])] if cont else []
    secs = lambda n: np.mean([e["seconds"] for e in runs[n]["epochs"]])
    extra_rec = ", ".join(f"{e['recognisability']:.3f}" for e in extra)
    extra_fid = ", ".join(f"{e['fid']:.0f}" for e in extra)
    x2_total = sum(e["seconds"] for e in b_ep)
    out = [
        "### What this shows",
        "",
        f"- **Recognisability ≥ {t} after {m['target']['epochs']} MNIST epochs: not met by the judge in force when the target "
        f"was set; met only by the more lenient {new}-epoch judge adopted afterwards.** The best run ({best}: "
        f"`{options(runs[best]['cfg'])}`) scores {judged(runs[best], old)['recognisability']:.4f} by the {old}-epoch judge "
        f"(FID {judged(runs[best], old)['fid']:.1f}) and {judged(runs[best], new)['recognisability']:.3f} by the {new}-epoch judge "
        f"(FID {judged(runs[best], new)['fid']:.1f}; ≥ {t} from epoch {first_over} on). 5-epoch runs at or above {t}: "
        f"{', '.join(reach_old) or 'none'} by the {old}-epoch judge; {', '.join(reach_new) or 'none'} by the {new}-epoch judge. "
        f"With one extra block ({g2x1}) the two judges give {judged(runs[g2x1], new)['recognisability']:.3f} and "
        f"{judged(runs[g2x1], old)['recognisability']:.3f}; the poster's plain network at width 64 "
        f"{judged(runs[w64], new)['recognisability']:.3f} and {judged(runs[w64], old)['recognisability']:.3f}, the best before "
        f"these options (weight average + label smoothing) {judged(runs[emals], new)['recognisability']:.3f} and "
        f"{judged(runs[emals], old)['recognisability']:.3f}. Relative to real digits ({real[new]['recognisability']:.3f} and "
        f"{real[old]['recognisability']:.3f} by the same judges) the best run is at "
        f"{judged(runs[best], new)['recognisability'] / real[new]['recognisability']:.0%} and "
        f"{judged(runs[best], old)['recognisability'] / real[old]['recognisability']:.0%}.",
        f"- Its grid ([samples](mnist-dcgan/{best}/samples_epoch005.png), below) is digits of all ten classes to the eye. "
        f"Per predicted class ({pc['note']}): " + ", ".join(f"{c} {s:.1%}" for c, s in enumerate(pc["share"]))
        + "; recognisable within each class: " + ", ".join(f"{c} {s:.2f}" for c, s in enumerate(pc["recognisable"]))
        + f" ({old}-epoch judge: {lo[0]:.2f} for {lo[1]}s to {hi[0]:.2f} for {hi[1]}s). The 10 % least confident samples are "
        f"below {pc['least_confident_decile_below'][str(new)]:.2f} ({old}-epoch judge: {pc['least_confident_decile_below'][str(old)]:.2f}). "
        f"It was still improving at epoch {b_ep[-1]['epoch']} (FID {b_ep[-2]['fid']:.0f} → {b_ep[-1]['fid']:.0f} by the {old}-epoch "
        f"judge; recognisability {judged(runs[best], new)['recognisability'] - b_new_prev['recognisability']:+.3f} / "
        f"{b_ep[-1]['recognisability'] - b_ep[-2]['recognisability']:+.3f} by the {new}- / {old}-epoch judge).",
        f"- **Two generator updates per discriminator update (`--g-steps 2`) and an extra block (`--extra-layers 1`) are the "
        f"levers that moved FID.** Each alone at width 32 ({len(runs[g2]['epochs'])} epochs, against the plain width-32 run at "
        f"the same epoch, {old}-epoch judge): recognisability {rec(g2) - rec(w32, len(runs[g2]['epochs'])):+.4f} / "
        f"{rec(x1) - rec(w32, len(runs[x1]['epochs'])):+.4f} and FID {fid(g2):.0f} / {fid(x1):.0f} against "
        f"{fid(w32, len(runs[g2]['epochs'])):.0f}. Together at width 64: {rec(g2x1) - rec(w64):+.4f} recognisability and FID "
        f"{fid(g2x1):.0f} against {fid(w64):.0f} at epoch {last(runs[w64])['epoch']}. In the plain runs the discriminator was "
        f"winning more each epoch (width 64, {losses['note']}: loss_d {arrow(losses[w64]['loss_d'], '.2f')}, D(fake) "
        f"{arrow(losses[w64]['d_fake'], '.2f')}); with two generator updates and the extra block it stays closer to balance "
        f"(loss_d {arrow(losses[g2x1]['loss_d'], '.2f')}, D(fake) {arrow(losses[g2x1]['d_fake'], '.2f')}; "
        f"[losses.png](mnist-dcgan/{g2x1}/losses.png)). A second extra block on top ({best}) added "
        f"{rec(best) - rec(g2x1):+.4f} ({old}-epoch judge) / "
        f"{judged(runs[best], new)['recognisability'] - judged(runs[g2x1], new)['recognisability']:+.4f} ({new}-epoch judge) "
        f"recognisability and took FID from {fid(g2x1):.0f} to {fid(best):.0f} ({old}-epoch judge). All are options, off by "
        "default (the default network stays the poster's).",
        f"- The weight average (EMA 0.999) and one-sided label smoothing (0.9) add little: {rec(ema) - rec(w32):+.4f} "
        f"recognisability with a worse FID ({fid(ema):.0f} vs {fid(w32):.0f}) for the average alone at width 32; "
        f"{rec(emals) - rec(w64):+.4f} with a worse FID ({fid(emals):.0f} vs {fid(w64):.0f}) for both at width 64 "
        f"({old}-epoch judge). Both are options (`--ema`, `--real-label`), off by default.",
        f"- The poster's 64 × 64 size at width 16 (four blocks, about the cost of width 64 at 28) gave {rec(s64, 1):.3f} after "
        f"one epoch, no better than width 64 at 28 ({rec(w64, 1):.3f}), and was stopped.",
        f"- The plain batch-16 runs ({', '.join(b16)}) were still improving at epoch 5 (last epoch: recognisability "
        f"{rng(d_rec, '+.4f', ' to ')}, FID {rng(d_fid, '+.1f', ' to ')}; batch 64 at width 32 had flattened, "
        f"{b64[-1]['recognisability'] - b64[-2]['recognisability']:+.4f}): their shortfall is not class collapse — coverage "
        f"{rng(cov1, '.3f')} after epoch 1 and {rng(cov5, '.3f')} after epoch 5 (at most {np.log(10):.3f})."
        + (f" More epochs alone do not get there: {w32} continued past 5 epochs (`--resume --epochs 12`, stopped after "
           f"{extra[-1]['epoch']}) gave {extra_rec} in epochs "
           f"{extra[0]['epoch']}–{extra[-1]['epoch']} (FID {extra_fid}): flat at this width "
           f"([epochs-continued.csv](mnist-dcgan/{w32}/epochs-continued.csv))." if extra else ""),
        f"- Time per epoch (mean over its epochs; one thread, other jobs on the other core, see the marks): "
        f"{secs('b64-s28-w32'):.0f} s (batch 64, width 32), {secs(w32):.0f} s (batch 16, width 32), {secs(w64):.0f} s "
        f"(batch 16, width 64), {rng([e['seconds'] for e in b_ep], ',.0f')} s ({best}: the {len(b_ep)} epochs took "
        f"{reporting.fmt_seconds(x2_total)}).",
        "",
    ]
    return out


def samples_section(runs: dict, tf: dict) -> list[str]:
    old, new = tf["old"], tf["new"]
    shown = [(tf["best"], "best"), ("b16-s28-w64-g2x1", "the loop's second generator"), ("b16-s28-w64", "the loop's first generator")]
    head = [f"{n} ({why}: {judged(runs[n], new)['recognisability']:.3f} / {judged(runs[n], old)['recognisability']:.3f})" for n, why in shown]
    return [
        "Samples after epoch 5 from the fixed z of each run (64 images; losses beside them):",
        "",
        reporting.md_table(head, [[f"![](mnist-dcgan/{n}/samples_epoch005.png)" for n, _ in shown]]),
        "",
        f"Recognisability in the headers: {new}-epoch / {old}-epoch judge. Others: [batch 64, width 32](mnist-dcgan/b64-s28-w32/samples_epoch005.png), "
        f"[EMA + label smoothing](mnist-dcgan/b16-s28-w64-ema-ls/samples_epoch005.png); losses of the best run: "
        f"[losses.png](mnist-dcgan/{tf['best']}/losses.png).",
        "",
        "Checkpoints are not committed (`*.pt` is ignored); they are in `runs/gan-*/` on the machine that trained them.",
        "",
    ]


def headline_facts(root: Path) -> dict:
    """The numbers the results headline states about the DCGAN (for benchmarks.index)."""
    m = reporting.read_json(root / "measurements.json")
    runs = load_runs(root)
    return target_section(runs, m)[1]


def render(root: Path) -> str:
    m = reporting.read_json(root / "measurements.json")
    runs = load_runs(root)
    target, tf = target_section(runs, m)
    loop, _ = loop_section(root, runs, m)
    lines = [
        "# DCGAN: sample quality, and generated queries in the loop",
        "",
        f"Everything here was measured on the project's machine: {m['machine']}. The machine is shared and two jobs ran at once "
        "for most of these runs, so the seconds are upper bounds. This page is generated by `python -m benchmarks.gan_report` "
        "from the data in this folder (the CSVs, `config.json` and `run.json` files, and [measurements.json](measurements.json) "
        "for what no CSV holds); no number is typed by hand.",
        "",
        *target,
        *judges_section(runs, m),
        *runs_table(runs, m),
        *findings(runs, m, tf),
        *samples_section(runs, tf),
        *loop,
        *cifar_section(root, m),
    ]
    return "\n".join(lines)


def write(root: Path = reporting.RESULTS / "gan") -> Path:
    reporting.write_readme(root / "README.md", render(root))
    return root / "README.md"


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else reporting.RESULTS / "gan"))
