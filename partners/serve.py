"""`federation-partner serve`: a local HTTP lookup service for a platform's upload pipeline.

One process holds the active signals in a :class:`partners.matching.MatchIndex` and
answers lookups over HTTP (the standard library's threading server: the kit installs
without a web stack). A background thread syncs the feed into the local store with
the kit's verified sync, then applies what changed to the index; lookups never wait
for it (the index swaps rebuilt tables in, see partners.index).

    POST /v1/lookup   {"type": "pdq", "value": "<64 hex>", "quality": 90}
                      {"path": "/srv/uploads/abc.jpg"}           (a file under --allow-path)
                      {"items": [ ...up to 100,000 of the above... ]}
    GET  /healthz     200 while the process runs
    GET  /readyz      200 once the first full sync is verified and indexed, else 503

A lookup answers ``{"matches": [{"record_id", "type", "distance"}]}`` (a batch:
``{"results": [...]}``, in order). Errors are RFC 9457 problem+json with a stable
``code``. Hashes and paths travel only in POST bodies, never in URLs or logs.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from partners.hashing import ImageTooLarge, UnreadableImage, hash_file, hash_photo
from partners.matching import SIGNAL_PATTERNS, Match, MatchIndex
from partners.scan import PHOTO_SUFFIXES, load_index, match_video
from partners.store import LocalStore
from partners.video import VIDEO_SUFFIXES

log = logging.getLogger("federation.partner.serve")

MAX_BATCH = 100_000
MAX_BODY = 16 * 1024 * 1024  # a full batch of hashes is about 10 MB
CHANGES_PAGE = 50_000


class LookupRefused(Exception):
    """A lookup refused: HTTP status, stable code, and a sentence for the caller."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class SyncState:
    checkpoint: int = 0
    indexed: int = 0
    last_success: str | None = None
    error: str | None = None
    stopped: bool = False  # a verification failure: it needs a person, sync stays off


