"""Referral codes: an organisation makes one, a person reports with it, and only with the
person's consent does the organisation follow the case.

A code is 16 symbols of Crockford base32 (80 bits from the CSPRNG), shown in four groups
(`7KQ2-M9XD-4RTW-J3PA`), single-use, and expiring (30 days by default). It is stored only
as an HMAC under the pepper, like a case reference: the database cannot give it back, and
the organisation sees it once, when it is made. The organisation names a referral by its
`public_id` instead, which is useless without the organisation's own credential.

Consent (`shared`) is given in the same request that opens the case, and the person can
take it back at any time (`stop_sharing`); nothing is ever shared by default.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from federation import audit
from federation.crypto import pins
from federation.db import rowcount, write_transaction
from federation.errors import NotFound
from federation.models import MemberStatus, Organisation, Referral, utcnow
from federation.organisations import Actor

CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4  # 16 symbols x 5 bits = 80 bits
_CODE_PURPOSE = "referral-code"
_TYPO_MAP = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


class ReferralUnusable(NotFound):
    # One answer for unknown, expired, used and suspended: it tells a guesser nothing.
    code = "referral_unusable"
    title = "This referral code cannot be used"


@dataclass(frozen=True)
class ReferralPolicy:
    """The settings referral services need, taken from config once at start-up."""

    pepper: bytes
    ttl_days: int = 30

    def code_digest(self, normalised_code: str) -> bytes:
        return pins.keyed_digest(self.pepper, _CODE_PURPOSE, normalised_code)


@dataclass(frozen=True)
class IssuedReferral:
    """What the caseworker gets once: the code is never shown again."""

    id: str
    code: str
    organisation: str  # display name, for the slip
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class ReferralOutcome:
    """What became of the code a person reported with."""

    applied: bool
    organisation: str | None = None
    shared: bool = False

    @property
    def status(self) -> str:
        return "applied" if self.applied else "not_applied"

    def as_dict(self) -> dict:
        return {"status": self.status, "organisation": self.organisation, "shared": self.shared}

    @classmethod
    def from_dict(cls, stored: dict | None) -> ReferralOutcome | None:
        if stored is None:
            return None
        return cls(stored["status"] == "applied", stored["organisation"], stored["shared"])


NOT_APPLIED = ReferralOutcome(applied=False)


@dataclass(frozen=True)
class Sharing:
    """The referral behind a case, as its owner sees it."""

    organisation: str
    shared: bool
    stopped_at: dt.datetime | None


def new_code() -> str:
    symbols = "".join(secrets.choice(pins.REFERENCE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    return "-".join(symbols[i:i + CODE_GROUP_LENGTH] for i in range(0, len(symbols), CODE_GROUP_LENGTH))


def normalise_code(text: str | None) -> str | None:
    """The canonical form of a typed code, or None if it cannot be one (as for references:
    case, spaces and dashes ignored, look-alike letters read as digits)."""
    if not text:
        return None
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_TYPO_MAP)
    size = CODE_GROUPS * CODE_GROUP_LENGTH
    if len(cleaned) != size or any(ch not in pins.REFERENCE_ALPHABET for ch in cleaned):
        return None
    return "-".join(cleaned[i:i + CODE_GROUP_LENGTH] for i in range(0, size, CODE_GROUP_LENGTH))


def create_referral(session: Session, policy: ReferralPolicy, actor: Actor, *,
                    now: dt.datetime | None = None) -> IssuedReferral:
    """Make a code for the actor's organisation, valid for `policy.ttl_days`."""
    now = now or utcnow()
    code = new_code()
    with write_transaction(session):
        referral = Referral(public_id="rf_" + secrets.token_urlsafe(12), code_digest=policy.code_digest(code),
                            organisation_id=actor.organisation.id,
                            caseworker_id=actor.caseworker.id if actor.caseworker else None,
                            created_at=now, expires_at=now + dt.timedelta(days=policy.ttl_days), shared=False)
        session.add(referral)
        session.flush()
        audit.record(session, "referral_created", actor=actor.label, detail=f"referral={referral.id}")
    return IssuedReferral(referral.public_id, code, actor.organisation.display_name, referral.created_at,
                          referral.expires_at)


def check_code(session: Session, policy: ReferralPolicy, code: str | None, *,
               now: dt.datetime | None = None) -> str:
    """The display name of the organisation whose code this is, if the code can be used now.

    Raises ReferralUnusable (unknown, malformed, expired, used, organisation suspended).
    """
    now = now or utcnow()
    normalised = normalise_code(code)
    found = None
    if normalised:
        found = session.execute(
            select(Organisation.display_name)
            .join(Referral, Referral.organisation_id == Organisation.id)
            .where(*_usable(policy, normalised, now))).scalar_one_or_none()
    session.rollback()  # end the read transaction: callers may write next
    if found is None:
        raise ReferralUnusable()
    return found


def redeem(session: Session, policy: ReferralPolicy, code: str, case_id: int, share: bool, *,
           now: dt.datetime | None = None) -> ReferralOutcome:
    """Spend the code on this case, in the caller's write transaction (the case's own).

    One conditional UPDATE: of two reports racing with the same code, exactly one gets it.
    A code that cannot be used is not an error: the report goes in without it.
    """
    now = now or utcnow()
    normalised = normalise_code(code)
    if normalised is None:
        return NOT_APPLIED
    organisation_id = session.execute(
        update(Referral).where(*_usable(policy, normalised, now))
        .values(used_at=now, case_id=case_id, shared=share)
        .returning(Referral.organisation_id)).scalar_one_or_none()
    if organisation_id is None:
        return NOT_APPLIED
    audit.record(session, "referral_used", actor="person", case_id=case_id, detail=f"shared={share}")
    return ReferralOutcome(True, session.get_one(Organisation, organisation_id).display_name, share)


def sharing_of(session: Session, case_id: int) -> Sharing | None:
    """The referral behind a case, or None when it was reported without one."""
    row = session.execute(
        select(Organisation.display_name, Referral.shared, Referral.sharing_stopped_at)
        .join(Organisation, Organisation.id == Referral.organisation_id)
        .where(Referral.case_id == case_id)).one_or_none()
    return Sharing(*row) if row else None


def stop_sharing(session: Session, case_id: int, *, now: dt.datetime | None = None) -> bool:
    """Take back the consent, in the caller's write transaction. True when it was given.

    From the commit on, the organisation sees the case nowhere: not in its list, not by id.
    """
    stopped = rowcount(session.execute(
        update(Referral).where(Referral.case_id == case_id, Referral.shared.is_(True))
        .values(shared=False, sharing_stopped_at=now or utcnow())))
    if stopped:
        audit.record(session, "sharing_stopped", actor="person", case_id=case_id)
    return bool(stopped)


def _usable(policy: ReferralPolicy, normalised: str, now: dt.datetime):
    active = select(Organisation.id).where(Organisation.status == MemberStatus.ACTIVE)
    return (Referral.code_digest == policy.code_digest(normalised), Referral.used_at.is_(None),
            Referral.expires_at > now, Referral.organisation_id.in_(active))
