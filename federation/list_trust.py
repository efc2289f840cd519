"""Trust in the list: signals withheld from the feed when platforms dispute them or
when their matches flood, the operator's review of them, and the deny list.

A withheld signal is out of the active set: its `add` is answered by a `delete` whose
`reason` is `quarantine` (disputed, flood: waiting for review) or `denied` (on the deny
list), it does not come back while any case reports it, and the person's status says
part of the report is paused. Restoring publishes an `add` again. Whether a signal is
active changes only under the feed head lock (docs/architecture.md), here as in
`federation.cases`. docs/list-hygiene.md has the threat model and the thresholds.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

from federation import audit, feed
from federation.cases import Link, publish_adds
from federation.db import dialect_insert, lock_feed_head, writes
from federation.errors import Conflict, InvalidInput, NotFound
from federation.models import (
    Case,
    CaseSignal,
    CaseSource,
    CaseState,
    DeniedSignal,
    FeedbackEvent,
    FeedbackLatest,
    FeedOp,
    MemberStatus,
    Partner,
    Signal,
    Verdict,
    Withheld,
    table,
    utcnow,
)
from federation.rules import PDQ_MATCH_DISTANCE
from federation.signals import SignalValue, parse_value
from federation.signing_keys import Signers

# The feed entry's `reason` for each kind of withholding.
FEED_REASON = {Withheld.DISPUTED: "quarantine", Withheld.FLOOD: "quarantine", Withheld.DENIED: "denied"}
IN_REVIEW = (Withheld.DISPUTED, Withheld.FLOOD)
MAX_STANDING_LOOKUP = 1000


@dataclass(frozen=True)
class TrustPolicy:
    """When platforms' feedback takes a signal out of the feed (docs/list-hygiene.md).

    Disputes: `disputes` distinct active platforms whose latest verdict is `not_blocked`,
    none whose latest is `blocked`, and none of them the platform that contributed it.
    Flood: matches reported in the last `flood_window` exceed `flood_multiple` times the
    signal's own average per window over the `flood_baseline` before it, or times
    `flood_floor` if that is higher, from at least `flood_platforms` platforms, and no
    platform has confirmed it. 0 disputes or a 0 multiple turn the check off.
    """

    disputes: int = 2
    flood_window: dt.timedelta = dt.timedelta(hours=1)
    flood_baseline: dt.timedelta = dt.timedelta(days=7)
    flood_multiple: float = 10.0
    flood_floor: int = 100
    flood_platforms: int = 2


@dataclass(frozen=True)
class Review:
    """What feedback needs to withhold signals: the policy and the keys to sign the
    `delete`s with. Services make one (`services().review`)."""

    policy: TrustPolicy
    signers: Signers

    def after_feedback(self, session: Session, fresh: Sequence[dict]) -> int:
        return after_feedback(session, self.signers, self.policy, fresh)


@dataclass(frozen=True)
class Standing:
    """How many platforms confirmed (latest `blocked`) and disputed (latest `not_blocked`)
    a signal: counts only, never which platforms."""

    confirmed: int
    disputed: int
    withheld: str | None = None


# --- withholding and releasing, under the feed head lock ---------------------------------

def withhold(session: Session, signers: Signers, signal_ids: Iterable[int], why: Withheld,
             actor: str) -> int:
    """Withhold these signals and publish a `delete` (with the reason) for those active.
    Signals already withheld keep their first reason, except that the deny list wins.
    In the caller's write transaction; takes the feed head lock. Returns how many changed."""
    ids = sorted(set(signal_ids))
    if not ids:
        return 0
    lock_feed_head(session)
    column = table(Signal).c
    replaceable = column.withheld.is_(None) if why != Withheld.DENIED else or_(
        column.withheld.is_(None), column.withheld != Withheld.DENIED)
    rows = session.execute(
        update(table(Signal)).where(column.id.in_(ids), replaceable)
        .values(withheld=why, withheld_at=utcnow())
        .returning(column.id, column.type, column.value, column.quality, column.active,
                   column.active_record_id)).all()
    active = sorted((row for row in rows if row.active), key=lambda row: row.id)
    if active:
        session.execute(update(table(Signal)).where(column.id.in_([row.id for row in active]))
                        .values(active=False))
        feed.publish(session, signers, [
            feed.Change(FeedOp.DELETE, row.id, row.active_record_id,
                        SignalValue(row.type, row.value, row.quality), reason=FEED_REASON[why])
            for row in active])
    if rows:
        audit.record(session, "signals_withheld", actor=actor,
                     detail=f"reason={why} signals={len(rows)} unpublished={len(active)}")
    return len(rows)


