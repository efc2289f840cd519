"""Who may open a person's case: its reference and PIN, and the locks on wrong PINs.

An unknown reference and a wrong PIN cost the same PIN hash and get the same
CaseNotFound, so a guesser learns nothing from the answer or its timing.

Wrong PINs are counted twice (README, "The person's secrets"):
- per (case, client network), outside the database (`ratelimit.NetworkLocks`, keyed by
  a rotating HMAC, never an address): every `max_failures` wrong PINs lock *that network*
  out of that case, doubling per lock up to `lock_max_seconds`. A stranger who knows the
  reference locks only their own network; the owner elsewhere still gets in.
- per case and UTC day, on the case row (no address): past `daily_cap` wrong PINs from
  all networks together, every attempt on the case is refused until the day rolls. That
  bounds a guesser with many networks to `daily_cap` guesses a day, and is the one way
  such a guesser can delay the owner.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import case as sql_case
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from federation import audit
from federation.crypto import pins
from federation.db import write_transaction
from federation.errors import CaseNotFound, LockedOut
from federation.models import Case, CaseSource, utcnow
from federation.ratelimit import KeyRing, MemoryStore, NetworkLocks

_REFERENCE_PURPOSE = "case-reference"


@dataclass(frozen=True)
class PinPolicy:
    """How references and PINs are stored and how wrong PINs lock a case, from config.

    `network_locks` holds the per-network counts (built by services from the app's
    rate-limit backend; by default in this process).
    """

    pepper: bytes
    memory_kib: int = 4096
    passes: int = 3
    max_failures: int = 5
    lock_base_seconds: int = 60
    lock_max_seconds: int = 24 * 3600
    daily_cap: int = 100
    network_locks: NetworkLocks | None = field(default=None, compare=False)
    clock: Callable[[], dt.datetime] = field(default=utcnow, compare=False)  # injectable for tests

    def __post_init__(self) -> None:
        if self.network_locks is None:
            object.__setattr__(self, "network_locks", self.make_network_locks(MemoryStore(), KeyRing()))

    @property
    def locks(self) -> NetworkLocks:
        if self.network_locks is None:  # set in __post_init__; None only if unset by hand
            raise RuntimeError("PinPolicy.network_locks is not set")
        return self.network_locks

    def make_network_locks(self, store, keys: KeyRing, prefix: str = "federation:") -> NetworkLocks:
        # Remembered for twice the longest lock: a lock's end does not reset the doubling.
        return NetworkLocks(store, keys, max_failures=self.max_failures, lock_seconds=self.lock_seconds,
                            remember_seconds=2 * self.lock_max_seconds, prefix=prefix)

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


def authenticate(session: Session, policy: PinPolicy, reference: str, pin: str,
                 network: str = "unknown") -> int:
    """The id of the case for this reference and PIN, from this client network
    (`ratelimit.client_network`), counting wrong PINs toward the locks.

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
    now = policy.clock()
    locks = policy.locks
    if case is not None:
        wait = (case.locked_until - now).total_seconds() \
            if case.locked_until and case.locked_until > now else 0
        wait = max(wait, locks.retry_after(case.id, network))
        if wait:
            with write_transaction(session):
                audit.record(session, "locked_attempt", actor="person", case_id=case.id)
            raise LockedOut(wait)

    matched = pins.verify_pin(pin, case.pin_hash if case else policy.dummy_pin_hash, policy.pepper)
    if case is None:
        with write_transaction(session):
            audit.record(session, "unknown_reference", actor="person")
        raise CaseNotFound()
    if not matched:
        _count_failure(session, policy, case.id, now, locks.record_failure(case.id, network))
        raise CaseNotFound()
    locks.forget(case.id, network)
    # A hash made with older settings (or as scrypt, before Argon2id) is replaced now
    # that the PIN is known, so every case comes to cost the same to check.
    fresh_hash = None if pins.is_current(case.pin_hash, policy.memory_kib, policy.passes) \
        else policy.hash_pin(pin)
    if fresh_hash:
        with write_transaction(session):
            session.execute(update(Case).where(Case.id == case.id).values(pin_hash=fresh_hash))
    return case.id


def next_day(now: dt.datetime) -> dt.datetime:
    """The start of the UTC day after `now`'s, when the per-case daily count starts over."""
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _count_failure(session: Session, policy: PinPolicy, case_id: int, now: dt.datetime,
                   network_lock_seconds: int) -> None:
    """Count a wrong PIN against the case's daily cap (from every network together), and
    audit the lock it earned the guessing network, if it did (not which network)."""
    today = now.astimezone(dt.UTC).date()
    with write_transaction(session):
        # One atomic statement: concurrent guesses cannot lose a count, and the first
        # wrong PIN of a new day starts the count again.
        failures = session.execute(
            update(Case).where(Case.id == case_id)
            .values(failed_pin_attempts=sql_case((Case.pin_failures_day == today,
                                                  Case.failed_pin_attempts + 1), else_=1),
                    pin_failures_day=today)
            .returning(Case.failed_pin_attempts)).scalar_one()
        audit.record(session, "pin_failed", actor="person", case_id=case_id)
        if network_lock_seconds:
            audit.record(session, "case_locked", actor="person", case_id=case_id,
                         detail=f"seconds={network_lock_seconds} one_network")
        if failures == policy.daily_cap:
            # Exactly one request sees the cap reached: the case locks until the day rolls.
            until = next_day(now)
            session.execute(update(Case).where(Case.id == case_id)
                            .values(locked_until=until, lockouts=Case.lockouts + 1))
            audit.record(session, "case_locked", actor="person", case_id=case_id,
                         detail=f"seconds={int((until - now).total_seconds())} daily_cap")
