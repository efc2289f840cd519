"""Follow the feed into the local store: verify every entry, refuse gaps, resume safely.

The log (docs/log.md): each sync first takes the federation's signed checkpoint, checks
its signature (a trusted feed key, as a C2SP signed note) and that it extends the
checkpoint the store holds (an RFC 9162 consistency proof; a smaller size, or the same
size with another root, is refused). Then it applies pages only up to that checkpoint's
size, and before applying a page it recomputes the Merkle root from the leaves received
and the subtree roots it keeps (the frontier), and checks it against the signed root
(directly, or by a consistency proof from the page's end to the checkpoint). Per-entry
signature checks stay on by default (`verify_signatures`; docs/partner-kit.md says what
the log alone does not cover). For speed in a first sync, consecutive full pages are
checked and applied together (a batch: one proof, one transaction), and a thread fetches
the next pages on a second connection while earlier ones are checked; nothing is applied
before it is checked.

Trust rule for signing keys: on the very first sync the kit pins the keys the
federation publishes then (trust on first use) and says so. After that, an entry signed
by a key that is published but not pinned stops the sync until an operator runs
`federation-partner trust KID` (after checking the kid with the federation out of band),
unless the sync was started with `trust_new_keys=True`. A key the federation never
published, a bad signature, or a revoked key's signature on an entry after its `last_seq`
(docs/feed.md, "A revoked key") always stops the sync, naming the seq.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from federation.crypto import merkle, note
from federation.crypto.encoding import b64u_decode
from federation.crypto.errors import CryptoError, SignatureError, UnknownKeyError
from federation.crypto.keys import KeySet, KeyStatus, verify_entry
from partners.client import FederationClient, FeedError, FeedPage, HTTPError
from partners.store import LocalStore

PAGE_LIMIT = 5000
_PARALLEL_FROM = 1000  # below this many entries, a process pool costs more than it saves
# Full pages of at least _BATCH_FROM entries are checked against the tree and applied
# _BATCH entries at a time: a commit (an fsync) and a consistency proof cost ~10 ms, a
# tenth of checking 5,000 entries. Smaller pages (a live feed) apply one by one.
_BATCH_FROM, _BATCH = 1000, 20_000
_AHEAD = 8  # pages fetched ahead at most (40,000 entries, ~10 MB)


class SyncError(Exception):
    """Sync stopped; nothing from `seq` on (or nothing of the tree of `size`) was applied."""

    def __init__(self, message: str, seq: int | None = None, *, size: int | None = None) -> None:
        where = f"seq {seq}: " if seq is not None else f"tree size {size}: " if size is not None else ""
        super().__init__(where + message)
        self.seq, self.size = seq, size


class LogError(SyncError):
    """The federation's log does not hold together: a checkpoint that does not verify or
    does not extend the one we hold, or entries that do not produce its signed root."""


class UntrustedKey(SyncError):
    pass


@dataclass
class SyncResult:
    checkpoint: int
    applied: int = 0
    adds: int = 0
    deletes: int = 0
    trusted_on_first_use: tuple[str, ...] = ()
    # Seconds this sync spent waiting for pages, verifying them (order, leaves and tree,
    # signatures) and applying them: where the time goes, for progress lines and bench/.
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "verify": 0.0, "apply": 0.0})


Progress = Callable[[int, int | None, int], None]  # checkpoint, head, applied so far


def sync(client: FederationClient, store: LocalStore, *, limit: int = PAGE_LIMIT,
         trust_new_keys: bool = False, progress: Progress | None = None,
         workers: int | None = None, verify_signatures: bool = True,
         verify_log: bool = True) -> SyncResult:
    """Apply every entry after the store's checkpoint (with `verify_log`, up to the
    log's signed checkpoint). Raises SyncError (LogError, UntrustedKey) or FeedError."""
    result = SyncResult(store.checkpoint)
    keyset, result.trusted_on_first_use = _keyset(client, store, trust_new_keys)
    log: note.Checkpoint | None = None
    frontier: list[bytes] = []
    if verify_log:
        keyset, log = _latest_checkpoint(client, store, keyset, trust_new_keys)
        frontier = _frontier(client, store, log)
    workers = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(workers) if workers > 1 and verify_signatures else None
    pages = _Pages(client, limit, log.size if log is not None else None)
    try:
        while True:
            after = store.checkpoint
            if log is not None and after == log.size:
                return result
            batch = _batch(pages, after, log, frontier, result.seconds)
            entries, page = batch.entries, batch.page
            started = time.perf_counter()
            if verify_signatures:
                try:
                    _verify(entries, keyset, pool, workers)
                except UntrustedKey:
                    keyset, _ = _keyset(client, store, trust_new_keys)  # a rotation: look again
                    _verify(entries, keyset, pool, workers)
            if log is not None:
                frontier = _check_leaves(client, batch.leaves, after, frontier, batch.extended, log)
            verified = time.perf_counter()
            store.apply(entries, after, frontier if log is not None else None)
            result.seconds["verify"] += verified - started
            result.seconds["apply"] += time.perf_counter() - verified
            result.applied += len(entries)
            adds = sum(e["op"] == "add" for e in entries)
            result.adds += adds
            result.deletes += len(entries) - adds
            result.checkpoint = store.checkpoint
            if progress:
                progress(result.checkpoint, page.head, result.applied)
            if log is None and not page.has_more:
                return result
    finally:
        pages.close()
        if pool:
            pool.shutdown()


