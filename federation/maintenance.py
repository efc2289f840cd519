"""Keeping what the README promises about lifetimes: one pass that forgets what has expired.

`federation maintenance` runs `run` (docs/operations.md: a systemd timer or cron, every
few minutes). Each purge is what a promise says:

- idempotency records (and the sealed PIN each holds) "expire after a day"
  (`FEDERATION_IDEMPOTENCY_TTL_SECONDS`): deleted once older than that;
- caseworker sessions end after `FEDERATION_CASEWORKER_IDLE_SECONDS` idle or
  `_SESSION_MAX_SECONDS` after sign-in: deleted once either has passed (a request on an
  expired one already deletes it; this catches those never used again);
- referral codes are usable for `FEDERATION_REFERRAL_TTL_DAYS` and once: the code's digest
  is emptied when it has expired or been spent, and the row stays for the organisation's
  counts and its link to the case.

Two runs at once are safe: on PostgreSQL the pass takes a transaction-scoped advisory lock
and a second run that finds it taken does nothing and says so; on SQLite the write
transaction (BEGIN IMMEDIATE) is the lock, and the second run waits, then finds nothing
left. Every delete is idempotent, so even two passes one after the other purge each row
once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, or_, text, update
from sqlalchemy.orm import Session

from federation import idempotency
from federation.caseworker_sessions import SessionPolicy
from federation.db import rowcount, write_transaction
from federation.idempotency import IdempotencyPolicy
from federation.models import CaseworkerSession, Referral, utcnow

# pg_advisory_xact_lock key: an arbitrary constant that names this pass ("fed-mnt").
LOCK_KEY = 0x6665642D6D6E74


@dataclass(frozen=True)
class Purged:
    """What one pass forgot; `skipped` when another pass held the lock."""

    idempotency_records: int = 0
    caseworker_sessions: int = 0
    referral_codes: int = 0
    skipped: bool = False

    def total(self) -> int:
        return self.idempotency_records + self.caseworker_sessions + self.referral_codes


def run(session: Session, idempotency_policy: IdempotencyPolicy, sessions_policy: SessionPolicy, *,
        now: dt.datetime | None = None) -> Purged:
    """One maintenance pass, in one write transaction. Returns the counts purged."""
    now = now or utcnow()
    with write_transaction(session):
        if not _try_lock(session):
            return Purged(skipped=True)
        records = idempotency.purge_expired(session, ttl=idempotency_policy.ttl_seconds, now=now)
        sessions = purge_caseworker_sessions(session, sessions_policy, now=now)
        codes = forget_unusable_referral_codes(session, now=now)
    return Purged(records, sessions, codes)


def purge_caseworker_sessions(session: Session, policy: SessionPolicy, *, now: dt.datetime) -> int:
    """Delete sessions idle too long or past their maximum length, in the caller's transaction."""
    idle_cutoff = now - dt.timedelta(seconds=policy.idle_seconds)
    age_cutoff = now - dt.timedelta(seconds=policy.max_seconds)
    return rowcount(session.execute(delete(CaseworkerSession).where(or_(
        CaseworkerSession.last_seen_at < idle_cutoff, CaseworkerSession.created_at < age_cutoff))))


def forget_unusable_referral_codes(session: Session, *, now: dt.datetime) -> int:
    """Empty the code digest of referrals whose code expired or was spent, in the caller's
    transaction. Such a code is refused already; this makes the database forget it."""
    return rowcount(session.execute(
        update(Referral)
        .where(Referral.code_digest.is_not(None),
               or_(Referral.expires_at <= now, Referral.used_at.is_not(None)))
        .values(code_digest=None)))


def _try_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar_one())
