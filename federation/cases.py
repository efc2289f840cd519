"""The person's case: report once, check status, withdraw.

Services take a Session and plain values and raise domain exceptions (docs/architecture.md).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

from federation import audit, deny_list, feed, idempotency, receipts, referrals
from federation.case_access import PinPolicy, authenticate
from federation.crypto import pins as pins_module
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.sealing import PIN_SEAL_INFO, derive_key, seal, unseal
from federation.db import dialect_insert, lock_feed_head, rowcount, write_transaction
from federation.errors import InvalidInput
from federation.idempotency import IdempotencyPolicy
from federation.models import (
    VERDICTS,
    Case,
    CaseSignal,
    CaseSource,
    CaseState,
    FeedbackEvent,
    FeedbackLatest,
    FeedHead,
    FeedOp,
    Partner,
    Signal,
    Verdict,
    Withheld,
    table,
    utcnow,
)
from federation.signals import SignalValue, dedupe
from federation.signing_keys import Signers

MAX_SIGNALS = 500
CONSENT_VERSION = 1
_IDEMPOTENCY_SCOPE = "cases.create"

# What each verdict means to the person, in the words the status shows.
OUTCOME_WORDS = {
    "match_pending_review": "found",
    "blocked": "taken down",
    "not_blocked": "reviewed and kept up",
    "deleted": "deleted after withdrawal",
}


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
    # Recorded, but its hashes wait for the feed's budget (FeedBudget) to be published.
    held: bool = False
    # Hashes kept out of the feed while the operator checks them (platforms disputed
    # them, or they matched far too often), and hashes a check found are not intimate
    # pictures (docs/list-hygiene.md). Never which platform disputed.
    paused: int = 0
    not_shared: int = 0
    # Hashes that were paused and are shared again after the check.
    restored: int = 0
    # Once withdrawn: per platform, whether it sent a signed receipt for every delete.
    deletion: tuple[receipts.PlatformDeletion, ...] = ()


@dataclass(frozen=True)
class FeedBudget:
    """How fast people's reports may grow the feed: a token bucket of feed entries,
    `per_minute` added each minute, saved up to `burst` (0 per minute: no bound).

    A report whose new entries do not fit, or that arrives while others wait, is stored
    and answered as usual but *held*: its hashes are published later, oldest first, when
    a person's report finds budget (up to `drain_per_report` entries, so that report stays
    quick) or when the operator runs `federation feed publish-held`.
    Platform-sourced cases are not bounded.
    """

    per_minute: int = 300
    burst: int = 3000
    drain_per_report: int = 1000
    clock: Callable[[], dt.datetime] = utcnow


def create_case(session: Session, pins: PinPolicy, signers: Signers, idempotency_policy: IdempotencyPolicy,
                signals: list[SignalValue], consent: Consent, *,
                referrals_policy: referrals.ReferralPolicy, referral_code: str | None = None,
                share_with_referrer: bool = False, idempotency_key: str | None = None,
                budget: FeedBudget | None = None) -> CaseReceipt:
    """Open a person's case holding these signals and publish those that became active.

    A referral code is spent on the case in the same transaction; with
    `share_with_referrer` its organisation may follow the case's outcome. A code that
    cannot be used (unknown, expired, used, organisation suspended) does not stop the
    report: the receipt says it was not applied. With an idempotency key, a repeat of
    the same request returns the first receipt, with the PIN sealed to the key instead
    of in clear (see `open_sealed_pin`). With a `budget`, the new hashes may be held for
    later publication (`FeedBudget`); without, they are published at once.
    Raises InvalidInput (no consent, no or too many signals), Conflict (key reused).
    """
    if not (consent.adult and consent.depicted_or_acting_for and consent.share_with_platforms):
        raise InvalidInput("all three consent statements must be confirmed", code="consent_required")
    check_signal_count(signals)  # as sent: the documented bound is on the list itself
    signals = dedupe(signals)
    # The slow PIN hash runs before the transaction: on SQLite its BEGIN IMMEDIATE holds
    # the database's write lock. A retry that turns out to be a replay pays it for nothing.
    reference, pin = pins_module.new_reference(), pins_module.new_pin()
    pin_hash = pins.hash_pin(pin)

    def write() -> CaseReceipt:
        opened = open_case(session, signals, reference_digest=pins.reference_digest(reference),
                           pin_hash=pin_hash, source=CaseSource.PERSON, partner_id=None, actor="person")
        referral = None
        if referral_code is not None:
            referral = referrals.redeem(session, referrals_policy, referral_code, opened.id,
                                        share_with_referrer)
        if budget is None:
            publish_adds(session, signers, opened.links)
        else:
            publish_person_case(session, signers, budget, opened.id, opened.links)
        return CaseReceipt(reference, pin, None, CaseState.ACTIVE, len(signals), opened.created_at,
                           referral=referral)

    request = {"signals": [[s.type, s.value, s.quality] for s in signals],
               "referral_code": referral_code, "share_with_referrer": share_with_referrer,
               "source": CaseSource.PERSON}
    receipt, _ = idempotency.write_once(
        session, idempotency_policy, scope=_IDEMPOTENCY_SCOPE, key=idempotency_key,
        request=request, write=write, codec=_ReceiptCodec(pins.pepper), status_code=201)
    return receipt


def case_status(session: Session, pins: PinPolicy, reference: str, pin: str,
                network: str = "unknown") -> CaseStatus:
    """The case's status for its owner, asking from client `network`.
    Raises CaseNotFound or LockedOut."""
    case_id = authenticate(session, pins, reference, pin, network)
    with write_transaction(session):
        audit.record(session, "status_checked", actor="person", case_id=case_id)
    return _status_of(session, case_id)


def withdraw_case(session: Session, pins: PinPolicy, signers: Signers, reference: str,
                  pin: str, network: str = "unknown") -> CaseStatus:
    """Withdraw the case; signals it alone kept active get a feed `delete`.

    Withdrawing twice is not an error: the second call reports the same state.
    Raises CaseNotFound or LockedOut.
    """
    case_id = authenticate(session, pins, reference, pin, network)
    with write_transaction(session):
        lock_feed_head(session)  # serialises writers: what is read below is the latest state
        # A held case is simply no longer held: nothing of it was published, so its
        # inactive hashes get no `delete` (below, only active signals do).
        withdrawn = rowcount(session.execute(
            update(Case).where(Case.id == case_id, Case.status == CaseState.ACTIVE)
            .values(status=CaseState.WITHDRAWN, withdrawn_at=utcnow(), held_at=None)))
        if not withdrawn:
            audit.record(session, "withdraw_repeated", actor="person", case_id=case_id)
        else:
            deactivated = _deactivate_signals(session, case_id)
            feed.publish(session, signers, deactivated)
            audit.record(session, "case_withdrawn", actor="person", case_id=case_id,
                         detail=f"deactivated={len(deactivated)}")
    return _status_of(session, case_id)


def stop_sharing(session: Session, pins: PinPolicy, reference: str, pin: str,
                 network: str = "unknown") -> CaseStatus:
    """Stop sharing the case with the organisation that referred it, at once.

    Stopping when nothing is shared is not an error. Raises CaseNotFound or LockedOut.
    """
    case_id = authenticate(session, pins, reference, pin, network)
    with write_transaction(session):
        referrals.stop_sharing(session, case_id)
    return _status_of(session, case_id)


def open_sealed_pin(idempotency_key: str, pin_sealed: str) -> str:
    """What a retrying client does with `pin_sealed`: HKDF the key, AES-GCM open."""
    return unseal(derive_key(idempotency_key, info=PIN_SEAL_INFO), b64u_decode(pin_sealed)).decode()


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
_CASES, _SIGNALS, _LINKS = table(Case), table(Signal), table(CaseSignal)


def open_case(session: Session, signals: list[SignalValue], *,
              reference_digest: bytes, pin_hash: str, source: str, partner_id: int | None,
              actor: str) -> OpenedCase:
    """Insert the case, any unknown signals and the links, in the caller's write
    transaction. Nothing enters the feed yet: the caller ends with `publish_adds`,
    so the feed head lock is held only for the few statements that need it."""
    deny_list.refuse_denied(session, signals)
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
    detail = f"signals={len(signals)}" + (" source=platform" if source == CaseSource.PLATFORM else "")
    audit.record(session, "case_created", actor=actor, case_id=case_id, detail=detail)
    return OpenedCase(case_id, created_at, links)


def _signal_ids(session: Session, signals: list[SignalValue]) -> dict[tuple[str, str], int]:
    """The row id of each signal, inserting those the database does not hold yet.

    Rows go in sorted by (type, value): two reports inserting the same new signals then
    wait for each other in one order and cannot deadlock.
    """
    column = _SIGNALS.c
    rows = [{"type": s.type, "value": s.value, "quality": s.quality, "frames": s.frames, "active": False}
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


def publish_adds(session: Session, signers: Signers, links: Sequence[Link]) -> list[Link]:
    """Under the feed head lock, activate the linked signals that were inactive and
    publish an `add` for each, carrying its link's record id. Returns those links.

    Whether a signal is active changes only under this lock (here and in withdrawal),
    so a withdrawal racing this case either sees its committed links or runs first.
    """
    lock_feed_head(session)
    return _activate_and_publish(session, signers, links)


def _activate_and_publish(session: Session, signers: Signers, links: Sequence[Link]) -> list[Link]:
    """publish_adds, for a caller that already holds the feed head lock."""
    record_ids = {link.signal_id: link.record_id for link in links}
    column = _SIGNALS.c
    # The entry carries the signal as stored (its first PDQ quality), like its `delete`
    # will, not as this report sent it.
    stored = {row.id: SignalValue(row.type, row.value, row.quality) for row in session.execute(
        update(_SIGNALS)
        .where(column.id.in_(record_ids), column.active.is_(False), column.withheld.is_(None))
        .values(active=True, active_record_id=sql_case(record_ids, value=column.id))
        .returning(column.id, column.type, column.value, column.quality))}
    added = [link for link in links if link.signal_id in stored]
    feed.publish(session, signers, [
        feed.Change(FeedOp.ADD, link.signal_id, link.record_id, stored[link.signal_id]) for link in added])
    return added


# --- the feed's budget for people's reports --------------------------------------------
# Core statements built once: these run on every person's report.
_HEAD = table(FeedHead)
_READ_BUCKET = select(_HEAD.c.person_tokens, _HEAD.c.person_tokens_at).where(_HEAD.c.id == 1)
_LOCK_BUCKET_FOR_UPDATE = _READ_BUCKET.with_for_update()
_SAVE_BUCKET = update(_HEAD).where(_HEAD.c.id == 1).values(
    person_tokens=bindparam("tokens"), person_tokens_at=bindparam("at"))
_OLDEST_HELD = (select(_CASES.c.id).where(_CASES.c.held_at.is_not(None))
                .order_by(_CASES.c.held_at, _CASES.c.id).limit(1))

@dataclass
class _Bucket:
    """The token bucket on the feed head row; read and written under its lock."""

    tokens: int
    at: dt.datetime

    @classmethod
    def lock(cls, session: Session, budget: FeedBudget, now: dt.datetime) -> _Bucket:
        """Take the feed head lock (db.lock_feed_head's, in the same statement) and read
        the bucket it guards."""
        locking = session.get_bind().dialect.name == "postgresql"
        row = session.execute(_LOCK_BUCKET_FOR_UPDATE if locking else _READ_BUCKET).one()
        if row.person_tokens is None or row.person_tokens_at is None:
            return cls(budget.burst, now)
        tokens, at = row.person_tokens, row.person_tokens_at
        # Whole entries only; `at` moves by the time they took, so no fraction is lost.
        earned = int(max(0.0, (now - at).total_seconds()) * budget.per_minute / 60)
        if tokens + earned >= budget.burst:
            return cls(budget.burst, now)
        return cls(tokens + earned, at + dt.timedelta(seconds=earned * 60 / budget.per_minute))

    def save(self, session: Session) -> None:
        session.execute(_SAVE_BUCKET, {"tokens": self.tokens, "at": self.at})


@dataclass(frozen=True)
class HeldDrain:
    """What a drain did, and what still waits (for `federation feed publish-held`)."""

    released: int  # cases published
    entries: int  # feed entries they added
    still_held: int
    oldest_held_at: dt.datetime | None


def publish_person_case(session: Session, signers: Signers, budget: FeedBudget, case_id: int,
                        links: Sequence[Link]) -> bool:
    """Publish a person's new case within the feed's budget, or hold it; True if held.

    In the caller's write transaction, under the feed head lock. Cases already held go
    first (oldest first, as far as the budget allows): a new case is published only when
    none waits and its new entries fit.
    """
    if budget.per_minute <= 0:
        publish_adds(session, signers, links)
        return False
    now = budget.clock()
    bucket = _Bucket.lock(session, budget, now)
    _, _, waiting = _drain(session, signers, bucket, budget.drain_per_report)
    # A case cannot add more entries than it has links: count them only when that bound
    # does not fit (the common case, a bucket with room, costs no extra statement).
    cost = len(links) if waiting or len(links) <= bucket.tokens else \
        _new_entries(session, [link.signal_id for link in links])
    held = waiting or cost > bucket.tokens
    if held:
        session.execute(update(Case).where(Case.id == case_id).values(held_at=now))
        audit.record(session, "case_held", actor="person", case_id=case_id, detail=f"entries={cost}")
    else:
        bucket.tokens -= len(_activate_and_publish(session, signers, links))
    bucket.save(session)
    return held


def publish_held(session: Session, signers: Signers, budget: FeedBudget) -> HeldDrain:
    """Publish held cases, oldest first, as far as the budget allows (the operator's
    `federation feed publish-held`, run from cron or a systemd timer). Opens its own
    write transaction."""
    with write_transaction(session):
        bucket = _Bucket.lock(session, budget, budget.clock())
        released, entries, _ = _drain(session, signers, bucket, None)
        bucket.save(session)
        still, oldest = session.execute(select(func.count(), func.min(Case.held_at))
                                        .where(Case.held_at.is_not(None))).one()
    return HeldDrain(released, entries, still, oldest)


def _drain(session: Session, signers: Signers, bucket: _Bucket, most: int | None) -> tuple[int, int, bool]:
    """Publish held cases in the order they were held while their entries fit the bucket
    (and `most`, if given); stop at the first that does not. Under the feed head lock.
    Returns (cases released, entries published, whether a held case still waits)."""
    released = entries = 0
    while True:
        case_id = _oldest_held(session)
        if case_id is None:
            return released, entries, False
        links = _links_of(session, case_id)
        cost = _new_entries(session, [link.signal_id for link in links])
        if cost > bucket.tokens or (most is not None and entries + cost > most and entries):
            return released, entries, True
        _activate_and_publish(session, signers, links)
        session.execute(update(Case).where(Case.id == case_id).values(held_at=None))
        audit.record(session, "case_released", actor="system", case_id=case_id, detail=f"entries={cost}")
        bucket.tokens -= cost
        released, entries = released + 1, entries + cost


def _oldest_held(session: Session) -> int | None:
    """The case held longest, if any: one look at the (nearly always empty) partial index."""
    return session.scalar(_OLDEST_HELD)


def _new_entries(session: Session, signal_ids: list[int]) -> int:
    """How many `add` entries publishing these signals would make: those inactive now."""
    return session.scalar(select(func.count()).select_from(_SIGNALS)
                          .where(_SIGNALS.c.id.in_(signal_ids), _SIGNALS.c.active.is_(False),
                                 _SIGNALS.c.withheld.is_(None))) or 0


def _links_of(session: Session, case_id: int) -> list[Link]:
    """A stored case's links, in the order its signals were given."""
    return [Link(SignalValue(row.type, row.value, row.quality), row.signal_id, row.record_id)
            for row in session.execute(
                select(CaseSignal.signal_id, CaseSignal.record_id, Signal.type, Signal.value, Signal.quality)
                .join(Signal, Signal.id == CaseSignal.signal_id)
                .where(CaseSignal.case_id == case_id).order_by(CaseSignal.id))]


def _deactivate_signals(session: Session, case_id: int) -> list[feed.Change]:
    """Deactivate the signals of a withdrawn case that no other active case holds;
    return the `delete` to publish for each. Call under the feed head lock."""
    other = aliased(CaseSignal)
    held_elsewhere = (select(other.id).join(Case, Case.id == other.case_id)
                      .where(other.signal_id == Signal.id, Case.status == CaseState.ACTIVE,
                             Case.id != case_id).exists())
    rows = session.execute(
        select(Signal.id, Signal.type, Signal.value, Signal.quality, Signal.active_record_id)
        .join(CaseSignal, CaseSignal.signal_id == Signal.id)
        .where(CaseSignal.case_id == case_id, Signal.active.is_(True), ~held_elsewhere)
        .order_by(CaseSignal.id)).all()
    if rows:
        session.execute(update(_SIGNALS).where(_SIGNALS.c.id.in_([row.id for row in rows]))
                        .values(active=False))
    return [feed.Change(FeedOp.DELETE, row.id, row.active_record_id,
                        SignalValue(row.type, row.value, row.quality)) for row in rows]


def _status_of(session: Session, case_id: int) -> CaseStatus:
    case = session.execute(select(Case.status, Case.created_at, Case.withdrawn_at, Case.held_at)
                           .where(Case.id == case_id)).one()
    count, paused, not_shared, restored = session.execute(
        select(func.count(),
               func.sum(sql_case((Signal.withheld.in_((Withheld.DISPUTED, Withheld.FLOOD)), 1), else_=0)),
               func.sum(sql_case((Signal.withheld == Withheld.DENIED, 1), else_=0)),
               func.sum(sql_case(((Signal.withheld.is_(None)) & Signal.restored_at.is_not(None), 1), else_=0)))
        .select_from(CaseSignal).join(Signal, Signal.id == CaseSignal.signal_id)
        .where(CaseSignal.case_id == case_id)).one()
    return CaseStatus(case.status, count, case.created_at, case.withdrawn_at,
                      platform_outcomes(session, case_id), referrals.sharing_of(session, case_id),
                      held=case.held_at is not None, paused=paused or 0, not_shared=not_shared or 0,
                      restored=restored or 0,
                      deletion=receipts.platform_deletions(session, case_id) if case.withdrawn_at else ())


def platform_outcomes(session: Session, case_id: int) -> tuple[PlatformOutcome, ...]:
    """Per platform, the latest verdicts on this case's hashes, grouped by verdict.

    Read at request time from feedback_latest: feedback committed before the status
    request is in its answer, there is no cache to go stale. A withdrawn case shows only
    what happened until its withdrawal, and the deletions after it: a later report about
    the same picture is someone else's case, and telling it would reveal that report.
    """
    withdrawn_at = session.scalar(select(Case.withdrawn_at).where(Case.id == case_id))
    if withdrawn_at is not None:
        return _outcomes_until(session, case_id, withdrawn_at)
    rows = session.execute(
        select(Partner.id, Partner.display_name, FeedbackLatest.verdict, func.count(),
               func.sum(FeedbackLatest.count), func.min(FeedbackLatest.first_at),
               func.max(FeedbackLatest.occurred_at))
        .join(CaseSignal, CaseSignal.signal_id == FeedbackLatest.signal_id)
        .join(Partner, Partner.id == FeedbackLatest.partner_id)
        .join(Signal, Signal.id == FeedbackLatest.signal_id)
        # A dispute of a hash withheld for review is not shown: the person is told the
        # hash is paused for a check, never which platform asked (docs/list-hygiene.md).
        .where(CaseSignal.case_id == case_id,
               ~((FeedbackLatest.verdict == Verdict.NOT_BLOCKED) & Signal.withheld.is_not(None)))
        .group_by(Partner.id, Partner.display_name, FeedbackLatest.verdict)).all()
    by_platform: dict[tuple[str, int], list[Outcome]] = {}
    for partner_id, name, verdict, signals, total, first_at, last_at in rows:
        by_platform.setdefault((name, partner_id), []).append(
            Outcome(verdict, OUTCOME_WORDS[verdict], signals, int(total), first_at, last_at))
    return tuple(PlatformOutcome(name, tuple(sorted(outcomes, key=lambda o: VERDICTS.index(o.verdict))))
                 for (name, _), outcomes in sorted(by_platform.items()))


def _outcomes_until(session: Session, case_id: int, withdrawn_at: dt.datetime) -> tuple[PlatformOutcome, ...]:
    """platform_outcomes for a withdrawn case, from the feedback history: per platform and
    hash, the latest verdict reported by the withdrawal (its count summed over the reports
    of that verdict in a row, as feedback_latest keeps it), and any `deleted` after it."""
    events = session.execute(
        select(Partner.id, Partner.display_name, FeedbackEvent.signal_id, FeedbackEvent.verdict,
               FeedbackEvent.count, FeedbackEvent.occurred_at)
        .join(CaseSignal, CaseSignal.signal_id == FeedbackEvent.signal_id)
        .join(Partner, Partner.id == FeedbackEvent.partner_id)
        .where(CaseSignal.case_id == case_id,
               (FeedbackEvent.occurred_at <= withdrawn_at) | (FeedbackEvent.verdict == Verdict.DELETED))
        .order_by(FeedbackEvent.occurred_at, FeedbackEvent.id)).all()
    latest: dict[tuple[int, int], list] = {}  # (partner, signal) -> [name, verdict, count, first, last]
    for partner_id, name, signal_id, verdict, count, occurred_at in events:
        row = latest.get((partner_id, signal_id))
        if row is not None and row[1] == verdict:
            row[2] += count
            row[4] = occurred_at
        else:
            latest[(partner_id, signal_id)] = [name, verdict, count, occurred_at, occurred_at]
    grouped: dict[tuple[str, int], dict[str, list]] = {}
    for (partner_id, _), (name, verdict, count, first_at, last_at) in latest.items():
        group = grouped.setdefault((name, partner_id), {})
        if verdict not in group:
            group[verdict] = [0, 0, first_at, last_at]
        item = group[verdict]
        item[0] += 1
        item[1] += count
        item[2], item[3] = min(item[2], first_at), max(item[3], last_at)
    return tuple(PlatformOutcome(name, tuple(
        Outcome(verdict, OUTCOME_WORDS[verdict], signals, total, first_at, last_at)
        for verdict, (signals, total, first_at, last_at) in sorted(by_verdict.items(),
                                                                   key=lambda item: VERDICTS.index(item[0]))))
        for (name, _), by_verdict in sorted(grouped.items()))


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

class _ReceiptCodec:
    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    def dump(self, receipt: CaseReceipt, key: str) -> bytes:
        if receipt.pin is None:
            raise ValueError("only a first answer, which holds the PIN, is stored")
        pin_sealed = b64u_encode(seal(derive_key(key, info=PIN_SEAL_INFO), receipt.pin.encode()))
        stored = {"reference": receipt.reference, "pin_sealed": pin_sealed, "status": receipt.status,
                  "signal_count": receipt.signal_count, "created_at": receipt.created_at.isoformat(),
                  "referral": receipt.referral.as_dict() if receipt.referral else None}
        return seal(self._server_key(key), json.dumps(stored).encode())

    def load(self, stored_bytes: bytes, key: str) -> CaseReceipt:
        stored = json.loads(unseal(self._server_key(key), stored_bytes))
        return CaseReceipt(stored["reference"], None, stored["pin_sealed"], stored["status"],
                           stored["signal_count"], dt.datetime.fromisoformat(stored["created_at"]),
                           replayed=True,
                           referral=referrals.ReferralOutcome.from_dict(stored.get("referral")))

    def _server_key(self, key: str) -> bytes:
        return derive_key(key, info=b"federation/idempotency-response/v1", salt=self._pepper)