@dataclass
class _Batch:
    """Entries after `after` to check and apply together, with the last page read and,
    with the log, their leaves and the frontier grown by them (not yet checked)."""

    entries: list[dict[str, Any]]
    page: FeedPage
    leaves: list[bytes]
    extended: list[bytes]


def _batch(pages: _Pages, after: int, log: note.Checkpoint | None, frontier: list[bytes],
           seconds: dict[str, float]) -> _Batch:
    """One page, or consecutive full pages of at least _BATCH_FROM entries up to _BATCH
    entries (a first sync: one transaction and one consistency proof per batch instead of
    per page). Each page's order, its place within the signed tree's size and its leaves
    are done as it arrives, while the next pages are being fetched."""
    entries: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    if log is not None and len(frontier) != len(merkle.perfect_subtrees(0, after)):
        raise LogError(f"the stored tree does not fit seq {after}: the store is damaged")
    while True:
        at = after + len(entries)
        started = time.perf_counter()
        page = pages.get(at)
        fetched = time.perf_counter()
        _check_order(page.entries, at, page.next)
        if log is not None and (not page.entries or (page.next < log.size and not page.has_more)):
            raise LogError(f"the feed ends at seq {page.next}, the signed checkpoint says {log.size}",
                           size=log.size)
        if log is not None and page.next > log.size:
            raise LogError(f"the page goes past the signed checkpoint of size {log.size}", log.size + 1)
        more = page.next < log.size if log is not None else page.has_more
        if more:
            pages.ask(page.next)  # fetched ahead while this one is checked and applied
        if log is not None:
            page_leaves = _leaves(page.entries)
            frontier = _extend(frontier, at, page_leaves)
            leaves = leaves + page_leaves if leaves else page_leaves
        entries = entries + page.entries if entries else page.entries
        seconds["fetch"] += fetched - started
        seconds["verify"] += time.perf_counter() - fetched
        if not more or len(page.entries) < _BATCH_FROM or len(entries) >= _BATCH:
            return _Batch(entries, page, leaves, frontier)


