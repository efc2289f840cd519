"""The partner's local store: the active set it holds is exactly the feed's, in bulk and
indexed mode, across SIGKILLs at random points; damaged, foreign and newer files refused;
version 1 stores migrated."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partners.store import STORE_VERSION, LocalStore, StoreError
from tests.feeds import replay

REPO = Path(__file__).resolve().parents[2]


def feed(seed: int, count: int, values: int) -> list[dict]:
    """A feed as the federation writes it, drawn at random: an add only for an inactive
    value, a delete only for an active one, repeating its add's record id; values come
    from a small pool so that values are deleted and added again many times."""
    rng = random.Random(seed)
    pool = [("pdq" if i % 3 else "md5", f"{rng.getrandbits(256):064x}"[: 64 if i % 3 else 32])
            for i in range(values)]
    active: dict[tuple[str, str], str] = {}
    entries = []
    for seq in range(1, count + 1):
        kind, value = pool[rng.randrange(values)]
        if (kind, value) in active:
            entries.append({"seq": seq, "op": "delete", "id": active.pop((kind, value)), "type": kind,
                            "value": value, "quality": 90 if kind == "pdq" else None})
            if rng.random() < 0.2:  # withheld by the federation (quarantine), not withdrawn
                entries[-1]["reason"] = "quarantine"
        else:
            record = f"r_{rng.getrandbits(128):032x}"
            active[(kind, value)] = record
            entries.append({"seq": seq, "op": "add", "id": record, "type": kind, "value": value,
                            "quality": 90 if kind == "pdq" else None})
    return entries


def held(store: LocalStore) -> set[tuple[str, str, str]]:
    return {(s.record_id, s.type, s.value) for s in store.signals()}


def apply_pages(store: LocalStore, entries: list[dict], page: int) -> None:
    for first in range(store.checkpoint, len(entries), page):
        store.apply(entries[first:first + page], first)


@pytest.mark.parametrize("finish_after", [None, 0, 700, 3_000])
def test_the_store_holds_exactly_the_feeds_active_set(tmp_path, finish_after):
    # finish_after: where bulk mode ends (None: at the first read, after everything).
    entries = feed(seed=1, count=3_000, values=400)
    with LocalStore(tmp_path / "store.db") as store:
        assert store.bulk
        if finish_after is not None:
            apply_pages(store, entries[:finish_after], 97)
            store.finish_bulk()
            assert not store.bulk and held(store) == replay(entries[:finish_after])
        apply_pages(store, entries, 97)
        want = replay(entries)
        assert held(store) == want and store.count() == len(want)
        assert store.checkpoint == len(entries) and not store.bulk
        # Withdrawals are to be confirmed as `deleted`; withheld hashes are not (yet they left the set).
        withdrawn = [e for e in entries if e["op"] == "delete" and "reason" not in e]
        assert len(withdrawn) < sum(e["op"] == "delete" for e in entries)
        assert [seq for seq, *_ in store.unreported_deletes(limit=10_000)] == [e["seq"] for e in withdrawn]
    with LocalStore(tmp_path / "store.db") as again:  # and after reopening
        assert held(again) == want and again.count() == len(want)


def test_changes_after_replay_to_the_active_set(tmp_path):
    entries = feed(seed=2, count=2_000, values=300)
    with LocalStore(tmp_path / "store.db") as store:
        apply_pages(store, entries[:800], 100)
        known = replay(entries[:800])
        assert held(store) == known
        apply_pages(store, entries, 100)
        live = {(r, k, v) for r, k, v in known}
        by_id = {r: (r, k, v) for r, k, v in live}
        for _seq, op, signal_ in store.changes_after(800):
            if op == "add":
                by_id[signal_.record_id] = (signal_.record_id, signal_.type, signal_.value)
            else:
                by_id.pop(signal_.record_id, None)
        assert set(by_id.values()) == replay(entries)


# --- SIGKILL at random points --------------------------------------------------------

CHILD = """
import json, sys
from partners.store import LocalStore
from tests.unit.test_partner_store import feed
path, seed, count, values, page = sys.argv[1], *map(int, sys.argv[2:6])
entries = feed(seed, count, values)
with LocalStore(path) as store:
    print("started", flush=True)
    for first in range(store.checkpoint, len(entries), page):
        store.apply(entries[first:first + page], first)
        print("page", flush=True)  # the parent kills after a chosen page, at a random moment
    print("applied", flush=True)
    store.finish_bulk()
    print(json.dumps({"done": store.checkpoint}), flush=True)