def release(session: Session, signers: Signers, signal_ids: Sequence[int], actor: str) -> int:
    """Stop withholding these signals and publish an `add` for each that an active,
    published case still reports (with that case's record id). Returns the adds."""
    if not signal_ids:
        return 0
    lock_feed_head(session)
    session.execute(update(Signal).where(Signal.id.in_(signal_ids))
                    .values(withheld=None, withheld_at=None, restored_at=utcnow()))
    # The oldest live link of each signal gives the record id partners will see again.
    links: dict[int, Link] = {}
    for row in session.execute(
            select(CaseSignal.signal_id, CaseSignal.record_id, Signal.type, Signal.value, Signal.quality)
            .join(Case, Case.id == CaseSignal.case_id).join(Signal, Signal.id == CaseSignal.signal_id)
            .where(CaseSignal.signal_id.in_(signal_ids), Case.status == CaseState.ACTIVE,
                   Case.held_at.is_(None))
            .order_by(CaseSignal.id)):
        links.setdefault(row.signal_id, Link(SignalValue(row.type, row.value, row.quality),
                                             row.signal_id, row.record_id))
    added = publish_adds(session, signers, list(links.values()))
    audit.record(session, "signals_released", actor=actor,
                 detail=f"signals={len(signal_ids)} published={len(added)}")
    return len(added)


# --- what platforms' feedback does --------------------------------------------------------

def after_feedback(session: Session, signers: Signers, policy: TrustPolicy,
                   fresh: Sequence[dict], *, now: dt.datetime | None = None) -> int:
    """Withhold the signals that newly recorded feedback (`fresh` rows of feedback_events)
    puts over the dispute or flood threshold. In the caller's write transaction; takes
    the feed head lock only when a dispute or a match is among them. Returns how many
    signals it withheld."""
    disputed = {e["signal_id"] for e in fresh if e["verdict"] == Verdict.NOT_BLOCKED}
    matched = {e["signal_id"] for e in fresh if e["verdict"] == Verdict.MATCH_PENDING_REVIEW}
    if policy.disputes <= 0:
        disputed = set()
    if policy.flood_multiple <= 0:
        matched = set()
    if not disputed and not matched:
        return 0
    # Serialise the count with every other writer of feedback that may withhold: two
    # platforms disputing at once then each see the other's dispute (on PostgreSQL's
    # READ COMMITTED the count below runs after the lock, on a fresh snapshot).
    lock_feed_head(session)
    now = now or utcnow()
    over = _over_dispute_threshold(session, policy, disputed)
    withheld = withhold(session, signers, over, Withheld.DISPUTED, actor="system") if over else 0
    flooded = _flooding(session, policy, matched - set(over), now)
    if flooded:
        withheld += withhold(session, signers, flooded, Withheld.FLOOD, actor="system")
    return withheld


def _contributed_by(partner_id, signal_id):
    """Whether this partner reported this signal itself (a platform case of its own)."""
    own = aliased(CaseSignal)
    return (select(own.id).join(Case, Case.id == own.case_id)
            .where(own.signal_id == signal_id, Case.source == CaseSource.PLATFORM,
                   Case.partner_id == partner_id).exists())


def _counts(signal_ids: Iterable[int], *, since_restore: bool):
    """Per signal: confirmations and disputes by active platforms, as a select.
    A platform disputing a signal it contributed does not count; with `since_restore`
    only verdicts given after the operator last restored the signal count."""
    latest = FeedbackLatest
    counted = Partner.status == MemberStatus.ACTIVE
    dispute = and_(latest.verdict == Verdict.NOT_BLOCKED, ~_contributed_by(latest.partner_id, latest.signal_id))
    if since_restore:
        dispute = and_(dispute, or_(Signal.restored_at.is_(None), latest.updated_at > Signal.restored_at))
    return (select(latest.signal_id,
                   func.sum(sql_case((latest.verdict == Verdict.BLOCKED, 1), else_=0)).label("confirmed"),
                   func.sum(sql_case((dispute, 1), else_=0)).label("disputed"))
            .join(Partner, Partner.id == latest.partner_id).join(Signal, Signal.id == latest.signal_id)
            .where(latest.signal_id.in_(list(signal_ids)), counted)
            .group_by(latest.signal_id))


