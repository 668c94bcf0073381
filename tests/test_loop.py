"""The active-learning loop: invariants, summaries, resume, the learner API, and the fixes of the redesign."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from activegan.errors import ConfigError
from activegan.experiment import run_experiment
from activegan.learner import ActiveLearner
from activegan.loop import ExperimentConfig, TrainOptions, run_strategy
from activegan.models import CNNClassifier
from activegan.active.pool import Pool, SimulatedOracle, initial_indices
from activegan.results import aulc, first_reach, labels_to, summarize


def fast(**kw) -> ExperimentConfig:
    train = TrainOptions(steps=15, batch_size=16, **kw.pop("train", {}))
    # The poster's CNN and balanced first labels: what these loop tests were written for.
    return ExperimentConfig(**{"seeds": [0], "initial": 10, "query_size": 5, "rounds": 3, "train": train,
                               "learner": "cnn", "initial_strategy": "balanced", **kw})


def test_aulc_is_trapezoid_area_over_label_range():
    # (10, 0.5) → (20, 0.7) → (40, 0.9): (10·0.6 + 20·0.8) / 30 = 22 / 30
    assert aulc([10, 20, 40], [0.5, 0.7, 0.9]) == pytest.approx(22 / 30)


def test_labels_to_is_the_count_after_which_the_mean_stays_above():
    n = [10, 20, 30, 40]
    assert labels_to(n, [0.85, 0.91, 0.89, 0.93], 0.90) == 40  # touched at 20, stays from 40
    assert first_reach(n, [0.85, 0.91, 0.89, 0.93], 0.90) == 20
    assert labels_to(n, [0.85, 0.91, 0.92, 0.93], 0.90) == 20
    assert labels_to(n, [0.85, 0.91, 0.89, 0.93], 0.95) is None


def test_labels_to_counts_a_threshold_reached_exactly():
    # Three seeds 0.958, 0.954, 0.938 average to 0.95, computed as 0.94999…
    mean = np.mean([[0.9, 0.958], [0.9, 0.954], [0.9, 0.938]], axis=0)
    assert mean[1] < 0.95
    assert labels_to([90, 100], mean, 0.95) == 100


def test_initial_set_is_class_balanced():
    y = np.repeat(np.arange(4), 50)
    idx = initial_indices(y, 12, np.random.default_rng(0), balanced=True)
    assert len(set(idx.tolist())) == 12
    assert np.bincount(y[idx], minlength=4).tolist() == [3, 3, 3, 3]


def test_pool_refuses_negative_labels():
    with pytest.raises(ValueError, match="-1 marks unlabeled"):
        Pool(5).label([1], [-1])


def test_pool_refuses_to_label_twice():
    pool = Pool(5)
    pool.label([1, 3], [0, 1])
    with pytest.raises(ValueError, match="already labeled"):
        pool.label([3], [1])
    assert pool.unlabeled.tolist() == [0, 2, 4]


@pytest.mark.parametrize("strategy", ["random", "entropy", "density-entropy", "bald"])
def test_loop_invariants(small_digits, strategy):
    cfg = fast(strategies=[strategy])
    oracle = SimulatedOracle(small_digits.y_pool)
    rows_seen = []
    state = run_strategy(small_digits, strategy, 0, cfg, on_round=lambda s, r: rows_seen.append(r), oracle=oracle)

    labeled = state["labeled"]
    queried = [i for q in state["queries"] for i in q]
    assert len(set(labeled)) == len(labeled)  # no index labeled twice
    assert sorted(oracle.queried) == sorted(labeled)  # labels revealed only for what was queried
    assert set(queried) <= set(labeled) and len(set(queried)) == len(queried)
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15, 20, 25]  # sizes as configured
    assert [len(q) for q in state["queries"]] == [5, 5, 5]
    pool = Pool(len(small_digits.y_pool))
    pool.label(labeled, small_digits.y_pool[labeled])
    assert len(pool.labeled) + len(pool.unlabeled) == len(small_digits.y_pool)
    assert rows_seen == state["rows"]


def test_subset_limits_candidates_but_keeps_sizes(small_digits):
    cfg = fast(strategies=["entropy"], subset=20)
    state = run_strategy(small_digits, "entropy", 0, cfg)
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15, 20, 25]


def test_summary_matches_curves():
    rows = [
        {"strategy": "a", "seed": s, "round": r, "n_labeled": n, "accuracy": acc}
        for s, accs in [(0, [0.5, 0.9, 0.96]), (1, [0.5, 0.8, 0.94])]
        for r, (n, acc) in enumerate(zip([10, 20, 30], accs))
    ]
    s = summarize(rows)["a"]
    a0, a1 = aulc([10, 20, 30], [0.5, 0.9, 0.96]), aulc([10, 20, 30], [0.5, 0.8, 0.94])
    assert s["aulc_mean"] == pytest.approx((a0 + a1) / 2)
    assert s["aulc_std"] == pytest.approx(np.std([a0, a1], ddof=1))
    assert s["final_accuracy_mean"] == pytest.approx(0.95)
    assert s["labels_to"] == {"0.90": 30, "0.95": 30}  # seed means 0.5, 0.85, 0.95 (the last one exactly)


def test_experiment_writes_all_outputs(tmp_path, small_digits):
    cfg = fast(strategies=["random", "margin"], seeds=[0, 1])
    summary = run_experiment(cfg, tmp_path / "out", data=small_digits, progress=False)
    out = tmp_path / "out"
    for name in ["config.json", "curves.csv", "summary.json", "learning_curves.png", "queries_random.png", "queries_margin.png"]:
        assert (out / name).stat().st_size > 0, name
    with open(out / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["strategy", "seed", "round", "n_labeled", "accuracy", "train_s", "score_s", "select_s",
                             "classes_labeled", "first_labels", "estimate", "estimate_low", "estimate_high", "stop_kappa",
                             "stop", "stop_reason", "pool_accuracy"]
    assert len({(r["seed"], r["first_labels"]) for r in rows}) == 2  # one set of first labels per seed, all strategies
    assert len(rows) == 2 * 2 * (3 + 1)
    assert set(summary) == {"random", "margin"}


def test_experiment_is_deterministic(tmp_path, small_digits):
    cfg = fast(strategies=["entropy"], rounds=2)
    a = run_experiment(cfg, tmp_path / "a", data=small_digits, progress=False)
    b = run_experiment(cfg, tmp_path / "b", data=small_digits, progress=False)
    assert a == b


def test_learner_api_query_and_teach(small_digits):
    d = small_digits
    learner = ActiveLearner(CNNClassifier(n_classes=10, steps=20), strategy="margin").fit(d.x_pool[:20], d.y_pool[:20])
    pool_x = d.x_pool[20:]
    idx = learner.query(pool_x, n=7)
    assert len(idx) == 7 and len(set(idx.tolist())) == 7 and idx.max() < len(pool_x)
    learner.teach(pool_x[idx], d.y_pool[20:][idx])
    assert len(learner.y_) == 27
    assert 0.0 <= learner.score(d.x_test, d.y_test) <= 1.0


@pytest.mark.parametrize("strategy", ["density-entropy", "bald", "variation-ratios", "mc-entropy"])
def test_learner_with_density_and_mc_strategies(small_digits, strategy):
    d = small_digits
    learner = ActiveLearner(CNNClassifier(n_classes=10, steps=10), strategy=strategy, mc_samples=3)
    idx = learner.fit(d.x_pool[:20], d.y_pool[:20]).query(d.x_pool[20:60], n=5)
    assert len(set(idx.tolist())) == 5 and idx.max() < 40


def test_learner_refuses_gan_strategies_at_fit(small_digits):
    with pytest.raises(ConfigError, match="not a pool strategy"):
        ActiveLearner(strategy="gan-entropy-match").fit(small_digits.x_pool[:10], small_digits.y_pool[:10])


def test_an_epoch_is_one_pass_over_the_labeled_set(small_digits):
    import torch

    seen = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: seen.append(len(args[0])) if type(module).__name__ == "CNN" else None)
    try:
        for n, batches_per_pass in [(32, 1), (33, 2), (64, 2), (65, 3)]:
            seen.clear()
            CNNClassifier(n_classes=10, epochs=3, batch_size=32).fit(small_digits.x_pool[:n], small_digits.y_pool[:n])
            assert len(seen) == 3 * batches_per_pass and sum(seen) == 3 * n, (n, seen)
    finally:
        hook.remove()


def test_mc_dropout_noise_depends_on_the_experiment_seed(small_digits):
    rows = {}
    for seed in (0, 1):
        cfg = fast(strategies=["bald"], seeds=[seed], rounds=1, mc_samples=3)
        cfg.initial_strategy = "balanced"
        # the same initial set and classifier for both seeds, so only the MC noise may differ
        state = run_strategy(small_digits, "bald", seed, cfg, oracle=SimulatedOracle(small_digits.y_pool))
        rows[seed] = state["queries"][0]
    assert rows[0] != rows[1]


@pytest.mark.parametrize("options", [
    {"density_features": "penultimate", "strategies": ["density-entropy"]},
    {"strategies": ["margin"], "train": {"augment": True}},
    {"strategies": ["margin"], "train": {"batch_norm": True}},
])
def test_loop_runs_with_each_training_and_density_option(small_digits, options):
    options = dict(options)
    cfg = fast(rounds=2, **options)
    state = run_strategy(small_digits, cfg.strategies[0], 0, cfg)
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15, 20]
    assert all(0 <= r["accuracy"] <= 1 for r in state["rows"])


def test_penultimate_density_changes_the_queries(small_digits):
    queries = {}
    for features in ("pixels", "penultimate"):
        cfg = fast(strategies=["density-entropy"], density_features=features, rounds=2)
        queries[features] = run_strategy(small_digits, "density-entropy", 0, cfg)["queries"]
    assert queries["pixels"] != queries["penultimate"]


def test_warm_start_resume_gives_the_uninterrupted_curve(small_digits, state_after_round):
    cfg = fast(strategies=["margin"], rounds=3, train={"warm_start": True})
    whole = run_strategy(small_digits, "margin", 0, cfg)
    saved = state_after_round(lambda on_round: run_strategy(small_digits, "margin", 0, cfg, on_round=on_round), 1)
    resumed = run_strategy(small_digits, "margin", 0, cfg, saved=saved)
    assert [r["accuracy"] for r in resumed["rows"]] == [r["accuracy"] for r in whole["rows"]]
    assert resumed["queries"] == whole["queries"]


def test_config_errors_name_the_parameter_before_anything_trains(small_digits):
    for bad, param in [({"density_k": 300, "strategies": ["gan-density-entropy-match"]}, "density_k"),
                       ({"query_size": 0}, "query_size"), ({"subset": 3}, "subset")]:
        with pytest.raises(ConfigError) as err:
            fast(**bad).validate(len(small_digits.y_pool))
        assert err.value.param == param


def _curves_without_timing(path):
    with open(path) as f:
        return [(r["strategy"], r["seed"], r["round"], r["n_labeled"], r["accuracy"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_curves(tmp_path, learner="selftrain"):
    # Two parallel workers: the kill hits the parent while both children are mid-round. The resumed units
    # run with the same share of the cores as the uninterrupted run's (workers.run_in_processes), and the
    # default learner is the one whose CNN would drift with another thread count.
    args = [sys.executable, "-m", "activegan", "run", "--strategies", "random,entropy", "--seeds", "1", "--learner", learner,
            "--initial", "10", "--query-size", "5", "--rounds", "4", "--steps", "15", "--no-progress", "--jobs", "2"]
    env = dict(os.environ)  # the session's cache: the digits pool's embedding is fitted once for every test
    ref = tmp_path / "ref"
    subprocess.run(args + ["--out", str(ref)], check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill -9 in the middle, once a few rounds are done
        if (out / "curves.csv").exists() and len((out / "curves.csv").read_text().splitlines()) > 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {tuple(r[:3]): r for r in _read(out / "curves.csv")}
    assert 0 < len(before) < 10, "the kill should land mid-run"

    res = subprocess.run(args + ["--out", str(out), "--resume"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert _curves_without_timing(out / "curves.csv") == _curves_without_timing(ref / "curves.csv")
    after = {tuple(r[:3]): r for r in _read(out / "curves.csv")}
    for key, row in before.items():  # completed rounds were not recomputed: their timings survive
        assert after[key] == row


def _read(path):
    with open(path) as f:
        return [list(r.values()) for r in csv.DictReader(f)]


def test_rerun_into_existing_out_without_resume_is_refused(tmp_path, small_digits):
    cfg = fast(strategies=["random"], rounds=1)
    run_experiment(cfg, tmp_path / "o", data=small_digits, progress=False)
    with pytest.raises(ConfigError, match="resume"):
        run_experiment(cfg, tmp_path / "o", data=small_digits, progress=False)
    cfg.query_size = 6
    with pytest.raises(ConfigError, match="query_size"):
        run_experiment(cfg, tmp_path / "o", data=small_digits, resume=True, progress=False)


def test_a_resume_may_add_strategies_and_keeps_the_units_already_run(tmp_path, small_digits):
    run_experiment(fast(strategies=["random"], rounds=1), tmp_path / "o", data=small_digits, progress=False)
    before = _read(tmp_path / "o" / "curves.csv")
    run_experiment(fast(strategies=["random", "margin"], rounds=1), tmp_path / "o", data=small_digits, resume=True,
                   progress=False)
    after = _read(tmp_path / "o" / "curves.csv")
    assert [r for r in after if r[0] == "random"] == before  # not rerun: its timings survive too
    assert len([r for r in after if r[0] == "margin"]) == 2
    assert json.loads((tmp_path / "o" / "config.json").read_text())["strategies"] == ["random", "margin"]
    with pytest.raises(ConfigError, match="strategies"):  # dropping one is not a resume of the same run
        run_experiment(fast(strategies=["margin"], rounds=1), tmp_path / "o", data=small_digits, resume=True, progress=False)
