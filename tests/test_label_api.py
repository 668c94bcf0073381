"""The labeling app's API, in-process: token, batches, labels, refusals, retraining, export."""

import csv
import io
import json
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the labeling app needs the 'app' extra: pip install -e '.[app]'")
from fastapi.testclient import TestClient
from PIL import Image

from activegan.cli import main
from activegan.errors import ConfigError, DataError
from activegan.label.cli import resolve_token
from activegan.label.session import LabelConfig, LabelSession
from activegan.label.store import SKIP, LabelStore
from activegan.label.web import create_app, shortcut_keys

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def digits(small_digits):
    return small_digits


# What these tests check does not depend on the learner: a CNN of 10 steps from a random first batch
# retrains in a fraction of a second and needs no embedding. One test keeps the app's defaults.
QUICK = {"query_size": 4, "steps": 10, "budget": 12, "learner": "cnn", "initial_strategy": "random"}


@pytest.fixture
def open_app(tmp_path, digits):
    """open_app(**config) → (session, client) on tmp_path/state; closed after the test."""
    sessions = []

    def make(strategy="entropy", state=None, **kw):
        cfg = LabelConfig("digits", strategy, **{**QUICK, **kw})
        session = LabelSession(state or tmp_path / "state", digits, cfg).open()
        sessions.append(session)
        return session, TestClient(create_app(session, TOKEN), raise_server_exceptions=False)

    yield make
    for s in sessions:
        s.close()


