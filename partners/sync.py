"""Follow the feed into the local store: verify every entry, refuse gaps, resume safely.

The log (docs/log.md): each sync first takes the federation's signed checkpoint, checks
its signature (a trusted feed key, as a C2SP signed note) and that it extends the
checkpoint the store holds (an RFC 9162 consistency proof; a smaller size, or the same
size with another root, is refused). Then it applies pages only up to that checkpoint's
size, and before applying a page it recomputes the Merkle root from the leaves received
and the subtree roots it keeps (the frontier), and checks it against the signed root
(directly, or by a consistency proof from the page's end to the checkpoint). Per-entry
signature checks stay on by default (`verify_signatures`).

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
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from federation.crypto import merkle, note
from federation.crypto.canonical import leaf_hash
from federation.crypto.encoding import b64u_decode
from federation.crypto.errors import CryptoError, SignatureError, UnknownKeyError
from federation.crypto.keys import KeySet, KeyStatus, entry_signing_bytes, verify_entry
from partners.client import FederationClient, FeedError, HTTPError
from partners.store import LocalStore

PAGE_LIMIT = 5000
_PARALLEL_FROM = 1000  # below this many entries, a process pool costs more than it saves


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
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        while True:
            after = store.checkpoint
            if log is not None and after == log.size:
                return result
            page = client.page(after, limit if log is None else min(limit, log.size - after))
            _check_order(page.entries, after, page.next)
            if log is not None and (not page.entries or (page.next < log.size and not page.has_more)):
                raise LogError(f"the feed ends at seq {page.next}, the signed checkpoint says {log.size}",
                               size=log.size)
            if log is not None and page.next > log.size:
                raise LogError(f"the page goes past the signed checkpoint of size {log.size}", log.size + 1)
            if verify_signatures:
                try:
                    _verify(page.entries, keyset, pool, workers)
                except UntrustedKey:
                    keyset, _ = _keyset(client, store, trust_new_keys)  # a rotation: look again
                    _verify(page.entries, keyset, pool, workers)
            if log is not None:
                frontier = _check_page(client, page.entries, after, frontier, log)
            store.apply(page.entries, after, frontier if log is not None else None)
            result.applied += len(page.entries)
            result.adds += sum(e["op"] == "add" for e in page.entries)
            result.deletes += sum(e["op"] == "delete" for e in page.entries)
            result.checkpoint = store.checkpoint
            if progress:
                progress(result.checkpoint, page.head, result.applied)
            if log is None and not page.has_more:
                return result
    finally:
        if pool:
            pool.shutdown()


def watch(client: FederationClient, store: LocalStore, *, interval: float = 30, max_backoff: float = 600,
          polls: int | None = None, on_result: Callable[[SyncResult], None] | None = None,
          on_error: Callable[[Exception], None] | None = None, **options) -> None:
    """Sync forever (or `polls` times): jittered interval, exponential backoff on errors.

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
            delay = interval
        except (SyncError, SignatureError):
            raise
        except (FeedError, OSError) as error:
            failures += 1
            if on_error:
                on_error(error)
            delay = min(max_backoff, interval * 2 ** failures)
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
    for entry in entries:
        try:
            leaves.append(leaf_hash(entry_signing_bytes(entry)))
        except (TypeError, ValueError) as error:
            raise SyncError(f"entry cannot be canonicalised ({error}); not applied",
                            entry.get("seq")) from None
    return leaves


def _check_page(client: FederationClient, entries: list[dict[str, Any]], after: int,
                frontier: list[bytes], log: note.Checkpoint) -> list[bytes]:
    """The frontier after these entries, if they are leaves after+1.. of the signed tree."""
    leaves = _leaves(entries)
    extended, _ = merkle.append(frontier, after, leaves)
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
