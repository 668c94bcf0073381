"""The labeling web app: a person is the oracle.

``LabelSession`` is the active-learning loop with a person in it. One round reads as in
``experiment.run_strategy``, except that the oracle answers whenever the person clicks:

    person's labels → labeled set → training → test accuracy → model probabilities
    → acquisition scores → selection → next batch (stored, then served)

``create_app`` puts a session behind a small JSON API and one page, all behind a token.
"""

from __future__ import annotations

import fcntl
import hmac
import io
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, Self

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from activegan import acquisition
from activegan.errors import UsageError
from activegan.label.store import DB_NAME, SCHEMA_VERSION, SKIP, Item, LabelStore, UndoRefused, export_csv, export_rows, iso_time

logger = logging.getLogger("activegan.label")

SKIP_KEY = "x"
UNDO_KEYS = ("Backspace", "z")
IMAGE_MIN_SIDE = 128  # served images are upscaled (nearest neighbour) to at least this many pixels
_ITEM_ID = re.compile(r"^[pg][A-Za-z0-9_-]{1,64}$")


@dataclass
class LabelConfig:
    """What a labeling session asks and how it retrains; defaults keep digits rounds to seconds."""

    dataset: str
    strategy: str
    query_size: int = 10
    budget: int | None = None  # images asked in all, skips included; default 10 batches
    seed: int = 0
    steps: int = 150
    batch_size: int = 32
    lr: float = 1e-3
    subset: int | None = 2000  # score a random subset of the unlabeled pool (big pools stay quick)
    density_k: int | None = 10
    mc_samples: int = 20
    device: str = "cpu"
    cache_dir: Path | None = field(default=None, repr=False)

    def validate(self, pool_size: int) -> None:
        if self.strategy.startswith("gan-"):
            raise UsageError(
                f"--strategy {self.strategy}: GAN-generated queries are not in the labeling app yet; "
                f"use a pool strategy ({', '.join(acquisition.STRATEGIES)})"
            )
        acquisition.check_strategy_names([self.strategy])
        if self.query_size < 1:
            raise UsageError(f"--query-size must be at least 1, got {self.query_size}")
        if self.budget is not None and self.budget < 1:
            raise UsageError(f"--budget must be at least 1, got {self.budget}")
        if self.steps < 1:
            raise UsageError(f"--steps must be at least 1, got {self.steps}")
        if self.subset is not None and self.subset < self.query_size:
            raise UsageError(f"--subset {self.subset} is smaller than --query-size {self.query_size}")
        if self.query_size > pool_size:
            raise UsageError(f"--query-size {self.query_size} is larger than the pool ({pool_size} images)")

    @property
    def total_budget(self) -> int:
        return self.budget if self.budget is not None else 10 * self.query_size


def check_state_dir(state_dir: Path, dataset: str | None, strategy: str | None) -> dict:
    """The stored meta of a state directory ({} if new); refuse one made for another job."""
    if state_dir.exists() and not state_dir.is_dir():
        raise UsageError(f"--state {state_dir} is a file, not a directory")
    if not LabelStore.exists(state_dir):
        return {}
    try:
        store = LabelStore(state_dir, readonly=True)
        try:
            meta = store.meta()
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{state_dir / DB_NAME} is not a readable labels database ({exc})") from None
    for key, given in (("dataset", dataset), ("strategy", strategy)):
        if given is not None and meta.get(key) is not None and meta[key] != given:
            raise UsageError(
                f"{state_dir} was made for --dataset {meta.get('dataset')} --strategy {meta.get('strategy')}, "
                f"not --{key} {given}; use those or another --state"
            )
    return meta