def batch(client) -> dict:
    r = client.get("/api/batch", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def label(client, item_id, value):
    return client.post("/api/label", json={"id": item_id, "label": value}, headers=AUTH)


def truth(digits, item_id) -> str:
    return digits.classes[digits.y_pool[int(item_id[1:])]]


def label_batch_truthfully(client, digits) -> dict:
    b = batch(client)
    for it in b["items"]:
        assert label(client, it["id"], truth(digits, it["id"])).status_code == 200
    return b


def wait_for(client, predicate, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = batch(client)
        if predicate(b):
            return b
        time.sleep(0.05)
    raise AssertionError(f"timed out; last batch state: {b}")


# -- the token ---------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/api/batch"),
    ("GET", "/api/image/p0.png"),
    ("POST", "/api/label"),
    ("DELETE", "/api/label/p0"),
    ("GET", "/api/labels"),
    ("GET", "/api/export?format=csv"),
    ("GET", "/"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_refuses_a_missing_or_wrong_token(open_app, method, path):
    _, client = open_app()
    body = {"json": {"id": "p0", "label": "1"}} if method == "POST" else {}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.request(method, path, headers=headers, **body)
        assert r.status_code == 401, (headers, r.text)
        assert r.json() == {"error": "missing or wrong token: open the URL the server printed"}
    sep = "&" if "?" in path else "?"
    r = client.request(method, f"{path}{sep}token=wrong", **body)
    assert r.status_code == 401


def test_token_works_as_bearer_header_or_query_parameter(open_app):
    _, client = open_app()
    assert client.get("/api/batch", headers=AUTH).status_code == 200
    assert client.get(f"/api/batch?token={TOKEN}").status_code == 200


def test_page_is_served_with_the_token_in_its_url(open_app):
    _, client = open_app()
    r = client.get(f"/?token={TOKEN}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in r.text
    assert client.get("/static/app.js").status_code == 200  # code only, no data: no token needed
    assert client.get("/static/index.py").status_code == 404


def test_token_comes_from_env_or_is_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIVEGAN_TOKEN", "from-env")
    assert resolve_token(tmp_path) == "from-env"
    assert not (tmp_path / "token").exists()
    monkeypatch.delenv("ACTIVEGAN_TOKEN")
    made = resolve_token(tmp_path)
    assert len(made) >= 32 and resolve_token(tmp_path) == made
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


# -- batches and images --------------------------------------------------------------------------


def test_first_batch_is_a_seeded_random_batch_of_pool_images(open_app, tmp_path):
    _, a = open_app(state=tmp_path / "a")
    _, b = open_app(state=tmp_path / "b")
    first = batch(a)
    assert first["round"] == 1 and first["classes"] == [str(i) for i in range(10)]
    ids = [it["id"] for it in first["items"]]
    assert len(set(ids)) == 4 and all(i.startswith("p") for i in ids)
    assert [it["image"] for it in first["items"]] == [f"/api/image/{i}.png" for i in ids]
    assert ids == [it["id"] for it in batch(b)["items"]]  # same seed, same batch
    assert first["labeled"] == 0 and first["budget"] == 12 and first["training"] is False


def test_image_is_the_pool_image_upscaled_with_nearest_neighbour(open_app, digits):
    _, client = open_app()
    item = batch(client)["items"][0]
    r = client.get(item["image"], headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape == (128, 128)  # 8 x 8 digits, 16 x
    expected = (digits.x_pool[int(item["id"][1:]), 0] * 255).round().astype(np.uint8)
    assert (img[::16, ::16] == expected).all() and (img[15::16, 15::16] == expected).all()


@pytest.mark.parametrize(
    "path",
    [
        "/api/image/..%2F..%2Fetc%2Fpasswd.png",
        "/api/image/%2Fetc%2Fpasswd.png",
        "/api/image/..%2Flabels.sqlite.png",
        "/api/image/p999999.png",
        "/api/image/gnothing.png",
        "/api/image/p0",
    ],
)
def test_anything_but_a_known_item_id_is_404(open_app, path):
    _, client = open_app()
    r = client.get(path, headers=AUTH)
    assert r.status_code == 404
    assert "error" in r.json() and "Traceback" not in r.text


def test_a_pool_image_never_asked_is_not_served(open_app):
    _, client = open_app()
    asked = {it["id"] for it in batch(client)["items"]}
    never = next(f"p{i}" for i in range(300) if f"p{i}" not in asked)
    assert client.get(f"/api/image/{never}.png", headers=AUTH).status_code == 404


def test_generated_item_is_served_from_the_state_dir(open_app, tmp_path):
    session, client = open_app()
    (tmp_path / "state" / "generated").mkdir()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "state" / "generated" / "r2-0.png")
    session.store.add_batch(2, files=["r2-0.png"])
    r = client.get("/api/image/gr2-0.png", headers=AUTH)
    assert r.status_code == 200
    assert (np.asarray(Image.open(io.BytesIO(r.content))) == 200).all()
    with pytest.raises(ValueError):
        session.store.add_batch(3, files=["../../etc/passwd.png"])


# -- labels --------------------------------------------------------------------------------------


def test_label_is_acknowledged_with_its_round(open_app, digits):
    _, client = open_app()
    item = batch(client)["items"][0]["id"]
    r = label(client, item, "3")
    assert r.status_code == 200
    assert r.json() | {"labeled": 1} == {
        "id": item, "label": "3", "round": 1, "replaced": False, "previous": None,
        "batch_complete": False, "labeled": 1, "skipped": 0,
    }


def test_unknown_class_is_422_and_names_the_classes(open_app):
    _, client = open_app()
    r = label(client, batch(client)["items"][0]["id"], "cat")
    assert r.status_code == 422
    assert r.json()["error"] == "unknown label 'cat'; expected one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 or __skip__"


def test_unknown_id_is_404(open_app):
    _, client = open_app()
    r = label(client, "p123456", "3")
    assert r.status_code == 404 and r.json() == {"error": "no item with id 'p123456'"}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"id": "p1"}', b'{"id": "p1", "label": "1", "extra": 1}', b'{"id": 5, "label": "1"}',
     json.dumps({"id": "p" * 500, "label": "1"}).encode(), b"[]"],
)
def test_malformed_bodies_are_422_with_a_message_not_a_stack_trace(open_app, body):
    _, client = open_app()
    r = client.post("/api/label", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert set(r.json()) == {"error"} and r.json()["error"]
    assert "Traceback" not in r.text


def test_an_oversized_body_is_refused_before_it_is_read(open_app):
    _, client = open_app()
    r = client.post("/api/label", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_labeling_twice_keeps_the_latest_and_says_so(open_app):
    session, client = open_app()
    item = batch(client)["items"][0]["id"]
    label(client, item, "3")
    r = label(client, item, "8")
    assert r.json()["replaced"] is True and r.json()["previous"] == "3"
    assert [(l["id"], l["label"]) for l in client.get("/api/labels", headers=AUTH).json()["labels"]] == [(item, "8")]
    assert [e["label"] for e in session.store.log()] == ["3", "8"]  # the history keeps both


def test_batch_lists_only_the_unlabeled_items_of_the_round(open_app):
    _, client = open_app()
    ids = [it["id"] for it in batch(client)["items"]]
    label(client, ids[1], "1")
    b = batch(client)
    assert [it["id"] for it in b["items"]] == [ids[0], ids[2], ids[3]]
    assert [(d["id"], d["label"]) for d in b["done"]] == [(ids[1], "1")]


def test_labels_lists_id_label_round_and_time(open_app):
    _, client = open_app()
    item = batch(client)["items"][0]["id"]
    label(client, item, SKIP)
    (row,) = client.get("/api/labels", headers=AUTH).json()["labels"]
    assert (row["id"], row["label"], row["round"]) == (item, SKIP, 1)
    assert row["time"].endswith("Z") and row["time"][:2] == "20"


def test_undo_in_an_open_round_puts_the_item_back(open_app):
    _, client = open_app()
    ids = [it["id"] for it in batch(client)["items"]]
    label(client, ids[0], "4")
    r = client.delete(f"/api/label/{ids[0]}", headers=AUTH)
    assert r.status_code == 200 and r.json()["removed"] == "4"
    assert [it["id"] for it in batch(client)["items"]] == ids
    assert client.delete(f"/api/label/{ids[0]}", headers=AUTH).status_code == 404  # nothing left to undo


def test_undo_after_the_round_closed_is_refused(open_app, digits):
    _, client = open_app()
    ids = [it["id"] for it in label_batch_truthfully(client, digits)["items"]]
    r = client.delete(f"/api/label/{ids[-1]}", headers=AUTH)
    assert r.status_code == 409 and "correct the label" in r.json()["error"]


# -- rounds --------------------------------------------------------------------------------------


def test_a_completed_batch_retrains_and_the_next_batch_appears(open_app, digits, session_cache):
    # the app's own defaults: the default learner and first batch
    _, client = open_app(learner=LabelConfig.learner, initial_strategy=LabelConfig.initial_strategy, cache_dir=session_cache)
    first = label_batch_truthfully(client, digits)
    nxt = wait_for(client, lambda b: b["round"] == 2)
    assert nxt["training"] is False and len(nxt["items"]) == 4
    assert not {i["id"] for i in nxt["items"]} & {i["id"] for i in first["items"]}
    (point,) = nxt["curve"]
    assert point["round"] == 1 and point["n_labeled"] == 4 and 0 <= point["accuracy"] <= 1
    assert nxt["labeled"] == 4 and nxt["asked"] == 8


def test_skipped_items_are_never_shown_again_nor_trained_on(open_app):
    _, client = open_app()
    first = [it["id"] for it in batch(client)["items"]]
    for item in first:
        assert label(client, item, SKIP).status_code == 200
    nxt = wait_for(client, lambda b: b["round"] == 2)
    assert nxt["curve"] == [{"round": 1, "n_labeled": 0, "accuracy": None, "train_s": nxt["curve"][0]["train_s"]}]
    assert not {i["id"] for i in nxt["items"]} & set(first)
    assert nxt["labeled"] == 4 and nxt["skipped"] == 4


def test_the_budget_ends_labeling(open_app, digits):
    _, client = open_app(budget=6)
    label_batch_truthfully(client, digits)
    second = wait_for(client, lambda b: b["round"] == 2)
    assert len(second["items"]) == 2  # 6 - 4
    label_batch_truthfully(client, digits)
    done = wait_for(client, lambda b: b["finished"])
    assert done["round"] == 2 and done["items"] == [] and len(done["curve"]) == 2 and done["asked"] == 6


def test_a_restart_with_a_bigger_budget_asks_more(open_app, digits):
    session, client = open_app(budget=4)
    label_batch_truthfully(client, digits)
    wait_for(client, lambda b: b["finished"])
    session.close()
    _, client = open_app(budget=8)
    more = wait_for(client, lambda b: b["round"] == 2)
    assert len(more["items"]) == 4 and more["budget"] == 8 and [p["round"] for p in more["curve"]] == [1]


def test_a_correction_of_an_earlier_round_is_kept(open_app, digits):
    _, client = open_app()
    first = label_batch_truthfully(client, digits)["items"][0]["id"]
    wait_for(client, lambda b: b["round"] == 2)
    r = label(client, first, SKIP)
    assert r.status_code == 200 and r.json()["round"] == 1 and r.json()["batch_complete"] is False
    labels = {l["id"]: l["label"] for l in client.get("/api/labels", headers=AUTH).json()["labels"]}
    assert labels[first] == SKIP


@pytest.mark.slow
def test_accuracy_rises_over_three_truthfully_labeled_rounds(open_app, digits):
    _, client = open_app(query_size=20, steps=150, budget=60)  # the CNN: a learner that needs labels
    for r in (1, 2, 3):
        label_batch_truthfully(client, digits)
        b = wait_for(client, lambda b, r=r: len(b["curve"]) == r)
    acc = [p["accuracy"] for p in b["curve"]]
    assert [p["n_labeled"] for p in b["curve"]] == [20, 40, 60]
    assert acc[2] > acc[0] + 0.08, acc  # measured 0.73 → 0.91 (+0.19); 10 → 30 labels rose by 0.13, too near 0.1


def test_two_tabs_labeling_at_once_lose_no_label(open_app):
    session, client = open_app(query_size=12, budget=24)
    ids = [it["id"] for it in batch(client)["items"]]
    acked: list[tuple[str, str]] = []
    lock = threading.Lock()

    def tab(my_ids, value):
        for _ in range(3):  # each tab labels its half, then relabels it twice
            for item in my_ids:
                r = label(client, item, value)
                assert r.status_code == 200
                with lock:
                    acked.append((item, value))

    tabs = [threading.Thread(target=tab, args=(ids[:6], "1")), threading.Thread(target=tab, args=(ids[6:], "7"))]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    labels = {l["id"]: l["label"] for l in client.get("/api/labels", headers=AUTH).json()["labels"]}
    assert labels == {i: "1" for i in ids[:6]} | {i: "7" for i in ids[6:]}
    assert len(session.store.log()) == len(acked) == 36


def test_a_labeled_item_is_no_longer_offered_to_another_tab(open_app):
    _, tab_a = open_app()
    tab_b = TestClient(tab_a.app)
    item = batch(tab_a)["items"][0]["id"]
    label(tab_a, item, "5")
    assert item not in [it["id"] for it in batch(tab_b)["items"]]


def test_a_restart_serves_the_same_round_and_batch(open_app, digits, tmp_path):
    session, client = open_app()
    label_batch_truthfully(client, digits)
    before = wait_for(client, lambda b: b["round"] == 2)
    label(client, before["items"][0]["id"], "2")
    session.close()
    _, again = open_app()
    after = batch(again)
    assert after["round"] == 2
    assert [i["id"] for i in after["items"]] == [i["id"] for i in before["items"][1:]]
    assert after["labeled"] == 5


def test_a_restart_redoes_a_retrain_that_was_cut_off(open_app, digits, tmp_path):
    session, _ = open_app()
    session.close()
    store = LabelStore(tmp_path / "state")
    first = [i.id for i in store.batch(1)]
    for item in first:  # the labels were stored, but the server died before its retrain
        store.set_label(item, truth(digits, item))
    store.close()
    _, client = open_app()
    nxt = wait_for(client, lambda b: b["round"] == 2)
    assert [p["n_labeled"] for p in nxt["curve"]] == [4]
    assert not {i["id"] for i in nxt["items"]} & set(first)


def test_a_second_server_on_the_same_state_is_refused(open_app, tmp_path, digits):
    open_app()
    with pytest.raises(DataError, match="another activegan label server is using"):
        LabelSession(tmp_path / "state", digits, LabelConfig("digits", "entropy", query_size=4)).open()


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--dataset", "digits", "--strategy", "margin"], "was made for dataset digits and strategy entropy, not strategy margin"),
        (["--dataset", "mnist", "--strategy", "entropy"], "was made for dataset digits and strategy entropy, not dataset mnist"),
    ],
)
def test_a_state_dir_made_for_another_job_is_refused(open_app, tmp_path, capsys, args, expected):
    session, _ = open_app()
    session.close()
    assert main(["label", *args, "--state", str(tmp_path / "state"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_a_state_dir_with_a_broken_database_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "labels.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert main(["label", "--dataset", "digits", "--strategy", "entropy", "--state", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "is not a readable labels database" in err and err.count("\n") == 1


def test_a_loop_only_gan_strategy_is_refused_with_one_line(tmp_path, capsys):
    # gan-<acq>-match / -model name an oracle; in the labeling app the person is the oracle: gan-<acq>
    assert main(["label", "--dataset", "digits", "--strategy", "gan-entropy-match", "--state", str(tmp_path / "s"),
                 "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--strategy" in err and "gan-<one of them>" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "change,param",
    [({"strategy": "gan-entropy-match"}, "strategy"), ({"strategy": "nonsense"}, "strategy"),
     ({"query_size": 0}, "query_size"), ({"budget": 0}, "budget"), ({"steps": 0}, "steps"),
     ({"subset": 3}, "subset"), ({"query_size": 301, "subset": None}, "query_size")],
)
def test_a_config_that_cannot_work_names_its_parameter(change, param):
    cfg = LabelConfig(**{"dataset": "digits", "strategy": "entropy", "query_size": 4, **change})
    with pytest.raises(ConfigError) as err:
        cfg.validate(pool_size=300)
    assert err.value.param == param


def test_the_session_imports_and_opens_without_fastapi(tmp_path):
    """The loop is usable as a library without the web extra: no fastapi, pydantic or starlette."""
    script = textwrap.dedent("""
        import sys
        for name in ("fastapi", "pydantic", "starlette", "uvicorn"):
            sys.modules[name] = None  # any import of them raises ImportError
        from types import SimpleNamespace
        import numpy as np
        from activegan.label.session import LabelConfig, LabelSession

        rng = np.random.default_rng(0)
        data = SimpleNamespace(x_pool=rng.random((20, 1, 8, 8), dtype=np.float32), y_pool=np.arange(20) % 2,
                               x_test=rng.random((6, 1, 8, 8), dtype=np.float32), y_test=np.arange(6) % 2,
                               classes=["a", "b"], n_classes=2, image_shape=(1, 8, 8))
        cfg = LabelConfig("toy", "entropy", query_size=4, subset=None, learner="cnn", initial_strategy="random")
        with LabelSession(sys.argv[1], data, cfg) as session:  # no embedding: no numba compile in this process
            status = session.status()
            print(status.round, len(status.batch), session.image(status.batch[0].id).shape)
    """)
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "state")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "4", "(1,", "8,", "8)"]


def test_export_command_prints_csv_or_writes_a_file(open_app, tmp_path, capsys):
    _, client = open_app()
    ids = [it["id"] for it in batch(client)["items"]]
    label(client, ids[0], "6")
    label(client, ids[1], SKIP)
    assert main(["label", "export", "--state", str(tmp_path / "state")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["id"], r["label"], r["class_index"], r["round"]) for r in rows] == [(ids[0], "6", "6", "1"), (ids[1], SKIP, "", "1")]
    out = tmp_path / "labels.json"
    assert main(["label", "--state", str(tmp_path / "state"), "export", "--format", "json", "--out", str(out)]) == 0
    assert [r["id"] for r in json.loads(out.read_text())["labels"]] == ids[:2]
    assert list(tmp_path.glob(".labels.json.*")) == []  # no temporary file left behind


def test_export_of_a_dir_without_labels_is_a_one_line_error(tmp_path, capsys):
    assert main(["label", "export", "--state", str(tmp_path)]) == 2
    assert "holds no labels" in capsys.readouterr().err


def test_export_endpoint_matches_the_labels(open_app):
    _, client = open_app()
    item = batch(client)["items"][0]["id"]
    label(client, item, "9")
    r = client.get("/api/export?format=csv", headers=AUTH)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == "id,pool_index,file,label,class_index,round,time"
    assert r.text.splitlines()[1].startswith(f"{item},{item[1:]},,9,9,1,")
    assert client.get("/api/export?format=json", headers=AUTH).json()["labels"][0]["label"] == "9"
    assert client.get("/api/export?format=xml", headers=AUTH).status_code == 422


def test_shortcut_keys_are_names_digits_or_letters():
    assert shortcut_keys(["0", "1", "2"]) == {"0": "0", "1": "1", "2": "2"}
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert list(shortcut_keys(fashion).values()) == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    many = shortcut_keys([f"class{i}" for i in range(12)] + ["zebra"])
    assert len(set(many.values())) == 13 and "x" not in many.values() and "z" not in many.values()


def test_a_strategy_that_reads_no_model_shows_the_next_batch_before_the_retrain(tmp_path, small_digits, session_cache):
    """typiclust (the default) asks for the next batch before retraining; the round's point and the model's predictions
    of that batch follow; a restart between the two retrains the round and keeps the batch."""
    d = small_digits
    cfg = LabelConfig(dataset="digits", strategy="typiclust", query_size=5, budget=20, learner="embedding",
                      cache_dir=session_cache)

    def settle(session, want_round):
        for _ in range(1200):
            if session.store.current_round() == want_round and {c["round"] for c in session.store.curve()} >= set(range(1, want_round)):
                return
            time.sleep(0.05)
        raise AssertionError("the round did not settle")

    with LabelSession(tmp_path / "state", d, cfg) as session:
        for item in session.status().batch:
            session.label(item.id, d.classes[d.y_pool[item.pool_index]])
        settle(session, 2)
        store = session.store
        batch_at = max(r[0] for r in store._rows("SELECT created FROM items WHERE round = 2"))
        point_at = store._rows("SELECT time FROM curve WHERE round = 1")[0][0]
        assert batch_at <= point_at  # the batch was stored before the retrain ended
        second = [i.pool_index for i in store.batch(2)]
        assert not session.status().behind  # the retrain of round 1 has ended
        predicted = store._rows("SELECT COUNT(*) FROM predictions p JOIN items i ON i.id = p.item_id WHERE i.round = 2")[0][0]
        assert predicted == 5  # the retrained model's predictions of it, made before its labels
    store = LabelStore(tmp_path / "state")  # killed between the batch and the point: neither point nor predictions
    with store._tx():
        store._db.execute("DELETE FROM curve WHERE round = 1")
        store._db.execute("DELETE FROM estimate WHERE round = 1")
        store._db.execute("DELETE FROM predictions WHERE item_id IN (SELECT id FROM items WHERE round = 2)")
    store.close()
    with LabelSession(tmp_path / "state", d, cfg) as session:
        assert session.status().behind or any(c["round"] == 1 for c in session.store.curve())  # retraining, or done
        settle(session, 2)
        assert [i.pool_index for i in session.store.batch(2)] == second and session.store.current_round() == 2
        assert [e["round"] for e in session.store.estimates()] == [1]
        assert session.store._rows("SELECT COUNT(*) FROM predictions p JOIN items i ON i.id = p.item_id "
                                   "WHERE i.round = 2")[0][0] == 5
