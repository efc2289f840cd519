"""POST /v1/signals: hashes a platform found itself, recorded as a platform case."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from federation import platform_cases
from federation.api.auth import PARTNER
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import PlatformCaseReceiptSchema, PlatformSignalsSchema
from federation.db import db
from federation.services import services
from federation.signals import parse_signal

blp = ApiBlueprint("signals", __name__, access=PARTNER, url_prefix="/v1",
                   description="Platform-sourced hashes")


@blp.route("/signals", needs="signals:write")
class PlatformSignals(MethodView):
    @blp.arguments(PlatformSignalsSchema())
    @blp.response(201, PlatformCaseReceiptSchema)
    @blp.alt_response(422, description="Not valid")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Report up to 500 hashes of NCII the platform found; new ones enter the feed.

        They form a case with source `platform`, which has no reference or PIN: no person
        can check or withdraw it. Send an `Idempotency-Key` so a retry is not a second case.
        """
        app = services()
        signals = [parse_signal(s["type"], s["value"], s["quality"], s["frames"]) for s in body["signals"]]
        receipt = platform_cases.create_platform_case(
            db.session, app.signers, app.idempotency, g.partner.id, signals, idempotency_key=idempotency_key)
        return receipt, 201, {"Idempotent-Replayed": "true"} if receipt.replayed else {}
