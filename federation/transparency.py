"""The public transparency report: what the federation did, month by month, in counts
that cannot single out a case (docs/operations.md, "Transparency report").

Every count from 1 to SUPPRESS_BELOW - 1 is published as null ("fewer than 10"): one
person's report, withdrawal or hash must not be recognisable, by them or by anyone who
knows of it. Zero is shown (it reveals no case). No total is published beside a part
that could be suppressed (reports by source, hashes by type, platforms), so a suppressed
part cannot be recovered by subtraction. The median time from a withdrawal to the
platforms' delete confirmations is given only when at least SUPPRESS_BELOW confirmations
stand behind it.

Months are calendar months in UTC, by our own clock: a case counts in the month it was
created, a withdrawal in the month it happened, feedback in the month we received it. A
future month is refused (404 `month_in_future`); the current month is published as it
stands, marked incomplete.
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.errors import InvalidInput, NotFound
from federation.models import (
    AuditEvent,
    Case,
    CaseSignal,
    CaseSource,
    FeedbackEvent,
    MemberStatus,
    Partner,
    Signal,
    Verdict,
    Withheld,
    utcnow,
)

SUPPRESS_BELOW = 10
SIGNAL_TYPES = ("pdq", "phash", "md5", "sha256")
# A platform "matched" when it found an upload, whatever it then decided about it.
MATCH_VERDICTS = (Verdict.MATCH_PENDING_REVIEW, Verdict.BLOCKED, Verdict.NOT_BLOCKED)
IN_REVIEW = (Withheld.DISPUTED, Withheld.FLOOD)


class MonthInFuture(NotFound):
    """No report exists yet for a month that has not begun (404: a well-formed request
    for something that is not there)."""

    code = "month_in_future"
    title = "That month has not begun"


@dataclass(frozen=True)
class PlatformMonth:
    name: str  # the display name people see
    matches: int | None
    takedowns: int | None


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    complete: bool
    reports: int | None  # people's reports
    platform_reports: int | None  # cases platforms reported (POST /v1/signals, StopNCII)
    hashes_by_type: dict[str, int | None]
    withdrawals: int | None
    platforms: list[PlatformMonth]
    median_hours_withdrawal_to_deleted: float | None
    quarantines: int | None = None  # signals withheld for review (disputed, flood)
    suppressed_below: int = SUPPRESS_BELOW


def parse_month(text: str, *, now: dt.datetime | None = None) -> dt.date:
    """The first day of month `YYYY-MM`. Raises InvalidInput, MonthInFuture."""
    try:
        first = dt.datetime.strptime(text, "%Y-%m").date()
    except (TypeError, ValueError):
        raise InvalidInput("month must be YYYY-MM", code="invalid_month") from None
    today = (now or utcnow()).date()
    if first > today.replace(day=1):
        raise MonthInFuture(f"{text} has not begun; the latest month is {today:%Y-%m}")
    return first


def recent_months(count: int = 12, *, now: dt.datetime | None = None) -> list[dt.date]:
    """The first days of the last `count` months, oldest first, the current one last."""
    first = (now or utcnow()).date().replace(day=1)
    months = [first]
    while len(months) < count:
        months.append((months[-1] - dt.timedelta(days=1)).replace(day=1))
    return months[::-1]


def month_report(session: Session, first: dt.date, *, now: dt.datetime | None = None) -> Month:
    """The published figures for the month starting on `first` (already checked)."""
    now = now or utcnow()
    start = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC)
    end = (start + dt.timedelta(days=32)).replace(day=1)

    def in_month(column):
        return (column >= start, column < end)

    by_source = dict(session.execute(select(Case.source, func.count()).where(*in_month(Case.created_at))
                                     .group_by(Case.source)).all())
    by_type = dict(session.execute(select(Signal.type, func.count()).where(*in_month(Signal.created_at))
                                   .group_by(Signal.type)).all())
    withdrawals = session.scalar(select(func.count()).select_from(Case).where(*in_month(Case.withdrawn_at))) or 0
    platforms = []
    partners = session.execute(select(Partner.id, Partner.display_name).where(Partner.status == MemberStatus.ACTIVE)
                               .order_by(Partner.display_name)).all()
    feedback = session.execute(
        select(FeedbackEvent.partner_id, FeedbackEvent.verdict, func.sum(FeedbackEvent.count))
        .where(*in_month(FeedbackEvent.received_at)).group_by(FeedbackEvent.partner_id, FeedbackEvent.verdict)).all()
    for partner_id, display_name in partners:
        mine = {verdict: int(total) for pid, verdict, total in feedback if pid == partner_id}
        platforms.append(PlatformMonth(display_name, suppress(sum(mine.get(v, 0) for v in MATCH_VERDICTS)),
                                       suppress(mine.get(Verdict.BLOCKED, 0))))
    hours = _withdrawal_to_deleted_hours(session, start, end)
    quarantines = _quarantines(session, start, end)
    session.rollback()  # end the read
    return Month(
        month=f"{first:%Y-%m}", complete=now >= end,
        reports=suppress(by_source.get(CaseSource.PERSON, 0)),
        platform_reports=suppress(by_source.get(CaseSource.PLATFORM, 0)),
        hashes_by_type={kind: suppress(by_type.get(kind, 0)) for kind in SIGNAL_TYPES},
        withdrawals=suppress(withdrawals), platforms=platforms,
        median_hours_withdrawal_to_deleted=round(statistics.median(hours), 1) if len(hours) >= SUPPRESS_BELOW
        else None,
        quarantines=quarantines)


def suppress(count: int) -> int | None:
    """The count as published: None for 1 .. SUPPRESS_BELOW - 1."""
    return None if 0 < count < SUPPRESS_BELOW else count


def as_json(month: Month) -> dict[str, Any]:
    return {
        "month": month.month, "complete": month.complete, "suppressed_below": month.suppressed_below,
        "reports": month.reports, "platform_reports": month.platform_reports,
        "hashes_by_type": month.hashes_by_type, "withdrawals": month.withdrawals,
        "platforms": [{"name": p.name, "matches": p.matches, "takedowns": p.takedowns} for p in month.platforms],
        "median_hours_withdrawal_to_deleted": month.median_hours_withdrawal_to_deleted,
        "quarantines": month.quarantines,
    }


def _withdrawal_to_deleted_hours(session: Session, start: dt.datetime, end: dt.datetime) -> list[float]:
    """For cases withdrawn in the month: hours from the withdrawal to each platform's first
    `deleted` report about each of the case's hashes."""
    rows = session.execute(
        select(Case.withdrawn_at, func.min(FeedbackEvent.received_at))
        .join(CaseSignal, CaseSignal.case_id == Case.id)
        .join(FeedbackEvent, FeedbackEvent.signal_id == CaseSignal.signal_id)
        .where(Case.withdrawn_at >= start, Case.withdrawn_at < end, FeedbackEvent.verdict == Verdict.DELETED,
               FeedbackEvent.received_at >= Case.withdrawn_at)
        .group_by(Case.id, Case.withdrawn_at, CaseSignal.signal_id, FeedbackEvent.partner_id)).all()
    return [(confirmed - withdrawn).total_seconds() / 3600 for withdrawn, confirmed in rows
            if withdrawn is not None and confirmed is not None]


def _quarantines(session: Session, start: dt.datetime, end: dt.datetime) -> int | None:
    """Signals withheld for review in the month (disputed or flooding: docs/list-hygiene.md),
    from the audit log, which keeps each withholding even after a review restores it. The
    deny list is not counted: it is the operator's, not a quarantine."""
    details = session.scalars(select(AuditEvent.detail).where(
        AuditEvent.event == "signals_withheld", AuditEvent.at >= start, AuditEvent.at < end)).all()
    total = 0
    for detail in details:
        fields = dict(part.split("=", 1) for part in (detail or "").split() if "=" in part)
        if fields.get("reason") in IN_REVIEW and fields.get("signals", "").isdigit():
            total += int(fields["signals"])
    return suppress(total)
