"""Admission control: when saturated, refuse early and cheaply; create nothing for a
client that has already gone.

Two checks, both free when the service keeps up:

- Queue budget (WSGI middleware, before Flask): the front (nginx-site.conf) stamps each
  whole request with `X-Request-Start: t=<seconds since the epoch>`. A request that then
  waited in gunicorn's queue longer than FEDERATION_QUEUE_BUDGET_MS (default 2000) is
  refused with 503 `overloaded` and Retry-After: its client is likely to have given up,
  and serving it late only makes every request behind it late too. The stamp is compared
  with this host's clock, so the front must run on the same host (as `serve` runs it).
  Without the header (no front) this check does nothing.
- Client gone (before each commit of a request's session): nginx closes its connection
  to gunicorn when its client leaves; if a non-blocking peek at gunicorn's socket reads
  end-of-file, a transaction that creates something only its response can hand over
  (`SHOWN_ONCE`: a case's reference and PIN, a referral code, a caseworker session) is
  rolled back instead of committed, so a report whose reference and PIN would reach
  nobody is not created. Every other write commits even so: a failed PIN's count and
  lock must not be undone by a guesser who hangs up, and a withdrawal is what the person
  asked for whether or not they wait for the answer. Outside a request (CLI, tests
  calling services) and outside gunicorn (no `gunicorn.socket`) it does nothing.
"""
from __future__ import annotations

import json
import logging
import socket
import time

from flask import Flask, has_request_context, request
from sqlalchemy import event

from federation.api.problems import problem

DEFAULT_QUEUE_BUDGET_MS = 2000
# Tables whose new rows are of use only through the response that announces them.
SHOWN_ONCE = frozenset({"cases", "referrals", "caseworker_sessions"})
_INSERTED = "federation.admission.inserted"
# Long enough that clients told to wait do not come back while the queue is still full.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client closed its connection before the request's transaction committed."""


def init_app(app: Flask) -> None:
    """Wrap the app in the queue-budget middleware and guard its sessions' commits."""
    budget = int(app.config.get("QUEUE_BUDGET_MS", DEFAULT_QUEUE_BUDGET_MS))
    app.wsgi_app = QueueBudget(app.wsgi_app, budget)  # type: ignore[method-assign]
    sessions = app.extensions["federation.db"].sessions
    event.listen(sessions, "do_orm_execute", _note_core_insert)
    event.listen(sessions, "after_flush", _note_orm_inserts)
    event.listen(sessions, "after_transaction_end", _forget_inserts)
    event.listen(sessions, "before_commit", _refuse_if_client_gone)
    app.register_error_handler(ClientGone, _client_gone)


def _overloaded_body() -> bytes:
    return json.dumps({"type": "urn:federation:problem:overloaded", "title": "Service overloaded",
                       "status": 503, "code": "overloaded",
                       "detail": "The service is busy; nothing was done. Try again shortly."}).encode()


class QueueBudget:
    """WSGI middleware: 503 `overloaded` for a request that queued longer than the budget."""

    def __init__(self, app, budget_ms: int) -> None:
        self.app, self.budget = app, budget_ms / 1000
        self.body = _overloaded_body()

    def __call__(self, environ, start_response):
        waited = queue_wait(environ.get("HTTP_X_REQUEST_START"), time.time())
        # /healthz says the process is up, busy or not: refused, a supervisor would
        # restart a process that is only busy. (/readyz may be refused: busy is not ready.)
        if waited is None or waited <= self.budget or environ.get("PATH_INFO") == "/healthz":
            return self.app(environ, start_response)
        start_response("503 Service Unavailable", [
            ("Content-Type", "application/problem+json"), ("Content-Length", str(len(self.body))),
            ("Retry-After", str(RETRY_AFTER_SECONDS)), ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff")])  # as federation/web.py adds to Flask's answers
        return [self.body]


def queue_wait(header: str | None, now: float) -> float | None:
    """Seconds since the front stamped `t=<epoch seconds>`; None if there is no stamp."""
    if not header:
        return None
    value = header.strip().removeprefix("t=")
    try:
        return now - float(value)
    except ValueError:
        return None


def client_gone(sock) -> bool:
    """True when the peer has closed the connection (end of file, or reset)."""
    if not isinstance(sock, socket.socket) or hasattr(sock, "context"):  # TLS: cannot peek
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # nothing to read: still there
    except OSError:
        return True  # reset


def _note_core_insert(state) -> None:
    table = getattr(state.statement, "table", None)
    if state.is_insert and table is not None:
        state.session.info.setdefault(_INSERTED, set()).add(table.name)


def _note_orm_inserts(session, _flush_context) -> None:
    for instance in session.new:
        session.info.setdefault(_INSERTED, set()).add(instance.__table__.name)


def _forget_inserts(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_INSERTED, None)


def _refuse_if_client_gone(session) -> None:
    if not has_request_context() or not SHOWN_ONCE & session.info.get(_INSERTED, set()):
        return
    sock = request.environ.get("gunicorn.socket")
    if sock is not None and client_gone(sock):
        raise ClientGone()


def _client_gone(_error: ClientGone):
    log.info("client left before its transaction committed: rolled back")
    # Nobody reads this; nginx has already logged the request as 499.
    return problem(503, "client_gone", "The client closed the connection; nothing was done")
