"""POST /v1/signals: hashes a platform found itself, recorded as a platform case."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from federation import list_trust, platform_cases
from federation.api.auth import PARTNER
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import PlatformCaseReceiptSchema, PlatformSignalsSchema
from federation.db import db
from federation.models import Withheld
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


class StandingQuerySchema(Schema):
    records = fields.List(fields.String(validate=validate.Length(1, 40)), required=True,
                          validate=validate.Length(1, list_trust.MAX_STANDING_LOOKUP), metadata={
                              "description": "record ids from the feed"})


class StandingSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the record id asked about"})
    confirmed = fields.Integer(required=True, metadata={
        "description": "active platforms whose latest verdict on the hash is `blocked`"})
    disputed = fields.Integer(required=True, metadata={
        "description": "active platforms whose latest verdict is `not_blocked` (not counting a "
                       "platform's dispute of a hash it contributed)"})
    withheld = fields.String(required=True, allow_none=True, metadata={
        "enum": [*(str(w) for w in Withheld), None],
        "description": "why the hash is out of the feed now, if it is"})


class StandingAnswerSchema(Schema):
    standing = fields.List(fields.Nested(StandingSchema), required=True, metadata={
        "description": "one per known record id asked about; unknown ids are left out"})


@blp.route("/signals/standing", needs="feed:read")
class SignalStanding(MethodView):
    @blp.arguments(StandingQuerySchema())
    @blp.response(200, StandingAnswerSchema)
    @blp.alt_response(422, description="Not valid")
    def post(self, body):
        """How many platforms confirmed or disputed each of these records' hashes, never which.

        A POST so that no record id travels in a URL (docs/list-hygiene.md).
        """
        standing = list_trust.standing_of(db.session, body["records"])
        return {"standing": [{"id": record, "confirmed": s.confirmed, "disputed": s.disputed,
                              "withheld": s.withheld} for record, s in standing.items()]}, 200, \
            {"Cache-Control": "private, no-store"}
