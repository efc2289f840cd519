"""Safety organisations and their caseworkers: onboarding, credentials, suspension,
revocation, and authenticating a bearer token.

An organisation has one token of its own (for its systems and its manager) and a
credential per caseworker, each revocable on its own. Every token is stored only as a
SHA-256 digest (see crypto/tokens.py for why a fast hash is right for 256-bit tokens).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.crypto.tokens import new_token, token_digest
from federation.db import add_unique, writes
from federation.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from federation.models import (
    Caseworker,
    CaseworkerSession,
    CaseworkerStatus,
    MemberStatus,
    Organisation,
    utcnow,
)

ORGANISATION_TOKEN_PREFIX = "fot_"  # noqa: S105 - a prefix, not a secret
CASEWORKER_TOKEN_PREFIX = "fcw_"  # noqa: S105 - a prefix, not a secret

# What a credential may do. A route names one of these (api/org_auth.py).
PERMISSIONS = frozenset({"referrals:write", "referrals:read", "stats:read"})
# A caseworker makes and follows referrals; the counts are the organisation's.
CASEWORKER_PERMISSIONS = frozenset({"referrals:write", "referrals:read"})

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")


class OrganisationSuspended(Forbidden):
    code = "organisation_suspended"
    title = "This organisation is suspended"


class NotPermitted(Forbidden):
    code = "not_permitted"
    title = "This credential may not do this"


@dataclass(frozen=True)
class Actor:
    """Who is calling: an organisation, through its own token or a caseworker's."""

    organisation: Organisation
    caseworker: Caseworker | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return CASEWORKER_PERMISSIONS if self.caseworker else PERMISSIONS

    @property
    def label(self) -> str:
        """For the audit log: ids, never names or tokens."""
        if self.caseworker:
            return f"caseworker:{self.caseworker.id}"
        return f"organisation:{self.organisation.id}"


@dataclass(frozen=True)
class IssuedOrganisation:
    organisation: Organisation
    token: str  # shown once, never stored


@dataclass(frozen=True)
class IssuedCaseworker:
    caseworker: Caseworker
    token: str  # shown once, never stored


@writes
def add_organisation(session: Session, name: str, display_name: str | None = None) -> IssuedOrganisation:
    """Onboard an organisation; its token is returned once. Raises InvalidInput, Conflict."""
    _check_name(name, "an organisation")
    display = (display_name or name).strip()
    if not 1 <= len(display) <= 120:
        raise InvalidInput("a display name is 1-120 characters", code="invalid_name")
    token = new_token(ORGANISATION_TOKEN_PREFIX)
    organisation = Organisation(name=name, display_name=display, token_digest=token_digest(token),
                                status=MemberStatus.ACTIVE)
    add_unique(session, organisation,
               Conflict(f"an organisation named {name!r} exists", code="organisation_exists"))
    return IssuedOrganisation(organisation, token)


def get_organisation(session: Session, name: str) -> Organisation:
    """Raises NotFound."""
    organisation = session.scalar(select(Organisation).where(Organisation.name == name))
    if organisation is None:
        raise NotFound(f"no organisation named {name!r}", code="organisation_not_found")
    return organisation


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


@writes
def set_status(session: Session, name: str, status: MemberStatus) -> Organisation:
    """Suspend or resume. A suspended organisation's codes stop working at once, its
    credentials are refused, and it sees nothing; resuming restores all of it."""
    if status not in set(MemberStatus):
        raise InvalidInput("status is active or suspended", code="invalid_status")
    organisation = get_organisation(session, name)
    organisation.status = status
    return organisation


@writes
def add_caseworker(session: Session, organisation_name: str, name: str) -> IssuedCaseworker:
    """A credential for one caseworker, returned once. Raises NotFound, InvalidInput, Conflict."""
    organisation = get_organisation(session, organisation_name)
    _check_name(name, "a caseworker")
    token = new_token(CASEWORKER_TOKEN_PREFIX)
    caseworker = Caseworker(organisation_id=organisation.id, name=name, token_digest=token_digest(token),
                            status=CaseworkerStatus.ACTIVE)
    add_unique(session, caseworker, Conflict(f"{organisation_name} already has a caseworker named "
                                             f"{name!r}", code="caseworker_exists"))
    return IssuedCaseworker(caseworker, token)


def list_caseworkers(session: Session, organisation_name: str) -> list[Caseworker]:
    organisation = get_organisation(session, organisation_name)
    return list(session.scalars(select(Caseworker).where(Caseworker.organisation_id == organisation.id)
                                .order_by(Caseworker.name)))


@writes
def revoke_caseworker(session: Session, organisation_name: str, name: str) -> Caseworker:
    """Refuse the caseworker's credential from now on and end their portal sessions.

    Revoking twice is not an error. Raises NotFound.
    """
    organisation = get_organisation(session, organisation_name)
    caseworker = session.scalar(select(Caseworker).where(
        Caseworker.organisation_id == organisation.id, Caseworker.name == name))
    if caseworker is None:
        raise NotFound(f"{organisation_name} has no caseworker named {name!r}", code="caseworker_not_found")
    if caseworker.status != CaseworkerStatus.REVOKED:
        caseworker.status, caseworker.revoked_at = CaseworkerStatus.REVOKED, utcnow()
    session.execute(delete(CaseworkerSession).where(CaseworkerSession.caseworker_id == caseworker.id))
    return caseworker


def authenticate(session: Session, token: str | None, permission: str) -> Actor:
    """The organisation (and caseworker) holding this bearer token, if it may do `permission`.

    Raises Unauthorized (no, unknown or revoked token), OrganisationSuspended, NotPermitted.
    """
    if not token:
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    digest = token_digest(token)
    if token.startswith(CASEWORKER_TOKEN_PREFIX):
        caseworker = session.scalar(select(Caseworker).where(Caseworker.token_digest == digest))
        if caseworker is None or caseworker.status != CaseworkerStatus.ACTIVE:
            raise Unauthorized("this token is not valid", code="invalid_token")
        actor = Actor(caseworker.organisation, caseworker)
    else:
        organisation = session.scalar(select(Organisation).where(Organisation.token_digest == digest))
        if organisation is None:
            raise Unauthorized("this token is not valid", code="invalid_token")
        actor = Actor(organisation)
    if actor.organisation.status != MemberStatus.ACTIVE:
        raise OrganisationSuspended()
    if permission not in actor.permissions:
        raise NotPermitted(f"this needs {permission}, which a caseworker credential does not have")
    return actor


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"{what} name is 2-64 of a-z 0-9 _ . - (lower case)", code="invalid_name")
