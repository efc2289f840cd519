"""Platform-sourced cases: hashes a platform found itself and reports for the feed.

Such a case has source "platform" and nobody holds a reference or PIN for it: its
reference digest is random bytes that no reference maps to, its PIN hash is a marker no
PIN verifies against, and `cases.authenticate` only looks at person cases. So the status
and withdraw endpoints can never reach it.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from federation import idempotency
from federation.cases import CasePolicy, Link, OpenedCase, check_signal_count, open_case, publish_adds
from federation.db import write_transaction
from federation.models import utcnow
from federation.signals import SignalValue, dedupe

NO_PIN = "!platform-case"


@dataclass(frozen=True)
class PlatformCaseReceipt:
    """What a platform gets for the hashes it reported: the record id of each."""

    status: str
    signal_count: int
    added_to_feed: int
    created_at: dt.datetime
    records: tuple[dict, ...]
    replayed: bool = False


def create_platform_case(session: Session, policy: CasePolicy, partner_id: int,
                         signals: list[SignalValue], *, idempotency_key: str | None = None
                         ) -> PlatformCaseReceipt:
    """Record hashes a platform found as a platform case; new ones enter the feed.

    With an idempotency key, the same request again returns the first receipt.
    Raises InvalidInput (no or too many signals), Conflict (key reused).
    """
    signals = dedupe(signals)
    check_signal_count(signals)
    scope = f"signals:{partner_id}"
    digest = idempotency.request_digest([[s.type, s.value, s.quality] for s in signals])
    now = utcnow()
    try:
        with write_transaction(session):
            if idempotency_key:
                found = idempotency.find(session, scope, idempotency_key, digest,
                                         ttl=policy.idempotency_ttl, now=now)
                if found is not None:
                    return _platform_receipt(json.loads(found.body), replayed=True)
            opened, added = open_platform_case(session, policy, partner_id, signals)
            stored = {"status": "active", "signal_count": len(opened.links),
                      "added_to_feed": len(added), "created_at": opened.created_at.isoformat(),
                      "records": [{"type": link.signal.type, "value": link.signal.value,
                                   "id": link.record_id} for link in opened.links]}
            if idempotency_key:
                idempotency.store(session, scope, idempotency_key, digest, 201, stored)
        return _platform_receipt(stored)
    except IntegrityError:
        replay = idempotency_key and idempotency.find(
            session, scope, idempotency_key, digest, ttl=policy.idempotency_ttl, now=now)
        session.rollback()
        if not replay:
            raise
        return _platform_receipt(json.loads(replay.body), replayed=True)


def open_platform_case(session: Session, policy: CasePolicy, partner_id: int,
                       signals: list[SignalValue]) -> tuple[OpenedCase, list[Link]]:
    """Insert a platform case and publish its newly active signals, in the caller's
    write transaction, which then holds the feed head lock until it commits.
    Returns the case and the links that entered the feed."""
    opened = open_case(session, signals, reference_digest=secrets.token_bytes(32),
                       pin_hash=NO_PIN, source="platform", partner_id=partner_id,
                       actor=f"partner:{partner_id}")
    return opened, publish_adds(session, policy, opened.links)


def _platform_receipt(stored: dict, *, replayed: bool = False) -> PlatformCaseReceipt:
    return PlatformCaseReceipt(stored["status"], stored["signal_count"], stored["added_to_feed"],
                               dt.datetime.fromisoformat(stored["created_at"]),
                               tuple(stored["records"]), replayed)