class _Pages:
    """Feed pages in order. After the first, a thread on a second connection fetches
    ahead (up to _AHEAD pages, each from the `next` of the one before) while the sync
    checks and applies earlier ones, so the server works while the kit does. Nothing is
    trusted from it: each page is checked as if fetched in place (order, tree) before
    anything of it is applied, and one that is not for the position asked is not used."""

    def __init__(self, client: FederationClient, limit: int, log_size: int | None) -> None:
        self._client, self._limit, self._log_size = client, limit, log_size
        self._queue: queue.Queue[tuple[int, FeedPage | Exception | None]] = queue.Queue(_AHEAD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._direct = False  # the thread ended, or went astray: fetch in place from now on

    def _fetch(self, client: FederationClient, after: int) -> FeedPage:
        limit = self._limit if self._log_size is None else max(1, min(self._limit, self._log_size - after))
        return client.page(after, limit)

    def ask(self, after: int) -> None:
        """The page after `after` will be wanted: start fetching ahead from it."""
        if self._thread is None and not self._direct:
            self._thread = threading.Thread(target=self._run, args=(self._client.another(), after),
                                            name="feed-pages", daemon=True)
            self._thread.start()

    def _run(self, client: FederationClient, after: int) -> None:
        item: FeedPage | Exception | None = None
        try:
            while not self._stop.is_set():
                page = self._fetch(client, after)
                self._queue.put((after, page))
                more = page.next < self._log_size if self._log_size is not None else page.has_more
                if not more or page.next <= after:
                    break
                after = page.next
        except Exception as error:  # noqa: BLE001 - handed to the sync, which raises it where it would have
            item = error
        finally:
            client.close()
            if not self._stop.is_set():
                self._queue.put((after, item))  # None: no more pages from here

    def get(self, after: int) -> FeedPage:
        if self._thread is not None and not self._direct:
            asked, item = self._queue.get()
            if isinstance(item, Exception):
                self._direct = True
                raise item
            if asked == after and item is not None:
                return item
            self._direct = True
            self._stop_thread()
        return self._fetch(self._client, after)

    def _stop_thread(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        while self._thread.is_alive():
            try:  # make room: the thread puts at most once more, then sees the stop
                self._queue.get(timeout=1)
            except queue.Empty:
                pass
        self._thread.join()

    def close(self) -> None:
        self._stop_thread()


def watch(client: FederationClient, store: LocalStore, *, interval: float = 30, max_backoff: float = 600,
          polls: int | None = None, on_result: Callable[[SyncResult], None] | None = None,
          on_error: Callable[[Exception], None] | None = None, wait: int = 0, **options) -> None:
    """Sync forever (or `polls` times). Between syncs, with `wait` (seconds, at most 60),
    long-poll the feed: the next sync starts as soon as the federation commits an entry;
    without it, sleep a jittered `interval`. Exponential backoff on errors.

    Verification failures are not retried: they stop the watch (raise), as they need a person.
    """
    failures, done = 0, 0
    while polls is None or done < polls:
        done += 1
        try:
            result = sync(client, store, **options)
            failures = 0
            if on_result:
                on_result(result)
            if polls is not None and done >= polls:
                return
            if wait:
                page = client.page(store.checkpoint, 1, wait=wait)  # returns when there is news
                if page.retry_after is not None and not page.entries:
                    time.sleep(page.retry_after * random.uniform(1, 1.5))  # noqa: S311 - the server is full
                continue
            delay = interval
        except (SyncError, SignatureError):
            raise
        except (FeedError, OSError) as error:
            failures += 1
            if on_error:
                on_error(error)
            delay = min(max_backoff, max(interval, 1) * 2 ** failures)
        if polls is None or done < polls:
            time.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret: partners must not poll in step


def trust(client: FederationClient, store: LocalStore, kid: str) -> None:
    """Pin one published key (the operator checked its kid with the federation)."""
    published = {k.get("kid"): k for k in client.keys().get("keys", [])}
    if kid not in published:
        raise SyncError(f"the federation does not publish a key {kid!r}")
    if published[kid].get("status") == KeyStatus.REVOKED:
        raise SyncError(f"key {kid!r} is revoked")
    KeySet.from_jwks({"keys": [published[kid]]})  # validates the JWK (thumbprint, curve)
    store.trust(kid, published[kid]["x"], _now())


def _keyset(client: FederationClient, store: LocalStore,
            trust_new: bool) -> tuple[_TrustedKeySet, tuple[str, ...]]:
    """Published keys that are pinned (or pinned now, on first use or by option)."""
    try:
        document = client.keys()
        published = KeySet.from_jwks(document)
    except CryptoError as error:
        raise SyncError(f"the published key set is not valid: {error}") from None
    pinned = store.trusted_keys()
    newly = []
    for jwk in document["keys"]:
        kid = jwk["kid"]
        if kid in pinned:
            if pinned[kid] != jwk["x"]:
                raise SyncError(f"key {kid} is published with a different public key than pinned")
        elif (not pinned or trust_new) and jwk["status"] != KeyStatus.REVOKED:
            store.trust(kid, jwk["x"], _now())
            newly.append(kid)
    allowed = set(store.trusted_keys())
    # A revoked key is kept, pinned or not: it verifies only entries up to its `last_seq`
    # (signed before the revocation, and bound by the log), never a later one (KeySet.verify).
    trusted = {kid: published.get(kid) for kid in published_kids(document)
               if kid in allowed or published.get(kid).status == KeyStatus.REVOKED}
    usable = {jwk["kid"]: b64u_decode(jwk["x"]) for jwk in document["keys"]
              if jwk["status"] != KeyStatus.REVOKED}
    return _TrustedKeySet(trusted, set(published_kids(document)), usable), tuple(newly)


def published_kids(document: dict[str, Any]) -> list[str]:
    return [jwk["kid"] for jwk in document["keys"]]


class _TrustedKeySet(KeySet):
    """Pinned keys; tells an unpinned-but-published kid apart from an unknown one."""

    def __init__(self, keys, published: set[str], usable: dict[str, bytes] | None = None) -> None:
        super().__init__(keys)
        self.published = published
        self.usable = usable or {}  # published, not revoked: kid -> raw public key

    def note_keys(self, *, trusted: bool = True) -> dict[str, bytes]:
        """Raw public keys that may sign checkpoints: trusted ones, or every usable one."""
        return {kid: raw for kid, raw in self.usable.items() if not trusted or kid in self}

    def verify(self, data, signature_b64u, kid, *, at=None, seq=None):
        if kid not in self and kid in self.published:
            raise UntrustedKey(f"entry is signed by key {kid}, published but not trusted: check it "
                               f"with the federation, then run `federation-partner trust {kid}`")
        super().verify(data, signature_b64u, kid, at=at, seq=seq)


# --- the log --------------------------------------------------------------------------

def _latest_checkpoint(client: FederationClient, store: LocalStore, keyset: _TrustedKeySet,
                       trust_new: bool) -> tuple[_TrustedKeySet, note.Checkpoint]:
    """The federation's checkpoint, verified and checked against the one the store holds
    (then kept in its place). The origin is pinned on first use, like the keys."""
    text = client.checkpoint()
    held = store.log_checkpoint()
    claimed = _claimed(text)
    origin = held[0] if held else claimed.origin
    try:
        checkpoint = _open(text, origin, keyset, claimed)
    except UnknownKeyError:
        keyset, _ = _keyset(client, store, trust_new)  # a rotation: look again
        try:
            checkpoint = _open(text, origin, keyset, claimed)
        except UnknownKeyError:
            for kid, raw in keyset.note_keys(trusted=False).items():
                try:
                    note.open_checkpoint(text, origin, [raw])
                except SignatureError:
                    continue
                raise UntrustedKey(f"the checkpoint is signed by key {kid}, published but not trusted: "
                                   f"check it with the federation, then run `federation-partner trust {kid}`",
                                   size=claimed.size) from None
            raise LogError("the checkpoint is signed by no key the federation publishes and we trust",
                           size=claimed.size) from None
    if held:
        _check_extends(client, note.parse_checkpoint(note.parse(held[1])[0]), checkpoint)
    store.set_log_checkpoint(origin, text)
    return keyset, checkpoint


def _claimed(text: str) -> note.Checkpoint:
    """What a checkpoint says, before its signature is checked (for messages only)."""
    try:
        return note.parse_checkpoint(note.parse(text)[0])
    except SignatureError as error:
        raise LogError(f"the checkpoint is malformed: {error}") from None


def _open(text: str, origin: str, keyset: _TrustedKeySet, claimed: note.Checkpoint) -> note.Checkpoint:
    try:
        return note.open_checkpoint(text, origin, keyset.note_keys().values())[0]
    except UnknownKeyError:
        raise
    except SignatureError as error:
        raise LogError(f"the checkpoint does not verify: {error}", size=claimed.size) from None


def _check_extends(client: FederationClient, held: note.Checkpoint, new: note.Checkpoint) -> None:
    if new.size < held.size:
        raise LogError(f"the log shrank: we hold a signed checkpoint of size {held.size} "
                       "(entries were removed or history rewritten)", size=new.size)
    if new.size == held.size:
        if new.root != held.root:
            raise LogError("two signed checkpoints of this size with different roots (a split view)",
                           size=new.size)
        return
    try:
        proof = _consistency(client, held.size, new.size) if held.size else []
        merkle.verify_consistency(held.size, new.size, held.root, new.root, proof)
    except merkle.ProofError as error:
        raise LogError(f"the checkpoint does not extend the one we hold, of size {held.size} "
                       f"(history rewritten): {error}", size=new.size) from None


def _frontier(client: FederationClient, store: LocalStore, log: note.Checkpoint) -> list[bytes]:
    """The tree of the entries applied, as its frontier; rebuilt from the server (and
    checked against the checkpoint) for a store an older kit filled."""
    applied = store.checkpoint
    if applied > log.size:
        raise LogError(f"we applied entries up to seq {applied}, past the signed checkpoint", size=log.size)
    frontier = store.log_frontier()
    if frontier is not None:
        if len(frontier) != len(merkle.perfect_subtrees(0, applied)):
            raise LogError(f"the stored tree does not fit seq {applied}: the store is damaged")
        return frontier
    frontier, after = [], 0
    while after < applied:
        page = client.page(after, min(PAGE_LIMIT, applied - after))
        _check_order(page.entries, after, page.next)
        if not page.entries:
            raise LogError(f"the feed ends at seq {after}, before what we applied", size=log.size)
        frontier = _check_page(client, page.entries, after, frontier, log)
        after = page.next
    store.set_log_frontier(frontier, applied)
    return frontier


def _leaves(entries: list[dict[str, Any]]) -> list[bytes]:
    leaves = []
    sha256 = hashlib.sha256
    for entry in entries:
        try:
            leaves.append(sha256(b"\x00" + signed_bytes(entry)).digest())
        except (TypeError, ValueError) as error:
            raise SyncError(f"entry cannot be canonicalised ({error}); not applied",
                            entry.get("seq")) from None
    return leaves


def signed_bytes(entry: dict[str, Any]) -> bytes:
    """The bytes of the entry that its leaf hash covers, without kid and sig.

    For every entry a federation signs (strings, integers in the I-JSON range, ASCII
    keys) these are `entry_signing_bytes(entry)`, RFC 8785 canonical JSON: Python's own
    JSON encoder with sorted keys, compact separators and UTF-8 writes exactly those bytes
    (the same escapes, the same key order for ASCII keys), at C speed. For any other entry
    they may differ from canonical JSON, but still serialise the entry one-to-one (they
    parse back to it), so the leaf binds the entry as received: such an entry cannot
    match a tree an honest federation built, and the sync refuses it.
    (tests/unit/test_partner_leaves.py checks both.)"""
    unsigned = dict(entry)
    unsigned.pop("kid", None)
    unsigned.pop("sig", None)
    return "".join(_ENCODE(unsigned, 0)).encode()


def _encoder() -> Callable[[Any, Any], Any]:
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the _json accelerator
        return json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                check_circular=False, allow_nan=False).iterencode
    # The accelerator JSONEncoder.iterencode uses, made once instead of per call: circular
    # references cannot occur in parsed JSON; NaN is refused as canonical_json does.
    return make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False)


