"""The exported data set of a labeling state: the latest label of every asked item, as rows or CSV (`activegan label
export`, `GET /api/export`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from activegan.label.store import LabelStore


def iso_time(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def export_rows(store: LabelStore) -> list[dict]:
    """The latest label of every asked item: the exported data set."""
    classes = store.meta().get("classes") or []
    rows = []
    for i in store.labeled():
        rows.append({
            "id": i.id,
            "pool_index": i.pool_index,
            "file": i.file,
            "label": i.label,
            "class_index": classes.index(i.label) if i.label in classes else None,
            "round": i.round,
            "time": iso_time(i.time),
        })
    return rows


EXPORT_COLUMNS = ["id", "pool_index", "file", "label", "class_index", "round", "time"]


def export_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r[k] is None else r[k] for k in EXPORT_COLUMNS})
    return buf.getvalue()
