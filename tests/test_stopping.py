"""Knowing when to stop (issue 21): κ, the stop signal, the accuracy estimate and its audit, checked by hand;
their columns in run's curves.csv (resume included); run on a folder <class>/* with a held-out test split or none."""

import csv
import math

import numpy as np
import pytest
from scipy import stats

from activegan import AccuracyEstimate, StopSignal, cohen_kappa, stop_set
from activegan.cli import main
from activegan.errors import ConfigError, DataError
from activegan.experiment import run_experiment
from activegan.loop import ExperimentConfig, TrainOptions, run_strategy
from activegan.results import STOP_COLUMNS, read_curves, summarize
from activegan.monitor import FOLDS, Monitor, audit_count, audit_draw, folds_of, out_of_fold
from activegan.stopping import confidence_bins, difference_estimate, matched_weights, used_records

from conftest import gray


def fast(**kw) -> ExperimentConfig:
    """The poster's CNN, 15 steps a round: the quickest learner whose probabilities move between rounds."""
    return ExperimentConfig(**{"seeds": [0], "initial": 10, "query_size": 5, "rounds": 3, "learner": "cnn",
                               "initial_strategy": "balanced", "train": TrainOptions(steps=15, batch_size=16), **kw})


def test_kappa_against_a_hand_computation():
    # p_o = 5/6; class shares (2, 2, 2)/6 and (2, 1, 3)/6: p_e = (4 + 2 + 6)/36 = 1/3; κ = (5/6 − 1/3)/(2/3) = 3/4
    assert cohen_kappa([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]) == pytest.approx(0.75)
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) == 1.0  # one class on both sides: full agreement
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)


def _changed(pred, k):
    out = pred.copy()
    out[:k] = (out[:k] + 1) % 10
    return out


def test_the_signal_fires_on_stable_predictions_at_the_expected_round():
    base = np.arange(200) % 10  # 10 balanced classes: one change in 200 → κ ≈ 0.9944, two → κ ≈ 0.9889
    signal = StopSignal()  # κ ≥ 0.99 for 3 rounds, or a gain under 0.5 point over 3 rounds
    seq = [base, _changed(base, 40), _changed(base, 2), _changed(base, 3), _changed(base, 2), base]
    fired = [signal.update(p, estimate=0.5 + 0.05 * r) for r, p in enumerate(seq)]
    assert math.isnan(fired[0].kappa) and [d.stop for d in fired] == [False] * 6  # changes of 2 and 3: κ < 0.99
    for r, p in enumerate([_changed(base, 1), base, _changed(base, 1)], start=6):  # 1 change each round
        d = signal.update(p, estimate=0.5 + 0.05 * r)
        assert d.kappa >= 0.99 and d.stop == (r == 8)
    assert d.reason == "predictions changed on 0.5 % of the stop set or less for 3 rounds (Cohen's κ ≥ 0.99)"
    later = signal.update(_changed(base, 100), estimate=0.9)  # once fired it stays fired, with its first reason
    assert later.stop and later.reason == d.reason and later.kappa < 0.5


def test_the_signal_fires_on_the_estimates_plateau():
    signal = StopSignal()
    rng = np.random.default_rng(0)
    decisions = [signal.update(rng.integers(0, 10, 100), estimate=e) for e in [0.5, 0.6, 0.7, 0.702, 0.703, 0.704]]
    assert [d.stop for d in decisions] == [False] * 5 + [True]  # 0.704 − 0.700 = 0.4 point over 3 rounds
    assert decisions[-1].reason == "the estimated accuracy rose +0.4 points over the last 3 rounds (less than 0.5)"
    wide, narrow = StopSignal(), StopSignal()  # with its interval: only a plateau within ±5 points counts
    for e in [0.5, 0.6, 0.7, 0.702, 0.703]:
        wide.update(rng.integers(0, 10, 100), estimate=(e, e - 0.06, e + 0.06))
        d = narrow.update(rng.integers(0, 10, 100), estimate=(e, e - 0.04, e + 0.04))
    assert not wide.update(rng.integers(0, 10, 100), estimate=(0.704, 0.644, 0.764)).stop
    assert narrow.update(rng.integers(0, 10, 100), estimate=(0.704, 0.664, 0.744)).reason.endswith(
        "(less than 0.5), its 90 % interval ±4.0 points") and not d.stop


