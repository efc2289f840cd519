"""The person's endpoints. Reference and PIN travel in POST bodies only (never URLs)."""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from federation import cases, idempotency
from federation.api import client_key, require_json_body
from federation.api.schemas import (
    CaseCreateSchema,
    CaseCredentialsSchema,
    CaseReceiptSchema,
    CaseStatusSchema,
)
from federation.db import db
from federation.ratelimit import guard
from federation.signals import parse_signal

blp = Blueprint("cases", __name__, url_prefix="/v1/cases",
                description="Report once, check status, withdraw")
blp.before_request(require_json_body)


def _policy() -> cases.CasePolicy:
    return current_app.extensions["federation.case_policy"]


@blp.route("")
class CaseCollection(MethodView):
    @blp.arguments(CaseCreateSchema())
    @blp.response(201, CaseReceiptSchema)
    @blp.alt_response(409, description="Idempotency-Key reused with a different body")
    @blp.alt_response(415, description="Not JSON")
    @blp.alt_response(422, description="Not valid")
    @blp.alt_response(429, description="Too many referral codes that did not work from here; "
                                       "send the report without the code, or see Retry-After")
    def post(self, body):
        """Report: open a case with the hashes made on the person's device.

        With a `referral_code` from a safety organisation's link, and only with
        `share_with_referrer: true`, that organisation may follow the case's outcome. A code
        that cannot be used does not stop the report: `referral.status` is `not_applied`.

        Send an `Idempotency-Key` header (a random UUID) so a retry after a lost
        response returns the same case instead of a second one. The retry's answer has
        `pin` null and `pin_sealed` set: open it with the same key (see README).
        """
        key = request.headers.get("Idempotency-Key")
        signals = [parse_signal(s["type"], s["value"], s["quality"]) for s in body["signals"]]
        consent = cases.Consent(**body["consent"])
        code = body["referral_code"]
        counter = current_app.extensions["federation.guess_counter"]
        if code is not None:
            guard(counter, client_key())
        receipt = cases.create_case(
            db.session, _policy(), signals, consent, referral_code=code,
            share_with_referrer=body["share_with_referrer"],
            idempotency_key=idempotency.check_key(key) if key is not None else None)
        if receipt.referral and not receipt.referral.applied and not receipt.replayed:
            counter.record_failure(client_key())
        return receipt, 201, {"Cache-Control": "no-store",
                              **({"Idempotent-Replayed": "true"} if receipt.replayed else {})}


@blp.route("/status")
class CaseStatus(MethodView):
    @blp.arguments(CaseCredentialsSchema())
    @blp.response(200, CaseStatusSchema)
    @blp.alt_response(404, description="No case matches this reference and PIN")
    @blp.alt_response(429, description="Locked after repeated wrong PINs; see Retry-After")
    def post(self, body):
        """The case's status, for the person holding its reference and PIN."""
        return cases.case_status(db.session, _policy(), body["reference"], body["pin"]), 200, \
            {"Cache-Control": "no-store"}


@blp.route("/withdraw")
class CaseWithdraw(MethodView):
    @blp.arguments(CaseCredentialsSchema())
    @blp.response(200, CaseStatusSchema)
    @blp.alt_response(404, description="No case matches this reference and PIN")
    @blp.alt_response(429, description="Locked after repeated wrong PINs; see Retry-After")
    def post(self, body):
        """Withdraw the case: every platform is told to delete its hashes."""
        return cases.withdraw_case(db.session, _policy(), body["reference"], body["pin"]), 200, \
            {"Cache-Control": "no-store"}


@blp.route("/stop-sharing")
class CaseStopSharing(MethodView):
    @blp.arguments(CaseCredentialsSchema())
    @blp.response(200, CaseStatusSchema)
    @blp.alt_response(404, description="No case matches this reference and PIN")
    @blp.alt_response(429, description="Locked after repeated wrong PINs; see Retry-After")
    def post(self, body):
        """Stop sharing the case's progress with the organisation that referred it, at once."""
        return cases.stop_sharing(db.session, _policy(), body["reference"], body["pin"]), 200, \
            {"Cache-Control": "no-store"}