class LabelSession:
    """One person labeling one pool: the stored state, the model, and the thread that retrains.

    ``open()`` takes an exclusive lock on the state directory, so two servers never share it.
    """

    def __init__(self, state_dir, data, cfg: LabelConfig):
        self.state_dir = Path(state_dir)
        self.data = data
        self.cfg = cfg
        self.training_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._density: np.ndarray | None = None
        self._png_cache: dict[str, bytes] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> Self:
        self.cfg.validate(len(self.data.y_pool))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.state_dir)
        try:
            self.store = LabelStore(self.state_dir)
            self._check_meta()
            if self.store.current_round() == 0:
                self.store.add_batch(1, self._select(None, 1))
        except BaseException:
            if hasattr(self, "store"):
                self.store.close()
            self._lock_file.close()
            raise
        self._trainer = threading.Thread(target=self._train_loop, name="activegan-label-trainer", daemon=True)
        self._trainer.start()
        self._wake.set()  # a restart may find a closed round still waiting for its retrain
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._trainer.join(timeout=60)
        self.store.close()
        self._lock_file.close()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_meta(self) -> None:
        d, cfg = self.data, self.cfg
        meta = self.store.meta()
        identity = {"dataset": cfg.dataset, "strategy": cfg.strategy}
        if meta:
            check_state_dir(self.state_dir, cfg.dataset, cfg.strategy)
            if meta.get("pool_size") != len(d.y_pool) or meta.get("classes") != list(d.classes):
                raise UsageError(
                    f"{self.state_dir} was made for a pool of {meta.get('pool_size')} images with classes "
                    f"{','.join(meta.get('classes') or [])}; this --dataset gives {len(d.y_pool)} images"
                )
        else:
            identity.update(schema_version=SCHEMA_VERSION, seed=cfg.seed, pool_size=len(d.y_pool), classes=list(d.classes),
                            image_shape=list(d.image_shape), created=time.time())
        # Batch size and budget may change between restarts; they apply from the next batch on.
        self.store.set_meta({**identity, "query_size": cfg.query_size, "budget": cfg.total_budget})
        self.seed = int(self.store.meta()["seed"])

    # -- what the page shows ---------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return list(self.data.classes)

    def status(self) -> dict:
        """The current round and where it stands; the next batch appears here once trained."""
        store = self.store
        with store.snapshot():  # one consistent view, even while the trainer stores a round
            r = store.current_round()
            items = store.batch(r)
            curve = store.curve()
            counts, asked = store.counts(), store.n_items()
        closed = all(i.label is not None for i in items)
        finished = closed and bool(curve) and curve[-1]["round"] == r and not self._more_to_ask(asked)
        return {
            "round": r,
            "classes": self.classes,
            "keys": shortcut_keys(self.classes),
            "skip_label": SKIP,
            "skip_key": SKIP_KEY,
            "undo_keys": list(UNDO_KEYS),
            "items": [_item_view(i) for i in items if i.label is None],
            "done": [{**_item_view(i), "label": i.label} for i in items if i.label is not None],
            "batch_size": len(items),
            "training": closed and not finished,
            "training_error": self.training_error if closed and not finished else None,
            "finished": finished,
            **counts,
            "asked": asked,
            "budget": self.cfg.total_budget,
            "curve": [{k: p[k] for k in ("round", "n_labeled", "accuracy", "train_s")} for p in curve],
            "dataset": self.cfg.dataset,
            "strategy": self.cfg.strategy,
            "test_size": len(self.data.y_test),
        }

    def label(self, item_id: str, label: str) -> dict:
        """Store a label (or a correction); wake the trainer when it closes the current round."""
        if label != SKIP and label not in self.data.classes:
            raise ValueError(f"unknown label {label!r}; expected one of {', '.join(self.classes)} or {SKIP}")
        previous, item = self.store.set_label(item_id, label)
        current = self.store.current_round()
        closes = item.round == current and all(i.label is not None for i in self.store.batch(current))
        if closes:
            self._wake.set()
        return {
            "id": item_id,
            "label": label,
            "round": item.round,
            "replaced": previous is not None,
            "previous": previous,
            "batch_complete": closes,
            **self.store.counts(),
        }

    def undo(self, item_id: str) -> dict:
        removed = self.store.undo_label(item_id)
        return {"id": item_id, "removed": removed, **self.store.counts()}

    def labels(self) -> list[dict]:
        return [
            {"id": i.id, "label": i.label, "round": i.round, "time": iso_time(i.time), "image": _image_url(i),
             "pool_index": i.pool_index}
            for i in self.store.labeled()
        ]

    def image_png(self, item_id: str) -> bytes | None:
        """The item's image as a PNG, upscaled; None for anything that is not a known item id."""
        if not _ITEM_ID.match(item_id):
            return None
        if item_id not in self._png_cache:
            item = self.store.item(item_id)
            if item is None:
                return None
            self._png_cache[item_id] = png_bytes(self._image(item), IMAGE_MIN_SIDE)
        return self._png_cache[item_id]

    def _image(self, item: Item) -> np.ndarray:
        """(C, H, W) floats in [0, 1] for a pool index or a generated image in the state dir."""
        if item.pool_index is not None:
            return self.data.x_pool[item.pool_index]
        from PIL import Image

        with Image.open(self.store.generated_path(item)) as img:
            c = self.data.image_shape[0]
            arr = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.float32) / 255.0
        arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)
        if arr.shape != self.data.image_shape:
            raise ValueError(f"generated image {item.file} is {arr.shape}, not {self.data.image_shape}")
        return arr

    # -- the round: retrain, report, select --------------------------------------------------
    def _train_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=None if self.training_error is None else 30.0)  # retry after a failure
            self._wake.clear()
            try:
                while not self._stop.is_set() and self._round_to_close():
                    self._close_round(self.store.current_round())
                self.training_error = None
            except Exception as exc:  # shown on the page; the server keeps serving
                logger.exception("retraining failed")
                self.training_error = " ".join(f"{exc.__class__.__name__}: {exc}".split())

    def _round_to_close(self) -> bool:
        """The current round is fully labeled, and not yet trained on or followed by a batch.

        A trained last round is reopened when a restart raised the budget.
        """
        with self.store.snapshot():
            r = self.store.current_round()
            if not all(i.label is not None for i in self.store.batch(r)):
                return False
            curve = self.store.curve()
            return not (curve and curve[-1]["round"] == r) or self._more_to_ask(self.store.n_items())

    def _more_to_ask(self, asked: int) -> bool:
        return asked < min(self.cfg.total_budget, len(self.data.y_pool))

    def _close_round(self, r: int) -> None:
        """Retrain on every class label so far, measure test accuracy, store the next batch."""
        from activegan.models import CNNClassifier

        cfg, data = self.cfg, self.data
        labeled = [i for i in self.store.labeled() if i.label != SKIP]
        t = time.perf_counter()
        model, accuracy = None, None
        if labeled:
            x = np.stack([self._image(i) for i in labeled])
            y = np.array([data.classes.index(i.label) for i in labeled], dtype=np.int64)
            model = CNNClassifier(
                n_classes=data.n_classes, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                device=cfg.device, random_state=self.seed * 10_007 + r,
            ).fit(x, y)
            accuracy = model.score(data.x_test, data.y_test)
        point = {"round": r, "n_labeled": len(labeled), "accuracy": accuracy, "train_s": time.perf_counter() - t}
        curve = self.store.curve()
        if curve and curve[-1]["round"] == r:
            point = None  # reopened for a bigger budget: the round already has its point
        chosen = self._select(model, r + 1)
        if len(chosen):
            self.store.add_batch(r + 1, chosen, curve_point=point)
        elif point is not None:
            self.store.add_curve_point(point)
        acc = "-" if accuracy is None else f"{accuracy:.3f}"
        logger.info("round %d closed: test accuracy %s after training on %d labels (%.1f s); next batch: %d images",
                    r, acc, len(labeled), point["train_s"], len(chosen))

    def _select(self, model, round_: int) -> np.ndarray:
        """The next batch: the most informative unasked pool images (random before any model)."""
        from activegan.experiment import round_rng, score_candidates

        cfg, data = self.cfg, self.data
        asked = np.asarray(self.store.asked_pool_indices(), dtype=np.int64)
        candidates = np.setdiff1d(np.arange(len(data.y_pool)), asked)
        n = min(cfg.query_size, cfg.total_budget - self.store.n_items(), len(candidates))
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        rng = round_rng(self.seed, cfg.strategy, round_)
        if cfg.subset is not None and cfg.subset < len(candidates):
            candidates = np.sort(rng.choice(candidates, cfg.subset, replace=False))
        if model is None:  # nothing to learn from yet: a seeded random batch
            scores = acquisition.random_scores(len(candidates), rng)
        else:
            dens = self._pool_density()[candidates] if cfg.strategy.startswith("density-") else None
            scores = score_candidates(cfg.strategy, model, data.x_pool[candidates], rng, dens=dens,
                                      mc_samples=cfg.mc_samples, seed=round_)
        return candidates[acquisition.select_top(scores, n, rng)]

    def _pool_density(self) -> np.ndarray:
        if self._density is None:
            from activegan.experiment import pool_density_cached

            k = None if self.cfg.density_k is None else min(self.cfg.density_k, len(self.data.y_pool) - 1)
            self._density = pool_density_cached(self.data.x_pool, k, self.cfg.cache_dir)
        return self._density

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no retrain is pending (for tests and scripts); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._round_to_close():
                return True
            time.sleep(0.05)
        return False


