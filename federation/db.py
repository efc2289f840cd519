"""Engine, request-scoped sessions, and how each dialect serialises writers.

Every write that changes the set of active signals takes the feed head lock
(`lock_feed_head`) before it reads or changes a signal's `active` flag, and holds it to
commit, so feed sequence numbers are handed out in commit order (docs/architecture.md, invariant 2):
`SELECT ... FOR UPDATE` on the head row on PostgreSQL, taken as late as possible so that
concurrent reports overlap in everything else; on SQLite the whole write transaction
starts with `BEGIN IMMEDIATE`, which takes the database's single write lock before the
first read.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Concatenate, ParamSpec, TypeVar, cast

from flask import Flask, current_app, g
from sqlalchemy import CursorResult, Engine, Result, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

_WRITE_OPTION = "federation_write"
P = ParamSpec("P")
R = TypeVar("R")


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with our per-dialect settings applied.

    SQL parameters are hidden from exception messages: they can hold hashes, and
    exceptions end up in logs.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # psycopg prepares a statement on its fifth run, and PostgreSQL may then keep one
        # generic plan for it. Made while a table is nearly empty (a fresh deployment),
        # that plan scans the whole table, and keeps doing so as the table grows:
        # bench/cases.py saw PostgreSQL's CPU per report climb with every report. Custom
        # plans are made for each run's parameters and the table's size; the statement
        # is still parsed once. A SET, not a startup option: the operator's own
        # `options` or PGOPTIONS stay as they are, and poolers accept it.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let us issue BEGIN ourselves (pysqlite's own BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers take the write lock at BEGIN: a DEFERRED transaction that reads and
        # then writes can fail with SQLITE_BUSY_SNAPSHOT under concurrency, unretried.
        mode = "IMMEDIATE" if connection.get_execution_options().get(_WRITE_OPTION) else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextlib.contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run the block in one write transaction: commit on success, roll back on error.

    The transaction rule (docs/architecture.md): the session must not be inside a
    transaction already, reads included, because on SQLite the kind of BEGIN is chosen
    when the transaction starts; end a read with `session.rollback()` first. Raises
    RuntimeError otherwise, rather than commit what the caller left open.
    """
    if session.in_transaction():
        raise RuntimeError("write_transaction inside an open transaction: end the read first "
                           "(session.rollback()), see docs/architecture.md")
    session.connection(execution_options={_WRITE_OPTION: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def writes(service: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Make a service one write transaction of its own (the transaction rule): it
    commits when the service returns and rolls back when it raises."""
    @functools.wraps(service)
    def wrapper(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with write_transaction(session):
            return service(session, *args, **kwargs)
    return wrapper


def rowcount(result: Result) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return cast(CursorResult, result).rowcount


def end_read(session: Session) -> None:
    """End the session's read transaction, keeping the objects it loaded usable.

    They are detached first (a rollback would expire them, and touching one would start
    a new transaction), so what was loaded can still be read, and a `write_transaction`
    can start. Attributes that were never loaded cannot be loaded any more.
    """
    session.expunge_all()
    session.rollback()


def add_unique(session: Session, row, conflict: Exception) -> None:
    """Add `row` and flush it; if a unique constraint refuses it, roll back and raise
    `conflict` (a domain error naming what exists), not the driver's IntegrityError."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise conflict from None


def dialect_insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for this session's dialect, with its `on_conflict_do_nothing` and
    `on_conflict_do_update` (both dialects spell ON CONFLICT the same way)."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[session.get_bind().dialect.name]
    return dialect.insert(table)


def lock_feed_head(session: Session) -> int:
    """Take the feed head lock and return the last sequence number handed out.

    Call inside `write_transaction`. On SQLite the lock is already held since BEGIN
    IMMEDIATE; on PostgreSQL the row lock is held until commit, so concurrent writers
    append their entries one after another, in commit order.
    """
    query = "SELECT last_seq FROM feed_head WHERE id = 1"
    if session.get_bind().dialect.name == "postgresql":
        query += " FOR UPDATE"
    return session.execute(text(query)).scalar_one()


class DatabaseState:
    """One app's engine and session factory, kept in app.extensions["federation.db"]."""

    def __init__(self, url: str, **engine_options) -> None:
        self.engine = make_engine(url, **engine_options)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)


class Database:
    """The Flask extension: unbound at import, one engine per app, one session per request."""

    def init_app(self, app: Flask) -> None:
        app.extensions["federation.db"] = DatabaseState(app.config["DATABASE_URL"],
                                                        **app.config.get("ENGINE_OPTIONS", {}))
        app.teardown_appcontext(self._close_session)

    @property
    def session(self) -> Session:
        """The session of the current request (opened on first use)."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["federation.db"].sessions()
        return g.db_session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()
