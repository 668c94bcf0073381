"""Labels in SQLite: every acknowledged label survives kill -9.

One file, ``labels.sqlite``, in the state directory, in WAL mode with ``synchronous=FULL``:
each label is one transaction, committed (and fsynced) before the server answers 200.

Tables:

``meta``      what the state directory was made for (dataset, strategy, classes, ...).
``items``     every image ever put in front of the person, by round: a pool index, or a
              generated image stored under ``<state>/generated/`` (file name chosen by us).
``labels``    the latest label of each item (a class name, or ``SKIP``).
``label_log`` every label, correction and undo, in order: nothing a person did is lost.
``curve``     test accuracy after the retrain that closed each round.
``predictions`` what the model of the round before said of each pool item when it asked for it (before
              its label): the accuracy estimate's residuals (``activegan.stopping``).
``estimate``  the accuracy estimate and the stop signal after each round's retrain (the signal's state with
              it), stored in the transaction that stores the round's curve point.
``audit``     the items drawn uniformly from the unasked pool (``--audit``), not by the strategy.

Request strings are only ever used as SQL parameters, never to build a path.
"""

from __future__ import annotations

import fcntl
import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from activegan.errors import DataError

DB_NAME = "labels.sqlite"
SCHEMA_VERSION = 1
SKIP = "__skip__"  # the label of a skipped (unrecognisable) item: asked, but no class
GENERATED_DIR = "generated"
_GENERATED_FILE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.png$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    round INTEGER NOT NULL,
    position INTEGER NOT NULL,
    pool_index INTEGER UNIQUE,  -- a pool image is asked at most once
    file TEXT,                  -- a generated image under <state>/generated/
    created REAL NOT NULL,
    CHECK ((pool_index IS NULL) <> (file IS NULL))
);
CREATE INDEX IF NOT EXISTS items_round ON items(round, position);
CREATE TABLE IF NOT EXISTS labels (
    item_id TEXT PRIMARY KEY REFERENCES items(id),
    label TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS label_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items(id),
    label TEXT,                 -- NULL: the label was undone
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS curve (
    round INTEGER PRIMARY KEY,
    n_labeled INTEGER NOT NULL, -- labels the model was trained on (skips excluded)
    accuracy REAL,              -- NULL when there was nothing to train on
    train_s REAL NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    item_id TEXT PRIMARY KEY REFERENCES items(id),
    predicted INTEGER NOT NULL, -- class index, by the model that asked for the item
    confidence REAL NOT NULL    -- its probability
);
CREATE TABLE IF NOT EXISTS estimate (
    round INTEGER PRIMARY KEY,
    estimate REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,  -- the model's accuracy, 90 % interval
    residuals INTEGER NOT NULL, -- labels the estimate's residual term used (predicted before given, or out-of-fold)
    kappa REAL,                 -- Cohen's κ against the previous round's model on the stop set (NULL: none)
    stop INTEGER NOT NULL, reason TEXT NOT NULL, advice TEXT NOT NULL,  -- the stop signal, and in words
    signal TEXT NOT NULL,       -- StopSignal.state_dict() as JSON: the next round continues it
    bins TEXT                   -- the stop set's confidence bins under this round's model, JSON [edges, shares]
);
CREATE TABLE IF NOT EXISTS audit (  -- items drawn uniformly from the unasked pool (--audit), not by the strategy
    item_id TEXT PRIMARY KEY REFERENCES items(id)
);
"""


@dataclass(frozen=True)
class Item:
    """One image put in front of the person: a pool index or a generated image file."""

    id: str
    round: int
    position: int
    pool_index: int | None = None
    file: str | None = None
    label: str | None = None
    time: float | None = None

    @staticmethod
    def pool_id(index: int) -> str:
        return f"p{int(index)}"


class UndoRefused(Exception):
    """The item's round is already closed (sent to training): correct the label instead."""


class LabelStore:
    """The SQLite state of one labeling session. Thread-safe: one connection behind a lock."""

    def __init__(self, state_dir: str | Path, readonly: bool = False):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_NAME
        self._lock = threading.RLock()
        if readonly:  # export: reads beside a running server, changes nothing
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.row_factory = sqlite3.Row
            return
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a 200 means the label is on disk
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._tx():  # executescript would commit on its own; run the statements one by one
            for statement in _statements(_SCHEMA):
                self._db.execute(statement)
            if "bins" not in {r[1] for r in self._db.execute("PRAGMA table_info(estimate)")}:  # a store made before
                self._db.execute("ALTER TABLE estimate ADD COLUMN bins TEXT")

    @staticmethod
    def exists(state_dir: str | Path) -> bool:
        return (Path(state_dir) / DB_NAME).is_file()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- transactions ----------------------------------------------------------------------
    def snapshot(self) -> threading.RLock:
        """Hold this while reading several things that must agree with each other."""
        return self._lock

    def _tx(self):
        return _Transaction(self._db, self._lock)

    def _rows(self, sql: str, params=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- meta ------------------------------------------------------------------------------
    def meta(self) -> dict:
        return {r["key"]: json.loads(r["value"]) for r in self._rows("SELECT key, value FROM meta")}

    def set_meta(self, values: dict) -> None:
        with self._tx():
            for key, value in values.items():
                self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- items and rounds ------------------------------------------------------------------
    def current_round(self) -> int:
        """The highest round with a batch; 0 before the first batch."""
        return int(self._rows("SELECT COALESCE(MAX(round), 0) AS r FROM items")[0]["r"])

    def batch(self, round_: int) -> list[Item]:
        """The round's items in order, with their labels (None while unlabeled)."""
        rows = self._rows(
            "SELECT i.*, l.label, l.time FROM items i LEFT JOIN labels l ON l.item_id = i.id "
            "WHERE i.round = ? ORDER BY i.position",
            (round_,),
        )
        return [_item(r) for r in rows]

    def item(self, item_id: str) -> Item | None:
        rows = self._rows(
            "SELECT i.*, l.label, l.time FROM items i LEFT JOIN labels l ON l.item_id = i.id WHERE i.id = ?",
            (item_id,),
        )
        return _item(rows[0]) if rows else None

    def asked_pool_indices(self) -> list[int]:
        return [r[0] for r in self._rows("SELECT pool_index FROM items WHERE pool_index IS NOT NULL")]

    def n_items(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM items")[0][0])

    def add_batch(self, round_: int, pool_indices=(), files=(), curve_point: dict | None = None, predictions=None,
                  audit=()) -> None:
        """Store round ``round_``'s batch, and the curve point that closed the round before, at once.

        One transaction: a restart finds either both or neither, so it serves the same batch. ``curve_point``'s
        "estimate" (a dict of the ``estimate`` table's columns) is stored with it; ``predictions`` are
        (predicted classes, confidences) of ``pool_indices`` by the model that chose them; ``audit`` those of them
        drawn uniformly from the unasked pool.
        """
        now, audit = time.time(), {int(a) for a in audit}
        with self._tx():
            if curve_point is not None:
                self._insert_point(curve_point, now)
            position = 0
            for k, index in enumerate(pool_indices):
                self._db.execute(
                    "INSERT INTO items(id, round, position, pool_index, created) VALUES (?, ?, ?, ?, ?)",
                    (Item.pool_id(index), round_, position, int(index), now),
                )
                if predictions is not None:
                    self._insert_prediction(index, predictions[0][k], predictions[1][k])
                if int(index) in audit:
                    self._db.execute("INSERT INTO audit(item_id) VALUES (?)", (Item.pool_id(index),))
                position += 1
            for name in files:
                if not _GENERATED_FILE.match(name):
                    raise ValueError(f"generated image name {name!r} must match {_GENERATED_FILE.pattern}")
                self._db.execute(
                    "INSERT INTO items(id, round, position, file, created) VALUES (?, ?, ?, ?, ?)",
                    (f"g{name.removesuffix('.png')}", round_, position, name, now),
                )
                position += 1

    def add_curve_point_after(self, curve_point: dict | None, pool_indices=(), predictions=None) -> None:
        """A round's curve point (and estimate; None: it has one) after its next batch, with that model's predictions of it."""
        with self._tx():
            if curve_point is not None:
                self._insert_point(curve_point, time.time())
            for k, index in enumerate(pool_indices if predictions is not None else ()):
                self._insert_prediction(index, predictions[0][k], predictions[1][k])

    def _insert_point(self, curve_point: dict, now: float) -> None:
        self._db.execute(
            "INSERT INTO curve(round, n_labeled, accuracy, train_s, time) VALUES (?, ?, ?, ?, ?)",
            (curve_point["round"], curve_point["n_labeled"], curve_point["accuracy"], curve_point["train_s"], now),
        )
        if curve_point.get("estimate"):
            e = curve_point["estimate"]
            self._db.execute(
                "INSERT INTO estimate(round, estimate, low, high, residuals, kappa, stop, reason, advice, signal, bins) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (curve_point["round"], e["estimate"], e["low"], e["high"], e["residuals"],
                 None if e["kappa"] != e["kappa"] else e["kappa"], int(e["stop"]), e["reason"], e["advice"],
                 json.dumps(e["signal"]), json.dumps(e["bins"]) if e.get("bins") else None),
            )

    def _insert_prediction(self, index: int, predicted, confidence) -> None:
        self._db.execute("INSERT OR IGNORE INTO predictions(item_id, predicted, confidence) VALUES (?, ?, ?)", (Item.pool_id(index), int(predicted), float(confidence)))

    def generated_path(self, item: Item) -> Path:
        """Where a generated item's image lives; its name came from us and is checked again."""
        if item.file is None or not _GENERATED_FILE.match(item.file):
            raise ValueError(f"item {item.id} has no valid generated image file")
        return self.state_dir / GENERATED_DIR / item.file

    # -- labels ----------------------------------------------------------------------------
    def set_label(self, item_id: str, label: str) -> tuple[str | None, Item]:
        """Label (or relabel) an item; returns (the label it replaced, the item). One transaction."""
        now = time.time()
        with self._tx():
            rows = self._db.execute(
                "SELECT i.*, l.label, l.time FROM items i LEFT JOIN labels l ON l.item_id = i.id WHERE i.id = ?",
                (item_id,),
            ).fetchall()
            if not rows:
                raise KeyError(item_id)
            previous = rows[0]["label"]
            self._db.execute(
                "INSERT INTO labels(item_id, label, time) VALUES (?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET label = excluded.label, time = excluded.time",
                (item_id, label, now),
            )
            self._db.execute("INSERT INTO label_log(item_id, label, time) VALUES (?, ?, ?)", (item_id, label, now))
        return previous, _item(rows[0])

    def undo_label(self, item_id: str) -> str:
        """Remove an item's label while its round is still open; returns the removed label.

        KeyError: unknown or unlabeled item. UndoRefused: the round is closed (all labeled, or
        not the current one), so the model may already be training on it.
        """
        now = time.time()
        with self._tx():
            row = self._db.execute(
                "SELECT i.round, l.label FROM items i JOIN labels l ON l.item_id = i.id WHERE i.id = ?", (item_id,)
            ).fetchone()
            if row is None:
                raise KeyError(item_id)
            current, open_items = self._db.execute(
                "SELECT (SELECT MAX(round) FROM items), "
                "(SELECT COUNT(*) FROM items i LEFT JOIN labels l ON l.item_id = i.id "
                " WHERE i.round = (SELECT MAX(round) FROM items) AND l.item_id IS NULL)"
            ).fetchone()
            if row["round"] != current or open_items == 0:
                raise UndoRefused(item_id)
            self._db.execute("DELETE FROM labels WHERE item_id = ?", (item_id,))
            self._db.execute("INSERT INTO label_log(item_id, label, time) VALUES (?, NULL, ?)", (item_id, now))
        return row["label"]

    def labeled(self) -> list[Item]:
        """Every labeled item, in the order of its latest label."""
        rows = self._rows(
            "SELECT i.*, l.label, l.time FROM labels l JOIN items i ON i.id = l.item_id ORDER BY l.time, i.round, i.position"
        )
        return [_item(r) for r in rows]

    def counts(self) -> dict:
        row = self._rows(
            "SELECT COUNT(*) AS labeled, COALESCE(SUM(label = ?), 0) AS skipped FROM labels", (SKIP,)
        )[0]
        return {"labeled": int(row["labeled"]), "skipped": int(row["skipped"])}

    def log(self) -> list[dict]:
        return [dict(r) for r in self._rows("SELECT seq, item_id, label, time FROM label_log ORDER BY seq")]

    # -- the learning curve ----------------------------------------------------------------
    def curve(self) -> list[dict]:
        return [dict(r) for r in self._rows("SELECT round, n_labeled, accuracy, train_s, time FROM curve ORDER BY round")]

    def estimates(self) -> list[dict]:
        """The estimate and stop signal of each trained round (with its label count), oldest first."""
        rows = self._rows("SELECT e.round, c.n_labeled, e.estimate, e.low, e.high, e.residuals, e.kappa, e.stop, e.reason, "
                          "e.advice FROM estimate e JOIN curve c ON c.round = e.round ORDER BY e.round")
        return [{**dict(r), "stop": bool(r["stop"])} for r in rows]

    def signal_state(self) -> dict | None:
        """The stop signal's state after the last round that has one."""
        rows = self._rows("SELECT signal FROM estimate ORDER BY round DESC LIMIT 1")
        return json.loads(rows[0]["signal"]) if rows else None

    def stop_set_bins(self) -> dict[int, list]:
        """Round → the stop set's confidence bins under its model: they weight the residuals of the batch it asked for."""
        return {r["round"]: json.loads(r["bins"]) for r in self._rows("SELECT round, bins FROM estimate WHERE bins IS NOT NULL")}

    def predicted_labels(self) -> list[dict]:
        """Labeled pool items that a model predicted before their label was given: round, predicted, confidence,
        label (the latest; skips included), audit (1: drawn uniformly), in round order."""
        return [dict(r) for r in self._rows(
            "SELECT i.round, p.predicted, p.confidence, l.label, EXISTS(SELECT 1 FROM audit a WHERE a.item_id = p.item_id) "
            "AS audit FROM predictions p JOIN items i ON i.id = p.item_id JOIN labels l ON l.item_id = p.item_id "
            "ORDER BY i.round, i.position")]

    def audit_pool_indices(self) -> list[int]:
        """Pool indices of the items the audit drew."""
        return [int(r[0]) for r in self._rows("SELECT i.pool_index FROM audit a JOIN items i ON i.id = a.item_id")]

    def add_curve_point(self, point: dict) -> None:
        """The last round's point, when there is no next batch to store with it."""
        self.add_batch(point["round"], curve_point=point)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT under the store's lock; ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock):
        self._db, self._lock = db, lock

    def __enter__(self):
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type, exc, tb):
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()
        return False


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        round=row["round"],
        position=row["position"],
        pool_index=row["pool_index"],
        file=row["file"],
        label=row["label"],
        time=row["time"],
    )


def lock_state(state_dir: Path):
    """The state directory's lock file, held exclusively while a label server uses it (DataError when another does)."""
    f = open(state_dir / "lock", "a+")  # noqa: SIM115 - held open for the session's life: that is the lock
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise DataError(f"another activegan label server is using {state_dir}; stop it or use another state directory") from None
    return f
