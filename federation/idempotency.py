"""Idempotency-Key handling (docs/architecture.md, invariant 6).

A write sent again with the same key and the same body gets the first answer again;
the same key with a different body is a 409. The record is written in the same
transaction as the write itself, so a crash leaves either both or neither.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from federation.crypto.canonical import canonical_json
from federation.db import rowcount, write_transaction
from federation.errors import Conflict, InvalidInput
from federation.models import IdempotencyRecord, table, utcnow

R = TypeVar("R")

# Long enough to carry 128 bits (a UUIDv4 or 22+ base64url characters): for case
# creation the key also seals the replayed PIN, so it must be unguessable.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-.:]{22,128}")


@dataclass(frozen=True)
class IdempotencyPolicy:
    """How long a replayable answer is kept (FEDERATION_IDEMPOTENCY_TTL_SECONDS)."""

    ttl_seconds: int = 24 * 3600


class Codec(Protocol[R]):
    """How one kind of write stores its answer and gives it back on a replay."""

    def dump(self, result: R, key: str) -> bytes: ...

    def load(self, stored: bytes, key: str) -> R: ...


class JsonCodec(Generic[R]):
    """Answers kept as JSON: for answers that hold no secret."""

    def __init__(self, to_json: Callable[[R], Any], from_json: Callable[[Any], R]) -> None:
        self._to_json, self._from_json = to_json, from_json

    def dump(self, result: R, key: str) -> bytes:
        return json.dumps(self._to_json(result), separators=(",", ":")).encode()

    def load(self, stored: bytes, key: str) -> R:
        return self._from_json(json.loads(stored))


# For answers that are already plain JSON values.
PLAIN_JSON: JsonCodec[Any] = JsonCodec(lambda body: body, lambda body: body)


def write_once(session: Session, policy: IdempotencyPolicy, *, scope: str, key: str | None,
               request: Any, write: Callable[[], R], codec: Codec[R],
               status_code: int = 200) -> tuple[R, bool]:
    """Run `write` in one write transaction, at most once per (scope, key); return
    (result, replayed).

    Every write endpoint goes through here. Without a key, `write` simply runs in a write
    transaction. With one, the answer is stored in the same transaction (a crash keeps
    both or neither), and the same request again returns the stored answer, decoded by
    `codec`, without running `write`. `request` is the parsed request, compared by its
    canonical digest. Raises Conflict (`idempotency_key_reused`) when the key was used
    for another request, and whatever `write` raises.
    """
    digest = request_digest(request)
    now = utcnow()
    try:
        with write_transaction(session):
            if key is not None:
                found = find(session, scope, key, digest, ttl=policy.ttl_seconds, now=now)
                if found is not None:
                    return codec.load(found.body, key), True
            result = write()
            if key is not None:
                store(session, scope, key, digest, status_code, codec.dump(result, key))
        return result, False
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        if key is None:
            raise
        found = find(session, scope, key, digest, ttl=policy.ttl_seconds, now=now)
        session.rollback()
        if found is None:
            raise
        return codec.load(found.body, key), True


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: bytes


def check_key(key: str) -> str:
    """Validate an Idempotency-Key header value, or raise InvalidInput."""
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput("Idempotency-Key must be 22 to 128 characters of A-Z a-z 0-9 _ - . : "
                           "(a random UUID works)", code="invalid_idempotency_key")
    return key


def request_digest(payload: Any) -> bytes:
    """A digest of the parsed request: the same JSON with other spacing or order is the same."""
    return hashlib.sha256(canonical_json(payload)).digest()


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def find(session: Session, scope: str, key: str, digest: bytes, *, ttl: int,
         now: dt.datetime) -> Replay | None:
    """The stored answer for this key, or None (never stored, or expired). Raises
    Conflict if the body differs. Call it in the write transaction that will store."""
    records = table(IdempotencyRecord).c  # columns, not an ORM load: this runs per report
    record = session.execute(
        select(records.id, records.request_digest, records.status_code, records.response,
               records.created_at)
        .where(records.scope == scope, records.key_digest == key_digest(key))).one_or_none()
    if record is None:
        return None
    if _expired(record.created_at, ttl, now):
        # Not yet purged: it goes now, in the caller's transaction, so that the answer
        # this request stores does not collide with it.
        session.execute(delete(IdempotencyRecord).where(records.id == record.id))
        return None
    if record.request_digest != digest:
        raise Conflict("this Idempotency-Key was already used with a different request",
                       code="idempotency_key_reused")
    return Replay(record.status_code, record.response)


def store(session: Session, scope: str, key: str, digest: bytes, status_code: int,
          body: bytes) -> None:
    """Remember the answer, in the caller's transaction."""
    session.execute(table(IdempotencyRecord).insert(),
                    {"scope": scope, "key_digest": key_digest(key), "request_digest": digest,
                     "status_code": status_code, "response": body})


def purge_expired(session: Session, *, ttl: int, now: dt.datetime) -> int:
    """Delete records older than ttl seconds (with any sealed PIN they hold)."""
    cutoff = now - dt.timedelta(seconds=ttl)
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return rowcount(result)


def _expired(created_at: dt.datetime, ttl: int, now: dt.datetime) -> bool:
    return created_at < now - dt.timedelta(seconds=ttl)
