"""Member platforms: onboarding, tokens, suspension, and authenticating a request."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.crypto.tokens import new_token, token_digest
from federation.db import add_unique, writes
from federation.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from federation.models import MemberStatus, Partner

SCOPES = frozenset({"feed:read", "feedback:write", "signals:write"})
TOKEN_PREFIX = "fpt_"  # noqa: S105 - a prefix, not a secret
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")


class PartnerSuspended(Forbidden):
    code = "partner_suspended"
    title = "This partner is suspended"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "These credentials lack the scope this needs"


@dataclass(frozen=True)
class IssuedToken:
    partner: Partner
    token: str  # shown once, never stored


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s for s in re.split(r"[,\s]+", text.strip()) if s)
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be some of {', '.join(sorted(SCOPES))}", code="invalid_scope")
    return scopes


@writes
def add_partner(session: Session, name: str, scopes: frozenset[str],
                display_name: str | None = None) -> IssuedToken:
    """Onboard a platform; its token is returned once. Raises InvalidInput, Conflict."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("a partner name is 2-64 of a-z 0-9 _ . - (lower case)", code="invalid_name")
    token = new_token(TOKEN_PREFIX)
    partner = Partner(name=name, display_name=display_name or name, scopes=" ".join(sorted(scopes)),
                      token_digest=token_digest(token), status=MemberStatus.ACTIVE)
    add_unique(session, partner, Conflict(f"a partner named {name!r} exists", code="partner_exists"))
    return IssuedToken(partner, token)


def get_partner(session: Session, name: str) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.name == name))
    if partner is None:
        raise NotFound(f"no partner named {name!r}", code="partner_not_found")
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


@writes
def set_status(session: Session, name: str, status: MemberStatus) -> Partner:
    """Suspend or resume: a suspended partner's credentials are refused (403)."""
    partner = get_partner(session, name)
    partner.status = status
    return partner


@writes
def rotate_token(session: Session, name: str) -> IssuedToken:
    """A new token for the partner; the old one stops working at once."""
    partner = get_partner(session, name)
    token = new_token(TOKEN_PREFIX)
    partner.token_digest = token_digest(token)
    return IssuedToken(partner, token)


def authenticate(session: Session, token: str | None, scope: str) -> Partner:
    """The partner holding this bearer token, if it may use `scope`.

    Raises Unauthorized (no or unknown token), PartnerSuspended, InsufficientScope.
    """
    if not token:
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    partner = session.scalar(select(Partner).where(Partner.token_digest == token_digest(token)))
    if partner is None:
        raise Unauthorized("this token is not valid", code="invalid_token")
    return check_access(partner, scope)


def check_access(partner: Partner, scope: str) -> Partner:
    """The partner, if it is active and holds `scope`, however it authenticated.

    Raises PartnerSuspended, InsufficientScope.
    """
    if partner.status != MemberStatus.ACTIVE:
        raise PartnerSuspended()
    if scope not in partner.scope_set:
        raise InsufficientScope(f"this needs the scope {scope}")
    return partner