def test_given_the_labels_the_plateau_is_a_gain_per_100_labels():
    signal, rng = StopSignal(), np.random.default_rng(0)
    steps = [(0.50, 20), (0.60, 40), (0.65, 100), (0.68, 200)]  # +50, +8.3, then +3.0 points per 100 labels
    decisions = [signal.update(rng.integers(0, 10, 100), (e, e - 0.04, e + 0.04), n_labeled=n) for e, n in steps]
    assert [d.stop for d in decisions] == [False, False, False, True]
    assert decisions[-1].reason == ("the estimated accuracy rose +3.0 points per 100 labels over the last round "
                                    "(less than 4), its 90 % interval ±4.0 points")
    wide = StopSignal()  # the same gains with a ±6-point interval: not a plateau measured
    assert not any(wide.update(rng.integers(0, 10, 100), (e, e - 0.06, e + 0.06), n_labeled=n).stop for e, n in steps)


def test_the_estimate_and_its_interval_by_hand():
    est = AccuracyEstimate()
    # predicted 0, 0, 0, 1 with confidence 0.9, 0.6, 0.7, 0.8; right, wrong, right, right
    est.record([[0.9, 0.1], [0.6, 0.4]], [0, 1])
    est.record([[0.7, 0.3], [0.2, 0.8]], [0, 1])
    value, low, high = est.estimate([[0.8, 0.2], [0.4, 0.6]])
    # residuals 0.1, −0.6, 0.3, 0.2: mean 0, variance 0.5/3 = 0.1667, under its floor: the mean of c(1 − c),
    # (0.09 + 0.24 + 0.21 + 0.16)/4 = 0.175; pool confidence 0.8, 0.6: mean 0.7, variance 0.02
    half = 2.353363 * math.sqrt(0.175 / 4 + 0.02 / 2)  # t(0.95, 3 df)
    assert (value, low, high) == pytest.approx((0.7, 0.7 - half, 1.0), abs=1e-5)  # high clipped at 1
    assert est.estimate([[0.8, 0.2]]).value == pytest.approx(0.8)
    assert AccuracyEstimate().estimate([[0.8, 0.2]]) == (pytest.approx(0.8), 0.0, 1.0)  # no label yet: no interval


def test_the_weights_give_the_queries_the_stop_sets_confidence_mix():
    edges, shares = confidence_bins([0.2, 0.4, 0.6, 0.8, 0.9, 1.0], bins=2)  # median 0.7: half the stop set each side
    assert edges == pytest.approx([0.7]) and shares == pytest.approx([0.5, 0.5])
    # 1 query below 0.7, 3 above: shares 1/4, 3/4 against 1/2, 1/2 → weights 2, 2/3, 2/3, 2/3 (mean 1)
    assert matched_weights([0.3, 0.8, 0.9, 0.95], edges, shares) == pytest.approx([2, 2 / 3, 2 / 3, 2 / 3])
    assert matched_weights([0.8, 0.9], edges, [0.0, 1.0]) == pytest.approx([1, 1])  # one bin: nothing to match


def test_the_weighted_difference_estimate_by_hand():
    # 10 × residuals −0.5 (weight 2) and 0.1, 0.1, 0.1 (weight 2/3): weighted mean (−1 + 0.2)/4 = −0.2; effective
    # count 40² / (10 × (4 + 3 × 4/9)) = 30; weighted variance (2 × 0.09 + 2 × 0.09)/4 = 0.09, × 30/29, under the floor 0.16
    value, low, high = difference_estimate(0.8, 0.0, 100, [-0.5, 0.1, 0.1, 0.1] * 10, weights=[2, 2 / 3, 2 / 3, 2 / 3] * 10,
                                           floor=0.16)
    half = stats.t.ppf(0.95, 29) * math.sqrt(0.16 / 30)
    assert (value, low, high) == pytest.approx((0.6, 0.6 - half, 0.6 + half))


def test_the_estimate_weights_each_round_by_the_previous_models_stop_set():
    est = AccuracyEstimate()
    est.estimate(np.array([[c, 1 - c] for c in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.96, 0.97)]))
    est.record([[0.62, 0.38], [0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.98, 0.02]], [0, 1, 0, 0, 0])
    edges, shares = confidence_bins([0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.96, 0.97])
    assert est.state_dict()["weight"] == pytest.approx(matched_weights([0.62, 0.99, 0.98, 0.97, 0.98], edges, shares).tolist())
    assert AccuracyEstimate().load_state_dict(est.state_dict()).state_dict() == est.state_dict()


