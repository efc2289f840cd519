"""Idempotency-Key handling (DESIGN invariant 6).

A write sent again with the same key and the same body gets the first answer again;
the same key with a different body is a 409. The record is written in the same
transaction as the write itself, so a crash leaves either both or neither.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.crypto.canonical import canonical_json
from federation.errors import Conflict, InvalidInput
from federation.models import IdempotencyRecord

# Long enough to carry 128 bits (a UUIDv4 or 22+ base64url characters): for case
# creation the key also seals the replayed PIN, so it must be unguessable.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-.:]{22,128}")


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
    records = IdempotencyRecord.__table__.c  # columns, not an ORM load: this runs per report
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
          body: bytes | dict) -> None:
    """Remember the answer, in the caller's transaction."""
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":")).encode()
    session.execute(IdempotencyRecord.__table__.insert(),
                    {"scope": scope, "key_digest": key_digest(key), "request_digest": digest,
                     "status_code": status_code, "response": body})


def purge_expired(session: Session, *, ttl: int, now: dt.datetime) -> int:
    """Delete records older than ttl seconds (with any sealed PIN they hold)."""
    cutoff = now - dt.timedelta(seconds=ttl)
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount


def _expired(created_at: dt.datetime, ttl: int, now: dt.datetime) -> bool:
    return created_at < now - dt.timedelta(seconds=ttl)
