"""The speed report: docs/results/speed/README.md from speed.json, with the aims each measure is held to.
Reads speed.json only; ``python -m benchmarks.speed`` measures."""

from __future__ import annotations

from benchmarks import reporting

MODAL_MATRIX_LIMIT_GIB = 12.0  # modAL's dense N × N matrix is not built beyond this


AIMS = {"density_speedup_at_20000": 100.0, "scoring_share_of_peak": 0.60, "round_s": 10.0,
        "knn_s": 10.0, "knn_recall": 0.95, "default_round_s": 20.0, "embedding_s": 180.0}


def ratio(a, b) -> str:
    return reporting.fmt_ratio(a / b)


def _scorer(s: dict) -> str:
    return {"poster": "poster CNN (`predict_proba`, batches of 64)", "selftrain": "selftrain CNN (batches of 64)"}[s.get("model", "poster")]


def _flops(a: dict, s: dict) -> float:
    return (a["selftrain_flops"] if s.get("model") == "selftrain" else a["model_flops"])["flops"]


def render(res: dict) -> str:
    m, a = res["machine"], res
    peak1, peak2 = a["matmul"]["gflops_1_thread"], a["matmul"]["gflops_2_threads"]
    flops = a["model_flops"]["flops"]
    lines = [
        "# Speed",
        "",
        f"- Command: `{reporting.module_command(a['command'])}`",
        f"- Date: {a['date']} (UTC). Wall time: {reporting.fmt_seconds(a['wall_s'])}.",
        f"- Machine: {reporting.machine_line(m)}.",
        f"- Dataset: {a['dataset']} (pool {a['pool']:,} images). Raw data: [speed.json](speed.json)"
        + (", the round's [curves.csv](round/curves.csv) and [summary.json](round/summary.json)." if a.get("round") else "."),
        "- One thread everywhere (torch, faiss, BLAS in the subprocesses) except the rows marked 2 threads (the matmul,"
        + (" scoring, and the default learner's round in (e)" if a.get("default_round") else " scoring") + "), because that",
        "  is how the long runs are set up on this shared machine.",
        "",
        "## Aims",
        "",
    ]
    aims = []
    d20 = next((r for r in a["density"] if r["n"] == 20000), None)
    if d20 and "seconds" in d20["modal"]:
        sp = d20["modal"]["seconds"] / d20["ours_k"]["seconds"]
        aims.append([f"density ≥ 100× faster than modAL at N = 20 000 (ours, k = {a['density_k']}, the default)", reporting.fmt_ratio(sp), "yes" if sp >= 100 else "**no**"])
        sp_all = d20["modal"]["seconds"] / d20["ours_all"]["seconds"]
        aims.append(["the same, ours with k = all", reporting.fmt_ratio(sp_all), "yes" if sp_all >= 100 else "**no**"])
    else:
        aims.append(["density ≥ 100× faster than modAL at N = 20 000", "not measured in this run", "–"])
    share = a["scoring"][0]["images_per_s"] * flops / 1e9 / peak1
    aims.append(["pool scoring ≥ 60 % of the 1-thread matmul peak (the poster's MNIST CNN)", f"{share:.0%}", "yes" if share >= 0.6 else "**no**"])
    knn = {r["n"]: r for r in a.get("knn", [])}
    if knn:
        r = knn[max(knn)]
        ok = r["ivf"]["seconds"] <= AIMS["knn_s"] and r["recall"] >= AIMS["knn_recall"]
        aims.append([f"kNN density, k = {r['k']}, N = {r['n']:,}: ≤ {AIMS['knn_s']:.0f} s with recall@{r['k']} ≥ {AIMS['knn_recall']} (one thread)",
                     f"{r['ivf']['seconds']:.1f} s, recall {r['recall']:.3f} (exact: {r['exact']['seconds']:.1f} s)", "yes" if ok else "**no**"])
    if a.get("default_round"):
        dr = a["default_round"]
        worst = max(sum(v["later"].values()) for v in dr["per_strategy"].values())
        first = max(sum(v["round_0"].values()) for v in dr["per_strategy"].values())
        aims.append([f"a round of the default learner ({dr.get('learner', 'selftrain')}) on the {dr['pool']:,}-image pool ≤ "
                     f"{AIMS['default_round_s']:.0f} s ({dr['threads']} threads; rounds after the first, slowest strategy)†",
                     f"{worst:.1f} s (first round {first:.1f} s)", "yes, here†" if worst <= AIMS["default_round_s"] else "**no**"])
        aims.append([f"the one-off embedding ≤ {reporting.fmt_seconds(AIMS['embedding_s'])}", reporting.fmt_seconds(dr["embedding_s"]),
                     "yes" if dr["embedding_s"] <= AIMS["embedding_s"] else "**no**"])
    if a.get("round"):
        worst = max(v["train_s"] + v["score_s"] + v["select_s"] for v in a["round"]["per_strategy"].values())
        labels = sorted({n for v in a["round"]["per_strategy"].values() for n in v["n_labeled"]})
        aims.append([f"one round ≤ 10 s (train + score + select, slowest strategy, {a['round']['epochs']} epochs, training on "
                     f"{labels[0]}–{labels[-1]} labels; test evaluation not included)", f"{worst:.1f} s", "yes" if worst <= 10 else "**no**"])
    lines += [reporting.md_table(["aim", "measured", "met"], aims), ""]
    if a.get("default_round"):
        lines += ["† The round aim was set for the label-efficiency benchmark, whose own timing of the same rounds (its "
                  "`s / round` column, 1 thread per worker on a shared machine, taken before the worker thread fix) does "
                  "not meet it: see [label-efficiency/mnist](../label-efficiency/mnist/README.md). This is a second "
                  "instrument, reported beside that one, not in its place.", ""]

    lines += [
        "## (a) Matmul peak and pool scoring",
        "",
        f"float32 {a['matmul']['n']} × {a['matmul']['n']} matmul in torch, best of {a['matmul']['repeats']}: "
        f"**{peak1:.1f} GFLOP/s with 1 thread, {peak2:.1f} GFLOP/s with 2 threads** "
        f"(2 threads gave {peak2 / peak1:.2f}× the 1-thread rate; load average {m['load_average_at_start'][0]} at the start: the "
        "cores were shared with other jobs, so every number here is a shared-machine number).",
        "",
        f"The default MNIST CNN (`make_cnn((1, 28, 28), 10)`) costs **{flops / 1e6:.2f} MFLOP per image** "
        "(2 × multiply-adds of each convolution and dense layer, from their shapes; ReLU, pooling and softmax not counted):",
        "",
        reporting.md_table(["layer (output shape)", "MFLOP"], [[n, f"{f / 1e6:.3f}"] for n, f in a["model_flops"]["layers"]]),
        "",
        reporting.md_table(
            ["scoring", "layout", "threads", "images", "seconds", "images/s", "GFLOP/s", "share of 1-thread peak", "share of 2-thread peak"],
            [[_scorer(s), s.get("layout", "nchw"), str(s["threads"]), f"{s['images']:,}", f"{s['seconds']:.1f}", f"{s['images_per_s']:,.0f}",
              f"{s['images_per_s'] * _flops(a, s) / 1e9:.1f}", f"{s['images_per_s'] * _flops(a, s) / 1e9 / peak1:.0%}",
              f"{s['images_per_s'] * _flops(a, s) / 1e9 / peak2:.0%}"]
             for s in a["scoring"]],
        ),
        "",
        *([f"The default learner's CNN (`selftrain.pool_cnn`, width {a.get('selftrain_width')}) costs **{a['selftrain_flops']['flops'] / 1e6:.2f} MFLOP "
           "per image**. `nhwc` is the library's path: weights and batches channels-last during inference "
           "(`models.channels_last`), where oneDNN's convolutions are faster than in the default layout (`nchw`, "
           "the path before that change, timed on the same batches). A share above 100 % means the convolutions ran faster "
           "than torch's own float32 matmul, which is then no ceiling for them.", ""] if "selftrain_flops" in a else []),
        "## (b) Density: ours against modAL's `information_density(X, 'cosine')`",
        "",
        f"Pixels of the first N pool images (784 float32 values each). Ours: `activegan.acquisition.density` with k = all "
        f"(exact mean over all other rows, O(N·d)) and k = {a['density_k']} (the default search: faiss exact inner-product search "
        "up to 20 000 rows" + (", the approximate inverted lists of (b2) above that: the 60 000 row" if a.get("knn") else "") + "). modAL builds "
        f"the N × N matrix with scikit-learn (float32 in → float32 matrix); sizes whose matrix alone exceeds "
        f"{MODAL_MATRIX_LIMIT_GIB:.0f} GiB are skipped. Each cell is one fresh process. Memory = that process's peak RSS (VmHWM, read by the process "
        "itself) minus the peak of a baseline process with the same imports and the same pixels loaded that computes "
        "nothing (baseline column): what the computation itself needs.",
        "",
    ]
    rows = []
    for r in a["density"]:
        md, b = r["modal"], r["base_ours"]["peak_rss_mib"]
        all_mib, k_mib = (reporting.extra_mib(r[k], r["base_ours"]) for k in ("ours_all", "ours_k"))
        ours = [f"{r['ours_all']['seconds']:.3f} s / {reporting.fmt_mib(all_mib)}", f"{r['ours_k']['seconds']:.2f} s / {reporting.fmt_mib(k_mib)}"]
        if "seconds" in md:
            mb = r["base_modal"]["peak_rss_mib"]
            modal_mib = reporting.extra_mib(md, r["base_modal"])
            cmp = [f"{md['seconds']:.2f} s / {reporting.fmt_mib(modal_mib)}",
                   f"{ratio(md['seconds'], r['ours_all']['seconds'])} / {reporting.fmt_mem_ratio(modal_mib, all_mib)}",
                   f"{ratio(md['seconds'], r['ours_k']['seconds'])} / {reporting.fmt_mem_ratio(modal_mib, k_mib)}"]
            base = f"{b:,.0f} / {mb:,.0f}"
        else:
            cmp = [f"not run: {md.get('skipped') or md.get('error')}", "–", "–"]
            base = f"{b:,.0f} / –"
        rows.append([f"{r['n']:,}", base] + ours + cmp)
    lines += [
        reporting.md_table(
            ["N", "baseline MiB: ours / modAL", "ours k = all: time / MiB", f"ours k = {a['density_k']}: time / MiB", "modAL: time / MiB",
             "modAL ÷ ours (all): time / memory", f"modAL ÷ ours (k = {a['density_k']}): time / memory"],
            rows,
        ),
        "",
        "modAL's density is the mean of 1 / (1 + cosine distance) over all rows (itself included); ours is the mean cosine",
        "similarity to the k nearest other rows (or all other rows). They rank differently; this compares cost only.",
        f"With k = {a['density_k']}, faiss's exact search does O(N²·d) work like modAL's matrix: it saves the memory, not the",
        "time. Only k = all is O(N·d)" + ("; above 20 000 rows the approximate index of (b2) does the k-nearest search." if a.get("knn")
                                          else "; a k-nearest density that is much faster would need an approximate index."),
        "",
    ]
    if a.get("knn"):
        lines += [
            "## (b2) k nearest neighbours on the whole pool: exact against approximate",
            "",
            f"`density` with k = {a['knn'][0]['k']} needs each image's k nearest other images (cosine). Exact: faiss "
            "`IndexFlatIP`, O(N²·d). Approximate (what `--density-search auto` uses above "
            "20 000 images): faiss inverted lists, 2·√N k-means cells, each query searching its 8 nearest cells, "
            "built with one thread so the cells do not depend on the thread count. One thread; recall@k = the share of the "
            "exact neighbours that the approximate search returns.",
            "",
            reporting.md_table(["N", "exact s", "approximate s", "speed-up", f"recall@{a['knn'][0]['k']}"],
                               [[f"{r['n']:,}", f"{r['exact']['seconds']:.1f}", f"{r['ivf']['seconds']:.1f}",
                                 ratio(r["exact"]["seconds"], r["ivf"]["seconds"]), f"{r['recall']:.3f}"] for r in a["knn"]]),
            "",
        ]
    if a.get("default_round"):
        dr = a["default_round"]
        lines += [
            "## (e) The default learner: one-off embedding and rounds",
            "",
            f"`run_experiment` with the defaults (learner `{dr.get('learner', 'selftrain')}`, typical first labels) on the {dr['pool']:,}-image pool, "
            f"budgets {', '.join(map(str, dr['budgets']))}, 1 seed, {dr['threads']} threads (every thread pool limited to that). "
            f"The embedding (PCA → UMAP of the pool, cached on disk once per pool) was fitted first in a fresh cache: "
            f"**{reporting.fmt_seconds(dr['embedding_s'])}**. Wall time of the run {reporting.fmt_seconds(dr['wall_s'])}, test evaluation included.",
            "",
            reporting.md_table(
                ["strategy", "labels", "accuracy", "first round: train / score / select s", "later rounds (mean): train / score / select s", "later round s"],
                [[st, ", ".join(map(str, v["n_labeled"])), ", ".join(f"{x:.3f}" for x in v["accuracy"]),
                  " / ".join(f"{v['round_0'][c]:.2f}" for c in ("train_s", "score_s", "select_s")),
                  " / ".join(f"{v['later'][c]:.2f}" for c in ("train_s", "score_s", "select_s")), f"{sum(v['later'].values()):.1f}"]
                 for st, v in dr["per_strategy"].items()]),
            "",
            "The first round trains the CNN from scratch on the spread labels; later rounds continue it on a sample of the pool.",
            "",
        ]
    if a.get("round"):
        r = a["round"]
        test_s = r["test"] / a["scoring"][0]["images_per_s"]
        lines += [
            "## (c) One round, split",
            "",
            f"A short `run_experiment` on {a['dataset']}: 20 class-balanced initial labels, +10 per round, {r['rounds']} rounds, "
            f"subset {r['subset']:,} scored per round, {r['epochs']} epochs, 1 seed, one thread (wall {r['wall_s']:.0f} s, "
            "including the pool density on the first density strategy unless cached). Means over the rounds from the "
            "[curves.csv](round/curves.csv) timing columns:",
            "",
            reporting.md_table(
                ["strategy", "labels after the rounds", "train s", "score s", "select s", "round s"],
                [[s, ", ".join(map(str, v["n_labeled"])), f"{v['train_s']:.2f}", f"{v['score_s']:.2f}", f"{v['select_s']:.4f}",
                  f"{v['train_s'] + v['score_s'] + v['select_s']:.2f}"] for s, v in r["per_strategy"].items()],
            ),
            "",
            f"Not in the timing columns: evaluating the {r['test']:,} test images after each round, about {test_s:.1f} s at the "
            "1-thread scoring rate above. Training time grows with the labeled set (epochs × labels).",
            "",
        ]
    g = a["dcgan"]
    lines += [
        "## (d) DCGAN seconds per epoch",
        "",
        reporting.md_table(
            ["measured", "s / step", f"steps per epoch ({g['pool']:,} images, batch {g['batch_size']})", "s / epoch"],
            [[f"{g['steps']} steps in {g['seconds']:.1f} s", f"{g['s_per_step']:.3f}", f"{g['steps_per_epoch']:,}", f"{g['s_per_epoch_extrapolated']:.0f} (**extrapolated** from {g['steps']} steps)"]],
        ),
        "",
        f"{g['config']}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        ".venv/bin/pip install -q -c constraints.txt -e '.[test,app,bench]'   # modAL-python: the bench extra",
        f".venv/bin/python -m benchmarks.speed                                 # {reporting.fmt_seconds(a['wall_s'])} in this run",
        "```",
    ]
    return "\n".join(lines)
