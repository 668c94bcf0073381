"""Headline rows of the measurements that are not learning curves: DCGAN sample quality, speed, and
`query` at scale. Each reads its benchmark's committed JSON or CSV files only."""

from __future__ import annotations

from pathlib import Path

from benchmarks import reporting
from benchmarks.facts import Facts, Row


def gan_quality_row(root: Path) -> Row | None:
    from benchmarks import gan_report

    if not (root / "gan" / "measurements.json").exists():
        return None
    tf = gan_report.headline_facts(root / "gan")
    fx = Facts()
    src, msrc = "gan/mnist-dcgan/judges.csv", "gan/measurements.json"
    old, new, b_old, b_new = tf["old"], tf["new"], tf["b_old"], tf["b_new"]
    key = lambda j, col: ("judges", tf["best"], b_old["epoch"], j, col)
    target = fx(tf["target"]["recognisability"], "g", msrc, "json", "target", "recognisability")
    text = (f"best DCGAN after {fx(tf['target']['epochs'], 'd', msrc, 'json', 'target', 'epochs')} epochs: recognisability "
            f"{fx(b_old['recognisability'], '.3f', src, *key(old, 'recognisability'))} (FID {fx(b_old['fid'], '.1f', src, *key(old, 'fid'))}) "
            f"by the judge in force when the ≥ {target} target was set (target {'met' if tf['met_old'] else 'NOT met'}); "
            f"{fx(b_new['recognisability'], '.3f', src, *key(new, 'recognisability'))} (FID {fx(b_new['fid'], '.1f', src, *key(new, 'fid'))}) "
            "by a more lenient judge adopted afterwards")
    verdict = f"target {'met' if tf['met_old'] else 'NOT met'} by the judge it was set with"
    judges = (f"two judges: the same CNN trained {fx(old, 'd', msrc, 'json', 'judge_switch', 'from_epochs')} or "
              f"{fx(new, 'd', msrc, 'json', 'judge_switch', 'to_epochs')} epochs on the whole pool")
    return Row("DCGAN sample quality, MNIST", "gan/README.md", judges, text, verdict, list(fx))


