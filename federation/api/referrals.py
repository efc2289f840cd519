"""Organisations: make referral codes, follow shared cases, read their counts.

The code a person carries appears in no API URL: a referral is named by its `id`, which
is useless without the organisation's credential. The code is only in the portal link
`/r/CODE` that the person opens.
"""
from __future__ import annotations

from flask import current_app, g, url_for
from flask.views import MethodView

from federation import referral_reports, referrals
from federation.api import require_json_body
from federation.api.org_auth import OrganisationBlueprint
from federation.api.schemas import (
    IssuedReferralSchema,
    OrganisationStatsSchema,
    ReferralCreateSchema,
    ReferralListSchema,
    ReferralViewSchema,
)
from federation.db import db
from federation.ratelimit import guard

blp = OrganisationBlueprint("referrals", __name__, url_prefix="/v1/referrals",
                            description="Safety organisations: referrals and consented follow-up")
blp.before_request(require_json_body)

_NO_STORE = {"Cache-Control": "no-store"}


def referral_link(code: str) -> str:
    """The absolute portal link for a code (the one URL a code may appear in)."""
    return url_for("portal_referral.landing", code=code, _external=True)


@blp.route("", permission="referrals:write")
class ReferralCollection(MethodView):
    @blp.arguments(ReferralCreateSchema())
    @blp.doc(security=[{"bearer": []}])
    @blp.response(201, IssuedReferralSchema)
    @blp.alt_response(401, description="No, invalid or revoked token")
    @blp.alt_response(403, description="Organisation suspended")
    def post(self, _body):
        """Make a single-use referral code and its portal link, to hand to one person.

        Send `{}`. The code is in this answer only; it expires after 30 days (configurable).
        """
        issued = referrals.create_referral(db.session, current_app.extensions["federation.referral_policy"],
                                           g.actor)
        return {"id": issued.id, "code": issued.code, "link": referral_link(issued.code),
                "organisation": issued.organisation, "created_at": issued.created_at,
                "expires_at": issued.expires_at}, 201, _NO_STORE


@blp.route("", permission="referrals:read")
class ReferralList(MethodView):
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, ReferralListSchema)
    def get(self):
        """The organisation's referrals (newest 200) with their state; a shared case's summary."""
        return {"referrals": referral_reports.list_referrals(db.session, g.actor.organisation.id)}, 200, \
            _NO_STORE


@blp.route("/stats", permission="stats:read")
class ReferralStats(MethodView):
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, OrganisationStatsSchema)
    @blp.alt_response(403, description="A caseworker credential: counts need the organisation's token")
    def get(self):
        """Counts only: referrals made, used, open, expired, shared; shared cases by state and outcome."""
        return referral_reports.organisation_stats(db.session, g.actor.organisation.id), 200, _NO_STORE


@blp.route("/<string:referral_id>", permission="referrals:read")
class SharedCase(MethodView):
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, ReferralViewSchema)
    @blp.alt_response(404, description="No case shared under this referral (or not this organisation's)")
    @blp.alt_response(429, description="Too many ids that are not this organisation's; see Retry-After")
    def get(self, referral_id: str):
        """The outcome summary of the case made with this referral, while the person shares it."""
        counter = current_app.extensions["federation.guess_counter"]
        key = f"organisation:{g.actor.organisation.id}"
        guard(counter, key)
        try:
            return referral_reports.shared_case(db.session, g.actor.organisation.id, referral_id), 200, \
                _NO_STORE
        except referral_reports.CaseNotShared:
            # Asking for its own referral that is not shared is normal; ids that are not
            # its own at all are guesses, and count toward the limit.
            if not referral_reports.is_own_referral(db.session, g.actor.organisation.id, referral_id):
                counter.record_failure(key)
            raise