def test_the_residuals_reach_back_to_RECENT_labels():
    records = {"round": np.repeat([0, 1, 2, 3], [50, 60, 70, 30]), "audit": np.zeros(210, int)}
    assert used_records(records, 4, None, recent=120).sum() == 160  # rounds 3, 2 give 30 + 70 = 100: round 1 too
    assert used_records(records, 4, None, recent=100).sum() == 100  # 30 + 70 reach 100 exactly
    assert used_records(records, 4, None, recent=None).sum() == 210


def test_the_window_and_the_audit_choose_the_residuals():
    est = AccuracyEstimate(window=1)
    est.record([[0.9, 0.1]] * 3, [1, 1, 1])  # residuals −0.9: an earlier round
    est.record([[0.6, 0.4]] * 2, [0, 1])  # residuals 0.4, −0.6
    assert est.residuals() == pytest.approx([0.4, -0.6])
    est.record([[0.7, 0.3]] * 3, [0, 1, 0], audit=[False, True, False])
    assert est.residuals() == pytest.approx([0.3, -0.7, 0.3])  # 1 audit label: fewer than 10, not used alone
    est.record([[0.8, 0.2]] * 9, [0] * 9, audit=[True] * 9)
    est.record([[0.8, 0.2]], [1])
    assert est.residuals() == pytest.approx([-0.7] + [0.2] * 9)  # 10 audit labels: only theirs, from every round
    restored = AccuracyEstimate(window=1).load_state_dict(est.state_dict())
    assert restored.residuals() == pytest.approx(est.residuals()) and restored.rounds == 5


def test_the_audit_draw_is_uniform_and_seeded():
    assert (audit_count(10, 0.0), audit_count(10, 0.01), audit_count(10, 0.25), audit_count(0, 0.5)) == (0, 1, 2, 0)
    unlabeled = np.arange(100, 150)
    draws = [audit_draw(unlabeled, 10, 0.3, seed, r) for seed in range(40) for r in range(50)]
    assert all(len(d) == 3 and len(set(d)) == 3 and set(d) <= set(unlabeled) for d in draws)
    counts = np.bincount(np.concatenate(draws) - 100, minlength=50)  # 6 000 draws over 50 images
    assert stats.chisquare(counts).pvalue > 0.001
    assert audit_draw(unlabeled, 10, 0.3, 7, 2).tolist() == audit_draw(unlabeled, 10, 0.3, 7, 2).tolist()
    assert audit_draw(unlabeled, 10, 0.3, 7, 2).tolist() != audit_draw(unlabeled, 10, 0.3, 7, 3).tolist()
    with pytest.raises(ConfigError, match="audit"):
        audit_count(10, 1.0)


class _Sure:
    """Predicts its training set's most common class with probability 1: out-of-fold predictions by hand."""

    fits = 0

    def fit(self, X, y):
        _Sure.fits += 1
        self.top = int(np.bincount(y).argmax())
        return self

    def predict_proba(self, X):
        out = np.zeros((len(X), 2))
        out[:, self.top] = 1.0
        return out


def test_folds_are_stratified_by_label_and_seeded():
    labels = np.array([0] * 6 + [1] * 4 + [2] * 2)
    fold = folds_of(labels, 3, seed=0, round_=1)
    assert np.bincount(fold).tolist() == [4, 4, 4]  # 12 images dealt in turn: 4 a fold
    for c in range(3):  # each class spread over the folds: 2, 2, 2; 2, 1, 1 or so; 1, 1, 0 or so
        counts = np.bincount(fold[labels == c], minlength=3)
        assert counts.max() - counts.min() <= 1
    assert folds_of(labels, 3, 0, 1).tolist() == fold.tolist()
    assert any(folds_of(labels, 3, 0, r).tolist() != fold.tolist() for r in range(2, 6))


