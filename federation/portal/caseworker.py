"""Caseworker pages: sign in with a caseworker credential, make a referral and print its
slip, follow the cases people chose to share.

Plain server-rendered forms. What protects them:
- the session cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and scoped to
  /caseworker; it holds a random id whose digest is the server-side session
  (federation/caseworker_sessions.py), which ends after 15 idle minutes;
- every POST must come from our own pages: a cross-site `Origin` (or `null`) or
  `Sec-Fetch-Site` is refused (403), and a signed-in form must carry the session's CSRF
  token;
- only urlencoded forms are read: a file upload is refused before it is parsed (415).
"""
from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.wrappers import Response as ResponseBase

from federation import caseworker_sessions, referral_reports, referrals
from federation.caseworker_sessions import CsrfRefused
from federation.db import db, end_read
from federation.errors import FederationError
from federation.models import Caseworker
from federation.organisations import Actor
from federation.portal import localized, render_page
from federation.services import services
from federation.web import referral_link

COOKIE = "federation_caseworker"
COOKIE_PATH = "/caseworker"
_FORM = "application/x-www-form-urlencoded"

bp = Blueprint("portal_caseworker", __name__, url_prefix="/caseworker")


class FormsOnly(FederationError):
    status = 415
    code = "unsupported_media_type"
    title = "Send the page's own form; files are never accepted"


@bp.before_request
def _same_site_forms_only() -> None:
    if request.method != "POST":
        return
    # Browsers say where a request comes from; a form posted from another site is refused
    # before anything is read, signed in or not (this also stops login CSRF).
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site not in (None, "same-origin", "none") or (origin is not None and origin != _own_origin()):
        raise CsrfRefused()
    if request.mimetype not in (_FORM, ""):  # "": no body, which is never parsed either
        raise FormsOnly()


@bp.after_request
def _secure(response: ResponseBase) -> ResponseBase:
    # With no-referrer, Chromium sends `Origin: null` on form posts, and a same-origin
    # post could not be told from a sandboxed cross-site one. same-origin still sends no
    # Referer to any other site. (The person's pages keep no-referrer.)
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@localized(bp, "", methods=["GET"])
def home() -> ResponseBase:
    signed_in = _signed_in()
    if signed_in is None:
        return _to_sign_in()
    views = referral_reports.list_referrals(db.session, signed_in.organisation_id)
    return _render("caseworker_home.html", signed_in=signed_in, referrals=views)


@localized(bp, "/sign-in", methods=["GET"])
def sign_in_page() -> ResponseBase:
    if _signed_in() is not None:
        return redirect(url_for(".home"), 303)
    return _render("caseworker_sign_in.html")


@localized(bp, "/sign-in", methods=["POST"])
def sign_in() -> ResponseBase:
    try:
        opened = caseworker_sessions.sign_in(db.session, request.form.get("token", ""))
    except FederationError as error:
        # Unknown, revoked, not a caseworker's, or organisation suspended: one answer.
        if error.status not in (401, 403):
            raise
        return _render("caseworker_sign_in.html", status=401, failed=True)
    response = redirect(url_for(".home"), 303)
    response.set_cookie(COOKIE, opened.session_id, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=request.is_secure)
    return response


@localized(bp, "/sign-out", methods=["POST"])
def sign_out() -> ResponseBase:
    signed_in = _signed_in()
    if signed_in is not None:
        caseworker_sessions.check_csrf(signed_in, request.form.get("csrf_token"))
        caseworker_sessions.sign_out(db.session, request.cookies.get(COOKIE))
    return _to_sign_in()


@localized(bp, "/referrals", methods=["POST"])
def make_referral() -> ResponseBase:
    signed_in = _signed_in()
    if signed_in is None:
        return _to_sign_in()
    caseworker_sessions.check_csrf(signed_in, request.form.get("csrf_token"))
    caseworker = db.session.get_one(Caseworker, signed_in.caseworker_id)
    actor = Actor(caseworker.organisation, caseworker)
    end_read(db.session)
    issued = referrals.create_referral(db.session, services().referrals, actor)
    # The slip is this POST's answer (no-store), not a page to come back to: the code is
    # shown once and never put in a URL of ours other than the link itself.
    return _render("caseworker_slip.html", status=201, signed_in=signed_in, referral=issued,
                   link=referral_link(issued.code))


def _signed_in() -> caseworker_sessions.SignedIn | None:
    if "caseworker" not in g:
        g.caseworker = caseworker_sessions.resume(db.session, services().caseworker_sessions,
                                                  request.cookies.get(COOKIE))
    return g.caseworker


def _to_sign_in() -> ResponseBase:
    response = redirect(url_for(".sign_in_page"), 303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict",
                               secure=request.is_secure)
    return response


def _render(template: str, status: int = 200, **context) -> ResponseBase:
    return render_page(template, status=status, page="caseworker",
                       idle_minutes=services().caseworker_sessions.idle_seconds // 60,
                       ttl_days=services().referrals.ttl_days, **context)


def _own_origin() -> str:
    return request.host_url.rstrip("/")
