"""``query --format label-studio`` and the export read back: image paths resolve the same from wherever
the files are, successive batches share one document root, and the labeling config is valid XML."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from activegan.cli import main
from activegan.data.user import read_labeled


def _gray(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(np.clip(value + rng.integers(-20, 20, (8, 8)), 0, 255).astype(np.uint8), mode="L").save(path)


def _folders(root: Path, classes=("dark", "bright")) -> None:
    for k in range(4):
        _gray(root / "labeled" / classes[0] / f"{k}.png", 30 + k)
        _gray(root / "labeled" / classes[1] / f"{k}.png", 220 - k)
    for k in range(12):
        _gray(root / "pool" / f"part{k % 3}" / f"p{k:02d}.png", 20 * k + 5)


def _query(labeled, pool, out, *extra) -> int:
    return main(["query", "--strategy", "margin", "--labeled", str(labeled), "--pool", str(pool), "--out", str(out), "--learner", "cnn",
                 "--epochs", "3", "--format", "label-studio", "--no-progress", *extra])


def _annotated(tasks: list) -> list:
    for i, task in enumerate(tasks):
        task["annotations"] = [{"result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                            "value": {"choices": [("dark", "bright")[i % 2]]}}]}]
    return tasks


def test_an_export_is_read_back_from_anywhere(tmp_path, monkeypatch):
    _folders(tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")  # the query is run with paths relative to here
    assert _query("labeled", "pool", "out", "-n", "4") == 0
    tasks = _annotated(json.loads(Path("out/label-studio.json").read_text()))
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "export.json").write_text(json.dumps(tasks))
    monkeypatch.chdir(tmp_path)  # read from elsewhere, the export in a third folder
    back = read_labeled(tmp_path / "exports" / "export.json")
    assert len(back.paths) == 4 and all(Path(p).is_file() for p in back.paths)


def test_successive_batches_share_one_document_root(tmp_path):
    _folders(tmp_path)
    roots = []
    for n in ("1", "5"):
        assert _query(tmp_path / "labeled", tmp_path / "pool", tmp_path / f"out{n}", "-n", n) == 0
        root = Path((tmp_path / f"out{n}" / "label-studio-root.txt").read_text().strip())
        for task in json.loads((tmp_path / f"out{n}" / "label-studio.json").read_text()):
            assert (root / task["data"]["image"].split("?d=", 1)[1]).resolve() == Path(task["data"]["path"]).resolve()
        roots.append(root)
    assert roots[0] == roots[1] == (tmp_path / "pool").resolve()


def test_the_labeling_config_is_valid_xml_whatever_the_class_names(tmp_path):
    _folders(tmp_path, classes=("cats & dogs", 'say "<hi>"'))
    assert _query(tmp_path / "labeled", tmp_path / "pool", tmp_path / "out", "-n", "3") == 0
    view = ET.parse(tmp_path / "out" / "label-studio-config.xml").getroot()
    assert sorted(c.get("value") for c in view.iter("Choice")) == ["cats & dogs", 'say "<hi>"']
