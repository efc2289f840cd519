"""The person's case: report once, check status, withdraw.

Services take a Session and plain values and raise domain exceptions (STYLE 3).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case as sql_case
from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from federation import audit, feed, idempotency, referrals, signing_keys
from federation.crypto import pins
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.sealing import PIN_SEAL_INFO, derive_key, seal, unseal
from federation.db import dialect_insert, lock_feed_head, write_transaction
from federation.errors import CaseNotFound, InvalidInput, LockedOut
from federation.models import VERDICTS, Case, CaseSignal, FeedbackLatest, Partner, Signal, utcnow
from federation.signals import SignalValue, dedupe

MAX_SIGNALS = 500
CONSENT_VERSION = 1
_REFERENCE_PURPOSE = "case-reference"
_IDEMPOTENCY_SCOPE = "cases.create"

# What each verdict means to the person, in the words the status shows.
OUTCOME_WORDS = {
    "match_pending_review": "found",
    "blocked": "taken down",
    "not_blocked": "reviewed and kept up",
    "deleted": "deleted after withdrawal",
}


@dataclass(frozen=True)
class CasePolicy:
    """The settings case services need, taken from config once at start-up."""

    pepper: bytes
    kek: bytes  # opens the feed-signing key
    pin_memory_kib: int = 4096
    pin_passes: int = 3
    max_failures: int = 5
    lock_base_seconds: int = 60
    lock_max_seconds: int = 24 * 3600
    idempotency_ttl: int = 24 * 3600

    def hash_pin(self, pin: str) -> str:
        return pins.hash_pin(pin, self.pepper, memory_kib=self.pin_memory_kib, passes=self.pin_passes)

    def reference_digest(self, reference: str) -> bytes:
        return pins.keyed_digest(self.pepper, _REFERENCE_PURPOSE, reference)

    @functools.cached_property
    def signers(self) -> signing_keys.Signers:
        """Feed-signing keys, unsealed once per process and kid."""
        return signing_keys.Signers(self.kek)

    @functools.cached_property
    def dummy_pin_hash(self) -> str:
        """Verified against when the reference is unknown, so that costs one hash too."""
        return self.hash_pin(pins.new_pin())

    def lock_seconds(self, lockouts: int) -> int:
        """Length of the n-th lock (1-based): doubling from the base, capped."""
        return min(self.lock_base_seconds * 2 ** min(lockouts - 1, 30), self.lock_max_seconds)


@dataclass(frozen=True)
class Consent:
    """What the person confirmed. All three must be true to report."""

    adult: bool
    depicted_or_acting_for: bool
    share_with_platforms: bool


@dataclass(frozen=True)
class CaseReceipt:
    """What the person gets once: the reference and PIN are never shown again."""

    reference: str
    pin: str | None
    pin_sealed: str | None
    status: str
    signal_count: int
    created_at: dt.datetime
    replayed: bool = False
    # None when no referral code was sent; else whether it was applied (and shared).
    referral: referrals.ReferralOutcome | None = None


@dataclass(frozen=True)
class Outcome:
    """One platform's latest verdict on some of the case's hashes."""

    verdict: str
    outcome: str  # the verdict in plain words (OUTCOME_WORDS)
    signals: int  # how many of the case's hashes are in this state there
    count: int  # how many times it was reported (uploads found, copies taken down...)
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class PlatformOutcome:
    platform: str  # the partner's display name
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True)
class CaseStatus:
    status: str
    signal_count: int
    created_at: dt.datetime
    withdrawn_at: dt.datetime | None
    platforms: tuple[PlatformOutcome, ...] = ()
    sharing: referrals.Sharing | None = None  # the referral behind the case, if any


def create_case(session: Session, policy: CasePolicy, signals: list[SignalValue], consent: Consent,
                *, referral_code: str | None = None, share_with_referrer: bool = False,
                source: str = "person", idempotency_key: str | None = None,
                actor: str = "person") -> CaseReceipt:
    """Open a case holding these signals and publish those that became active.

    A referral code is spent on the case in the same transaction; with
    `share_with_referrer` its organisation may follow the case's outcome. A code that
    cannot be used (unknown, expired, used, organisation suspended) does not stop the
    report: the receipt says it was not applied. With an idempotency key, a repeat of
    the same request returns the first receipt, with the PIN sealed to the key instead
    of in clear (see `open_sealed_pin`).
    Raises InvalidInput (no consent, no or too many signals), Conflict (key reused).
    """
    if not (consent.adult and consent.depicted_or_acting_for and consent.share_with_platforms):
        raise InvalidInput("all three consent statements must be confirmed", code="consent_required")
    signals = dedupe(signals)
    check_signal_count(signals)
    digest = idempotency.request_digest(
        {"signals": [[s.type, s.value, s.quality] for s in signals],
         "referral_code": referral_code, "share_with_referrer": share_with_referrer, "source": source})
    # The slow PIN hash runs before the transaction: on SQLite its BEGIN IMMEDIATE holds
    # the database's write lock. A retry that turns out to be a replay pays it for nothing.
    reference, pin = pins.new_reference(), pins.new_pin()
    pin_hash = policy.hash_pin(pin)
    try:
        with write_transaction(session):
            if idempotency_key:
                replay = _replay(session, policy, idempotency_key, digest)
                if replay:
                    return replay
            opened = open_case(session, signals, reference_digest=policy.reference_digest(reference),
                               pin_hash=pin_hash, source=source, partner_id=None, actor=actor)
            referral = None
            if referral_code is not None:
                referral = referrals.redeem(session, referrals.ReferralPolicy(policy.pepper),
                                            referral_code, opened.id, share_with_referrer)
            receipt = CaseReceipt(reference, pin, None, "active", len(signals), opened.created_at,
                                  referral=referral)
            if idempotency_key:
                _remember(session, policy, idempotency_key, digest, receipt)
            publish_adds(session, policy, opened.links)
        return receipt
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        replay = idempotency_key and _replay(session, policy, idempotency_key, digest)
        session.rollback()
        if not replay:
            raise
        return replay


def case_status(session: Session, policy: CasePolicy, reference: str, pin: str) -> CaseStatus:
    """The case's status for its owner. Raises CaseNotFound or LockedOut."""
    case = authenticate(session, policy, reference, pin)
    with write_transaction(session):
        audit.record(session, "status_checked", actor="person", case_id=case.id)
    return _status_of(session, case)


