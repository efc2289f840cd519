"""The referral link a caseworker hands to a person: /r/CODE.

The page is the report page, opened with the organisation's name and the question whether
to share the progress of the report with it (default: no). The code goes with the report
in the POST body; the page's script then drops it from the address bar and history.

A code that cannot be used (unknown, expired, used, organisation suspended) gets the same
plain message, and the person can still report without it. Failed look-ups count toward
the client's limit (federation/ratelimit.py); over it, every look-up is refused with 429
and Retry-After, and the page still lets the person report.

The code is in this URL by design, so: it is single-use and expiring, the access logs
redact it (federation/log_redaction.py), and the page sends no Referer (no-referrer).
"""
from __future__ import annotations

from flask import Blueprint, Response

from federation import referrals
from federation.db import db
from federation.portal import localized, render_page
from federation.services import services
from federation.web import client_key

bp = Blueprint("portal_referral", __name__)


@localized(bp, "/r/<code>", methods=["GET"])
def landing(code: str) -> Response:
    counter = services().referral_guesses
    key = client_key()
    wait = counter.retry_after(key)
    if wait:
        response = render_page("report.html", status=429, page="report", referral_problem="limited")
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        organisation = referrals.check_code(db.session, services().referrals, code)
    except referrals.ReferralUnusable:
        counter.record_failure(key)
        return render_page("report.html", page="report", referral_problem="unusable")
    return render_page("report.html", page="report",
                       referral={"organisation": organisation, "code": referrals.normalise_code(code)})
