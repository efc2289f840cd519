"""POST /v1/signals: hashes a platform found itself, recorded as a platform case."""
from __future__ import annotations

from flask import current_app, g, request
from flask.views import MethodView

from federation import idempotency, platform_cases
from federation.api import require_json_body
from federation.api.auth import PartnerBlueprint
from federation.api.schemas import PlatformCaseReceiptSchema, PlatformSignalsSchema
from federation.db import db
from federation.signals import parse_signal

blp = PartnerBlueprint("signals", __name__, url_prefix="/v1",
                       description="Platform-sourced hashes")
blp.before_request(require_json_body)


@blp.route("/signals", scope="signals:write")
class PlatformSignals(MethodView):
    @blp.arguments(PlatformSignalsSchema())
    @blp.doc(security=[{"bearer": []}])
    @blp.response(201, PlatformCaseReceiptSchema)
    @blp.alt_response(401, description="No or invalid token")
    @blp.alt_response(403, description="Suspended, or no signals:write scope")
    @blp.alt_response(409, description="Idempotency-Key reused with a different body")
    @blp.alt_response(422, description="Not valid")
    def post(self, body):
        """Report up to 500 hashes of NCII the platform found; new ones enter the feed.

        They form a case with source `platform`, which has no reference or PIN: no person
        can check or withdraw it. Send an `Idempotency-Key` so a retry is not a second case.
        """
        key = request.headers.get("Idempotency-Key")
        signals = [parse_signal(s["type"], s["value"], s["quality"]) for s in body["signals"]]
        receipt = platform_cases.create_platform_case(
            db.session, current_app.extensions["federation.case_policy"], g.partner.id, signals,
            idempotency_key=idempotency.check_key(key) if key is not None else None)
        return receipt, 201, {"Idempotent-Replayed": "true"} if receipt.replayed else {}
