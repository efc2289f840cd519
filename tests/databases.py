"""Databases for tests: a fresh PostgreSQL database, and a signing key in an app's."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import pytest

PG_ADMIN_URL = os.environ.get("FEDERATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def new_postgres_database() -> tuple[str, Callable[[], None]]:
    """A new, empty PostgreSQL database: its URL, and a function that drops it."""
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"federation_test_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {admin}: {error}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return url, drop


def ensure_signing_key(app) -> None:
    """Give the app's database an active feed signing key, as `federation serve` does."""
    from sqlalchemy.orm import Session

    from federation import signing_keys

    with Session(app.extensions["federation.db"].engine) as session:
        signing_keys.ensure_key(session, app.config["KEK_BYTES"])
        session.commit()