def _over_dispute_threshold(session: Session, policy: TrustPolicy, signal_ids: set[int]) -> list[int]:
    if not signal_ids:
        return []
    counts = _counts(signal_ids, since_restore=True).subquery()
    return list(session.scalars(
        select(counts.c.signal_id).join(Signal, Signal.id == counts.c.signal_id)
        .where(counts.c.confirmed == 0, counts.c.disputed >= policy.disputes, Signal.withheld.is_(None))))


def _flooding(session: Session, policy: TrustPolicy, signal_ids: set[int], now: dt.datetime) -> list[int]:
    if not signal_ids:
        return []
    window_start, baseline_start = now - policy.flood_window, now - policy.flood_baseline
    event = FeedbackEvent
    recent = event.occurred_at >= window_start
    counted_from = func.coalesce(Signal.restored_at, baseline_start)
    rows = session.execute(
        select(event.signal_id,
               func.sum(sql_case((recent, event.count), else_=0)),
               func.sum(sql_case((recent, 0), else_=event.count)),
               func.count(func.distinct(sql_case((recent, event.partner_id), else_=None))))
        .join(Partner, Partner.id == event.partner_id).join(Signal, Signal.id == event.signal_id)
        .where(event.signal_id.in_(sorted(signal_ids)), event.verdict == Verdict.MATCH_PENDING_REVIEW,
               Partner.status == MemberStatus.ACTIVE, Signal.withheld.is_(None),
               event.occurred_at >= baseline_start, event.occurred_at > counted_from,
               ~exists().where(FeedbackLatest.signal_id == event.signal_id,
                               FeedbackLatest.verdict == Verdict.BLOCKED,
                               FeedbackLatest.partner_id.in_(
                                   select(Partner.id).where(Partner.status == MemberStatus.ACTIVE))))
        .group_by(event.signal_id)).all()
    windows = (policy.flood_baseline - policy.flood_window) / policy.flood_window
    flooded = []
    for signal_id, in_window, before, platforms in rows:
        baseline = (before or 0) / windows if windows > 0 else 0
        if platforms >= policy.flood_platforms and \
                (in_window or 0) > policy.flood_multiple * max(baseline, policy.flood_floor):
            flooded.append(signal_id)
    return flooded


# --- what platforms may see ---------------------------------------------------------------

def standing_of(session: Session, record_ids: Sequence[str]) -> dict[str, Standing]:
    """Confirmations and disputes of the signals these record ids name (ids a platform
    saw in the feed). Unknown ids are left out. Raises InvalidInput (too many)."""
    if len(record_ids) > MAX_STANDING_LOOKUP:
        raise InvalidInput(f"ask about at most {MAX_STANDING_LOOKUP} records at a time", code="batch_size")
    names: dict[str, int] = {record: signal for record, signal in session.execute(
        select(CaseSignal.record_id, CaseSignal.signal_id).where(CaseSignal.record_id.in_(set(record_ids))))}
    if not names:
        return {}
    withheld: dict[int, str | None] = {signal: why for signal, why in session.execute(
        select(Signal.id, Signal.withheld).where(Signal.id.in_(set(names.values()))))}
    counts = {row.signal_id: (int(row.confirmed), int(row.disputed))
              for row in session.execute(_counts(set(names.values()), since_restore=False))}
    return {record: Standing(*counts.get(signal, (0, 0)), withheld=withheld.get(signal))
            for record, signal in names.items()}


# --- the operator's review queue -----------------------------------------------------------

@dataclass(frozen=True)
class ReviewItem:
    signal_id: int
    type: str
    value: str
    withheld: str
    since: dt.datetime
    confirmed: int
    disputed: int
    cases: int  # active cases reporting it


def review_queue(session: Session, *, include_denied: bool = False) -> list[ReviewItem]:
    """Withheld signals waiting for a decision (and, optionally, denied ones), oldest first."""
    reasons = IN_REVIEW + ((Withheld.DENIED,) if include_denied else ())
    rows = session.execute(select(Signal.id, Signal.type, Signal.value, Signal.withheld, Signal.withheld_at)
                           .where(Signal.withheld.in_(reasons))
                           .order_by(Signal.withheld_at, Signal.id)).all()
    ids = [row.id for row in rows]
    counts = {row.signal_id: (int(row.confirmed), int(row.disputed))
              for row in session.execute(_counts(ids, since_restore=False))} if ids else {}
    cases: dict[int, int] = {signal: count for signal, count in session.execute(
        select(CaseSignal.signal_id, func.count()).join(Case, Case.id == CaseSignal.case_id)
        .where(CaseSignal.signal_id.in_(ids), Case.status == CaseState.ACTIVE)
        .group_by(CaseSignal.signal_id))} if ids else {}
    return [ReviewItem(row.id, row.type, row.value, row.withheld, row.withheld_at,
                       *counts.get(row.id, (0, 0)), cases.get(row.id, 0)) for row in rows]


