"""What an organisation may see of its referrals, and the counts the operator sees.

An organisation sees each of its referrals' state, and the outcome summary of a case
only while the person's consent is in force: status, number of hashes, dates, and what
each platform reported. Never a hash, a reference, a PIN or a code. Counts (for the
organisation and the operator) never name or identify a case.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.orm import Session

from federation.cases import PlatformOutcome, platform_outcomes
from federation.errors import NotFound
from federation.models import (
    VERDICTS,
    Case,
    CaseSignal,
    CaseState,
    Caseworker,
    FeedbackLatest,
    Organisation,
    Partner,
    Referral,
    utcnow,
)

# A referral's state as its organisation sees it.
OPEN, EXPIRED, USED, SHARED = "open", "expired", "used", "shared"


class CaseNotShared(NotFound):
    # Unknown, another organisation's, not used, no consent, consent taken back: one
    # answer for all, and 404 rather than 403, so it does not confirm that a case exists.
    code = "case_not_shared"
    title = "No case is shared with this organisation under this referral"


@dataclass(frozen=True)
class CaseSummary:
    status: str
    signal_count: int
    created_at: dt.datetime
    withdrawn_at: dt.datetime | None
    platforms: tuple[PlatformOutcome, ...]


@dataclass(frozen=True)
class ReferralView:
    id: str
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime
    caseworker: str | None
    case: CaseSummary | None  # only when shared


def list_referrals(session: Session, organisation_id: int, *, now: dt.datetime | None = None,
                   limit: int = 200) -> list[ReferralView]:
    """The organisation's referrals, newest first, with the summary of each shared case."""
    now = now or utcnow()
    rows = session.execute(
        select(Referral, Caseworker.name).outerjoin(Caseworker, Caseworker.id == Referral.caseworker_id)
        .where(Referral.organisation_id == organisation_id)
        .order_by(Referral.created_at.desc(), Referral.id.desc()).limit(limit)).all()
    return [_view(session, referral, name, now) for referral, name in rows]


def shared_case(session: Session, organisation_id: int, public_id: str, *,
                now: dt.datetime | None = None) -> ReferralView:
    """One referral whose case is shared with this organisation. Raises CaseNotShared."""
    row = session.execute(
        select(Referral, Caseworker.name).outerjoin(Caseworker, Caseworker.id == Referral.caseworker_id)
        .where(Referral.public_id == public_id, Referral.organisation_id == organisation_id,
               Referral.shared.is_(True), Referral.case_id.is_not(None))).one_or_none()
    if row is None:
        raise CaseNotShared()
    return _view(session, row[0], row[1], now or utcnow())


def is_own_referral(session: Session, organisation_id: int, public_id: str) -> bool:
    """Whether the id names one of this organisation's referrals (shared or not)."""
    return session.scalar(select(Referral.id).where(
        Referral.public_id == public_id, Referral.organisation_id == organisation_id)) is not None


def _view(session: Session, referral: Referral, caseworker: str | None, now: dt.datetime) -> ReferralView:
    summary = None
    if referral.shared and referral.case_id is not None:
        state = SHARED
        case_row = session.get_one(Case, referral.case_id)
        count = session.scalar(select(func.count()).where(CaseSignal.case_id == case_row.id)) or 0
        summary = CaseSummary(case_row.status, count, case_row.created_at, case_row.withdrawn_at,
                              platform_outcomes(session, case_row.id))
    elif referral.used_at is not None:
        state = USED
    elif referral.expires_at <= now:
        state = EXPIRED
    else:
        state = OPEN
    return ReferralView(referral.public_id, state, referral.created_at, referral.expires_at, caseworker, summary)


# --- counts ------------------------------------------------------------------------

def organisation_stats(session: Session, organisation_id: int, *, now: dt.datetime | None = None) -> dict:
    """Counts for one organisation: referrals made, used, open, expired, shared; and, over
    the cases shared with it now, how many are active or withdrawn and how many each
    platform verdict touched. Cases not shared are in no count but `referrals.used`."""
    now = now or utcnow()
    mine = Referral.organisation_id == organisation_id
    return {
        "referrals": _referral_counts(session, now, mine),
        "shared_cases": _case_counts(session, and_(mine, Referral.shared.is_(True))),
    }


def operator_stats(session: Session, *, now: dt.datetime | None = None) -> dict:
    """Counts across the federation for the operator (`federation stats`)."""
    now = now or utcnow()
    person = Case.source == "person"
    return {
        "organisations": _by_status(session, Organisation),
        "caseworkers": _by_status(session, Caseworker),
        "partners": _by_status(session, Partner),
        "referrals": _referral_counts(session, now, true()),
        "cases": {
            "active": _count(session, select(func.count()).where(person, Case.status == CaseState.ACTIVE)),
            "withdrawn": _count(session, select(func.count()).where(person, Case.status == CaseState.WITHDRAWN)),
            "platform_sourced": _count(session, select(func.count()).where(Case.source == "platform")),
            "outcomes": _outcome_counts(session, select(Case.id).where(person)),
        },
    }


def _referral_counts(session: Session, now: dt.datetime, where) -> dict:
    used = Referral.used_at.is_not(None)
    row = session.execute(select(
        func.count(),
        func.sum(case((used, 1), else_=0)),
        func.sum(case((and_(Referral.used_at.is_(None), Referral.expires_at > now), 1), else_=0)),
        func.sum(case((and_(Referral.used_at.is_(None), Referral.expires_at <= now), 1), else_=0)),
        func.sum(case((Referral.shared.is_(True), 1), else_=0)),
    ).where(where)).one()
    made, used_n, open_n, expired_n, shared_n = (int(v or 0) for v in row)
    return {"made": made, "used": used_n, "open": open_n, "expired": expired_n, "shared": shared_n}


def _case_counts(session: Session, referral_filter) -> dict:
    case_ids = select(Referral.case_id).where(referral_filter, Referral.case_id.is_not(None))
    in_scope = Case.id.in_(case_ids)
    return {
        "active": _count(session, select(func.count()).where(in_scope, Case.status == CaseState.ACTIVE)),
        "withdrawn": _count(session, select(func.count()).where(in_scope, Case.status == CaseState.WITHDRAWN)),
        "outcomes": _outcome_counts(session, case_ids),
    }


def _outcome_counts(session: Session, case_ids) -> dict:
    """How many cases each verdict touched (a case counts once per verdict)."""
    rows = session.execute(
        select(FeedbackLatest.verdict, func.count(func.distinct(CaseSignal.case_id)))
        .join(CaseSignal, CaseSignal.signal_id == FeedbackLatest.signal_id)
        .where(CaseSignal.case_id.in_(case_ids))
        .group_by(FeedbackLatest.verdict)).all()
    found = dict(rows)
    return {verdict: int(found.get(verdict, 0)) for verdict in VERDICTS}


def _by_status(session: Session, model) -> dict:
    return {status: int(n) for status, n in session.execute(
        select(model.status, func.count()).group_by(model.status)).all()}


def _count(session: Session, statement) -> int:
    return int(session.scalar(statement) or 0)