class _Pending:
    """One single lookup waiting for a search, and then its answer."""

    __slots__ = ("answer", "answered", "done", "index", "kind", "lead", "quality", "value")

    def __init__(self, index: MatchIndex, kind: str, value: str, quality: int | None) -> None:
        self.index, self.kind, self.value, self.quality = index, kind, value, quality
        self.answer: list[Match] | BaseException = []
        self.answered = False
        self.lead = False  # woken to search for those waiting, not with its answer
        self.done = threading.Event()

    def result(self) -> list[Match]:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class _Coalescer:
    """Single hash lookups that arrive while a search runs are searched together next.

    Flat combining: a request that finds no search running searches, in its own thread,
    everything queued by then (its own lookup first), while requests arriving meanwhile
    queue and wait. With its answer in hand, the searching request wakes one of the
    waiting to search for the rest, and returns. A lone lookup is searched at once in
    its own thread (handing each lookup to a searching thread and back cost ~0.1 ms of
    CPU, measured); a search's fixed cost (numpy calls) is paid once per batch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._searching = False

    def lookup(self, index: MatchIndex, kind: str, value: str, quality: int | None) -> list[Match]:
        mine = _Pending(index, kind, value, quality)
        with self._lock:
            self._queue.append(mine)
            lead = not self._searching
            self._searching = True
        if not lead:
            mine.done.wait()
            if mine.answered:
                return mine.result()
        self._lead()  # first in the queue: its own lookup is in this batch
        return mine.result()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._search(batch)
        except BaseException as error:  # not a lookup's failure (say, an interrupt): nobody waits forever
            for item in batch:
                if not item.answered:
                    item.answer, item.answered = error, True
                    item.done.set()
            raise
        finally:
            with self._lock:
                if self._queue:
                    heir = self._queue[0]
                    heir.lead = True
                    heir.done.set()
                else:
                    self._searching = False

    @staticmethod
    def _search(batch: list[_Pending]) -> None:
        groups: dict[tuple[int, str], list[_Pending]] = {}
        for item in batch:
            groups.setdefault((id(item.index), item.kind), []).append(item)
        for items in groups.values():
            try:
                found: list[Any] = items[0].index.match_values(
                    items[0].kind, [i.value for i in items], [i.quality for i in items])
            except Exception as error:  # noqa: BLE001 - handed to each waiting request
                found = [error] * len(items)
            for item, answer in zip(items, found, strict=True):
                item.answer, item.answered = answer, True
                item.done.set()


@dataclass
class Matcher:
    """The index a server answers from, kept in step with the store by :meth:`run_sync`."""

    store_path: str
    allowed_roots: tuple[str, ...] = ()
    phash_distance: int = 8
    index: MatchIndex | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    state: SyncState = field(default_factory=SyncState)
    worker: int | None = None  # with `serve --workers N`: which of them this is (1..N)
    _coalescer: _Coalescer = field(default_factory=_Coalescer)

    # --- keeping in step ---------------------------------------------------------------

    def run_sync(self, sync_once: Callable[[LocalStore], None] | None, interval: float,
                 stop: threading.Event, polls: int | None = None) -> None:
        """Sync, index, wait `interval` seconds, again, until `stop` (or `polls` rounds).

        `sync_once(store)` follows the feed into the store (raising on failure); None
        serves the store as it is. Network failures are retried with backoff;
        verification failures (partners.sync.SyncError) stop syncing, not serving.
        """
        from partners.client import FeedError
        from partners.sync import SyncError

        failures, done = 0, 0
        with LocalStore(self.store_path) as store:
            while not stop.is_set() and (polls is None or done < polls):
                done += 1
                try:
                    if sync_once is not None:
                        sync_once(store)
                    self.catch_up(store)
                    self.state.error, failures = None, 0
                    self.state.last_success = _now()
                except SyncError as error:
                    self.state.error, self.state.stopped = f"sync stopped: {error}", True
                    log.error("sync stopped, serving the index as verified so far: %s", error)
                    return
                except (FeedError, OSError) as error:
                    failures += 1
                    self.state.error = f"will retry: {error}"
                    log.warning("sync failed, will retry: %s", error)
                stop.wait(min(600.0, interval * 2 ** failures) if failures else interval)

    def catch_up(self, store: LocalStore) -> None:
        """Bring the index to the store's checkpoint: load it whole the first time, then
        apply the adds and deletes after the indexed seq, in order."""
        if self.index is None:
            checkpoint = store.checkpoint
            index = load_index(store, phash_distance=self.phash_distance)
            index.pdq.wait()  # ready means indexed: not scanning millions by brute force
            self.index, self.state.indexed = index, checkpoint
        index = self.index
        while True:
            changes = store.changes_after(self.state.indexed, limit=CHANGES_PAGE)
            if not changes:
                break
            _apply(index, changes)
            self.state.indexed = changes[-1][0]
        self.state.checkpoint = store.checkpoint
        self.ready.set()

    # --- answering ---------------------------------------------------------------------

    def lookup(self, body: Any) -> dict[str, Any]:
        """Answer one request body (a lookup, or {"items": [...]}). Raises LookupRefused."""
        index = self.index
        if index is None or not self.ready.is_set():
            raise LookupRefused(503, "not_ready", "the first sync is not verified and indexed yet")
        if not isinstance(body, dict):
            raise LookupRefused(422, "malformed_request", "the body must be a JSON object")
        if "items" in body:
            items = body["items"]
            if not isinstance(items, list):
                raise LookupRefused(422, "malformed_request", "items must be a list")
            if not items:
                raise LookupRefused(422, "empty_batch", "items is empty: send 1 to 100,000 lookups")
            if len(items) > MAX_BATCH:
                raise LookupRefused(413, "batch_too_large", f"{len(items):,} items: at most {MAX_BATCH:,} per request")
            return {"results": [{"matches": m} for m in self._answer(index, items)]}
        return {"matches": self._answer(index, [body])[0]}

    def _answer(self, index: MatchIndex, items: list[Any]) -> list[list[dict[str, Any]]]:
        by_type: dict[str, list[tuple[int, str, int | None]]] = {}
        answers: list[list[dict[str, Any]]] = [[] for _ in items]
        paths: list[tuple[int, str]] = []
        for position, item in enumerate(items):
            where = f"item {position}: " if len(items) > 1 else ""
            if not isinstance(item, dict):
                raise LookupRefused(422, "malformed_request", f"{where}a lookup is a JSON object")
            if "path" in item:
                paths.append((position, self._allowed(item["path"], where)))
                continue
            kind, value, quality = item.get("type"), item.get("value"), item.get("quality")
            if kind not in SIGNAL_PATTERNS:
                raise LookupRefused(422, "unknown_type",
                                   f"{where}type must be one of {', '.join(sorted(SIGNAL_PATTERNS))}")
            if not isinstance(value, str) or not SIGNAL_PATTERNS[kind].fullmatch(value.strip().lower()):
                raise LookupRefused(422, "malformed_hash", f"{where}value is not a {kind} hash")
            if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)
                                        or not 0 <= quality <= 100):
                raise LookupRefused(422, "malformed_quality", f"{where}quality must be an integer 0-100")
            by_type.setdefault(kind, []).append((position, value, quality))
        if len(items) == 1 and by_type:  # one hash: searched with whatever else is arriving
            ((kind, [(_, value, quality)]),) = by_type.items()
            return [[_match(m) for m in self._coalescer.lookup(index, kind, value, quality)]]
        for kind, wanted in by_type.items():
            found = index.match_values(kind, [v for _, v, _ in wanted], [q for _, _, q in wanted])
            for (position, _, _), matches in zip(wanted, found, strict=True):
                answers[position] = [_match(m) for m in matches]
        for position, path in paths:
            answers[position] = self._match_path(index, path)
        return answers

    def _allowed(self, path: Any, where: str) -> str:
        if not isinstance(path, str) or not path or "\0" in path:
            raise LookupRefused(422, "malformed_path", f"{where}path must be a non-empty string")
        if not os.path.isabs(path):
            raise LookupRefused(422, "malformed_path", f"{where}path must be absolute")
        real = os.path.realpath(path)  # symbolic links resolved: no way out through one
        if not any(os.path.commonpath([real, root]) == root for root in self.allowed_roots):
            raise LookupRefused(403, "path_not_allowed",
                               f"{where}the path is not under a folder this server was allowed to read"
                               " (--allow-path)")
        if not os.path.isfile(real):
            raise LookupRefused(422, "not_a_file", f"{where}no regular file at that path")
        return real

    @staticmethod
    def _match_path(index: MatchIndex, path: str) -> list[dict[str, Any]]:
        matches = list(index.match_file(hash_file(path)))
        suffix = os.path.splitext(path)[1].lower()
        if suffix in PHOTO_SUFFIXES:
            try:
                matches += index.match_photo(hash_photo(path))
            except (ImageTooLarge, UnreadableImage):
                pass  # not an image we can hash: MD5 and SHA-256 were matched
        found = [_match(m) for m in sorted(matches, key=lambda m: (m.distance, m.signal_type, m.record_id))]
        if suffix in VIDEO_SUFFIXES:
            # vPDQ (docs/video.md): decoding takes seconds; a video the kit cannot decode
            # was still matched by MD5 and SHA-256 above.
            found += match_video(index, path, "exact").get("matches", [])
        return found

    def readiness(self) -> tuple[int, dict[str, Any]]:
        state = self.state
        body = {"ready": self.ready.is_set(), "checkpoint": state.checkpoint, "indexed": state.indexed,
                "active": len(self.index) if self.index is not None else 0,
                "last_sync": state.last_success, "sync_error": state.error}
        if self.worker is not None:
            body["worker"] = self.worker
        return (200 if self.ready.is_set() else 503), body


def _apply(index: MatchIndex, changes: list) -> None:
    """Apply (seq, op, signal) changes from ``LocalStore.changes_after``.

    Once the store has been read whole (as serve does first), that list never holds an
    add followed by a delete of the same record (the store leaves such an add out), so
    applying every delete first, in one call, then the adds by type, ends in the same
    index as applying them in seq order, in a few calls instead of one per run: a feed
    that alternates adds and deletes made a call per entry, about 0.3 ms each at 1M
    hashes. A list that breaks the rule (a store still in bulk mode) is applied in seq
    order, in runs.
    """
    deleted: set[str] = set()
    added: set[str] = set()
    for _, op, signal in changes:
        if op == "add":
            added.add(signal.record_id)
        elif signal.record_id in added:
            _apply_in_order(index, changes)
            return
        else:
            deleted.add(signal.record_id)
    if deleted:
        index.remove_many(sorted(deleted))
    adds: dict[str, Any] = {}  # record id -> its last add
    for change in changes:
        if change[1] == "add":
            adds.pop(change[2].record_id, None)
            adds[change[2].record_id] = change[2]
    by_type: dict[str, list[Any]] = {}
    for signal in adds.values():
        by_type.setdefault(signal.type, []).append(signal)
    for signal_type, signals in by_type.items():
        if signal_type == "vpdq":  # videos: their frames (docs/video.md)
            index.add_videos([s.record_id for s in signals],
                             [[(f["pdq"], f["quality"]) for f in json.loads(s.frames or "[]")] for s in signals])
        else:
            index.add_many(signal_type, [s.record_id for s in signals], [s.value for s in signals])


def _apply_in_order(index: MatchIndex, changes: list) -> None:
    """Apply (seq, op, signal) changes in seq order, in runs of one op and type."""
    run: list = []
    for change in [*changes, None]:
        if run and (change is None or (change[1], change[2].type) != (run[0][1], run[0][2].type)):
            if run[0][1] == "add" and run[0][2].type == "vpdq":  # videos: their frames (docs/video.md)
                index.add_videos([c[2].record_id for c in run],
                                 [[(f["pdq"], f["quality"]) for f in json.loads(c[2].frames or "[]")] for c in run])
            elif run[0][1] == "add":
                index.add_many(run[0][2].type, [c[2].record_id for c in run], [c[2].value for c in run])
            else:
                index.remove_many([c[2].record_id for c in run])
            run = []
        if change is not None:
            run.append(change)


_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_date = (0, "")


def _http_date() -> str:
    """The Date header, formatted once a second (formatting it per response was 8% of
    a lookup's time in Python)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True))
    return _date[1]


def _match(match: Match) -> dict[str, Any]:
    return {"record_id": match.record_id, "type": match.signal_type, "distance": match.distance}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- HTTP -----------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: an upload pipeline sends many lookups
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small responses on a kept-alive connection: without this, Nagle's algorithm and
        # the client's delayed ACK hold each response back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/readyz":
            self._send(*self.server.matcher.readiness())
        else:
            self._problem(LookupRefused(404, "not_found", "no such endpoint"))

    def do_POST(self) -> None:
        if self.path != "/v1/lookup":
            self._drain()
            self._problem(LookupRefused(404, "not_found", "no such endpoint"))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._problem(LookupRefused(411, "length_required", "send a Content-Length"))
            return
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read: this connection cannot go on
            self._problem(LookupRefused(413, "body_too_large", f"the body is over {MAX_BODY:,} bytes"))
            return
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            self._problem(LookupRefused(400, "malformed_json", "the body is not JSON"))
            return
        try:
            self._send(200, self.server.matcher.lookup(body))
        except LookupRefused as error:
            self._problem(error)

    def _drain(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) <= MAX_BODY:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _send(self, status: int, body: dict[str, Any], content_type: str = "application/json") -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        head = (f"HTTP/1.1 {status} {_PHRASES[status]}\r\nServer: federation-partner\r\nDate: {_http_date()}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\nCache-Control: no-store\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if self.close_connection else ''}\r\n")
        self.wfile.write(head.encode("latin-1") + data)  # one write: headers and body together

    def _problem(self, error: LookupRefused) -> None:
        self._send(error.status, {"type": "about:blank", "title": error.code.replace("_", " "),
                                  "status": error.status, "code": error.code, "detail": error.detail},
                   "application/problem+json")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: a line per lookup is noise, and bodies are private anyway


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], matcher: Matcher, listener: socket.socket | None = None) -> None:
        super().__init__(address, _Handler, bind_and_activate=listener is None)
        if listener is not None:  # a socket bound and listening already (serve --workers)
            self.socket.close()
            self.socket = listener
            self.server_address = listener.getsockname()[:2]
        self.matcher = matcher

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is routine; anything else is logged without its
        address (socketserver's default prints the peer's address and a traceback)."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        log.error("a lookup request failed: %s", type(error).__name__)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        connection.setblocking(True)  # whatever the listening socket's mode
        return connection, address


def make_server(matcher: Matcher, host: str = "127.0.0.1", port: int = 8765, *,
                listener: socket.socket | None = None) -> _Server:
    """An HTTP server answering from `matcher` (call serve_forever; port 0 picks one),
    on its own new socket or on `listener`, one already bound and listening."""
    return _Server((host, port), matcher, listener)


def run_server(server: _Server, stop: threading.Event) -> None:
    """Serve until `stop` is set (or the server shuts down), then close the server."""
    def shut_down_on_stop() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=shut_down_on_stop, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        stop.set()
        server.server_close()


def serve(matcher: Matcher, server: _Server, sync_once: Callable[[LocalStore], None] | None,
          interval: float, stop: threading.Event) -> None:
    """Run the sync thread and the server until `stop` is set (or the server shuts down)."""
    syncer = threading.Thread(target=matcher.run_sync, args=(sync_once, interval, stop),
                              name="federation-sync", daemon=True)
    syncer.start()
    try:
        run_server(server, stop)
    finally:
        syncer.join(timeout=30)
