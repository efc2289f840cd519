"""Shared fixtures: the corpus, the database under test, the app, and sessions on it."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # In CI a skip is a failure: every service the tests need is installed there,
    # so a skip can only mean something is missing that should not be.
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (a skip is a failure there): {reason}"
    return report


def _find_corpus() -> Path | None:
    candidates = [os.environ.get("FEDERATION_CORPUS"),
                  Path(__file__).resolve().parents[2] / "shared" / "corpus"]
    for candidate in candidates:
        if candidate and Path(candidate, "pdq-reference", "expected.csv").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared test corpus, read in place (never copied into the project)."""
    found = _find_corpus()
    if found is None:
        pytest.skip("test corpus not found: set FEDERATION_CORPUS or place it at ../shared/corpus")
    return found


# --- the database under test -------------------------------------------------------
# FEDERATION_TEST_DB=sqlite (default) or postgres picks the backend for the whole run;
# `python3 dev.py test` and .ci/run run the suite once on each.
#
# Services commit for real, as in production: SQLite's BEGIN IMMEDIATE and PostgreSQL's
# row locks are part of what is tested, and several tests use threads, processes or a
# live gunicorn. So tests are isolated by emptying the tables after each one, not by
# rolling back an outer transaction that those would never see.

import secrets as _secrets  # noqa: E402

from sqlalchemy import text  # noqa: E402

from tests.databases import ensure_signing_key, new_postgres_database  # noqa: E402

TEST_DB = os.environ.get("FEDERATION_TEST_DB", "sqlite")
# PostgreSQL's plan cache has no SQLite counterpart: not collected (not skipped) there.
collect_ignore = [] if TEST_DB == "postgres" else ["functional/test_postgres_plans.py"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A new, empty database for this run, migrated to head by Alembic."""
    from federation.migrate import upgrade

    if TEST_DB == "postgres":
        url, drop = new_postgres_database()
    elif TEST_DB == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('db') / 'federation.db'}", lambda: None
    else:
        raise pytest.UsageError(f"FEDERATION_TEST_DB must be sqlite or postgres, not {TEST_DB!r}")
    upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def test_config(database_url, tmp_path_factory):
    from federation.crypto.encoding import b64u_encode

    return {
        "DATABASE_URL": database_url,
        "PEPPER": b64u_encode(_secrets.token_bytes(32)),
        "KEK": b64u_encode(_secrets.token_bytes(32)),
        "TESTING": True,
        # Most tests send many requests from one test client; the limits' own tests
        # (tests/functional/test_person_limits.py) make apps with the defaults.
        "REPORT_LIMIT": 100_000,
        "CASE_ACCESS_LIMIT": 100_000,
        # GET /v1/feed?wait= may hold a request 60 s: tests of long polling make an app
        # that allows it (tests/functional/test_feed_wait.py), the others answer at once.
        "FEED_WAITERS": 0,
    }


@pytest.fixture(scope="session")
def make_app(test_config, tmp_path_factory):
    """Build an app on the run's database, with extra config on top."""
    from federation.app import create_app

    made = []

    def make(**overrides):
        os.environ.setdefault("FEDERATION_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
        made.append(create_app({**test_config, **overrides}))
        return made[-1]
    yield make
    for app in made:  # close pooled connections before the database is dropped
        app.extensions["federation.db"].engine.dispose()


@pytest.fixture(scope="session")
def app(make_app):
    app = make_app()
    ensure_signing_key(app)
    return app


@pytest.fixture
def client(app, clean_database):
    return app.test_client()


@pytest.fixture
def engine(app):
    return app.extensions["federation.db"].engine


@pytest.fixture
def session(app, engine, clean_database):
    """A session on the run's database for service tests (services commit for real)."""
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clean_database(app):
    yield
    from federation.models import Base

    engine = app.extensions["federation.db"].engine
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "feed_head":
                conn.execute(text("UPDATE feed_head SET last_seq = 0, person_tokens = NULL, "
                                  "person_tokens_at = NULL"))
            else:
                conn.execute(table.delete())
    ensure_signing_key(app)
    forget_rate_limits(app)


def forget_rate_limits(app) -> None:
    """Every test starts with no client counted (the app, and its counters, live on)."""
    from federation.ratelimit import MemoryStore
    from federation.services import services

    store = services(app).report_limit.store
    if isinstance(store, MemoryStore):
        store.clear()


@pytest.fixture
def live_server(app, clean_database):
    """The app served by a threaded werkzeug server on 127.0.0.1; yields its base URL."""
    from werkzeug.serving import make_server

    from tests.functional.browser_support import serve_in_thread

    server = make_server("127.0.0.1", 0, app, threaded=True)
    with serve_in_thread(server) as base:
        yield base


# --- Redis, for limits shared between workers ------------------------------------------

@dataclass(frozen=True)
class RedisSpace:
    """A test's own corner of the Redis at 127.0.0.1:6379: its URL, a client, and a key
    prefix no other test uses (its keys are deleted afterwards)."""

    url: str
    client: Any
    prefix: str


@pytest.fixture
def redis_space():
    import redis

    url = "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {error}")
    space = RedisSpace(url, client, f"test-{_secrets.token_hex(6)}:")
    yield space
    for key in client.scan_iter(f"{space.prefix}*"):
        client.delete(key)
    client.close()
