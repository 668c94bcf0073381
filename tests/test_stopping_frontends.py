"""Knowing when to stop in every place a person decides (issue 21): the labeling app, ``query`` and ActiveLearner
show the accuracy estimate and the stop signal — checked by hand on tiny cases, then end to end on small data."""

import dataclasses
import json
import math
import pickle
import time

import numpy as np
import pytest
from scipy import stats

from activegan import AccuracyEstimate, StopSignal
from activegan.cli import main
from activegan.data import without_test
from activegan.label.estimate import round_estimate
from activegan.label.store import SKIP, LabelStore
from activegan.learner import ActiveLearner
from activegan.query_history import next_round

from conftest import gray

# -- the small additions to activegan.stopping ---------------------------------------------------------------


def test_an_estimate_from_kept_predictions_is_the_hand_computed_one():
    est = AccuracyEstimate()
    est.record_predictions([0, 1, 1, 0], [0.9, 0.8, 0.6, 0.7], [0, 1, 0, 0])  # residuals 0.1, 0.2, −0.6, 0.3: mean 0
    same = AccuracyEstimate()
    same.record(np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]]), [0, 1, 0, 0])
    assert est.state_dict() == same.state_dict()
    value, low, high = est.estimate(np.array([[0.8, 0.2], [0.1, 0.9]]))  # confidence 0.85
    # residual variance 0.5/3 < its floor, the mean c(1 − c) = 0.175; confidence variance 0.005 over 2 images
    half = stats.t.ppf(0.95, 3) * math.sqrt(0.175 / 4 + 0.005 / 2)
    assert (value, low, high) == pytest.approx((0.85, 0.85 - half, 1.0))


def test_the_signal_compares_given_previous_predictions_and_says_so_in_words():
    signal = StopSignal()
    signal.update([0, 0, 1, 1, 2, 2], 0.5)
    assert signal.advice() == ("keep labeling: the signal compares successive models' predictions on the stop set, "
                               "and there is no previous model yet")
    # p_o = 5/6, p_e = 1/3: κ = 3/4 (the same images, given explicitly, as query does)
    d = signal.update([0, 0, 1, 2, 2, 2], 0.6, previous=[0, 0, 1, 1, 2, 2])
    assert d.kappa == pytest.approx(0.75)
    assert signal.advice() == ("keep labeling: predictions changed on 16.7 % of the stop set since the previous model "
                               "(Cohen's κ 0.750); it fires after 3 rounds in a row with κ ≥ 0.99")
    assert math.isnan(signal.update([0, 1], 0.7, previous=[0, 1, 2]).kappa)  # not the same images: no κ
    for e in (0.8, 0.9, 1.0):
        d = signal.update([0, 1, 1], e, previous=[0, 1, 1])
    assert d.stop and signal.advice() == ("predictions changed on 0.0 % of the stop set or less for 3 rounds (Cohen's "
                                          "κ ≥ 0.99): another batch is unlikely to help")


# -- the labeling app ----------------------------------------------------------------------------------------