def test_out_of_fold_predictions_and_the_estimate_from_them_by_hand():
    X, labeled = np.arange(20, dtype=np.float32)[:, None], np.arange(10)
    labels = np.array([0] * 8 + [1] * 2)  # 5 folds: each holds 1 or 2 zeros, the ones in two of them
    _Sure.fits = 0
    probs, y = out_of_fold(lambda r, prev: _Sure(), 0, X, labeled, labels, np.ones(10, bool), seed=0)
    assert _Sure.fits == FOLDS and y.tolist() == labels.tolist()  # every image uniform: every fold fitted
    assert (probs.argmax(axis=1) == 0).all()  # without its fold, each training set still holds 6 or more zeros
    # residuals: 0 for the eight zeros (right, sure), −1 for the two ones: mean −0.2
    assert AccuracyEstimate().residuals((probs, y)) == pytest.approx([0.0] * 8 + [-1.0] * 2)
    assert AccuracyEstimate().estimate([[0.9, 0.1], [0.7, 0.3]], (probs, y)).value == pytest.approx(0.8 - 0.2)
    assert out_of_fold(lambda r, prev: _Sure(), 0, X, labeled, labels, np.arange(10) < 9, seed=0) is None  # 9 < 10
    # run's Monitor: the stop set is the whole pool of 20, its 10 unlabeled images predicted with confidence 1
    monitor = Monitor(20, seed=0)
    monitor.drawn(labeled)
    model = _Sure().fit(X[labeled], labels)
    assert monitor.columns(model, X, labeled, labels=labels, learner=lambda r, prev: _Sure())["estimate"] == pytest.approx(0.8)
    assert Monitor(20, 0, state=monitor.state_dict()).uniform == labeled.tolist()
    assert monitor.columns(model, X, labeled, labels=labels)["estimate"] == pytest.approx(1.0)  # no learner: no record yet


def test_run_cross_validates_the_random_strategys_draws_with_a_fast_learner(small_digits):
    cfg = ExperimentConfig(strategies=["random"], seeds=[0], initial=10, query_size=10, rounds=2, learner="embedding")
    state = run_strategy(small_digits, "random", 0, cfg)
    assert state["stopping"]["uniform"] == [i for q in state["queries"] for i in q]  # its queries, not the typical first
    _check_columns([{k: r[k] for k in r} for r in state["rows"]])
    typical = run_strategy(small_digits, "typiclust", 0, ExperimentConfig(**{**cfg.__dict__, "strategies": ["typiclust"]}))
    assert typical["stopping"]["uniform"] == []


def test_the_stop_set_is_fixed_per_seed():
    assert stop_set(500, 0).tolist() == list(range(500))  # smaller than 2 000: the whole pool
    a, b = stop_set(10_000, 3), stop_set(10_000, 3)
    assert len(a) == 2000 and a.tolist() == b.tolist() and a.tolist() != stop_set(10_000, 4).tolist()


def _check_columns(rows):
    for r in rows:
        assert 0 <= r["estimate_low"] <= r["estimate"] <= r["estimate_high"] <= 1
        assert r["stop"] in (0, 1) and (r["stop"] == 1) == bool(r["stop_reason"])
        assert r["round"] == 0 and math.isnan(r["stop_kappa"]) or -1 <= r["stop_kappa"] <= 1
    stops = [r["stop"] for r in sorted(rows, key=lambda r: r["round"])]
    assert stops == sorted(stops)  # 1 from the round it fired on


def test_run_writes_the_columns_and_a_resumed_run_gives_the_same(small_digits, tmp_path, state_after_round):
    cfg = fast(strategies=["margin"], audit=0.2)
    summary = run_experiment(cfg, tmp_path / "out", data=small_digits, progress=False)
    rows = read_curves(tmp_path / "out" / "curves.csv")
    assert len(rows) == 4 and summary["margin"]["n_labeled"] == [10, 15, 20, 25]
    assert set(STOP_COLUMNS) <= set(rows[0]) and rows[0]["estimate_high"] == 1.0  # round 0: nothing to check it on
    _check_columns(rows)

    whole = run_strategy(small_digits, "margin", 0, cfg)
    saved = state_after_round(lambda on_round: run_strategy(small_digits, "margin", 0, cfg, on_round=on_round), 1)
    resumed = run_strategy(small_digits, "margin", 0, cfg, saved=saved)
    cols = ["estimate", "estimate_low", "estimate_high", "stop_kappa", "stop", "stop_reason", "accuracy"]
    assert [[repr(r[c]) for c in cols] for r in resumed["rows"]] == [[repr(r[c]) for c in cols] for r in whole["rows"]]
    assert resumed["queries"] == whole["queries"] and all(len(q) == 5 for q in whole["queries"])


def test_the_audit_takes_its_share_of_each_batch(small_digits):
    plain = run_strategy(small_digits, "margin", 0, fast(strategies=["margin"], rounds=2))
    audited = run_strategy(small_digits, "margin", 0, fast(strategies=["margin"], rounds=2, audit=0.2))
    for r, query in enumerate(audited["queries"], start=1):  # 5 a round: the strategy's 4, then 1 drawn uniformly
        unlabeled = np.setdiff1d(np.arange(300), audited["labeled"][: 10 + 5 * (r - 1)])
        assert query[-1:] == audit_draw(unlabeled, 5, 0.2, 0, r).tolist()
    # the same model after round 0: the strategy's 4 are its best 5 without the audit's image
    assert audited["queries"][0][:4] == [i for i in plain["queries"][0] if i != audited["queries"][0][-1]][:4]
    with pytest.raises(ConfigError, match="audit"):
        fast(audit=1.0).validate(300)


