"""Label Studio: the import file ``query --format label-studio`` writes, and the JSON export read back
as a labeled set. Writing and reading agree on where an image is, from wherever the files are:

- ``data.path`` is the image's absolute path (what the reader uses first);
- ``data.image`` is ``/data/local-files/?d=<path relative to the document root>``, the root being the
  pool's own folder for every batch (``label-studio-root.txt``: set Label Studio's
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` to it once);
- a task without ``data.path`` (made elsewhere) resolves ``?d=`` against
  ``$LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` when set, else against the export's folder.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from xml.sax.saxutils import quoteattr

from activegan.errors import DataError
from activegan.io import atomic_write_json, atomic_write_text

ROOT_VARIABLE = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
LOCAL_FILES = "/data/local-files/?d="


def write_import(out: Path, root: Path, ids, scores, predicted: list[str], classes: list[str], model_version: str) -> None:
    """``label-studio.json`` (one task per image, most informative first), ``label-studio-root.txt`` and
    ``label-studio-config.xml`` in ``out``. Label Studio serves the lowest prediction score first, so a
    task's score is the negated acquisition score; our rank is kept in the task data."""
    root = Path(os.path.abspath(root))
    tasks = []
    for r, (i, s, p) in enumerate(zip(ids, scores, predicted)):
        path = Path(os.path.abspath(i))
        rel = path.relative_to(root).as_posix()
        tasks.append({"data": {"image": LOCAL_FILES + urllib.parse.quote(rel), "rank": r + 1, "path": str(path)},
                      "predictions": [{"model_version": model_version, "score": -float(s),
                                       "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                                   "value": {"choices": [p]}}]}]})
    atomic_write_json(out / "label-studio.json", tasks)
    atomic_write_text(out / "label-studio-root.txt", f"{root}\n")
    choices = "".join(f"<Choice value={quoteattr(c)}/>" for c in classes)
    atomic_write_text(out / "label-studio-config.xml", '<View><Image name="image" value="$image"/>'
                                                       f'<Choices name="label" toName="image">{choices}</Choices></View>\n')


def read_export(path: Path) -> tuple[list[str], list[str]]:
    """(image paths, labels) of the annotated tasks of a Label Studio JSON export (latest annotation
    that is not cancelled; tasks without one are left out)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable Label Studio JSON export ({e})") from None
    if not isinstance(tasks, list):
        raise DataError(f"{path}: a Label Studio JSON export is a list of tasks")
    root = Path(os.environ.get(ROOT_VARIABLE) or path.parent)
    paths, labels = [], []
    for task in tasks:
        choice = _latest_choice(task)
        data = (task.get("data") or {}) if isinstance(task, dict) else {}
        if choice is None:
            continue  # not annotated (or cancelled): nothing learned from it
        if isinstance(data.get("path"), str):
            paths.append(str(_under(path.parent, data["path"])))
        elif isinstance(data.get("image"), str):
            paths.append(str(_local_path(data["image"], root, path.parent)))
        else:
            continue
        labels.append(choice)
    return paths, labels


def _latest_choice(task) -> str | None:
    if not isinstance(task, dict):
        return None
    for ann in reversed(task.get("annotations") or []):
        if not isinstance(ann, dict) or ann.get("was_cancelled"):
            continue
        for r in ann.get("result") or []:
            choices = (r.get("value") or {}).get("choices") if isinstance(r, dict) else None
            if choices:
                return str(choices[0])
    return None


def _local_path(image: str, root: Path, base: Path) -> Path:
    """'/data/local-files/?d=rel/path' (relative to the document root) or a plain path (to ``base``)."""
    if image.startswith("/data/local-files/"):
        rel = urllib.parse.parse_qs(urllib.parse.urlparse(image).query).get("d", [""])[0]
        return _under(root, rel)
    return _under(base, image)


def _under(base: Path, p: str) -> Path:
    return Path(p) if Path(p).is_absolute() else base / p