class Fixed:
    """A model whose probabilities of pool rows are given: what the estimate reads of it, by hand."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=np.float64)

    def pool_proba(self, X, rows):
        return self.probs[np.asarray(rows)]


def test_the_apps_estimate_is_built_from_its_store_and_continues_after_a_restart(tmp_path):
    store = LabelStore(tmp_path)
    store.add_batch(1, [0, 1, 2])  # the first batch: no model, no prediction
    store.add_batch(2, [3, 4, 5], predictions=([1, 0, 1], [0.9, 0.6, 0.8]))
    for item, label in (("p0", "a"), ("p1", "b"), ("p2", "a"), ("p3", "b"), ("p4", "b"), ("p5", SKIP)):
        store.set_label(item, label)
    stop = np.arange(8)
    first = Fixed([[0.9, 0.1], [0.2, 0.8]] * 3 + [[0.7, 0.3], [0.2, 0.8]])  # predicts a, b, a, b, …
    row = round_estimate(store, first, None, ["a", "b"], stop)
    # residuals: p3 right at 0.9 (+0.1), p4 wrong at 0.6 (−0.6), p5 skipped; confidence of the unlabeled p6, p7: 0.75
    assert row["estimate"] == pytest.approx(0.75 - 0.25) and row["residuals"] == 2
    assert math.isnan(row["kappa"]) and not row["stop"] and "no previous model" in row["advice"]
    store.add_curve_point({"round": 2, "n_labeled": 5, "accuracy": None, "train_s": 0.1, "estimate": row})
    store.close()

    store = LabelStore(tmp_path)  # a restart: the signal's state comes back from the store
    assert [(e["round"], e["n_labeled"], e["residuals"]) for e in store.estimates()] == [(2, 5, 2)]
    second = Fixed(first.probs[[0, 1, 0, 1, 0, 1, 0, 0]])  # p7 now a: 7 of 8 agree, shares (4, 4) and (5, 3)
    row = round_estimate(store, second, None, ["a", "b"], stop)
    assert row["kappa"] == pytest.approx((7 / 8 - 1 / 2) / (1 - 1 / 2))
    assert "changed on 12.5 % of the stop set" in row["advice"]
    store.close()


def test_the_apps_residuals_are_weighted_to_the_stop_sets_confidence_mix_of_the_model_that_asked(tmp_path):
    # As in run: a batch's residuals weighted so that its confidences have the stop set's mix under the model that
    # asked for it (two bins split at 0.7, half the stop set in each), stored with that model's round.
    store = LabelStore(tmp_path)
    store.add_batch(1, [0, 1])
    told = {"estimate": 0.5, "low": 0.0, "high": 1.0, "residuals": 0, "kappa": float("nan"), "stop": False,
            "reason": "", "advice": "", "signal": StopSignal().state_dict(), "bins": [[0.7], [0.5, 0.5]]}
    store.add_batch(2, [2, 3, 4, 5], curve_point={"round": 1, "n_labeled": 2, "accuracy": None, "train_s": 0.1,
                                                  "estimate": told}, predictions=([1, 0, 1, 1], [0.9, 0.6, 0.8, 0.95]))
    for item, label in (("p0", "a"), ("p1", "b"), ("p2", "b"), ("p3", "b"), ("p4", "b"), ("p5", "a")):
        store.set_label(item, label)
    assert store.stop_set_bins() == {1: [[0.7], [0.5, 0.5]]}
    model = Fixed([[0.75, 0.25]] * 8)  # the unlabeled p6, p7: confidence 0.75
    row = round_estimate(store, model, None, ["a", "b"], np.arange(8))
    # residuals +0.1, −0.6, +0.2, −0.95; the one image under 0.7 stands for half the stop set: weight 2, the
    # three above 2/3 each → (2·(−0.6) + (2/3)·(0.1 + 0.2 − 0.95)) / 4 = −0.408 33 (unweighted: −0.3125)
    assert row["estimate"] == pytest.approx(0.75 + (2 * -0.6 + (2 / 3) * (0.1 + 0.2 - 0.95)) / 4)
    assert row["bins"] == [[0.75] * 4, [1.0, 0.0, 0.0, 0.0, 0.0]]  # the current model's (all ties), for the next batch
    store.close()
    reopened = LabelStore(tmp_path)  # a store made before the column existed gets it on opening
    reopened._db.execute("ALTER TABLE estimate DROP COLUMN bins")
    reopened.close()
    assert LabelStore(tmp_path).stop_set_bins() == {}


@pytest.fixture
def no_test_app(tmp_path, small_digits):
    """open() → (session, client) of the app on small digits with no test split; closed after the test."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from activegan.label.session import LabelConfig, LabelSession
    from activegan.label.web import create_app

    data, sessions = without_test(small_digits), []

    def open_():
        cfg = LabelConfig("digits", "entropy", query_size=4, steps=10, budget=12, learner="cnn", initial_strategy="random",
                          no_test=True)
        session = LabelSession(tmp_path / "state", data, cfg).open()
        sessions.append(session)
        return session, TestClient(create_app(session, "t"), headers={"Authorization": "Bearer t"})

    yield open_
    for s in sessions:
        s.close()


