"""What ``activegan query`` writes — queries.csv, skipped.csv, config.json, the contact sheet, Label Studio's
import files — and the labeled images it reads; shared by the shard-by-shard path (``query``) and the
whole-pool path of set-selecting strategies (``query_set``)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path

import numpy as np

from activegan.data.user import ImageFormat, ImagePool, Labeled, decode
from activegan.errors import DataError
from activegan.io import atomic_write_json, atomic_write_text


def labeled_images(labeled: Labeled, fmt: ImageFormat) -> np.ndarray:
    images = []
    for path in labeled.paths:
        try:
            images.append(decode(path, fmt))
        except DataError as e:
            raise DataError(f"{path}: a labeled image cannot be read ({str(e).removeprefix(f'{path}: ')})") from None
    return np.stack(images)


def write_outputs(cfg, out: Path, pool: ImagePool, top: dict, skipped, classes, fmt: ImageFormat,
                   timing: dict, rescored: str | None) -> str | None:
    """queries.csv, skipped.csv, config.json, the contact sheet (its path, or None when it could not be
    drawn) and, for label-studio, its import files."""
    from activegan.data.labelstudio import write_import
    from activegan.plots import save_image_grid

    audit = np.asarray(top.get("audit", np.zeros(len(top["ids"]), bool)))
    rows = ["rank,id,score,predicted,probability" + (",audit" if audit.any() else "")]  # audit: drawn uniformly, no score
    rows += [",".join([str(r + 1), _csv_cell(i), "" if np.isnan(s) else f"{s:.6g}", _csv_cell(classes[p]), f"{q:.4f}",
                       *([str(int(a))] if audit.any() else [])])
             for r, (i, s, p, q, a) in enumerate(zip(top["ids"], top["scores"], top["pred"], top["prob"], audit))]
    atomic_write_text(out / "queries.csv", "\n".join(rows) + "\n")
    write_skipped(out, skipped)
    sheet = None
    try:
        images = np.stack([pool.image(i) for i in top["ids"][:64]])
    except DataError:  # an image changed since it was scored: the ranking stands, without its picture
        images = None
    if images is not None:
        sheet = out / "contact_sheet.png"
        save_image_grid(images, sheet, nrow=8)
    atomic_write_json(out / "config.json", {**asdict(cfg), "classes": classes, "image_mode": fmt.mode, "image_side": fmt.side,
                                            "pool_images": len(pool) + len(pool.unlisted) + pool.excluded, "skipped": len(skipped),
                                            "excluded_labeled": pool.excluded, "rescored": rescored, "timing": timing})
    if cfg.format == "label-studio":
        scored = np.asarray(top["scores"], np.float64)
        low = float(np.nanmin(scored)) - 1 if (~np.isnan(scored)).any() else 0.0  # the audit's images after the strategy's
        write_import(out, pool.root, top["ids"], np.where(np.isnan(scored), low, scored), [classes[int(p)] for p in top["pred"]], classes,
                     f"activegan-{cfg.learner}-{cfg.strategy}")
    return None if sheet is None else str(sheet)


def write_skipped(out: Path, skipped) -> None:
    atomic_write_text(out / "skipped.csv", "id,reason\n" + "".join(f"{_csv_cell(i)},{_csv_cell(r)}\n" for i, r in skipped))


def _csv_cell(value) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()