_ENCODE = _encoder()


def _extend(frontier: list[bytes], size: int, leaves: list[bytes]) -> list[bytes]:
    """The frontier of the tree of `size` leaves after `leaves` are appended: what
    merkle.append returns first, without listing every subtree on the way."""
    stack = list(frontier)
    sha256 = hashlib.sha256
    for leaf in leaves:
        node, merges = leaf, size
        while merges & 1:  # leaf `size` completes one subtree per trailing 1 bit of size
            node = sha256(b"\x01" + stack.pop() + node).digest()
            merges >>= 1
        stack.append(node)
        size += 1
    return stack


def _check_page(client: FederationClient, entries: list[dict[str, Any]], after: int,
                frontier: list[bytes], log: note.Checkpoint) -> list[bytes]:
    """The frontier after these entries, if they are leaves after+1.. of the signed tree."""
    leaves = _leaves(entries)
    if len(frontier) != len(merkle.perfect_subtrees(0, after)):
        raise LogError(f"the stored tree does not fit seq {after}: the store is damaged")
    return _check_leaves(client, leaves, after, frontier, _extend(frontier, after, leaves), log)


def _check_leaves(client: FederationClient, leaves: list[bytes], after: int, frontier: list[bytes],
                  extended: list[bytes], log: note.Checkpoint) -> list[bytes]:
    """`extended` (`frontier` grown by `leaves`), if the leaves are after+1.. of the signed tree."""
    if _in_signed_tree(client, after + len(leaves), merkle.fold(extended), log):
        return extended
    # Name the first entry that breaks it: prefixes up to there are in the signed tree.
    roots, grown = [], list(frontier)
    for offset, leaf in enumerate(leaves):
        grown, _ = merkle.append(grown, after + offset, [leaf])
        roots.append(merkle.fold(grown))
    low, high = 1, len(leaves)
    while low < high:
        middle = (low + high) // 2
        if _in_signed_tree(client, after + middle, roots[middle - 1], log):
            low = middle + 1
        else:
            high = middle
    raise LogError(f"the entry is not the one in the log's signed tree of size {log.size} "
                   "(altered, inserted or removed); nothing from here applied", after + low)


