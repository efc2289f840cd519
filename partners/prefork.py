"""`federation-partner serve --workers N`: several lookup processes on one port.

One process answers lookups on one core (Python's GIL). With ``--workers N`` the
parent binds the port, forks N workers that accept on that one socket (the kernel
hands each new connection to one of them), and keeps the feed itself:

* The **parent** runs the verified sync into the store every ``--interval`` seconds
  (or, with ``--no-sync``, only watches the store another process keeps), publishes
  the store's checkpoint and its sync state in shared memory, and starts a new worker
  if one dies. It answers no lookups and holds no index.
* Each **worker** waits for the parent's first full verified sync, loads its own index
  from the store, and then follows the store: when the published checkpoint moves, it
  applies the adds and deletes after the seq it indexed (``Matcher.catch_up``), so a
  withdrawal stops matching in every worker within a fraction of a second of the sync
  that brought it. ``/readyz`` answers for the worker that takes the request: 503
  until that worker has indexed the first full sync, and the parent's sync state
  (``last_sync``, ``sync_error``) with its own ``checkpoint``, ``indexed``, ``active``
  and ``worker`` (1..N).

Memory: every worker holds a whole index (about 120 bytes per hash: 1.2 GB per worker
at 10M hashes). Workers share nothing but the socket and the store file (SQLite in WAL
mode: the parent writes, workers read).
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from partners.serve import Matcher, make_server, run_server
from partners.store import LocalStore

log = logging.getLogger("federation.partner.serve")

MAX_WORKERS = 64
_FOLLOW = 0.1  # seconds between a worker's looks at the published checkpoint (no I/O)
_TEXT = 512  # bytes kept of the parent's last sync error
_CONTEXT = multiprocessing.get_context("fork")  # workers inherit the listening socket


@dataclass
class _Shared:
    """What the parent publishes to its workers, in shared memory."""

    first_sync: Any  # multiprocessing Event: the first full sync is verified
    checkpoint: Synchronized  # the store's checkpoint after the parent's last sync
    stopped: Synchronized  # a verification failure stopped syncing
    error: Any  # a shared char array: the last sync error (UTF-8), empty when the last sync worked
    last_sync: Any  # a shared char array: when the last sync worked (ISO 8601)

    @classmethod
    def create(cls) -> _Shared:
        return cls(_CONTEXT.Event(), _CONTEXT.Value(ctypes.c_int64, 0), _CONTEXT.Value(ctypes.c_bool, False),
                   _CONTEXT.Array(ctypes.c_char, _TEXT), _CONTEXT.Array(ctypes.c_char, 64))

    def publish(self, *, checkpoint: int | None = None, error: str | None = None,
                last_sync: str | None = None, stopped: bool = False) -> None:
        if checkpoint is not None:
            self.checkpoint.value = checkpoint
        self.error.value = (error or "").encode()[:_TEXT - 1]
        if last_sync is not None:
            self.last_sync.value = last_sync.encode()[:63]
        self.stopped.value = stopped


def serve_workers(new_matcher: Callable[[], Matcher], store_path: str, host: str, port: int, workers: int,
                  sync_once: Callable[[LocalStore], None] | None, interval: float,
                  stop: threading.Event, on_listening: Callable[[int], None] | None = None) -> None:
    """Run `workers` lookup processes on one port and the sync of `store_path` in this
    one, until `stop`. `new_matcher()` makes a worker's (empty) Matcher of that store."""
    if not 2 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 2-{MAX_WORKERS}")
    # SIGTERM (a service manager stopping us) ends the loop below, which stops the workers.
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    listener = socket.create_server((host, port), backlog=128)
    listener.setblocking(False)  # a worker that loses the race for a connection goes back to waiting
    shared = _Shared.create()
    children: dict[int, Any] = {}

    def start(number: int) -> None:
        child = _CONTEXT.Process(target=_worker, args=(number, listener, new_matcher, shared),
                                 name=f"federation-partner-worker-{number}", daemon=True)
        child.start()
        children[number] = child

    try:
        for number in range(1, workers + 1):
            start(number)
        if on_listening is not None:
            on_listening(int(listener.getsockname()[1]))
        _keep_feed(store_path, sync_once, interval, stop, shared,
                   lambda: _restart_dead(children, start, stop))
    finally:
        stop.set()
        for child in children.values():
            child.terminate()
        for child in children.values():
            child.join(timeout=30)
        listener.close()
        signal.signal(signal.SIGTERM, previous)


def _restart_dead(children: dict[int, Any], start: Callable[[int], None], stop: threading.Event) -> None:
    for number, child in list(children.items()):
        if not child.is_alive() and not stop.is_set():
            log.error("lookup worker %d exited with code %s; starting another", number, child.exitcode)
            start(number)


def _keep_feed(store_path: str, sync_once: Callable[[LocalStore], None] | None, interval: float,
               stop: threading.Event, shared: _Shared, tend: Callable[[], None]) -> None:
    """The parent's loop: sync (with backoff on network failures), publish, tend workers."""
    from partners.client import FeedError
    from partners.sync import SyncError

    failures, next_sync = 0, 0.0
    with LocalStore(store_path) as store:
        while not stop.is_set():
            tend()
            if time.monotonic() >= next_sync and not shared.stopped.value:
                try:
                    if sync_once is not None:
                        sync_once(store)
                    store.count()  # ends a first sync's bulk mode here, not in N workers at once
                    shared.publish(checkpoint=store.checkpoint, last_sync=_now())
                    shared.first_sync.set()
                    failures = 0
                except SyncError as error:
                    shared.publish(error=f"sync stopped: {error}", stopped=True)
                    log.error("sync stopped, workers serve the index as verified so far: %s", error)
                except (FeedError, OSError) as error:
                    failures += 1
                    shared.publish(error=f"will retry: {error}")
                    log.warning("sync failed, will retry: %s", error)
                wait = min(600.0, interval * 2 ** failures) if failures else interval
                next_sync = time.monotonic() + wait
            stop.wait(min(1.0, max(0.0, next_sync - time.monotonic())))


def _worker(number: int, listener: socket.socket, new_matcher: Callable[[], Matcher], shared: _Shared) -> None:
    """A worker process: follow the parent's syncs into its own index; answer lookups."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()
    _die_with_parent()
    matcher = new_matcher()
    matcher.worker = number
    server = make_server(matcher, listener=listener)
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(matcher, shared, stop, parent), name="follow-store",
                                daemon=True)
    follower.start()
    run_server(server, stop)


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: _follow notices the parent is gone
        pass


def _follow(matcher: Matcher, shared: _Shared, stop: threading.Event, parent: int) -> None:
    def orphaned() -> bool:
        if os.getppid() != parent:
            stop.set()
        return stop.is_set()

    while not shared.first_sync.wait(timeout=1.0):
        if orphaned():
            return
    with LocalStore(matcher.store_path) as store:
        while not orphaned():
            if shared.checkpoint.value != matcher.state.checkpoint or matcher.index is None:
                matcher.catch_up(store)
            state = matcher.state
            state.error = shared.error.value.decode() or None
            state.last_success = shared.last_sync.value.decode() or None
            state.stopped = bool(shared.stopped.value)
            stop.wait(_FOLLOW)


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
