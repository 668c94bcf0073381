"""``activegan query`` on a small folder of digit PNGs: ranking order, skipped images, resume after
kill -9, bad inputs, the Label Studio round trip, and a saved model reused."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from activegan.cli import main
from conftest import gray, png as _png


def _query(root: Path, out: str, *extra: str) -> int:
    return main(["query", "--strategy", "margin", "--labeled", str(root / "labeled"), "--pool", str(root / "pool"), "--out", str(root / out),
                 "--learner", "cnn", "--epochs", "30", "--shard-size", "50", "--no-progress", *extra])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _all_scores(out: Path) -> dict:
    scores = {}
    for f in sorted((out / "shards").glob("*.npz")):
        with np.load(f) as z:
            scores.update(zip(z["ids"].tolist(), z["scores"].tolist()))
    return scores


def test_queries_are_the_highest_scores_in_order_and_corrupt_images_are_listed(query_folders, capsys):
    assert _query(query_folders, "q", "-n", "25") == 0
    err = capsys.readouterr().err
    assert "2 pool images could not be read" in err
    rows = _rows(query_folders / "q" / "queries.csv")
    assert [int(r["rank"]) for r in rows] == list(range(1, 26))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    everything = _all_scores(query_folders / "q")
    config = json.loads((query_folders / "q" / "config.json").read_text())
    assert config["excluded_labeled"] == 1  # one pool PNG has the bytes of a labeled one (two equal digits)
    assert len(everything) == 239  # every other readable pool image scored once
    assert scores[-1] >= sorted(everything.values(), reverse=True)[24] - 1e-6  # nothing better was left out
    skipped = {Path(r["id"]).name for r in _rows(query_folders / "q" / "skipped.csv")}
    assert skipped == {"corrupt.png", "truncated.png"}
    assert (query_folders / "q" / "contact_sheet.png").stat().st_size > 0
    assert config["pool_images"] == 242
    for r in rows:  # margin: −(p1 − p2), so the predicted class's probability is at least 1/2 of (1 + score)
        assert 0 <= float(r["probability"]) <= 1 and r["predicted"] in {str(c) for c in range(10)}


def test_resume_after_kill_9_skips_finished_shards(query_folders, tmp_path):
    out = query_folders / "killed"
    cmd = [sys.executable, "-m", "activegan.cli", "query", "--strategy", "margin", "--labeled", str(query_folders / "labeled"), "--pool",
           str(query_folders / "pool"), "--out", str(out), "--learner", "cnn", "--epochs", "30", "--shard-size", "10",
           "--strategy", "bald", "--no-progress"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "shards").glob("*.npz"))) < 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {f.name: f.stat().st_mtime_ns for f in (out / "shards").glob("*.npz")}
    assert 3 <= len(done) < 25 and not (out / "queries.csv").exists()
    assert main(cmd[3:]) == 0
    after = {f.name: f.stat().st_mtime_ns for f in (out / "shards").glob("*.npz")}
    assert len(after) == 25 and all(after[k] == v for k, v in done.items())  # finished shards were not rescored
    whole = query_folders / "whole"  # trained as the killed run was (one thread: the weights depend on it)
    subprocess.run([*cmd[:cmd.index("--out") + 1], str(whole), *cmd[cmd.index("--out") + 2:]], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _rows(out / "queries.csv") == _rows(whole / "queries.csv")  # the same ranking as an uninterrupted run


@pytest.mark.parametrize("make, flag, words", [
    (lambda r: (r / "one" / "a").mkdir(parents=True) or _png(r / "one" / "a" / "x.png", np.zeros((1, 8, 8))), "--labeled", "two classes"),
    (lambda r: (r / "one").mkdir(), "--labeled", "no labeled images"),
    (lambda r: (r / "one.csv").write_bytes(b"\xff\xfe\x00garbage"), "--labeled", "cannot read the CSV"),
    (lambda r: (r / "one.csv").write_text("a.png\n"), "--labeled", "is not 'path,label'"),
])
def test_a_bad_labeled_set_gets_one_line_and_exit_2(query_folders, tmp_path, capsys, make, flag, words):
    make(tmp_path)
    target = tmp_path / ("one.csv" if (tmp_path / "one.csv").exists() else "one")
    code = main(["query", "--strategy", "margin", "--labeled", str(target), "--pool", str(query_folders / "pool"), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_other_bad_inputs_name_their_flag(query_folders, tmp_path, capsys):
    base = ["query", "--strategy", "margin", "--labeled", str(query_folders / "labeled"), "--out", str(tmp_path / "o"), "--no-progress"]
    for extra, words in [(["--pool", str(tmp_path / "missing")], "no such pool"),
                         (["--pool", str(query_folders / "pool"), "--strategy", "density-entropy"], "--strategy"),
                         (["--pool", str(query_folders / "pool"), "-n", "0"], "-n must be at least 1"),
                         (["--pool", str(query_folders / "pool"), "--model", str(query_folders / "labeled" / "0" / "0.png")], "not a model")]:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err


def test_label_studio_round_trip_and_a_saved_model(query_folders, tmp_path):
    assert _query(query_folders, "ls", "-n", "12", "--format", "label-studio") == 0
    tasks = json.loads((query_folders / "ls" / "label-studio.json").read_text())
    rows = _rows(query_folders / "ls" / "queries.csv")
    root = Path((query_folders / "ls" / "label-studio-root.txt").read_text().strip())
    assert len(tasks) == 12
    for task, row in zip(tasks, rows):  # the documented import format; low score = most informative
        assert task["data"]["image"].startswith("/data/local-files/?d=")
        assert root / task["data"]["image"].split("?d=", 1)[1] == Path(row["id"]).resolve()
        (pred,) = task["predictions"]
        assert pred["model_version"] == "activegan-cnn-margin" and pred["score"] == pytest.approx(-float(row["score"]), abs=1e-5)
        assert pred["result"][0] | {"value": None} == {"from_name": "label", "to_name": "image", "type": "choices", "value": None}
        assert pred["result"][0]["value"]["choices"] == [row["predicted"]]
    # A person labels them in Label Studio; its JSON export comes back as --labeled
    for i, task in enumerate(tasks):
        task["annotations"] = [{"was_cancelled": False, "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                                                    "value": {"choices": [str(i % 3)]}}]}]
    tasks[0]["annotations"][0]["was_cancelled"] = True
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    from activegan.data.user import read_labeled

    back = read_labeled(export)
    assert back.paths == [row["id"] for row in rows[1:]] and back.labels == [str(i % 3) for i in range(1, 12)]
    # the saved model scores a new pool without training: the same scores
    assert main(["query", "--strategy", "margin", "--labeled", str(export), "--pool", str(query_folders / "pool"), "--out", str(tmp_path / "again"),
                 "--learner", "cnn", "--model", str(query_folders / "ls" / "model.pt"), "--shard-size", "50", "-n", "12",
                 "--no-progress"]) == 0
    again = [r["id"] for r in _rows(tmp_path / "again" / "queries.csv")]
    assert again[0] == rows[0]["id"] and not set(again) & set(back.paths)  # the labeled ones are not asked again
    first, second = _all_scores(query_folders / "ls"), _all_scores(tmp_path / "again")
    both = set(first) & set(second)
    assert len(both) == len(first) - 11 and all(abs(second[k] - first[k]) < 1e-6 for k in both)


def test_the_default_learner_ranks_a_pool_of_arrays(query_folders, all_digits, tmp_path):
    shards = tmp_path / "arrays"
    shards.mkdir()
    for k in range(3):
        np.save(shards / f"s{k}.npy", (all_digits.x_pool[400 + 100 * k: 500 + 100 * k] * 255).round().astype(np.uint8))
    assert main(["query", "--strategy", "margin", "--labeled", str(query_folders / "labeled"), "--pool", str(shards), "--out", str(tmp_path / "o"),
                 "-n", "10", "--shard-size", "64", "--no-progress"]) == 0
    rows = _rows(tmp_path / "o" / "queries.csv")
    assert len(rows) == 10 and all(r["id"].split(":")[0] in {"s0.npy", "s1.npy", "s2.npy"} for r in rows)
    assert json.loads((tmp_path / "o" / "config.json").read_text())["learner"] == "selftrain"


def _tiny_query(root: Path, *extra: str, out: str = "out") -> int:
    return main(["query", "--strategy", "margin", "--labeled", str(root / "labeled"), "--pool", str(root / "pool"), "--out", str(root / out),
                 "--learner", "cnn", "--epochs", "3", "--shard-size", "4", "--no-progress", *extra])


def test_a_rerun_after_more_labels_rescores_and_a_shrunk_pool_works(tiny, capsys):
    assert _tiny_query(tiny, "-n", "12") == 0
    before = _rows(tiny / "out" / "queries.csv")
    for k in range(4, 7):  # three more labeled images: the model and every score are stale
        gray(tiny / "labeled" / "dark" / f"{k}.png", 90 + 5 * k)
    assert _tiny_query(tiny, "-n", "12") == 0
    assert "the labeled set changed" in capsys.readouterr().err
    after = _rows(tiny / "out" / "queries.csv")
    assert [r["score"] for r in after] != [r["score"] for r in before]
    (tiny / "pool" / "p03.png").rename(tiny / "moved.png")  # out of the pool: its shard position shifts the rest
    assert _tiny_query(tiny, "-n", "12") == 0
    assert "the pool changed" in capsys.readouterr().err
    ids = [Path(r["id"]).name for r in _rows(tiny / "out" / "queries.csv")]
    assert len(ids) == 11 and "p03.png" not in ids
    assert _all_scores(tiny / "out").keys() == {str(p) for p in (tiny / "pool").glob("*.png")}


def test_a_rescore_never_deletes_the_model_the_user_gave(tiny):
    assert _tiny_query(tiny, "-n", "3") == 0
    given = tiny / "again" / "model.pt"  # the user keeps the model to score with where ours would be
    given.parent.mkdir()
    given.write_bytes((tiny / "out" / "model.pt").read_bytes())
    assert _tiny_query(tiny, "-n", "3", "--model", str(given), out="again") == 0
    (tiny / "pool" / "p00.png").unlink()
    assert _tiny_query(tiny, "-n", "3", "--model", str(given), out="again") == 0
    assert given.is_file() and len(_all_scores(tiny / "again")) == 11


def test_a_model_for_other_classes_is_refused_before_scoring(tiny, tmp_path, capsys):
    assert _tiny_query(tiny, "-n", "3") == 0
    other = tmp_path / "other"
    for k in range(3):
        gray(other / "cats" / f"{k}.png", 40 + k)
        gray(other / "dogs" / f"{k}.png", 200 - k)
    code = main(["query", "--strategy", "margin", "--labeled", str(other), "--pool", str(tiny / "pool"), "--out", str(tmp_path / "o"),
                 "--learner", "cnn", "--model", str(tiny / "out" / "model.pt"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--model" in err and "cats" in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "shards").exists()  # nothing was scored


def test_an_mc_strategy_with_a_learner_that_cannot_sample_is_refused_before_anything_is_written(tiny, capsys):
    t0 = time.perf_counter()
    code = main(["query", "--strategy", "margin", "--labeled", str(tiny / "labeled"), "--pool", str(tiny / "pool"), "--out", str(tiny / "out"),
                 "--learner", "embedding", "--strategy", "bald", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--strategy" in err and err.count("\n") == 1
    assert time.perf_counter() - t0 < 10 and not (tiny / "out").exists()
    assert _tiny_query(tiny, "--strategy", "bald", "-n", "3") == 0  # the corrected rerun


def test_a_pool_with_no_readable_image_is_one_line_and_exit_2(tiny, capsys):
    for f in (tiny / "pool").glob("*.png"):
        f.write_bytes(b"not a png")
    for learner in ("cnn", "embedding"):
        assert _tiny_query(tiny, "--learner", learner, out=learner) == 2
        err = capsys.readouterr().err
        assert "can be read" in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_pool_of_two_images_is_ranked_by_the_cnn_and_refused_by_a_pool_learner(tiny, capsys):
    for f in sorted((tiny / "pool").glob("*.png"))[2:]:
        f.unlink()
    assert _tiny_query(tiny, "-n", "5") == 0
    assert len(_rows(tiny / "out" / "queries.csv")) == 2
    assert f"contact sheet {tiny / 'out' / 'contact_sheet.png'}" in capsys.readouterr().out
    assert (tiny / "out" / "contact_sheet.png").is_file()
    assert _tiny_query(tiny, "--learner", "embedding", out="emb") == 2
    err = capsys.readouterr().err
    assert "--learner" in err and "cnn" in err and err.count("\n") == 1


def test_a_coverage_strategy_sees_the_whole_pool_and_asks_for_classes_no_label_holds(query_folders, all_digits, tmp_path, capsys):
    """typiclust in query: the labeled set holds digits 0–4 only, so the clusters without a label — the ones it
    asks from — are mostly the other digits' (random would give about half)."""
    labeled = tmp_path / "labeled"
    for c in range(5):
        (labeled / str(c)).mkdir(parents=True)
        for f in (query_folders / "labeled" / str(c)).glob("*.png"):
            (labeled / str(c) / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "cover"
    assert main(["query", "--strategy", "margin", "--labeled", str(labeled), "--pool", str(query_folders / "pool"), "--out", str(out),
                 "--strategy", "typiclust", "--learner", "embedding", "-n", "10", "--no-progress"]) == 0
    rows = _rows(out / "queries.csv")
    assert [int(r["rank"]) for r in rows] == list(range(1, 11)) and len({r["id"] for r in rows}) == 10
    digits = [int(all_digits.y_pool[int(Path(r["id"]).stem[3:])]) for r in rows]
    assert sum(d >= 5 for d in digits) >= 7, digits  # measured 9 of 10 here; chance is 5
    assert not (out / "shards").exists()  # nothing was scored shard by shard
    assert main(["query", "--strategy", "margin", "--labeled", str(labeled), "--pool", str(query_folders / "pool"), "--out", str(tmp_path / "r"),
                 "--strategy", "typiclust", "--ray", "auto"]) == 2
    assert "selects a set over the whole pool" in capsys.readouterr().err
