"""The partner's local copy of the active set: SQLite, one transaction per feed page.

A page's adds, deletes and the new checkpoint commit together, so a crash at any point
leaves the store at the end of some whole page: sync resumes there, nothing lost or doubled.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signals (
    record_id TEXT PRIMARY KEY, type TEXT NOT NULL, value TEXT NOT NULL,
    quality INTEGER, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS signals_type_value ON signals (type, value);
CREATE TABLE IF NOT EXISTS trusted_keys (kid TEXT PRIMARY KEY, x TEXT NOT NULL, trusted_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deletes (
    seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,
    applied_at TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0);
"""


# vpdq records carry their frames (the entry's JSON list); stores made before videos get
# the column on open.
_VIDEO_COLUMN = "ALTER TABLE signals ADD COLUMN frames TEXT"


class StoreConflict(Exception):
    """The store moved since the page was fetched (another sync ran): refetch."""


@dataclass(frozen=True)
class Signal:
    record_id: str
    type: str
    value: str
    quality: int | None
    frames: str | None = None  # vpdq: the frames as JSON


class LocalStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        if "frames" not in {row[1] for row in self._db.execute("PRAGMA table_info(signals)")}:
            self._db.execute(_VIDEO_COLUMN)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def checkpoint(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'checkpoint'").fetchone()
        return int(row[0]) if row else 0

    def apply(self, entries: list[dict[str, Any]], expected_checkpoint: int,
              log_frontier: list[bytes] | None = None) -> int:
        """Apply verified entries and move the checkpoint to the last one, atomically,
        with the log frontier (the Merkle tree's perfect subtree roots) at that seq.

        Raises StoreConflict if the checkpoint is not `expected_checkpoint`.
        """
        db = self._db
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        db.execute("BEGIN IMMEDIATE")
        try:
            if self.checkpoint != expected_checkpoint:
                raise StoreConflict(f"store is at {self.checkpoint}, page starts after {expected_checkpoint}")
            for entry in entries:
                if entry["op"] == "add":
                    db.execute("DELETE FROM signals WHERE type = ? AND value = ?", (entry["type"], entry["value"]))
                    frames = json.dumps(entry["frames"]) if "frames" in entry else None
                    db.execute("INSERT OR REPLACE INTO signals (record_id, type, value, quality, seq, frames)"
                               " VALUES (?, ?, ?, ?, ?, ?)",
                               (entry["id"], entry["type"], entry["value"], entry.get("quality"), entry["seq"],
                                frames))
                else:
                    db.execute("DELETE FROM signals WHERE record_id = ? OR (type = ? AND value = ?)",
                               (entry["id"], entry["type"], entry["value"]))
                    if entry.get("reason") is not None:
                        # Withheld by the federation (quarantine, deny list), not withdrawn
                        # by the person: nothing to confirm as `deleted`.
                        continue
                    db.execute("INSERT OR IGNORE INTO deletes (seq, record_id, type, value, applied_at)"
                               " VALUES (?, ?, ?, ?, ?)",
                               (entry["seq"], entry["id"], entry["type"], entry["value"], now))
            if entries:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (str(entries[-1]["seq"]),))
            if log_frontier is not None:
                self._set_frontier(log_frontier)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.checkpoint

    def signals(self) -> Iterator[Signal]:
        for row in self._db.execute("SELECT record_id, type, value, quality, frames FROM signals ORDER BY seq"):
            yield Signal(*row)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM signals").fetchone()[0]

    # --- the verifiable log (docs/log.md) -------------------------------------------------

    def log_frontier(self) -> list[bytes] | None:
        """The roots of the perfect subtrees of the tree of the entries applied (up to
        `checkpoint`), or None if this store never kept them (made by an older kit)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'log_frontier'").fetchone()
        return [base64.b64decode(h) for h in json.loads(row[0])] if row else None

    def set_log_frontier(self, frontier: list[bytes], expected_checkpoint: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if self.checkpoint != expected_checkpoint:
                raise StoreConflict(f"store is at {self.checkpoint}, not {expected_checkpoint}")
            self._set_frontier(frontier)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _set_frontier(self, frontier: list[bytes]) -> None:
        value = json.dumps([base64.b64encode(h).decode() for h in frontier])
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('log_frontier', ?)", (value,))

    def log_checkpoint(self) -> tuple[str, str] | None:
        """(origin, signed note) of the newest checkpoint verified, or None."""
        rows = dict(self._db.execute(
            "SELECT key, value FROM meta WHERE key IN ('log_origin', 'log_checkpoint')"))
        return (rows["log_origin"], rows["log_checkpoint"]) if len(rows) == 2 else None

    def set_log_checkpoint(self, origin: str, note: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('log_origin', ?)", (origin,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('log_checkpoint', ?)", (note,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- trusted keys -------------------------------------------------------------------

    def trusted_keys(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT kid, x FROM trusted_keys"))

    def trust(self, kid: str, x: str, when: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO trusted_keys VALUES (?, ?, ?)", (kid, x, when))

    # --- deletes to report --------------------------------------------------------------

    def unreported_deletes(self, limit: int = 1000) -> list[tuple[int, str, str, str]]:
        """(seq, type, value, applied_at) of deletes not yet reported back, oldest first."""
        return self._db.execute("SELECT seq, type, value, applied_at FROM deletes WHERE reported = 0"
                                " ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def mark_reported(self, seqs: list[int]) -> None:
        self._db.executemany("UPDATE deletes SET reported = 1 WHERE seq = ?", [(s,) for s in seqs])
