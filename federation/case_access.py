"""Who may open a person's case: its reference and PIN, and the lock on wrong PINs.

An unknown reference and a wrong PIN cost the same PIN hash and get the same
CaseNotFound, so a guesser learns nothing from the answer or its timing.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from federation import audit
from federation.crypto import pins
from federation.db import write_transaction
from federation.errors import CaseNotFound, LockedOut
from federation.models import Case, CaseSource, utcnow

_REFERENCE_PURPOSE = "case-reference"


@dataclass(frozen=True)
class PinPolicy:
    """How references and PINs are stored and how wrong PINs lock a case, from config."""

    pepper: bytes
    memory_kib: int = 4096
    passes: int = 3
    max_failures: int = 5
    lock_base_seconds: int = 60
    lock_max_seconds: int = 24 * 3600

    def hash_pin(self, pin: str) -> str:
        return pins.hash_pin(pin, self.pepper, memory_kib=self.memory_kib, passes=self.passes)

    def reference_digest(self, reference: str) -> bytes:
        return pins.keyed_digest(self.pepper, _REFERENCE_PURPOSE, reference)

    @functools.cached_property
    def dummy_pin_hash(self) -> str:
        """Verified against when the reference is unknown, so that costs one hash too."""
        return self.hash_pin(pins.new_pin())

    def lock_seconds(self, lockouts: int) -> int:
        """Length of the n-th lock (1-based): doubling from the base, capped."""
        return min(self.lock_base_seconds * 2 ** min(lockouts - 1, 30), self.lock_max_seconds)


def authenticate(session: Session, policy: PinPolicy, reference: str, pin: str) -> int:
    """The id of the case for this reference and PIN, counting failures toward a lock.

    Raises CaseNotFound (unknown reference or wrong PIN) or LockedOut. Leaves no
    transaction open.
    """
    normalised = pins.normalise_reference(reference)
    case = None
    if normalised:
        # Plain values, not an ORM object: they outlive the rollback below.
        case = session.execute(
            select(Case.id, Case.pin_hash, Case.locked_until, Case.failed_pin_attempts)
            .where(Case.reference_digest == policy.reference_digest(normalised),
                   Case.source == CaseSource.PERSON)).one_or_none()
    session.rollback()  # end the read transaction before the slow hash
    now = utcnow()
    if case is not None and case.locked_until and case.locked_until > now:
        with write_transaction(session):
            audit.record(session, "locked_attempt", actor="person", case_id=case.id)
        raise LockedOut((case.locked_until - now).total_seconds())

    matched = pins.verify_pin(pin, case.pin_hash if case else policy.dummy_pin_hash, policy.pepper)
    if case is None:
        with write_transaction(session):
            audit.record(session, "unknown_reference", actor="person")
        raise CaseNotFound()
    if not matched:
        _count_failure(session, policy, case.id, now)
        raise CaseNotFound()
    # A hash made with older settings (or as scrypt, before Argon2id) is replaced now
    # that the PIN is known, so every case comes to cost the same to check.
    fresh_hash = None if pins.is_current(case.pin_hash, policy.memory_kib, policy.passes) \
        else policy.hash_pin(pin)
    if case.failed_pin_attempts or fresh_hash:
        values = {"failed_pin_attempts": 0} | ({"pin_hash": fresh_hash} if fresh_hash else {})
        with write_transaction(session):
            session.execute(update(Case).where(Case.id == case.id).values(**values))
    return case.id


def _count_failure(session: Session, policy: PinPolicy, case_id: int, now: dt.datetime) -> None:
    with write_transaction(session):
        # One atomic increment: concurrent guesses cannot lose a count.
        failures = session.execute(
            update(Case).where(Case.id == case_id)
            .values(failed_pin_attempts=Case.failed_pin_attempts + 1)
            .returning(Case.failed_pin_attempts)).scalar_one()
        audit.record(session, "pin_failed", actor="person", case_id=case_id)
        if failures >= policy.max_failures:
            case = session.get(Case, case_id, populate_existing=True)
            assert case is not None  # the update above found it, under the same transaction
            case.lockouts += 1
            case.failed_pin_attempts = 0
            seconds = policy.lock_seconds(case.lockouts)
            case.locked_until = now + dt.timedelta(seconds=seconds)
            audit.record(session, "case_locked", actor="person", case_id=case_id,
                         detail=f"seconds={seconds}")
