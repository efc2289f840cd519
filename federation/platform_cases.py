"""Platform-sourced cases: hashes a platform found itself and reports for the feed.

Such a case has source "platform" and nobody holds a reference or PIN for it: its
reference digest is random bytes that no reference maps to, its PIN hash is a marker no
PIN verifies against, and `cases.authenticate` only looks at person cases. So the status
and withdraw endpoints can never reach it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from federation import idempotency
from federation.cases import Link, OpenedCase, check_signal_count, open_case, publish_adds
from federation.idempotency import IdempotencyPolicy
from federation.models import CaseSource, CaseState
from federation.signals import SignalValue, dedupe
from federation.signing_keys import Signers

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


def create_platform_case(session: Session, signers: Signers, idempotency_policy: IdempotencyPolicy,
                         partner_id: int, signals: list[SignalValue], *,
                         idempotency_key: str | None = None) -> PlatformCaseReceipt:
    """Record hashes a platform found as a platform case; new ones enter the feed.

    With an idempotency key, the same request again returns the first receipt.
    Raises InvalidInput (no or too many signals), Conflict (key reused).
    """
    check_signal_count(signals)  # as sent: the documented bound is on the list itself
    signals = dedupe(signals)

    def write() -> PlatformCaseReceipt:
        opened, added = open_platform_case(session, signers, partner_id, signals)
        return PlatformCaseReceipt(
            CaseState.ACTIVE, len(opened.links), len(added), opened.created_at,
            tuple({"type": link.signal.type, "value": link.signal.value, "id": link.record_id}
                  for link in opened.links))

    receipt, replayed = idempotency.write_once(
        session, idempotency_policy, scope=f"signals:{partner_id}", key=idempotency_key,
        request=[[s.type, s.value, s.quality] for s in signals], write=write, codec=_CODEC,
        status_code=201)
    return dataclasses.replace(receipt, replayed=True) if replayed else receipt


def open_platform_case(session: Session, signers: Signers, partner_id: int,
                       signals: list[SignalValue]) -> tuple[OpenedCase, list[Link]]:
    """Insert a platform case and publish its newly active signals, in the caller's
    write transaction, which then holds the feed head lock until it commits.
    Returns the case and the links that entered the feed."""
    opened = open_case(session, signals, reference_digest=secrets.token_bytes(32),
                       pin_hash=NO_PIN, source=CaseSource.PLATFORM, partner_id=partner_id,
                       actor=f"partner:{partner_id}")
    return opened, publish_adds(session, signers, opened.links)


_CODEC: idempotency.JsonCodec[PlatformCaseReceipt] = idempotency.JsonCodec(
    lambda r: {"status": r.status, "signal_count": r.signal_count, "added_to_feed": r.added_to_feed,
               "created_at": r.created_at.isoformat(), "records": list(r.records)},
    lambda stored: PlatformCaseReceipt(stored["status"], stored["signal_count"], stored["added_to_feed"],
                                       dt.datetime.fromisoformat(stored["created_at"]),
                                       tuple(stored["records"])))