def _label_round(client, digits, round_):
    batch = client.get("/api/batch").json()
    for item in batch["items"]:
        truth = digits.classes[digits.y_pool[int(item["id"][1:])]]
        assert client.post("/api/label", json={"id": item["id"], "label": truth}).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = client.get("/api/batch").json()
        if len(batch["estimate_curve"]) == round_:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"round {round_} was not trained: {batch}")


def test_the_app_without_a_test_split_shows_the_estimate_and_the_signal_and_keeps_them_over_a_restart(no_test_app, small_digits):
    session, client = no_test_app()
    _label_round(client, small_digits, 1)
    b = _label_round(client, small_digits, 2)
    assert b["test_size"] == 0 and [p["accuracy"] for p in b["curve"]] == [None, None]
    first, second = b["estimate_curve"]
    assert (first["n_labeled"], first["residuals"], first["low"], first["high"], first["kappa"]) == (4, 0, 0.0, 1.0, None)
    assert second["n_labeled"] == 8 and second["residuals"] == 4  # round 2's batch, predicted by round 1's model
    assert 0 <= second["low"] <= second["estimate"] <= second["high"] <= 1 and -1 <= second["kappa"] <= 1
    assert b["stop_signal"]["round"] == 2 and b["stop_signal"]["advice"].startswith("keep labeling: predictions changed on")
    session.close()

    _, client = no_test_app()  # a restart continues: the same curve, and round 3 compares with round 2's model
    assert client.get("/api/batch").json()["estimate_curve"] == b["estimate_curve"]
    third = _label_round(client, small_digits, 3)["estimate_curve"][-1]
    assert third["n_labeled"] == 12 and third["residuals"] == 8 and third["kappa"] is not None


# -- query ---------------------------------------------------------------------------------------------------


def test_querys_rounds_by_hand():
    asked = {"c": ["x", 0.9], "d": ["y", 0.6]}
    history, first = next_round(None, "L1", {"a": "x", "b": "y"}, asked, {"c": ["x", 0.9], "e": ["x", 0.7], "f": ["y", 0.8]}, 1.0)
    assert (first["round"], first["estimate"], first["estimate_low"], first["estimate_high"]) == (0, pytest.approx(0.8), 0.0, 1.0)
    assert first["stop_kappa"] is None and first["residuals"] == 0 and first["labeled_since"] is None
    # c and d labeled since (c right at 0.9: +0.1; d, predicted y, is x: −0.6); c left the pool and its stop set
    labeled, stop = {"a": "x", "b": "y", "c": "x", "d": "x"}, {"e": ["x", 0.75], "f": ["x", 0.7], "g": ["y", 0.9]}
    history, second = next_round(history, "L2", labeled, {"g": ["y", 0.9]}, stop, 1.0)
    assert second["estimate"] == pytest.approx((0.75 + 0.7 + 0.9) / 3 - 0.25)
    assert (second["round"], second["residuals"], second["predicted_since"], second["labeled_since"]) == (1, 2, 2, 2)
    assert second["stop_compared"] == 2 and second["stop_kappa"] == pytest.approx(0.0)  # e, f: (x, y) → (x, x)
    history, again = next_round(history, "L2", labeled, {"g": ["y", 0.9]}, stop, 1.0)  # a rerun: the same round again
    assert again == second and len(history["rounds"]) == 2


def _tiny_query(root, *extra):
    return main(["query", "--strategy", "margin", "--labeled", str(root / "labeled"), "--pool", str(root / "pool"),
                 "--out", str(root / "out"), "--learner", "cnn", "--epochs", "3", "--shard-size", "4", "-n", "6",
                 "--no-progress", *extra])


