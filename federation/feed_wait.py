"""Long polling of the feed: `GET /v1/feed?after=N&wait=S` answers as soon as an entry
above N is committed (docs/log.md, "Live propagation").

A waiter holds one server thread (gunicorn's gthread worker) for up to S seconds, so the
number of waiters per process is bounded (`FEDERATION_FEED_WAITERS`); past it a request is
answered at once, as if it had not asked to wait, with `Retry-After`. A waiter holds no
database connection while it sleeps: it ends its read before each sleep.

How a waiter learns of a commit:
- PostgreSQL: the append that moves the head also runs `pg_notify` (federation.feed), which
  PostgreSQL delivers at commit; one thread per process LISTENs on its own connection and
  wakes this process's waiters. They also look at the head every `poll_seconds` in case that
  connection is down.
- SQLite: nothing crosses processes, so waiters look at the head every `poll_seconds`
  (a one-row read, microseconds in SQLite).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from federation import feed

CHANNEL = "federation_feed"
MAX_WAIT_SECONDS = 60
log = logging.getLogger(__name__)


@dataclass
class FeedWaiters:
    """One process's long-polling waiters: their bound and the wake-up signal."""

    limit: int
    database_url: str
    poll_seconds: float = 0.1
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)
    _changed: threading.Condition = field(init=False, repr=False)
    _generation: int = field(default=0, init=False)
    _listener: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError("the number of feed waiters cannot be negative")
        self._slots = threading.BoundedSemaphore(max(self.limit, 1))
        self._changed = threading.Condition()
        self._listens = make_url(self.database_url).get_backend_name() == "postgresql"
        if self._listens:
            self.poll_seconds = max(self.poll_seconds, 5.0)  # a fallback only: NOTIFY wakes us

    def wait(self, session: Session, after: int, seconds: float) -> bool | None:
        """Return when the feed's head is above `after` (True), when `seconds` have passed
        (False), or at once with None when every waiting slot of this process is taken.

        Raises feed.CheckpointAhead when `after` is past the head (no waiting for a
        position nobody was given). Ends the session's read before each sleep.
        """
        if not self.limit or not self._slots.acquire(blocking=False):
            return None
        try:
            self._listen()
            deadline = time.monotonic() + min(seconds, MAX_WAIT_SECONDS)
            while True:
                with self._changed:
                    seen = self._generation  # before reading: a commit after it wakes us
                newest = feed.head(session)
                session.rollback()  # see the next commit; hold no connection while asleep
                if newest > after:
                    return True
                if after > newest:
                    raise feed.CheckpointAhead(f"after={after} is past the newest entry, {newest}",
                                               head=newest)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with self._changed:
                    if self._generation == seen:  # else a commit came while we read: look again
                        self._changed.wait(timeout=min(remaining, self.poll_seconds))
        finally:
            self._slots.release()

    def wake(self) -> None:
        """Wake this process's waiters to look at the head again."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        # Started by the first waiter, so in the worker process, never in a parent that forks.
        if not self._listens or (self._listener is not None and self._listener.is_alive()):
            return
        with self._changed:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(target=self._listen_forever, name="feed-listen",
                                                  daemon=True)
                self._listener.start()

    def _listen_forever(self) -> None:
        import psycopg

        url = make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        said = False  # one warning per outage, not one per retry
        while True:
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    said = False
                    self.wake()  # anything committed while we were not listening
                    for _ in connection.notifies():
                        self.wake()
            except psycopg.Error as error:
                if not said:
                    log.warning("feed LISTEN connection lost (%s); waiters poll until it is back",
                                type(error).__name__)
                said = True
            time.sleep(1)  # reconnect after a second, not in a tight loop