def withdraw_case(session: Session, policy: CasePolicy, reference: str, pin: str) -> CaseStatus:
    """Withdraw the case; signals it alone kept active get a feed `delete`.

    Withdrawing twice is not an error: the second call reports the same state.
    Raises CaseNotFound or LockedOut.
    """
    case = authenticate(session, policy, reference, pin)
    with write_transaction(session):
        lock_feed_head(session)
        session.refresh(case)  # the head lock serialises writers; read the latest state
        if case.status == "withdrawn":
            audit.record(session, "withdraw_repeated", actor="person", case_id=case.id)
        else:
            case.status, case.withdrawn_at = "withdrawn", utcnow()
            deactivated = _deactivate_signals(session, case.id)
            feed.publish(session, policy.signers, deactivated)
            audit.record(session, "case_withdrawn", actor="person", case_id=case.id,
                         detail=f"deactivated={len(deactivated)}")
    return _status_of(session, case)


def stop_sharing(session: Session, policy: CasePolicy, reference: str, pin: str) -> CaseStatus:
    """Stop sharing the case with the organisation that referred it, at once.

    Stopping when nothing is shared is not an error. Raises CaseNotFound or LockedOut.
    """
    case = authenticate(session, policy, reference, pin)
    with write_transaction(session):
        referrals.stop_sharing(session, case.id)
    return _status_of(session, case)


def authenticate(session: Session, policy: CasePolicy, reference: str, pin: str) -> Case:
    """The case for this reference and PIN, counting failures toward a lock.

    An unknown reference costs the same PIN hash as a wrong PIN, and both raise the
    same CaseNotFound, so a guesser learns nothing from the answer or its timing.
    """
    normalised = pins.normalise_reference(reference)
    case = None
    if normalised:
        case = session.scalar(select(Case).where(
            Case.reference_digest == policy.reference_digest(normalised),
            Case.source == "person"))
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
    fresh_hash = None if pins.is_current(case.pin_hash, policy.pin_memory_kib, policy.pin_passes) \
        else policy.hash_pin(pin)
    if case.failed_pin_attempts or fresh_hash:
        values = {"failed_pin_attempts": 0} | ({"pin_hash": fresh_hash} if fresh_hash else {})
        with write_transaction(session):
            session.execute(update(Case).where(Case.id == case.id).values(**values))
    return case


def open_sealed_pin(idempotency_key: str, pin_sealed: str) -> str:
    """What a retrying client does with `pin_sealed`: HKDF the key, AES-GCM open."""
    return unseal(derive_key(idempotency_key, info=PIN_SEAL_INFO), b64u_decode(pin_sealed)).decode()


