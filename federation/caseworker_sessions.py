"""A caseworker signed in to the portal: server-side sessions with an idle timeout.

The cookie carries 256 random bits; the table keeps only their SHA-256, the caseworker,
a CSRF token for the session's forms, and when it was last used. A session ends on sign
out, after `idle_seconds` without a request, `max_seconds` after sign-in, or when the
caseworker is revoked or their organisation suspended. Checked on every request, so
revoking a credential signs its holder out at once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation import audit, organisations
from federation.db import end_read, write_transaction
from federation.errors import FederationError, Unauthorized
from federation.models import Caseworker, CaseworkerSession, CaseworkerStatus, MemberStatus, utcnow


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int = 15 * 60
    max_seconds: int = 8 * 3600


@dataclass(frozen=True)
class SignedIn:
    """A live session: who, for which organisation, and the CSRF token of its forms."""

    caseworker_id: int
    caseworker_name: str
    organisation_id: int
    organisation_name: str
    csrf_token: str


@dataclass(frozen=True)
class NewSession:
    session_id: str  # for the cookie only; never stored, never logged
    signed_in: SignedIn


def sign_in(session: Session, token: str, *, now: dt.datetime | None = None) -> NewSession:
    """Open a session for the caseworker holding `token`.

    Only a caseworker's own credential signs in (not the organisation's token), so each
    session belongs to one person who can be revoked. Raises Unauthorized,
    OrganisationSuspended.
    """
    token = (token or "").strip()
    if not token.startswith(organisations.CASEWORKER_TOKEN_PREFIX):
        raise Unauthorized("sign in with a caseworker credential", code="invalid_token")
    actor = organisations.authenticate(session, token, "referrals:read")
    end_read(session)
    caseworker = actor.caseworker
    if caseworker is None:  # a caseworker prefix always authenticates as a caseworker
        raise Unauthorized("sign in with a caseworker credential", code="invalid_token")
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with write_transaction(session):
        session.add(CaseworkerSession(session_digest=_digest(session_id), caseworker_id=caseworker.id,
                                      csrf_token=csrf, created_at=now, last_seen_at=now))
        audit.record(session, "caseworker_signed_in", actor=actor.label)
    return NewSession(session_id, _signed_in(caseworker, csrf))


def resume(session: Session, policy: SessionPolicy, session_id: str | None, *,
           now: dt.datetime | None = None) -> SignedIn | None:
    """The live session for this cookie value, touched; None when there is none.

    An expired session, or one whose caseworker was revoked or organisation suspended,
    is deleted and gives None.
    """
    if not session_id:
        return None
    now = now or utcnow()
    with write_transaction(session):
        row = session.scalar(select(CaseworkerSession).where(
            CaseworkerSession.session_digest == _digest(session_id)))
        if row is None:
            return None
        caseworker = row.caseworker
        idle = now - row.last_seen_at > dt.timedelta(seconds=policy.idle_seconds)
        too_old = now - row.created_at > dt.timedelta(seconds=policy.max_seconds)
        if idle or too_old or caseworker.status != CaseworkerStatus.ACTIVE \
                or caseworker.organisation.status != MemberStatus.ACTIVE:
            session.delete(row)
            return None
        row.last_seen_at = now
        return _signed_in(caseworker, row.csrf_token)


def check_csrf(signed_in: SignedIn, sent: str | None) -> None:
    """Raise CsrfRefused unless the form carried this session's token."""
    if not sent or not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
        raise CsrfRefused()


def sign_out(session: Session, session_id: str | None) -> None:
    if not session_id:
        return
    with write_transaction(session):
        session.execute(delete(CaseworkerSession).where(
            CaseworkerSession.session_digest == _digest(session_id)))


class CsrfRefused(FederationError):
    status = 403
    code = "csrf_refused"
    title = "This form was not sent from our own page; please reload the page and try again"


def _signed_in(caseworker: Caseworker, csrf: str) -> SignedIn:
    return SignedIn(caseworker.id, caseworker.name, caseworker.organisation_id,
                    caseworker.organisation.display_name, csrf)


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()
