"""Follow the feed into the local store: verify every entry, refuse gaps, resume safely.

Trust rule for signing keys: on the very first sync the kit pins the keys the
federation publishes then (trust on first use) and says so. After that, an entry signed
by a key that is published but not pinned stops the sync until an operator runs
`federation-partner trust KID` (after checking the kid with the federation out of band),
unless the sync was started with `trust_new_keys=True`. A key the federation never
published, a revoked key or a bad signature always stops the sync, naming the seq.
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

from federation.crypto.errors import CryptoError, SignatureError
from federation.crypto.keys import KeySet, KeyStatus, verify_entry
from partners.client import FederationClient, FeedError
from partners.store import LocalStore

PAGE_LIMIT = 5000
_PARALLEL_FROM = 1000  # below this many entries, a process pool costs more than it saves


class SyncError(Exception):
    """Sync stopped; nothing after `seq` was applied."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message if seq is None else f"seq {seq}: {message}")
        self.seq = seq


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
         workers: int | None = None) -> SyncResult:
    """Apply every entry after the store's checkpoint. Raises SyncError (or FeedError)."""
    result = SyncResult(store.checkpoint)
    keyset, result.trusted_on_first_use = _keyset(client, store, trust_new_keys)
    workers = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        while True:
            after = store.checkpoint
            page = client.page(after, limit)
            _check_order(page.entries, after, page.next)
            try:
                _verify(page.entries, keyset, pool, workers)
            except UntrustedKey:
                keyset, _ = _keyset(client, store, trust_new_keys)  # a rotation: look again
                _verify(page.entries, keyset, pool, workers)
            store.apply(page.entries, after)
            result.applied += len(page.entries)
            result.adds += sum(e["op"] == "add" for e in page.entries)
            result.deletes += sum(e["op"] == "delete" for e in page.entries)
            result.checkpoint = store.checkpoint
            if progress:
                progress(result.checkpoint, page.head, result.applied)
            if not page.has_more:
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
            time.sleep(delay * random.uniform(0.8, 1.2))  # jitter: partners must not poll in step


def trust(client: FederationClient, store: LocalStore, kid: str) -> None:
    """Pin one published key (the operator checked its kid with the federation)."""
    published = {k.get("kid"): k for k in client.keys().get("keys", [])}
    if kid not in published:
        raise SyncError(f"the federation does not publish a key {kid!r}")
    if published[kid].get("status") == KeyStatus.REVOKED:
        raise SyncError(f"key {kid!r} is revoked")
    KeySet.from_jwks({"keys": [published[kid]]})  # validates the JWK (thumbprint, curve)
    store.trust(kid, published[kid]["x"], _now())


def _keyset(client: FederationClient, store: LocalStore, trust_new: bool) -> tuple[KeySet, tuple[str, ...]]:
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
    trusted = {kid: published.get(kid) for kid in published_kids(document) if kid in allowed}
    return _TrustedKeySet(trusted, set(published_kids(document))), tuple(newly)


def published_kids(document: dict[str, Any]) -> list[str]:
    return [jwk["kid"] for jwk in document["keys"]]


class _TrustedKeySet(KeySet):
    """Pinned keys; tells an unpinned-but-published kid apart from an unknown one."""

    def __init__(self, keys, published: set[str]) -> None:
        super().__init__(keys)
        self.published = published

    def verify(self, data, signature_b64u, kid, *, at=None):
        if kid not in self and kid in self.published:
            raise UntrustedKey(f"entry is signed by key {kid}, published but not trusted: check it "
                               f"with the federation, then run `federation-partner trust {kid}`")
        super().verify(data, signature_b64u, kid, at=at)


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