def _count_failure(session: Session, policy: CasePolicy, case_id: int, now: dt.datetime) -> None:
    with write_transaction(session):
        # One atomic increment: concurrent guesses cannot lose a count.
        failures = session.execute(
            update(Case).where(Case.id == case_id)
            .values(failed_pin_attempts=Case.failed_pin_attempts + 1)
            .returning(Case.failed_pin_attempts)).scalar_one()
        audit.record(session, "pin_failed", actor="person", case_id=case_id)
        if failures >= policy.max_failures:
            case = session.get(Case, case_id, populate_existing=True)
            case.lockouts += 1
            case.failed_pin_attempts = 0
            seconds = policy.lock_seconds(case.lockouts)
            case.locked_until = now + dt.timedelta(seconds=seconds)
            audit.record(session, "case_locked", actor="person", case_id=case_id,
                         detail=f"seconds={seconds}")


@dataclass(frozen=True)
class Link:
    """A signal as linked to a case: its row id and this link's record id."""

    signal: SignalValue
    signal_id: int
    record_id: str


@dataclass(frozen=True)
class OpenedCase:
    id: int
    created_at: dt.datetime
    links: tuple[Link, ...]  # in the order the signals were given


# The write path uses the tables, not the mapped classes: a statement built from mapped
# attributes takes the ORM's bulk-statement path, which costs more than the database here.
_CASES, _SIGNALS, _LINKS = Case.__table__, Signal.__table__, CaseSignal.__table__


def open_case(session: Session, signals: list[SignalValue], *,
              reference_digest: bytes, pin_hash: str, source: str, partner_id: int | None,
              actor: str) -> OpenedCase:
    """Insert the case, any unknown signals and the links, in the caller's write
    transaction. Nothing enters the feed yet: the caller ends with `publish_adds`,
    so the feed head lock is held only for the few statements that need it."""
    created_at = utcnow()
    case_id = session.execute(
        insert(_CASES).returning(_CASES.c.id),
        {"reference_digest": reference_digest, "pin_hash": pin_hash, "source": source,
         "partner_id": partner_id, "consent_version": CONSENT_VERSION, "created_at": created_at},
    ).scalar_one()
    ids = _signal_ids(session, signals)
    links = tuple(Link(signal, ids[signal.key], _new_record_id()) for signal in signals)
    session.execute(insert(_LINKS),
                    [{"case_id": case_id, "signal_id": link.signal_id, "record_id": link.record_id}
                     for link in links])
    detail = f"signals={len(signals)}" + (" source=platform" if source == "platform" else "")
    audit.record(session, "case_created", actor=actor, case_id=case_id, detail=detail)
    return OpenedCase(case_id, created_at, links)


def _signal_ids(session: Session, signals: list[SignalValue]) -> dict[tuple[str, str], int]:
    """The row id of each signal, inserting those the database does not hold yet.

    Rows go in sorted by (type, value): two reports inserting the same new signals then
    wait for each other in one order and cannot deadlock.
    """
    column = _SIGNALS.c
    rows = [{"type": s.type, "value": s.value, "quality": s.quality, "active": False}
            for s in sorted(signals, key=lambda s: s.key)]
    ids = {(kind, value): id_ for id_, kind, value in session.execute(
        dialect_insert(session, _SIGNALS).on_conflict_do_nothing(index_elements=["type", "value"])
        .returning(column.id, column.type, column.value), rows)}
    missing = [s.key for s in signals if s.key not in ids]
    if missing:  # already stored: ON CONFLICT DO NOTHING returns no row for them
        ids.update(((kind, value), id_) for id_, kind, value in session.execute(
            select(column.id, column.type, column.value)
            .where(tuple_(column.type, column.value).in_(missing))))
    return ids


def publish_adds(session: Session, policy: CasePolicy, links: Sequence[Link]) -> list[Link]:
    """Under the feed head lock, activate the linked signals that were inactive and
    publish an `add` for each, carrying its link's record id. Returns those links.

    Whether a signal is active changes only under this lock (here and in withdrawal),
    so a withdrawal racing this case either sees its committed links or runs first.
    """
    lock_feed_head(session)
    record_ids = {link.signal_id: link.record_id for link in links}
    column = _SIGNALS.c
    # The entry carries the signal as stored (its first PDQ quality), like its `delete`
    # will, not as this report sent it.
    stored = {row.id: SignalValue(row.type, row.value, row.quality) for row in session.execute(
        update(_SIGNALS)
        .where(column.id.in_(record_ids), column.active.is_(False))
        .values(active=True, active_record_id=sql_case(record_ids, value=column.id))
        .returning(column.id, column.type, column.value, column.quality))}
    added = [link for link in links if link.signal_id in stored]
    feed.publish(session, policy.signers, [
        feed.Change("add", link.signal_id, link.record_id, stored[link.signal_id]) for link in added])
    return added