def test_old_curves_without_the_columns_still_read(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text("strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s\n"
                    "random,0,0,10,0.5,1,0,0\nrandom,0,1,20,0.7,1,0,0\n")
    rows = read_curves(path)
    assert "estimate" not in rows[0] and summarize(rows)["random"]["final_accuracy_mean"] == 0.7


def _folder(root, counts):
    for c, n in counts.items():
        for k in range(n):
            gray(root / c / f"{k}.png", {"dark": 30, "mid": 120, "bright": 220}[c] + k)
    return root


def test_an_image_folder_gets_a_stratified_held_out_split(tmp_path):
    from activegan.data import load_dataset

    root = _folder(tmp_path / "imgs", {"dark": 12, "mid": 3, "bright": 7})
    data = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    # 20 % of each class rounded, at least 1: 2 of 12, 1 of 3, 1 of 7 (round(1.4))
    assert np.bincount(data.y_test).tolist() == [1, 2, 1] and len(data.y_pool) == 22 - 4
    assert data.classes == ("bright", "dark", "mid")
    again = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    assert np.array_equal(again.x_test, data.x_test)  # seeded: the same split each time
    whole = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache", test=False)
    assert len(whole.y_pool) == 22 and len(whole.y_test) == 0
    _folder(tmp_path / "one", {"dark": 3, "mid": 1})
    with pytest.raises(DataError, match="class mid has a single image"):
        load_dataset(f"folder:{tmp_path / 'one'}", cache_dir=tmp_path / "cache")


def test_run_on_a_folder_with_and_without_a_test_split(tmp_path, capsys):
    root = _folder(tmp_path / "imgs", {"dark": 15, "mid": 15, "bright": 15})
    args = ["run", "--dataset", f"folder:{root}", "--strategies", "margin", "--seeds", "1", "--learner", "cnn",
            "--initial", "6", "--query-size", "3", "--rounds", "2", "--steps", "5", "--no-progress", "--jobs", "1",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--out", str(tmp_path / "split")]) == 0
    assert "held out 9 of 45 images as the test split (20% of each class" in capsys.readouterr().err
    rows = read_curves(tmp_path / "split" / "curves.csv")
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
    _check_columns(rows)

    assert main([*args, "--out", str(tmp_path / "none"), "--no-test"]) == 0
    assert "no test split" in capsys.readouterr().out
    rows = read_curves(tmp_path / "none" / "curves.csv")
    assert all(math.isnan(r["accuracy"]) for r in rows) and (tmp_path / "none" / "learning_curves.png").exists()
    _check_columns(rows)
    with open(tmp_path / "none" / "curves.csv") as f:
        assert next(csv.DictReader(f))["accuracy"] == "nan"

    _folder(tmp_path / "one", {"dark": 3, "mid": 1})
    assert main([*args[:2], f"folder:{tmp_path / 'one'}", *args[3:], "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "class mid has a single image" in err[0]
    assert main([*args, "--out", str(tmp_path / "bad"), "--audit", "1.5"]) == 2
    assert "--audit must be a share" in capsys.readouterr().err


def test_the_benchmark_judges_the_estimate_and_the_signal_against_the_test_curve():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.stopping import judge

    acc = [0.50, 0.80, 0.90, 0.95, 0.97, 0.98, 0.98]  # final 0.98: 98 % of it (0.9604) first at 50, 99 % (0.9702) at 60
    rows = [{"strategy": "margin", "seed": 0, "round": r, "n_labeled": 10 * (r + 1), "accuracy": a, "estimate": a + 0.01,
             "estimate_low": a - 0.05 + 0.1 * (r == 6), "estimate_high": a + 0.05, "stop_kappa": 0.99, "stop": int(r >= 5),
             "stop_reason": "r" if r >= 5 else ""} for r, a in enumerate(acc)]
    j = judge(rows, "margin")
    assert j["seeds"][0] | {"reason": None} == {"seed": 0, "stop": 60, "n98": 50, "n99": 60, "budget": 70, "ok": True,
                                                "lost": pytest.approx(0.0), "saved": 10, "reason": None}
    assert j["aim_error"] and j["cover"].tolist() == [True, True, False] and not j["aim_cover"]  # 67 % < 85 %
    rows[4]["stop"] = 1  # fired at 50: 0.97 ≥ 0.9604, not early
    assert judge(rows, "margin")["seeds"][0]["ok"]
    rows[3]["stop"] = 1  # at 40: 0.95 < 0.9604, early
    assert not judge(rows, "margin")["aim_stop"]


def test_the_page_on_the_acquisition_runs_is_written_from_committed_files(tmp_path, monkeypatch):
    import shutil
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from benchmarks import reporting, stopping

    shutil.copytree(root / "docs" / "results" / "acquisition" / "cifar10", tmp_path / "acquisition" / "cifar10")
    monkeypatch.setattr(reporting, "RESULTS", tmp_path)
    page = stopping.from_acquisition("cifar10").read_text()  # (a NameError before: it used another function's name)
    assert "(`default/`: 5 distinct first-label sets (recorded))" in page and "## Aims" in page
    assert "Changed since" not in page  # the change to selftrain does not touch the linear learner's runs


def _label_rounds(session, data, rounds: int) -> None:
    """Label every image of the next ``rounds`` batches as the person would, waiting for each retrain."""
    import time

    for _ in range(rounds):
        status = session.status()
        for item in status.batch:
            session.label(item.id, data.classes[data.y_pool[item.pool_index]])
        for _ in range(1200):  # the retrain thread closes the round and asks the next batch (maybe before its point)
            if session.status().round == status.round + 1 and any(c["round"] == status.round for c in session.store.curve()):
                break
            time.sleep(0.05)


def test_the_labeling_app_and_active_learner_cross_validate_uniform_draws(small_digits, tmp_path, session_cache):
    from activegan.label.session import LabelConfig, LabelSession
    from activegan.learner import ActiveLearner

    cfg = LabelConfig(dataset="digits", strategy="random", query_size=5, learner="embedding", initial_strategy="random",
                      cache_dir=session_cache)
    with LabelSession(tmp_path / "state", small_digits, cfg) as session:
        _label_rounds(session, small_digits, 2)
        estimates = session.store.estimates()
    # both batches were drawn uniformly: after the second, its 10 labels are cross-validated (recorded predictions: 5)
    assert [e["residuals"] for e in estimates] == [0, 10]

    d = small_digits
    learner = ActiveLearner(strategy="random", learner="embedding", pool=d.x_pool).fit(d.x_pool[:10], d.y_pool[:10])
    for _ in range(2):
        idx = learner.query(d.x_pool, n=5)
        learner.teach(d.x_pool[idx], d.y_pool[idx])
    assert len(learner.accuracy_.residuals(learner._out_of_fold())) == 10  # the taught draws, not the first 10
    assert 0 <= learner.estimate().low <= learner.estimate().value <= learner.estimate().high <= 1
    margin = ActiveLearner(strategy="margin", learner="embedding", pool=d.x_pool).fit(d.x_pool[:10], d.y_pool[:10])
    assert margin._out_of_fold() is None


def test_the_labeling_apps_audit_draws_uniformly_and_the_estimate_rests_on_it(small_digits, tmp_path, session_cache):
    from activegan.label.session import LabelConfig, LabelSession

    d = small_digits
    cfg = LabelConfig(dataset="digits", strategy="margin", query_size=10, learner="embedding", audit=0.5,
                      cache_dir=session_cache)
    with LabelSession(tmp_path / "state", d, cfg) as session:
        assert session.store.audit_pool_indices() == []  # the first batch: typical, no model to audit
        first = [i.pool_index for i in session.status().batch]
        _label_rounds(session, d, 1)
        second = [i.pool_index for i in session.status().batch]
        unasked = np.setdiff1d(np.arange(len(d.y_pool)), first)
        assert second[5:] == audit_draw(unasked, 10, 0.5, 0, 2).tolist()  # the strategy's 5, then the audit's 5
        assert sorted(session.store.audit_pool_indices()) == sorted(second[5:])
        _label_rounds(session, d, 2)
        estimates = session.store.estimates()
    # after round 2: the 10 recorded predictions of the second batch (its 5 audit labels are fewer than 10);
    # after round 3: the 10 audit labels alone (cross-validated: the embedding learner refits fast)
    assert [e["residuals"] for e in estimates] == [0, 10, 10]
    with pytest.raises(ConfigError, match="audit"):
        LabelConfig(dataset="digits", strategy="margin", audit=1.5).validate(300)