def test_query_reports_the_estimate_and_the_signal_from_its_previous_call(tiny, capsys):
    assert _tiny_query(tiny) == 0
    out = capsys.readouterr().out
    assert "the model's own confidence" in out and "the first query into" in out and "stop signal: keep labeling" in out
    first = json.loads((tiny / "out" / "query.json").read_text())["stopping"]
    assert (first["round"], first["residuals"], first["stop_set"], first["estimate_low"], first["estimate_high"]) == (0, 0, 12, 0, 1)
    with open(tiny / "out" / "queries.csv") as f:
        asked = [line.split(",")[1] for line in f.read().splitlines()[1:4]]
    for path in asked:  # the person labels three of the queries: p00…p06 are dark (value 20k + 5 < 128)
        name = path.rsplit("/", 1)[1]
        (tiny / "pool" / name).rename(tiny / "labeled" / ("dark" if int(name[1:3]) <= 6 else "bright") / name)
    assert _tiny_query(tiny) == 0
    captured = capsys.readouterr()
    second = json.loads((tiny / "out" / "query.json").read_text())["stopping"]
    assert "the labeled set and the pool changed" in captured.err  # and was rescored, as before
    assert (second["round"], second["predicted_since"], second["residuals"], second["stop_compared"]) == (1, 3, 3, 9)
    assert second["stop_kappa"] is not None and "3 labels predicted before they were given" in captured.out
    assert _tiny_query(tiny) == 0  # the same labeled set: the same round, not a new one
    assert json.loads((tiny / "out" / "query.json").read_text())["stopping"]["round"] == 1


# -- ActiveLearner --------------------------------------------------------------------------------------------


class Brightness:
    """P(class 1) = the image's single value; fit learns nothing: every number below is computed by hand."""

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:, 0]
        return np.stack([1 - p, p], axis=1)


def test_active_learner_exposes_the_estimate_and_the_signal_after_each_teach():
    pool = np.array([0.9, 0.2, 0.6, 0.7, 0.1], dtype=np.float32)[:, None]
    learner = ActiveLearner(estimator=Brightness(), strategy="margin").fit(np.array([[0.3], [0.8]]), [0, 1])
    with pytest.raises(ValueError, match="pool"):
        learner.estimate()  # no pool given and none queried yet
    learner.query(pool, n=2)  # the first pool queried holds the stop set (all 5 images: fewer than 2 000)
    assert learner.estimate() == pytest.approx((0.78, 0.0, 1.0))  # confidence 0.9, 0.8, 0.6, 0.7, 0.9; no residual
    learner.teach(pool[:3], [1, 1, 0])  # predicted 1, 0, 1 at 0.9, 0.8, 0.6: residuals 0.1, −0.8, −0.6
    value, low, high = learner.estimate()
    assert value == pytest.approx((0.7 + 0.9) / 2 - 1.3 / 3) and low < value < high  # unlabeled: 0.7 and 0.1
    assert learner.stop_signal().kappa == pytest.approx(1.0) and not learner.stop_signal().stop
    assert "changed on 0.0 % of the stop set" in learner.advice()
    again = pickle.loads(pickle.dumps(learner))  # what it saves keeps them
    assert again.estimate() == learner.estimate() and repr(again.signal_.state_dict()) == repr(learner.signal_.state_dict())