"""


def test_a_store_killed_at_random_points_resumes_to_exactly_the_active_set(tmp_path):
    seed, count, values, page = 7, 60_000, 20_000, 500
    entries = feed(seed, count, values)
    path = tmp_path / "store.db"
    rng = random.Random(99)
    killed, finished, phases = 0, False, set()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _run in range(12):  # bounded: each run kills at a random moment or completes
        process = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(seed), str(count), str(values),
                                    str(page)], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert process.stdout.readline().strip() == "started"
        # Where to kill: after a random number of this run's pages (so some runs die while
        # applying, whatever the machine's speed), or after all of them (while resolving),
        # then a random moment more: within the next page's work or the resolution.
        pages_left = rng.randint(0, 2 * count // page // 12)
        lines = []
        while pages_left > 0 and (line := process.stdout.readline()):
            lines.append(line)
            pages_left -= line.strip() == "page"
        deadline = time.monotonic() + rng.uniform(0.0, 0.05)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.002)  # the kill's random moment, not synchronisation
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        out = "".join(lines) + process.stdout.read()  # not communicate(): readline may have buffered the rest
        process.wait(timeout=60)
        process.stdout.close()
        if process.returncode == 0:
            assert json.loads(out.splitlines()[-1]) == {"done": count}
            finished = True
            break
        assert process.returncode == -signal.SIGKILL
        with sqlite3.connect(path) as db:  # read-only look: each interrupted state is a whole page
            (checkpoint,) = db.execute("SELECT coalesce((SELECT value FROM meta WHERE key = 'checkpoint'), 0)"
                                       ).fetchone()
            bulk = db.execute("SELECT count(*) FROM meta WHERE key = 'bulk_since'").fetchone()[0]
        assert int(checkpoint) % page == 0
        phases.add("applying" if bulk and int(checkpoint) < count else "resolving" if bulk else "resolved")
    assert killed >= 1 and "applying" in phases, phases
    if not finished:  # the last run may have been killed too: resume to the end
        with LocalStore(path) as store:
            apply_pages(store, entries, page)
    with LocalStore(path) as store:
        want = replay(entries)
        assert store.checkpoint == count
        assert held(store) == want and store.count() == len(want)


# --- files that are not usable stores ------------------------------------------------

def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "store.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="not a partner store, or is damaged"):
        LocalStore(path)


def test_a_store_with_a_destroyed_header_is_refused(tmp_path):
    path = tmp_path / "store.db"
    with LocalStore(path) as store:
        apply_pages(store, feed(3, 500, 100), 100)
        store.finish_bulk()
    data = bytearray(path.read_bytes())
    data[:100] = os.urandom(100)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"):
        LocalStore(path)


def test_another_sqlite_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="not a partner store"):
        LocalStore(path)
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def test_a_store_from_a_newer_kit_is_refused(tmp_path):
    path = tmp_path / "store.db"
    LocalStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'store_version'", (str(STORE_VERSION + 1),))
    with pytest.raises(StoreError, match=rf"newer partner kit \(store version {STORE_VERSION + 1}"):
        LocalStore(path)


def test_a_version_1_store_is_migrated_with_its_state(tmp_path):
    # The layout the kit wrote before store versions existed, filled by hand.
    path = tmp_path / "old.db"
    entries = feed(4, 1_000, 200)
    want_before = replay(entries[:600])
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE signals (record_id TEXT PRIMARY KEY, type TEXT NOT NULL, value TEXT NOT NULL,
                quality INTEGER, seq INTEGER NOT NULL);
            CREATE INDEX signals_type_value ON signals (type, value);
            CREATE TABLE trusted_keys (kid TEXT PRIMARY KEY, x TEXT NOT NULL, trusted_at TEXT NOT NULL);
            CREATE TABLE deletes (seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL,
                value TEXT NOT NULL, applied_at TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0);
        """)
        seqs = {(e["type"], e["value"]): e["seq"] for e in entries[:600] if e["op"] == "add"}
        db.executemany("INSERT INTO signals VALUES (?, ?, ?, ?, ?)",
                       [(r, k, v, 90, seqs[(k, v)]) for r, k, v in want_before])
        db.executemany("INSERT INTO deletes VALUES (?, ?, ?, ?, '2026-01-01T00:00:00+00:00', 0)",
                       [(e["seq"], e["id"], e["type"], e["value"]) for e in entries[:600] if e["op"] == "delete"])
        db.execute("INSERT INTO meta VALUES ('checkpoint', '600')")
        db.execute("INSERT INTO trusted_keys VALUES ('kid1', 'x', 'then')")
    with LocalStore(path) as store:
        assert not store.bulk and store.checkpoint == 600 and store.trusted_keys() == {"kid1": "x"}
        assert held(store) == want_before and store.count() == len(want_before)
        apply_pages(store, entries, 100)
        assert held(store) == replay(entries)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'store_version'").fetchone() == (str(STORE_VERSION),)