def _in_signed_tree(client: FederationClient, size: int, root: bytes, log: note.Checkpoint) -> bool:
    """Is `root` the root of the first `size` leaves of the checkpoint's tree?"""
    if size == log.size:
        return root == log.root
    try:
        merkle.verify_consistency(size, log.size, root, log.root, _consistency(client, size, log.size))
    except merkle.ProofError:
        return False
    return True


def _consistency(client: FederationClient, first: int, second: int) -> list[bytes]:
    try:
        return client.consistency(first, second)
    except HTTPError as error:
        if error.status in (409, 422):  # it signed the size, but will not prove it
            raise LogError(f"the federation refuses a consistency proof from size {first}: {error}",
                           size=second) from None
        raise


@dataclass(frozen=True)
class Agreement:
    """Whether two signed checkpoints of the log describe one history."""

    agree: bool
    ours: int
    theirs: int
    message: str


def audit(client: FederationClient, store: LocalStore, other: str | None = None) -> Agreement:
    """Check the checkpoint the store holds against `other` (a signed checkpoint a peer
    platform sent), or against the federation's current one: both must be signed by a
    trusted log key, and the larger must extend the smaller (an RFC 9162 consistency proof
    the federation gives; same size: same root). Raises SyncError when nothing can be
    checked (no checkpoint held, `other` not signed by the log's key)."""
    held = store.log_checkpoint()
    if held is None:
        raise SyncError("this store holds no checkpoint yet: run `federation-partner sync` first")
    origin, ours_note = held
    ours = note.parse_checkpoint(note.parse(ours_note)[0])
    whose = "the peer's" if other is not None else "the federation's current"
    text = other if other is not None else client.checkpoint()
    keyset, _ = _keyset(client, store, False)
    try:
        theirs = _open(text, origin, keyset, _claimed(text))
    except UnknownKeyError:
        raise LogError(f"{whose} checkpoint is not signed by a log key we trust: it proves nothing") from None
    small, large = sorted((ours, theirs), key=lambda c: c.size)
    sizes = f"ours (size {ours.size}) and {whose} (size {theirs.size})"
    if small.size == large.size:
        if small.root == large.root:
            return Agreement(True, ours.size, theirs.size, f"AGREE: {sizes} are the same checkpoint.")
        return Agreement(False, ours.size, theirs.size,
                         f"DISAGREE: {sizes} are both signed by the log, with different roots: the federation "
                         "has shown two different logs (a split view). Keep both checkpoints as evidence.")
    try:
        proof = client.consistency(small.size, large.size) if small.size else []
        merkle.verify_consistency(small.size, large.size, small.root, large.root, proof)
    except (merkle.ProofError, HTTPError) as error:
        return Agreement(False, ours.size, theirs.size,
                         f"DISAGREE: {sizes} are both signed by the log, but the larger does not extend the "
                         f"smaller ({error}): history was rewritten, or the federation shows different logs "
                         "to different platforms (a split view). Keep both checkpoints as evidence.")
    return Agreement(True, ours.size, theirs.size,
                     f"AGREE: {sizes} are one history: the larger extends the smaller (consistency proof checked).")


