"""The partner's local copy of the active set: SQLite, one transaction per feed page.

A page's adds, deletes and the new checkpoint commit together, so a crash at any point
leaves the store at the end of some whole page: sync resumes there, nothing lost or doubled.

Layout (store version 2), built so that a first sync of millions of entries appends
instead of inserting at random places in B-trees:

* ``signals``: one row per applied ``add``, keyed by its ``seq`` (an append), with
  ``key``, the first 60 bits of the value as an integer (a compact, non-unique handle
  on the value: every lookup also compares type and value);
* ``deletes``: one row per applied ``delete``, keyed by its ``seq`` (an append); also the
  queue of deletes to report back;
* the index ``signals_key`` on ``signals(key)``, which finds the row an ``add`` replaces
  or a ``delete`` removes.

A new store starts in *bulk* mode: the index does not exist yet, and a page is two
``executemany`` appends (no lookups; deletes are only recorded). The first read of the
active set (:meth:`LocalStore.signals`, :meth:`LocalStore.count`) or
:meth:`LocalStore.finish_bulk` then resolves it in one transaction: builds the index
(one sort), drops every add that a later add or delete of the same value superseded,
and leaves bulk mode. From then on each page applies with the index (a few random
B-tree writes per entry, fine at the rates of a feed followed live). A crash during
either step leaves the last committed state: bulk mode resumes, resolution reruns.

A store made by an older kit (version 1: no version, signals keyed by record id) is
migrated in place on open; one from a newer kit, or a file that is not a store or is
damaged, is refused with :class:`StoreError`.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, NamedTuple

STORE_VERSION = 2

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signals (
    seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,
    quality INTEGER, key INTEGER NOT NULL, frames TEXT);
CREATE TABLE IF NOT EXISTS trusted_keys (kid TEXT PRIMARY KEY, x TEXT NOT NULL, trusted_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deletes (
    seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,
    applied_at TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0, key INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS receipts_sent (seq INTEGER PRIMARY KEY, sent_at TEXT NOT NULL);
"""
_INDEX = "CREATE INDEX IF NOT EXISTS signals_key ON signals (key)"
_SAME_VALUE = "key = ? AND type = ? AND value = ?"


_INSERT_SIGNAL = "INSERT INTO signals (seq, record_id, type, value, quality, key, frames) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _frames(entry: dict[str, Any]) -> str | None:
    """A vpdq entry's frames, as the JSON the store keeps."""
    return json.dumps(entry["frames"]) if "frames" in entry else None


def _withheld(entry: dict[str, Any]) -> int:
    """1 for a `delete` with a `reason` (quarantine, deny list): the federation withheld
    the hash, nobody withdrew it, so there is no `deleted` to report back (recorded as
    reported already)."""
    return int(entry.get("reason") is not None)


class StoreError(Exception):
    """The file cannot be used as a store: damaged, not a store, or from a newer kit."""


# vpdq records carry their frames (the entry's JSON list); stores made before videos get
# the column on open.
_VIDEO_COLUMN = "ALTER TABLE signals ADD COLUMN frames TEXT"


class StoreConflict(Exception):
    """The store moved since the page was fetched (another sync ran): refetch."""


class Signal(NamedTuple):
    """One active signal. A named tuple, not a dataclass: `signals()` makes millions of
    them when an index is built, and a tuple is made in C (a frozen dataclass's __init__
    was a third of reading 1M signals)."""

    record_id: str
    type: str
    value: str
    quality: int | None
    frames: str | None = None  # vpdq: the frames as JSON


def _create_tables(db: sqlite3.Connection) -> None:
    # One statement at a time: executescript would commit the caller's transaction.
    for statement in _TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


def signal_key(value: str) -> int:
    """The first 60 bits of a hex value as an int (fits SQLite's signed 64-bit integer)."""
    try:
        return int(value[:15], 16)
    except ValueError:  # not hex: signed entries never are, but the key must not fail
        return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=7).digest(), "big")


class LocalStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot open the store: {error}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the key index's upper levels
            self._open()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"{self.path} is not a partner store, or is damaged ({error}): move it aside "
                             "and sync again into a new one") from None
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Create, check the version of, or migrate the store."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = None
            if "meta" in tables:
                row = db.execute("SELECT value FROM meta WHERE key = 'store_version'").fetchone()
                version = int(row[0]) if row else 1
            elif tables:
                raise StoreError(f"{self.path} is an SQLite database but not a partner store "
                                 f"(tables: {', '.join(sorted(tables))})")
            if version is not None and version > STORE_VERSION:
                raise StoreError(f"{self.path} was written by a newer partner kit (store version {version}; "
                                 f"this kit reads versions 1-{STORE_VERSION}): upgrade the kit")
            if version == 1 and "signals" in tables:
                self._migrate_from_1()
            elif version is None:  # a new store: bulk mode until the first read
                _create_tables(db)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('bulk_since', '0')")
            if "frames" not in {row[1] for row in db.execute("PRAGMA table_info(signals)")}:
                db.execute(_VIDEO_COLUMN)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('store_version', ?)", (str(STORE_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _migrate_from_1(self) -> None:
        """Version 1 kept signals keyed by record id, with a (type, value) index."""
        db = self._db
        db.create_function("signal_key", 1, signal_key, deterministic=True)
        db.execute("ALTER TABLE signals RENAME TO signals_v1")
        db.execute("DROP INDEX IF EXISTS signals_type_value")
        _create_tables(db)
        db.execute("INSERT INTO signals (seq, record_id, type, value, quality, key) "
                   "SELECT seq, record_id, type, value, quality, signal_key(value) FROM signals_v1 ORDER BY seq")
        db.execute("DROP TABLE signals_v1")
        columns = {row[1] for row in db.execute("PRAGMA table_info(deletes)")}
        if "key" not in columns:
            db.execute("ALTER TABLE deletes ADD COLUMN key INTEGER NOT NULL DEFAULT 0")
            db.execute("UPDATE deletes SET key = signal_key(value)")
        db.execute(_INDEX)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('active', (SELECT count(*) FROM signals))")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def checkpoint(self) -> int:
        value = self._meta("checkpoint")
        return int(value) if value else 0

    @property
    def bulk(self) -> bool:
        """Whether the store is still appending without its index (see the module docstring)."""
        return self._meta("bulk_since") is not None

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
            if self.bulk:
                self._append(entries, now)
            else:
                self._apply_indexed(entries, now)
            if entries:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (str(entries[-1]["seq"]),))
            if log_frontier is not None:
                self._set_frontier(log_frontier)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.checkpoint

    def _append(self, entries: list[dict[str, Any]], now: str) -> None:
        """Bulk mode: two appends, no lookups (resolved by finish_bulk)."""
        adds = [entry for entry in entries if entry["op"] == "add"]
        deletes = [entry for entry in entries if entry["op"] != "add"] if len(adds) < len(entries) else []
        if any("frames" in entry for entry in adds):
            add_rows = [(entry["seq"], entry["id"], entry["type"], entry["value"], entry.get("quality"),
                         signal_key(entry["value"]), _frames(entry)) for entry in adds]
        else:  # hashes only (nearly always): no frames column to fill
            add_rows = [(entry["seq"], entry["id"], entry["type"], entry["value"], entry.get("quality"),
                         signal_key(entry["value"]), None) for entry in adds]
        self._db.executemany(_INSERT_SIGNAL, add_rows)
        self._db.executemany("INSERT INTO deletes (seq, record_id, type, value, applied_at, key, reported)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(entry["seq"], entry["id"], entry["type"], entry["value"], now,
                               signal_key(entry["value"]), _withheld(entry)) for entry in deletes])

    def _apply_indexed(self, entries: list[dict[str, Any]], now: str) -> None:
        """In order: an add replaces the row of its value, a delete removes it."""
        db = self._db
        change = 0
        for entry in entries:
            value = entry["value"]
            key = signal_key(value)
            same = (key, entry["type"], value)
            change -= db.execute(f"DELETE FROM signals WHERE {_SAME_VALUE}", same).rowcount  # noqa: S608 - constant
            if entry["op"] == "add":
                db.execute(_INSERT_SIGNAL,
                           (entry["seq"], entry["id"], entry["type"], value, entry.get("quality"), key, _frames(entry)))
                change += 1
            else:
                db.execute("INSERT OR IGNORE INTO deletes (seq, record_id, type, value, applied_at, key, reported)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (entry["seq"], entry["id"], entry["type"], value, now, key, _withheld(entry)))
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'active'", (change,))

    def finish_bulk(self) -> None:
        """Leave bulk mode: index the values and drop superseded adds, in one transaction."""
        if not self.bulk:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            since = self._meta("bulk_since")
            if since is None:  # another connection finished it first
                db.execute("COMMIT")
                return
            db.execute(_INDEX)  # one sort of every key: the cheap way to index millions
            # Adds superseded by a later add of the same value (rare: a feed adds a value
            # again only after deleting it, but the store does not rely on that).
            duplicated = [key for (key,) in db.execute("SELECT key FROM signals GROUP BY key HAVING count(*) > 1")]
            for key in duplicated:
                latest: dict[tuple[str, str], int] = {}
                stale = []
                for seq, kind, value in db.execute(
                        "SELECT seq, type, value FROM signals WHERE key = ? ORDER BY seq", (key,)):
                    if (kind, value) in latest:
                        stale.append((latest[(kind, value)],))
                    latest[(kind, value)] = seq
                db.executemany("DELETE FROM signals WHERE seq = ?", stale)
            # Adds that a later delete removed.
            db.execute("DELETE FROM signals WHERE seq IN (SELECT s.seq FROM deletes d JOIN signals s "
                       "ON s.key = d.key AND s.type = d.type AND s.value = d.value AND s.seq < d.seq "
                       "WHERE d.seq > ?)", (int(since),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('active', (SELECT count(*) FROM signals))")
            db.execute("DELETE FROM meta WHERE key = 'bulk_since'")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def signals(self, skip_types: Collection[str] = ()) -> Iterator[Signal]:
        """The active set (but for signals of `skip_types`), oldest add first (ends bulk mode first)."""
        self.finish_bulk()
        skip = sorted(skip_types)
        where = f"WHERE type NOT IN ({', '.join('?' * len(skip))}) " if skip else ""
        yield from map(Signal._make, self._db.execute(
            f"SELECT record_id, type, value, quality, frames FROM signals {where}ORDER BY seq", skip))  # noqa: S608 - placeholders only

    def packed(self, signal_type: str, id_chars: int, value_chars: int,
               rows: int = 1 << 20) -> tuple[int, Iterator[tuple[bytes, bytes]]] | None:
        """The active signals of one type as columns, for building an index without a
        Python object per signal: (count, pieces), each piece the record ids and the
        values of up to about `rows` signals concatenated (ASCII bytes), oldest first.

        None when some record id is not `id_chars` long or some value not `value_chars`
        (then read :meth:`signals`). Ends bulk mode first. The pieces are read lazily:
        use them before changing the store.
        """
        self.finish_bulk()
        db = self._db
        count, odd, first, last = db.execute(
            "SELECT count(*), ifnull(sum(length(record_id) != ? OR length(value) != ?), 0), min(seq), max(seq) "
            "FROM signals WHERE type = ?", (id_chars, value_chars, signal_type)).fetchone()
        if odd:
            return None

        def pieces() -> Iterator[tuple[bytes, bytes]]:
            # By ranges of seq (the primary key): each piece is one scan of its range, and
            # both columns are concatenated in the same pass, so they stay paired.
            step = max(rows, 1)
            for start in range(first - 1 if count else 0, last if count else 0, step):
                ids, values = db.execute(
                    "SELECT CAST(group_concat(record_id, '') AS BLOB), CAST(group_concat(value, '') AS BLOB) "
                    "FROM signals WHERE type = ? AND seq > ? AND seq <= ?",
                    (signal_type, start, start + step)).fetchone()
                if ids is not None:
                    yield ids, values

        return count, pieces()

    def count(self) -> int:
        """How many signals are active (ends bulk mode first)."""
        self.finish_bulk()
        value = self._meta("active")
        return int(value) if value is not None else 0

    def changes_after(self, seq: int, limit: int = 100_000) -> list[tuple[int, str, Signal]]:
        """(seq, "add" or "delete", signal) of the entries applied after `seq` that still
        matter, in seq order, at most `limit`: what a live index must apply to catch up.
        An add that a later delete removed is left out; its delete is not."""
        rows = self._db.execute(
            "SELECT seq, 'add', record_id, type, value, quality, frames FROM signals WHERE seq > ? "
            "UNION ALL SELECT seq, 'delete', record_id, type, value, NULL, NULL FROM deletes WHERE seq > ? "
            "ORDER BY seq LIMIT ?", (seq, seq, limit))
        return [(row[0], row[1], Signal(*row[2:])) for row in rows]

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
        self._set_meta({"log_origin": origin, "log_checkpoint": note})

    def _set_meta(self, values: dict[str, str]) -> None:
        """Set these meta values together, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
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

    # --- deletion receipts and cosigning (docs/log.md) -------------------------------------

    def receipt_key(self) -> tuple[str, str] | None:
        """(private key base64url, witness name) of this platform's receipt key, or None."""
        rows = dict(self._db.execute(
            "SELECT key, value FROM meta WHERE key IN ('receipt_key', 'witness_name')"))
        return (rows["receipt_key"], rows["witness_name"]) if len(rows) == 2 else None

    def set_receipt_key(self, private_b64u: str, witness_name: str) -> None:
        """Keep this platform's receipt (and cosigning) private key. The store is the
        platform's own file: keep it where only the kit's operator can read it."""
        self._set_meta({"receipt_key": private_b64u, "witness_name": witness_name})

    def unreceipted_deletes(self, limit: int = 1000) -> list[tuple[int, str, str]]:
        """(seq, record_id, applied_at) of applied deletes no receipt was sent for, oldest first."""
        return self._db.execute(
            "SELECT seq, record_id, applied_at FROM deletes WHERE seq NOT IN (SELECT seq FROM receipts_sent)"
            " ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def mark_receipted(self, seqs: list[int], when: str) -> None:
        self._db.executemany("INSERT OR IGNORE INTO receipts_sent VALUES (?, ?)", [(s, when) for s in seqs])