# -- small pure helpers ------------------------------------------------------------------------


def shortcut_keys(classes: list[str]) -> dict[str, str]:
    """One key per class: the name itself when names are single characters (digits), the
    digits 1…9, 0 by position for up to ten classes, otherwise a distinct letter of each name."""
    reserved = {SKIP_KEY, "z"}
    if all(len(c) == 1 and c.lower() not in reserved for c in classes) and len({c.lower() for c in classes}) == len(classes):
        return {c: c.lower() for c in classes}
    if len(classes) <= 10:
        return {c: str((i + 1) % 10) for i, c in enumerate(classes)}
    keys: dict[str, str] = {}
    taken = set(reserved)
    spare = "abcdefghijklmnopqrstuvwy0123456789"
    for c in classes:  # a letter of the name if one is free, else any free key; past 34 classes, none
        key = next((ch for ch in c.lower() + spare if ch.isascii() and ch.isalnum() and ch not in taken), "")
        if key:
            keys[c] = key
            taken.add(key)
    return keys


def png_bytes(image: np.ndarray, min_side: int = IMAGE_MIN_SIDE) -> bytes:
    """A (C, H, W) image in [0, 1] as PNG, upscaled by an integer factor (nearest neighbour)."""
    from PIL import Image

    c, h, w = image.shape
    arr = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    scale = max(1, -(-min_side // max(h, w)))
    if scale > 1:
        img = img.resize((w * scale, h * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _image_url(item: Item) -> str:
    return f"/api/image/{item.id}.png"


def _item_view(item: Item) -> dict:
    return {"id": item.id, "image": _image_url(item), "position": item.position}


def _lock(state_dir: Path):
    f = open(state_dir / "lock", "a+")  # noqa: SIM115 - held open for the session's life: that is the lock
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise UsageError(f"another activegan label server is using {state_dir}; stop it or choose another --state") from None
    return f


# -- the web app -------------------------------------------------------------------------------

MAX_BODY_BYTES = 64 * 1024  # a label is a few dozen bytes; refuse to read megabytes before the token check
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static(name: str) -> bytes:
    return resources.files("activegan.label").joinpath("static", name).read_bytes()


class LabelIn(BaseModel):
    """The body of POST /api/label: an item id and a class name (or the skip label)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=80)
    label: str = Field(min_length=1, max_length=200)


def create_app(session: LabelSession, token: str):
    """The FastAPI app: one page, its two static files, and the JSON API, all but the static
    files behind ``token`` (``Authorization: Bearer T`` or ``?token=T``)."""
    if not token:
        raise ValueError("the token must not be empty")
    expected = token.encode()

    def require_token(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = [request.query_params.get("token", "")]
        if header[:7].lower() == "bearer ":
            given.append(header[7:].strip())
        if not any(g and hmac.compare_digest(g.encode(), expected) for g in given):
            raise HTTPException(401, "missing or wrong token: open the URL the server printed", {"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="activegan label", docs_url=None, redoc_url=None, openapi_url=None)
    index_html = _static("index.html")
    static = {name: _static(name) for name in STATIC_FILES}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request, exc):
        logger.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal error; the server's log has the details"}, status_code=500)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # the token is in the page's URL
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    auth = [Depends(require_token)]

    @app.get("/", dependencies=auth, response_class=HTMLResponse)
    def page():
        return HTMLResponse(index_html, headers={"Content-Security-Policy": _CSP})

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static_file(name: str):
        if name not in static:
            raise HTTPException(404, "not found")
        return Response(static[name], media_type=STATIC_FILES[name])

    @app.get("/api/batch", dependencies=auth)
    def batch():
        return session.status()

    @app.get("/api/image/{item_id}.png", dependencies=auth)
    def image(item_id: str):
        png = session.image_png(item_id)
        if png is None:
            raise HTTPException(404, f"no image with id {item_id[:80]!r}")
        # An id's image never changes: let the browser keep it.
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400, immutable"})

    @app.post("/api/label", dependencies=auth)
    def label(body: LabelIn):
        try:
            return session.label(body.id, body.label)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        except KeyError:
            raise HTTPException(404, f"no item with id {body.id!r}") from None

    @app.delete("/api/label/{item_id}", dependencies=auth)
    def undo(item_id: str):
        try:
            return session.undo(item_id)
        except KeyError:
            raise HTTPException(404, f"no label on an item with id {item_id[:80]!r}") from None
        except UndoRefused:
            raise HTTPException(409, "that round is already closed and training; correct the label instead") from None

    @app.get("/api/labels", dependencies=auth)
    def labels():
        return {"labels": session.labels()}

    @app.get("/api/export", dependencies=auth)
    def export(format: Literal["csv", "json"] = Query("csv")):
        rows = export_rows(session.store)
        name = "labels-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", session.cfg.dataset)
        if format == "json":
            return JSONResponse({"labels": rows}, headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
        return Response(export_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    return app
