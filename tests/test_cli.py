"""The command line: bad input gets one line and exit code 2; a small run works end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from activegan.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("activegan: error:")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--dataset", "nosuch"], ["nosuch"]),
        (["--strategies", "random,entropyy"], ["unknown strategy 'entropyy'"]),
        (["--initial", "5000"], ["--initial 5000", "larger than the pool"]),
        (["--rounds", "500"], ["more than the pool"]),
        (["--strategies", "density-entropy", "--density-k", "1297"], ["--density-k 1297"]),
        (["--query-size", "0"], ["--query-size"]),
        (["--seeds", "abc"], ["--seeds"]),
        (["--density-features", "logits"], ["--density-features"]),
        (["--subset", "3"], ["--subset 3"]),
    ],
)
def test_bad_run_arguments_get_one_line(capsys, tmp_path, args, needles):
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "o"), "--no-progress", *args)
    assert_one_line_error(code, err, *needles)


def test_missing_dataset_files_name_what_is_expected(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "train-images-idx3-ubyte", str(tmp_path))


def test_corrupt_idx_file_is_named(capsys, tmp_path):
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05garbage")
    code, _, err = run_cli(capsys, "run", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "idx")


def test_mixed_image_sizes_in_a_folder_dataset_are_refused(capsys, tmp_path):
    from PIL import Image

    for split, cls, size in [("train", "a", 8), ("train", "b", 9), ("test", "a", 8)]:
        (tmp_path / split / cls).mkdir(parents=True, exist_ok=True)
        Image.new("L", (size, size)).save(tmp_path / split / cls / "x.png")
    code, _, err = run_cli(capsys, "run", "--dataset", f"folder:{tmp_path}", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "x.png")


def test_bad_toml_is_refused(capsys, tmp_path):
    bad = tmp_path / "e.toml"
    bad.write_text("rounds = [unclosed\n")
    code, _, err = run_cli(capsys, "run", "-c", str(bad))
    assert_one_line_error(code, err, "e.toml")
    bad.write_text("roundz = 3\n")
    code, _, err = run_cli(capsys, "run", "-c", str(bad))
    assert_one_line_error(code, err, "unknown field 'roundz'")


def test_out_that_is_a_file_is_refused(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("keep me")
    code, _, err = run_cli(capsys, "run", "--rounds", "1", "--steps", "2", "--seeds", "1", "--strategies", "random", "--out", str(f / "sub"), "--no-progress")
    assert code == 2 and "Traceback" not in err
    assert f.read_text() == "keep me"


def test_toml_config_with_cli_override(capsys, tmp_path):
    cfg = tmp_path / "experiment.toml"
    cfg.write_text('strategies = "random,margin"\nseeds = 1\ninitial = 10\nquery-size = 5\nrounds = 3\nsteps = 10\n')
    out = tmp_path / "o"
    code, stdout, err = run_cli(capsys, "run", "-c", str(cfg), "--rounds", "2", "--out", str(out), "--no-progress", "--jobs", "1")
    assert code == 0, err
    saved = json.loads((out / "config.json").read_text())
    assert saved["strategies"] == ["random", "margin"] and saved["rounds"] == 2 and saved["query_size"] == 5
    assert saved["train"]["steps"] == 10
    assert len((out / "curves.csv").read_text().splitlines()) == 1 + 2 * 3


def test_toml_density_k_all_and_nested_tables(tmp_path):
    from activegan.cli import experiment_config, load_toml

    path = tmp_path / "e.toml"
    path.write_text('density-k = "all"\ngan-candidates = 300\n[train]\nepochs = 7\n')
    cfg = experiment_config(load_toml(str(path)))
    assert cfg.density_k is None and cfg.gan.candidates == 300 and cfg.train.epochs == 7


def test_library_parameter_names_become_flags_in_the_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--gan-candidates", "3", "--strategies", "gan-margin-match", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "--gan-candidates 3 is smaller than query_size 10")
    code, _, err = run_cli(capsys, "run", "--epochs", "0", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "--epochs must be at least 1, got 0")


@pytest.mark.slow
def test_end_to_end_digits_run_in_a_subprocess(tmp_path):
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "activegan", "run", "--strategies", "random,entropy,density-least-confidence",
         "--seeds", "2", "--initial", "20", "--query-size", "10", "--rounds", "3", "--learner", "cnn",
         "--initial-strategy", "random", "--steps", "150", "--out", str(out)],
        capture_output=True, text=True,  # the CNN: no embedding to fit, a third of the default learner's time
    )
    assert res.returncode == 0, res.stderr
    for name in ["random", "entropy", "density-least-confidence"]:
        assert name in res.stdout
    assert "learning_curves.png" in res.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"random", "entropy", "density-least-confidence"}
    for s in summary.values():
        assert 0.5 < s["aulc_mean"] <= 1.0  # it learned: measured 0.73-0.76, chance is 0.1
        assert s["n_labeled"] == [20, 30, 40, 50]


@pytest.mark.real_data
@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="real MNIST not present in ../shared/datasets")
def test_real_mnist_loads_through_the_cli_options(capsys, tmp_path):
    """The real data set goes through the same validation (a fast refusal, not a full run)."""
    code, _, err = run_cli(capsys, "run", "--dataset", "mnist", "--data-dir", str(SHARED / "mnist"), "--initial", "70000", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "larger than the pool (60000 images)")
