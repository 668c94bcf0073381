"""The labeling page and its JSON API: a ``LabelSession`` behind FastAPI, all behind a token.

    GET  /                      the page (static/index.html)      GET    /api/batch          the round
    GET  /static/{app.js,...}   its code, no token needed          POST   /api/label          a label
    GET  /api/image/{id}.png    an item's image, upscaled          DELETE /api/label/{id}     undo
    GET  /api/labels            every label so far                 GET    /api/export         CSV or JSON

The session returns domain data; this module turns it into what the page reads (image URLs,
shortcut keys, the JSON shapes that ``static/app.js`` expects).
"""

from __future__ import annotations

import hmac
import io
import logging
import re
from importlib import resources
from typing import Literal

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from activegan.label.session import LabelSession
from activegan.label.export import export_csv, export_rows, iso_time
from activegan.label.store import SKIP, Item, UndoRefused

logger = logging.getLogger("activegan.label")

SKIP_KEY = "x"
UNDO_KEYS = ("Backspace", "z")
IMAGE_MIN_SIDE = 128  # served images are upscaled (nearest neighbour) to at least this many pixels
MAX_BODY_BYTES = 64 * 1024  # a label is a few dozen bytes; refuse to read megabytes before the token check
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class LabelIn(BaseModel):
    """The body of POST /api/label: an item id and a class name (or the skip label)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=80)
    label: str = Field(min_length=1, max_length=200)


def create_app(session: LabelSession, token: str) -> FastAPI:
    """The FastAPI app: one page, its two static files, and the JSON API, all but the static
    files behind ``token`` (``Authorization: Bearer T`` or ``?token=T``)."""
    if not token:
        raise ValueError("the token must not be empty")
    app = FastAPI(title="activegan label", docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    _add_headers(app)
    auth = [Depends(_token_check(token))]
    index_html = _static("index.html")
    static = {name: _static(name) for name in STATIC_FILES}
    png_cache: dict[str, bytes] = {}  # an id's image never changes

    @app.get("/", dependencies=auth, response_class=HTMLResponse)
    def page():
        return HTMLResponse(index_html, headers={"Content-Security-Policy": CSP})

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
        return batch_json(session)

    @app.get("/api/image/{item_id}.png", dependencies=auth)
    def image(item_id: str):
        if item_id not in png_cache:
            pixels = session.image(item_id)
            if pixels is None:
                raise HTTPException(404, f"no image with id {item_id[:80]!r}")
            png_cache[item_id] = png_bytes(pixels, IMAGE_MIN_SIDE)
        # An id's image never changes: let the browser keep it.
        return Response(png_cache[item_id], media_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400, immutable"})

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
        return {"labels": [_label_json(i) for i in session.labels()]}

    @app.get("/api/export", dependencies=auth)
    def export(format: Literal["csv", "json"] = Query("csv")):
        return export_response(session, format)

    return app


# -- what the page reads --------------------------------------------------------------------------


def batch_json(session: LabelSession) -> dict:
    """GET /api/batch: the round, its unlabeled ``items`` and labeled ``done``, the keys, the test ``curve``
    (accuracy null without a test split), the ``estimate_curve`` (the accuracy estimate and its 90 % interval
    after each round, from the person's labels alone) and the ``stop_signal`` after the last round (null before)."""
    s = session.status()
    last = s.estimates[-1] if s.estimates else None
    classes = session.classes
    return {
        "round": s.round,
        "classes": classes,
        "keys": shortcut_keys(classes),
        "skip_label": SKIP,
        "skip_key": SKIP_KEY,
        "undo_keys": list(UNDO_KEYS),
        "items": [_item_json(i) for i in s.batch if i.label is None],
        "done": [{**_item_json(i), "label": i.label} for i in s.batch if i.label is not None],
        "batch_size": len(s.batch),
        "training": s.training,
        "behind": s.behind,
        "training_error": s.training_error,
        "finished": s.finished,
        "labeled": s.labeled,
        "skipped": s.skipped,
        "asked": s.asked,
        "budget": s.budget,
        "curve": [{k: p[k] for k in ("round", "n_labeled", "accuracy", "train_s")} for p in s.curve],
        "estimate_curve": [{k: p[k] for k in ("round", "n_labeled", "estimate", "low", "high", "residuals", "kappa", "stop")}
                           for p in s.estimates],
        "stop_signal": None if last is None else {k: last[k] for k in ("round", "stop", "kappa", "reason", "advice")},
        "dataset": session.cfg.dataset,
        "strategy": session.cfg.strategy,
        "test_size": len(session.data.y_test),
    }


def export_response(session: LabelSession, fmt: str) -> Response:
    """GET /api/export: every label as a CSV or JSON download."""
    rows = export_rows(session.store)
    name = "labels-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", session.cfg.dataset)
    if fmt == "json":
        return JSONResponse({"labels": rows}, headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    return Response(export_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _image_url(item: Item) -> str:
    return f"/api/image/{item.id}.png"


def _item_json(item: Item) -> dict:
    return {"id": item.id, "image": _image_url(item), "position": item.position}


def _label_json(item: Item) -> dict:
    return {"id": item.id, "label": item.label, "round": item.round, "time": iso_time(item.time),
            "image": _image_url(item), "pool_index": item.pool_index}


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


# -- the app's plumbing -----------------------------------------------------------------------------


def _static(name: str) -> bytes:
    return resources.files("activegan.label").joinpath("static", name).read_bytes()


def _token_check(token: str):
    expected = token.encode()

    def require_token(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = [request.query_params.get("token", "")]
        if header[:7].lower() == "bearer ":
            given.append(header[7:].strip())
        if not any(g and hmac.compare_digest(g.encode(), expected) for g in given):
            raise HTTPException(401, "missing or wrong token: open the URL the server printed", {"WWW-Authenticate": "Bearer"})

    return require_token


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is ``{"error": one line}``; never a stack trace."""

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


def _add_headers(app: FastAPI) -> None:
    """Refuse oversized bodies before reading them; no sniffing, no referrer, no caching."""

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