class NotInReview(Conflict):
    code = "not_in_review"
    title = "This signal is not waiting for review"


def _in_review(session: Session, signal_id: int) -> Signal:
    signal = session.get(Signal, signal_id)
    if signal is None:
        raise NotFound(f"no signal has id {signal_id}")
    if signal.withheld not in IN_REVIEW:
        raise NotInReview(f"signal {signal_id} is not waiting for review "
                          f"({'denied' if signal.withheld == Withheld.DENIED else 'not withheld'})")
    return signal


@writes
def restore(session: Session, signers: Signers, signal_id: int) -> int:
    """The operator finds a withheld signal is what it claims: publish it again.
    Returns the adds published (0 if no active case still reports it).
    Raises NotFound, NotInReview."""
    _in_review(session, signal_id)
    return release(session, signers, [signal_id], actor="operator")


@writes
def reject(session: Session, signal_id: int, reason: str) -> None:
    """The operator finds a withheld signal is not NCII: it stays out, on the deny list.
    Raises NotFound, NotInReview."""
    signal = _in_review(session, signal_id)
    lock_feed_head(session)
    signal.withheld = Withheld.DENIED
    _insert_denied(session, signal.type, signal.value, reason, "review")
    audit.record(session, "signal_rejected", actor="operator")


# --- the deny list -------------------------------------------------------------------------

@dataclass(frozen=True)
class DenyResult:
    added: bool  # False: it was on the list already
    withheld: int  # signals taken out of the list (the same or, for PDQ, near-duplicates)


def _insert_denied(session: Session, kind: str, value: str, reason: str, by: str) -> bool:
    statement = dialect_insert(session, table(DeniedSignal)).on_conflict_do_nothing(
        index_elements=["type", "value"]).returning(table(DeniedSignal).c.id)
    return session.execute(statement, {"type": kind, "value": value, "reason": reason[:200],
                                       "added_by": by, "added_at": utcnow()}).first() is not None


@writes
def deny(session: Session, signers: Signers, kind: str, value: str, reason: str) -> DenyResult:
    """Put a hash on the deny list; take it, and for PDQ every near-duplicate the list
    holds, out of the feed. Raises InvalidSignal (malformed), InvalidInput (no reason)."""
    value = parse_value(kind, value)
    if not reason.strip():
        raise InvalidInput("say why this hash is benign (--reason)", code="reason_required")
    added = _insert_denied(session, kind, value, reason.strip(), "operator")
    ids = list(session.scalars(select(Signal.id).where(Signal.type == kind, Signal.value == value)))
    if kind == "pdq":
        bits = int(value, 16)
        ids += [signal_id for signal_id, other in session.execute(
                    select(Signal.id, Signal.value).where(Signal.type == "pdq", Signal.value != value))
                if (int(other, 16) ^ bits).bit_count() <= PDQ_MATCH_DISTANCE]
    return DenyResult(added, withhold(session, signers, ids, Withheld.DENIED, actor="operator"))


@writes
def undeny(session: Session, signers: Signers, kind: str, value: str) -> int:
    """Take a hash off the deny list; signals it kept out and that nothing else on the
    list covers are published again where an active case reports them. Returns the adds.
    Raises InvalidSignal (malformed), NotFound (not on the list)."""
    value = parse_value(kind, value)
    removed = session.execute(delete(DeniedSignal).where(DeniedSignal.type == kind, DeniedSignal.value == value))
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"this {kind} is not on the deny list")
    candidates = session.execute(select(Signal.id, Signal.type, Signal.value)
                                 .where(Signal.withheld == Withheld.DENIED, Signal.type == kind)).all()
    remaining_pdq = [int(v, 16) for v in session.scalars(select(DeniedSignal.value).where(DeniedSignal.type == "pdq"))]
    exact = {(kind, value) for kind, value in session.execute(select(DeniedSignal.type, DeniedSignal.value))}
    freed = [row.id for row in candidates
             if (row.type, row.value) not in exact
             and not (row.type == "pdq" and any((int(row.value, 16) ^ other).bit_count() <= PDQ_MATCH_DISTANCE
                                                for other in remaining_pdq))]
    return release(session, signers, freed, actor="operator") if freed else 0


def denied_entries(session: Session) -> list[DeniedSignal]:
    return list(session.scalars(select(DeniedSignal).order_by(DeniedSignal.added_at, DeniedSignal.id)))
