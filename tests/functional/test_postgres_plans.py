"""PostgreSQL only: statement plans made on a fresh deployment must not go stale.

psycopg prepares a statement on its fifth run; PostgreSQL may then keep one generic plan
for it. Made while the tables were nearly empty, that plan scanned the whole signals
table for every report, and PostgreSQL's CPU per report grew with every report
(bench/cases.py found it). Only the PostgreSQL run collects this module (tests/conftest.py):
SQLite has no server-side plan cache, and its planner uses the indexes whatever the
table's size.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, event, text

from federation.migrate import upgrade
from tests.databases import ensure_signing_key, new_postgres_database
from tests.factories import case_payload, random_signal

# The tables a report reads or writes that grow with use.
GROWING = ("signals", "cases", "case_signals", "feed_entries", "idempotency_records", "audit_events")
SEQ_SCANS = "SELECT relname, seq_scan FROM pg_stat_xact_user_tables"


@pytest.fixture
def fresh_app(make_app):
    """An app on a database of its own, empty like a new deployment, one connection."""
    url, drop = new_postgres_database()
    upgrade(url)
    app = make_app(DATABASE_URL=url, ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    ensure_signing_key(app)
    yield app, url
    app.extensions["federation.db"].engine.dispose()
    drop()


def test_reports_keep_using_indexes_after_the_tables_grow(fresh_app):
    app, url = fresh_app
    client = app.test_client()

    def report():  # a photo's PDQ and a video's MD5 and SHA-256, as the portal sends them
        signals = [random_signal("pdq"), random_signal("md5"), random_signal("sha256")]
        response = client.post("/v1/cases", json=case_payload(signals),
                               headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201

    for _ in range(20):  # prepared by psycopg (5 runs), then planned generic by PostgreSQL (5 more)
        report()
    grow(url, rows=30_000)

    scans: list[tuple[str, str]] = []
    engine = app.extensions["federation.db"].engine

    # Counted per statement inside the report's transaction, where PostgreSQL does not
    # flush its counters, so each difference is exactly that statement's scans.
    def before(conn, cursor, statement, *_):
        conn.info["seq_scans"] = dict(cursor.connection.execute(SEQ_SCANS).fetchall())

    def after(conn, cursor, statement, *_):
        now = dict(cursor.connection.execute(SEQ_SCANS).fetchall())
        for table in GROWING:
            if now.get(table, 0) > conn.info["seq_scans"].get(table, 0):
                scans.append((table, statement.split("\n")[0][:120]))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        report()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    assert scans == []


def grow(url: str, rows: int) -> None:
    """Add signals and cases the way months of use would, without ANALYZE (autovacuum
    would run it only later), so plans made earlier are not invalidated."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO signals (type, value, quality, active, created_at) "
            "SELECT 'md5', md5(g::text), NULL, false, now() FROM generate_series(1, :n) g"),
            {"n": rows})
        conn.execute(text(
            "INSERT INTO cases (reference_digest, pin_hash, status, source, consent_version, "
            "created_at, failed_pin_attempts, lockouts) "
            "SELECT sha256(g::text::bytea), '!', 'active', 'person', 1, now(), 0, 0 "
            "FROM generate_series(1, :n) g"), {"n": rows})
    engine.dispose()
