"""docs/operations.md, "Restoring from a PostgreSQL backup": pg_dump, pg_restore into an
empty database, `federation db upgrade`, and the restored service serves the same feed.

These make PostgreSQL databases of their own, whichever database the run is on.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from federation.app import create_app
from federation.migrate import downgrade, upgrade
from tests.databases import ensure_signing_key, new_postgres_database
from tests.factories import add_partner, bearer, case_payload, random_signal

FEDERATION = Path(sys.executable).with_name("federation")
OLDER_REVISION = "0007_merkle_log"  # the schema of the release before this one


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def database():
    url, drop = new_postgres_database()
    try:
        yield url
    finally:
        drop()


@contextlib.contextmanager
def app_on(url: str, test_config: dict):
    app = create_app({**test_config, "DATABASE_URL": url})
    try:
        yield app
    finally:
        app.extensions["federation.db"].engine.dispose()


def served(app, token: str) -> dict[str, bytes]:
    """What a platform reads: every feed page, the JWKS and the signed checkpoint, as bytes."""
    client = app.test_client()
    pages, after = [], 0
    while True:
        response = client.get(f"/v1/feed?after={after}&limit=3", headers=bearer(token))
        pages.append(response.data)
        body = response.get_json()
        after = body["next"]
        if not body["has_more"]:
            break
    return {"feed": b"\n".join(pages), "keys": client.get("/.well-known/federation-keys").data,
            "checkpoint": client.get("/v1/log/checkpoint").data}


def fill(app) -> str:
    """Reports, a withdrawal, a rotation: a feed of adds and deletes under two keys."""
    ensure_signing_key(app)
    client = app.test_client()
    token = add_partner(app, scopes="feed:read")
    kept = client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(4)])).get_json()
    gone = client.post("/v1/cases", json=case_payload([random_signal("sha256")])).get_json()
    from tests.factories import rotate_signing_key
    rotate_signing_key(app)
    assert client.post("/v1/cases/withdraw", json={"reference": gone["reference"], "pin": gone["pin"]}).status_code \
        == 200
    assert kept["reference"]
    return token


def dump(url: str, path: Path) -> None:
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={path}", libpq(url)], check=True,
                   timeout=120)


def restore(path: Path, url: str) -> None:
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq(url)}", str(path)],
                   check=True, timeout=120)


def federation(url: str, test_config: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FEDERATION_DATABASE_URL": url, "FEDERATION_PEPPER": test_config["PEPPER"],
           "FEDERATION_KEK": test_config["KEK"], "FEDERATION_ENV": "production"}
    return subprocess.run([str(FEDERATION), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_restored_database_serves_the_same_feed(test_config, tmp_path):
    with database() as source, database() as target:
        upgrade(source)
        with app_on(source, test_config) as app:
            token = fill(app)
            before = served(app, token)
        dump(source, tmp_path / "federation.dump")
        restore(tmp_path / "federation.dump", target)
        upgraded = federation(target, test_config, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        with app_on(target, test_config) as app:
            assert served(app, token) == before
            # ... and goes on: a new report lands after the restored head.
            assert app.test_client().post("/v1/cases", json=case_payload()).status_code == 201


def test_an_older_backup_is_migrated_forward(test_config, tmp_path):
    with database() as source, database() as target:
        upgrade(source)
        with app_on(source, test_config) as app:
            token = fill(app)
            before = served(app, token)
        downgrade(source, OLDER_REVISION)  # the backup an older release made
        dump(source, tmp_path / "older.dump")
        restore(tmp_path / "older.dump", target)
        with contextlib.closing(psycopg_connect(target)) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == OLDER_REVISION
        upgraded = federation(target, test_config, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        with app_on(target, test_config) as app:
            assert served(app, token) == before


def test_a_backup_from_a_newer_release_is_refused_clearly(test_config, tmp_path):
    with database() as source, database() as target:
        upgrade(source)
        with app_on(source, test_config) as app:
            engine = app.extensions["federation.db"].engine
            with engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        dump(source, tmp_path / "newer.dump")
        restore(tmp_path / "newer.dump", target)
        refused = federation(target, test_config, "db", "upgrade")
        assert refused.returncode == 1
        assert "cannot upgrade the database" in refused.stderr and "0099_from_the_future" in refused.stderr
        assert "newer release" in refused.stderr and "Traceback" not in refused.stderr


def psycopg_connect(url: str):
    import psycopg

    return psycopg.connect(libpq(url), autocommit=True)


@pytest.fixture(autouse=True)
def _tools_present():
    for tool in ("pg_dump", "pg_restore"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
            pytest.skip(f"{tool} not installed (apt-get install postgresql-client)")