def speed_row(root: Path) -> Row | None:
    from benchmarks import speed_report

    path = root / "speed" / "speed.json"
    if not path.exists():
        return None
    r = reporting.read_json(path)
    src = "speed/speed.json"
    fx = Facts()
    parts, met = [], []
    d20 = next((d for d in r["density"] if d["n"] == 20000 and "seconds" in d["modal"]), None)
    aim_d = speed_report.AIMS["density_speedup_at_20000"]
    const = lambda *key: ("benchmarks/speed_report.py", "const", *key)
    if d20:
        i = r["density"].index(d20)
        speedup = lambda k: fx(d20["modal"]["seconds"] / d20[k]["seconds"], ".0f" if d20["modal"]["seconds"] / d20[k]["seconds"] >= 10 else ".1f",
                               src, "ratio", ("density", i, "modal", "seconds"), ("density", i, k, "seconds"))
        ok = d20["modal"]["seconds"] / d20["ours_k"]["seconds"] >= aim_d
        parts.append(f"density at the default k = {fx(r['density_k'], 'd', src, 'json', 'density_k')}, N = "
                     f"{fx(d20['n'], ',d', src, 'json', 'density', i, 'n')}: {speedup('ours_k')}× faster than modAL (aim ≥ "
                     f"{fx(aim_d, '.0f', *const('AIMS', 'density_speedup_at_20000'))}×: {'met' if ok else 'not met'}); "
                     f"{speedup('ours_all')}× with k = all, a setting a user does not get by default (shown, not counted)")
        met.append(ok)
    s = r["scoring"][0]
    gflops = s["images_per_s"] * r["model_flops"]["flops"] / 1e9
    text = (f"pool scoring {fx(gflops, '.0f', src, 'derived', 'scoring_gflops')} GFLOP/s on one thread, "
            f"{fx(gflops / r['matmul']['gflops_1_thread'] * 100, '.0f', src, 'derived', 'scoring_share_percent')} % of the measured "
            f"matmul rate, so that rate is no peak: the aim ≥ "
            f"{fx(speed_report.AIMS['scoring_share_of_peak'] * 100, '.0f', *const('AIMS', 'scoring_share_of_peak', 100))} % of it "
            "is retired, not counted")
    cpu = speed_report.cpu_peak(r["machine"])
    if cpu:
        share = gflops / cpu["per_core_base"] * 100
        text += (f"; the CPU, recorded as {r['machine']['cpu_model']} without model number or clock, has an assumed single-precision "
                 f"peak of {fx(cpu['per_core_base'], '.1f', src, 'derived', 'peak_per_core_base')} GFLOP/s per core at base clock: "
                 f"scoring at {fx(share, '.0f', src, 'derived', 'scoring_share_of_cpu_peak_percent')} % of it"
                 + (" is impossible, so the assumed clock, generation or FLOP count is wrong (see the page)" if share > 100 else ""))
    parts.append(text)
    if r.get("round"):
        worst = max(v["train_s"] + v["score_s"] + v["select_s"] for v in r["round"]["per_strategy"].values())
        aim_r = speed_report.AIMS["round_s"]
        parts.append(f"one MNIST round {fx(worst, '.1f', src, 'derived', 'round_worst_s')} s (aim ≤ "
                     f"{fx(aim_r, '.0f', 'benchmarks/speed_report.py', 'const', 'AIMS', 'round_s')} s: {'met' if worst <= aim_r else 'not met'})")
        met.append(worst <= aim_r)
    if r.get("knn"):
        i = len(r["knn"]) - 1
        k, aim_s, aim_recall = r["knn"][i], speed_report.AIMS["knn_s"], speed_report.AIMS["knn_recall"]
        ok = k["ivf"]["seconds"] <= aim_s and k["recall"] >= aim_recall
        parts.append(f"k-nearest density (k = {fx(k['k'], 'd', src, 'json', 'knn', i, 'k')}) at N = "
                     f"{fx(k['n'], ',d', src, 'json', 'knn', i, 'n')}: {fx(k['ivf']['seconds'], '.1f', src, 'json', 'knn', i, 'ivf', 'seconds')} s "
                     f"approximate at recall {fx(k['recall'], '.3f', src, 'json', 'knn', i, 'recall')}, exact "
                     f"{fx(k['exact']['seconds'], '.1f', src, 'json', 'knn', i, 'exact', 'seconds')} s (aim ≤ "
                     f"{fx(aim_s, '.0f', 'benchmarks/speed_report.py', 'const', 'AIMS', 'knn_s')} s at recall ≥ "
                     f"{fx(aim_recall, '.2f', 'benchmarks/speed_report.py', 'const', 'AIMS', 'knn_recall')}: {'met' if ok else 'not met'})")
        met.append(ok)
    if r.get("default_round"):
        dr = r["default_round"]
        worst = max(sum(v["later"].values()) for v in dr["per_strategy"].values())
        aim = speed_report.AIMS["default_round_s"]
        parts.append(f"a round of the default learner on MNIST {fx(worst, '.1f', src, 'derived', 'default_round_worst_s')} s with "
                     f"{fx(dr['threads'], 'd', src, 'json', 'default_round', 'threads')} threads (aim ≤ "
                     f"{fx(aim, '.0f', 'benchmarks/speed_report.py', 'const', 'AIMS', 'default_round_s')} s: {'met' if worst <= aim else 'not met'} "
                     "here; not met by the label-efficiency run's own timing, so not counted below)")
    verdict = (f"{fx(sum(met), 'd', src, 'derived', 'aims_met')} of {fx(len(met), 'd', src, 'derived', 'aims')} aims met "
               "(at default settings); the scoring aim retired")
    return Row("Speed", "speed/README.md", "one thread unless said, shared machine", "; ".join(parts), verdict, list(fx))


def query_scale_row(root: Path) -> Row | None:
    from benchmarks import query_scale

    path = root / "query-scale" / "results.json"
    if not path.exists():
        return None
    r = reporting.read_json(path)
    src, fx, q = "query-scale/results.json", Facts(), query_scale.summary(r)
    aim = query_scale.AIMS["ray_overhead"]
    big, ray_i, local_i = q["big"], q["ray"], q["local"][q["big"]]
    ok = q["overhead"] <= aim
    text = (f"{fx(big, ',d', src, 'json', 'runs', ray_i, 'pool_images')} images: "
            f"{fx(r['runs'][local_i]['images_per_s'], ',.0f', src, 'json', 'runs', local_i, 'images_per_s')} images/s locally with "
            f"{fx(r['runs'][local_i]['cores'], 'd', src, 'json', 'runs', local_i, 'cores')} threads, "
            f"{fx(r['runs'][ray_i]['images_per_s'], ',.0f', src, 'json', 'runs', ray_i, 'images_per_s')} with two Ray nodes on one two-core machine "
            f"(one process of one thread each; no local run with two processes was measured, so this compares processes "
            f"with threads): Ray's overhead {fx(q['overhead'] * 100, '+.0f', src, 'derived', 'overhead_percent')} % (aim ≤ "
            f"{fx(aim * 100, '.0f', 'benchmarks/query_scale.py', 'const', 'AIMS', 'ray_overhead', 100)} %: {'met' if ok else 'not met'}); "
            f"peak memory ×{fx(q['memory_ratio'], '.2f', src, 'derived', 'memory_ratio')} from "
            f"{fx(q['small'], ',d', src, 'json', 'sizes', 0)} to {fx(big, ',d', src, 'json', 'sizes', 1)} images")
    verdict = f"Ray overhead {'within' if ok else 'over'} its aim; " + ("the same ranking as local" if r["same_ranking"] else "rankings DIFFER")
    return Row("`query` at scale", "query-scale/README.md", "MNIST-built pool, .npy shards", text, verdict, list(fx))
