"""Organisations: make referral codes, follow shared cases, read their counts.

The code a person carries appears in no API URL: a referral is named by its `id`, which
is useless without the organisation's credential. The code is only in the portal link
`/r/CODE` that the person opens.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from federation import referral_reports, referrals
from federation.api.auth import ORGANISATION
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import (
    IssuedReferralSchema,
    OrganisationStatsSchema,
    ReferralCreateSchema,
    ReferralListSchema,
    ReferralViewSchema,
)
from federation.db import db
from federation.ratelimit import guard
from federation.services import services
from federation.web import referral_link

blp = ApiBlueprint("referrals", __name__, access=ORGANISATION, url_prefix="/v1/referrals",
                   description="Safety organisations: referrals and consented follow-up")

_NO_STORE = {"Cache-Control": "no-store"}


@blp.route("", needs="referrals:write")
class ReferralCollection(MethodView):
    @blp.arguments(ReferralCreateSchema())
    @blp.response(201, IssuedReferralSchema)
    def post(self, _body):
        """Make a single-use referral code and its portal link, to hand to one person.

        Send `{}`. The code is in this answer only; it expires after 30 days (configurable).
        """
        issued = referrals.create_referral(db.session, services().referrals, g.actor)
        return {"id": issued.id, "code": issued.code, "link": referral_link(issued.code),
                "organisation": issued.organisation, "created_at": issued.created_at,
                "expires_at": issued.expires_at}, 201, _NO_STORE


@blp.route("", needs="referrals:read")
class ReferralList(MethodView):
    @blp.response(200, ReferralListSchema)
    def get(self):
        """The organisation's referrals (newest 200) with their state; a shared case's summary."""
        return {"referrals": referral_reports.list_referrals(db.session, g.actor.organisation.id)}, 200, \
            _NO_STORE


@blp.route("/stats", needs="stats:read")
class ReferralStats(MethodView):
    @blp.response(200, OrganisationStatsSchema)
    def get(self):
        """Counts only: referrals made, used, open, expired, shared; shared cases by state and outcome."""
        return referral_reports.organisation_stats(db.session, g.actor.organisation.id), 200, _NO_STORE


@blp.route("/<string:referral_id>", needs="referrals:read")
class SharedCase(MethodView):
    @blp.response(200, ReferralViewSchema)
    @blp.alt_response(404, description="No case shared under this referral (or not this organisation's)")
    @blp.alt_response(429, description="Too many ids that are not this organisation's; see Retry-After")
    def get(self, referral_id: str):
        """The outcome summary of the case made with this referral, while the person shares it."""
        counter = services().referral_guesses
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