def test_query_audit_asks_for_stop_set_images_the_strategy_did_not_and_the_estimate_reads_them_as_uniform(tiny):
    assert _tiny_query(tiny, "--audit", "0.5") == 0  # n 6: the strategy's 3, then 3 drawn from the stop set
    with open(tiny / "out" / "queries.csv") as f:
        rows = [line.split(",") for line in f.read().splitlines()]
    assert rows[0] == ["rank", "id", "score", "predicted", "probability", "audit"]
    assert [r[5] for r in rows[1:]] == ["0"] * 3 + ["1"] * 3 and all(r[2] == "" for r in rows[4:])
    assert len({r[1] for r in rows[1:]}) == 6  # the audit's images are not the strategy's
    history = json.loads((tiny / "out" / "stopping.json").read_text())
    flagged = [k for k, v in history["after"]["asked"].items() if len(v) > 2 and v[2] == 1]
    assert len(flagged) == 3 and all(k in history["after"]["stop"] for k in flagged)  # from the stop set
    for path in [r[1] for r in rows[4:]]:  # the person labels the audit's three: p00…p06 dark
        name = path.rsplit("/", 1)[1]
        (tiny / "pool" / name).rename(tiny / "labeled" / ("dark" if int(name[1:3]) <= 6 else "bright") / name)
    assert _tiny_query(tiny, "--audit", "0.5") == 0
    estimate = json.loads((tiny / "out" / "stopping.json").read_text())["after"]["estimate"]
    assert estimate["audit"] == [1, 1, 1]  # the residuals were recorded as uniform draws
    assert main(["query", "--labeled", str(tiny / "labeled"), "--pool", str(tiny / "pool"), "--out", str(tiny / "o2"),
                 "--audit", "1", "--no-progress"]) == 2


def test_query_audit_with_a_strategy_that_selects_a_set(tiny):
    assert main(["query", "--strategy", "typiclust", "--labeled", str(tiny / "labeled"), "--pool", str(tiny / "pool"),
                 "--out", str(tiny / "out"), "--learner", "cnn", "--epochs", "3", "-n", "5", "--audit", "0.4",
                 "--no-progress"]) == 0
    with open(tiny / "out" / "queries.csv") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    assert [r[5] for r in rows] == ["0", "0", "0", "1", "1"] and len({r[1] for r in rows}) == 5


@pytest.mark.parametrize("strategy", ["typiclust", "margin"])  # a set strategy (query_set) and a scoring one (query)
def test_query_cross_validates_the_audits_labels_once_ten_are_labeled(tmp_path, strategy):
    for k in range(3):
        gray(tmp_path / "labeled" / "dark" / f"{k}.png", 30 + k)
        gray(tmp_path / "labeled" / "bright" / f"{k}.png", 220 - k)
    for k in range(40):
        gray(tmp_path / "pool" / f"p{k:02d}.png", 5 * k + 20)

    def query():
        assert main(["query", "--strategy", strategy, "--labeled", str(tmp_path / "labeled"), "--pool", str(tmp_path / "pool"),
                     "--out", str(tmp_path / "out"), "--learner", "linear", "-n", "14", "--audit", "0.8",
                     "--no-progress"]) == 0
        with open(tmp_path / "out" / "queries.csv") as f:
            rows = [line.split(",") for line in f.read().splitlines()[1:]]
        return json.loads((tmp_path / "out" / "query.json").read_text())["stopping"], rows

    first, rows = query()
    assert first["cross_validated"] == 0  # no audit labeled yet
    audit = [r[1] for r in rows if r[5] == "1"]
    assert len(audit) == 11  # 0.8 of 14
    for path in audit + [r[1] for r in rows if r[5] == "0"][:1]:  # the audit's eleven and one of the strategy's
        name = path.rsplit("/", 1)[1]
        (tmp_path / "pool" / name).rename(tmp_path / "labeled" / ("dark" if int(name[1:3]) < 20 else "bright") / name)
    second, _ = query()
    assert second["cross_validated"] == 11 and second["residuals"] == 11  # the audit's labels alone, refitted per fold
    history = json.loads((tmp_path / "out" / "stopping.json").read_text())
    assert len(history["after"]["audit"]) >= 11  # every audit draw so far, this query's too
    again, _ = query()  # the same labeled set: the same round, the same audit
    assert again["cross_validated"] == 11 and again["round"] == second["round"]