def _deactivate_signals(session: Session, case_id: int) -> list[feed.Change]:
    """Deactivate the signals of a withdrawn case that no other active case holds;
    return the `delete` to publish for each. Call under the feed head lock."""
    other = aliased(CaseSignal)
    held_elsewhere = (select(other.id).join(Case, Case.id == other.case_id)
                      .where(other.signal_id == Signal.id, Case.status == "active",
                             Case.id != case_id).exists())
    rows = session.execute(
        select(Signal.id, Signal.type, Signal.value, Signal.quality, Signal.active_record_id)
        .join(CaseSignal, CaseSignal.signal_id == Signal.id)
        .where(CaseSignal.case_id == case_id, Signal.active.is_(True), ~held_elsewhere)
        .order_by(CaseSignal.id)).all()
    if rows:
        session.execute(update(_SIGNALS).where(_SIGNALS.c.id.in_([row.id for row in rows]))
                        .values(active=False))
    return [feed.Change("delete", row.id, row.active_record_id,
                        SignalValue(row.type, row.value, row.quality)) for row in rows]


def _status_of(session: Session, case: Case) -> CaseStatus:
    count = session.scalar(select(func.count()).where(CaseSignal.case_id == case.id))
    return CaseStatus(case.status, count, case.created_at, case.withdrawn_at,
                      platform_outcomes(session, case.id), referrals.sharing_of(session, case.id))


def platform_outcomes(session: Session, case_id: int) -> tuple[PlatformOutcome, ...]:
    """Per platform, the latest verdicts on this case's hashes, grouped by verdict.

    Read at request time from feedback_latest: feedback committed before the status
    request is in its answer, there is no cache to go stale.
    """
    rows = session.execute(
        select(Partner.id, Partner.display_name, FeedbackLatest.verdict, func.count(),
               func.sum(FeedbackLatest.count), func.min(FeedbackLatest.first_at),
               func.max(FeedbackLatest.occurred_at))
        .join(CaseSignal, CaseSignal.signal_id == FeedbackLatest.signal_id)
        .join(Partner, Partner.id == FeedbackLatest.partner_id)
        .where(CaseSignal.case_id == case_id)
        .group_by(Partner.id, Partner.display_name, FeedbackLatest.verdict)).all()
    by_platform: dict[tuple[str, int], list[Outcome]] = {}
    for partner_id, name, verdict, signals, total, first_at, last_at in rows:
        by_platform.setdefault((name, partner_id), []).append(
            Outcome(verdict, OUTCOME_WORDS[verdict], signals, int(total), first_at, last_at))
    return tuple(PlatformOutcome(name, tuple(sorted(outcomes, key=lambda o: VERDICTS.index(o.verdict))))
                 for (name, _), outcomes in sorted(by_platform.items()))


def check_signal_count(signals: list[SignalValue]) -> None:
    if not 1 <= len(signals) <= MAX_SIGNALS:
        raise InvalidInput(f"a case holds 1 to {MAX_SIGNALS} distinct signals, got {len(signals)}",
                           code="signal_count")


def _new_record_id() -> str:
    return "r_" + secrets.token_urlsafe(16)


# --- idempotent creation -------------------------------------------------------------
# The stored answer is sealed under HKDF(key, salt=pepper): the server can open it only
# when the client presents the key again. Inside it, the PIN is sealed a second time
# under HKDF(key) alone, which the client can derive and the replay hands out as is:
# the PIN never travels in clear twice, and the database alone opens neither layer.

def _replay(session: Session, policy: CasePolicy, key: str, digest: bytes) -> CaseReceipt | None:
    found = idempotency.find(session, _IDEMPOTENCY_SCOPE, key, digest,
                             ttl=policy.idempotency_ttl, now=utcnow())
    if found is None:
        return None
    stored = json.loads(unseal(_server_key(policy, key), found.body))
    return CaseReceipt(stored["reference"], None, stored["pin_sealed"], stored["status"],
                       stored["signal_count"], dt.datetime.fromisoformat(stored["created_at"]),
                       replayed=True, referral=referrals.ReferralOutcome.from_dict(stored.get("referral")))


def _remember(session: Session, policy: CasePolicy, key: str, digest: bytes,
              receipt: CaseReceipt) -> None:
    pin_sealed = b64u_encode(seal(derive_key(key, info=PIN_SEAL_INFO), receipt.pin.encode()))
    stored = {"reference": receipt.reference, "pin_sealed": pin_sealed, "status": receipt.status,
              "signal_count": receipt.signal_count, "created_at": receipt.created_at.isoformat(),
              "referral": receipt.referral.as_dict() if receipt.referral else None}
    body = seal(_server_key(policy, key), json.dumps(stored).encode())
    idempotency.store(session, _IDEMPOTENCY_SCOPE, key, digest, 201, body)


def _server_key(policy: CasePolicy, key: str) -> bytes:
    return derive_key(key, info=b"federation/idempotency-response/v1", salt=policy.pepper)