def _check_order(entries: list[dict[str, Any]], after: int, next_seq: int) -> None:
    expected = after
    for entry in entries:
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise SyncError("entry has no integer seq", expected + 1)
        if seq != expected + 1:
            kind = "goes backwards" if seq <= expected else "skips ahead (a gap)"
            raise SyncError(f"feed {kind}: expected {expected + 1}", seq)
        if entry.get("op") not in ("add", "delete"):
            raise SyncError("entry op is neither add nor delete", seq)
        expected = seq
    if next_seq != expected:
        raise SyncError(f"page says next is {next_seq} but its last entry is {expected}", next_seq)


def _verify(entries, keyset: KeySet, pool: ProcessPoolExecutor | None, workers: int) -> None:
    if pool is None or len(entries) < _PARALLEL_FROM:
        _verify_chunk(entries, keyset)
        return
    size = -(-len(entries) // workers)
    chunks = [entries[i:i + size] for i in range(0, len(entries), size)]
    for future in [pool.submit(_verify_chunk, chunk, keyset) for chunk in chunks]:
        future.result()  # re-raises the first failure, in seq order


def _verify_chunk(entries, keyset: KeySet) -> None:
    for entry in entries:
        try:
            verify_entry(entry, keyset)
        except UntrustedKey:
            raise
        except SignatureError as error:
            raise SyncError(f"does not verify ({type(error).__name__}: {error}); not applied",
                            entry.get("seq")) from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
