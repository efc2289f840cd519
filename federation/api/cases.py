"""The person's endpoints. Reference and PIN travel in POST bodies only (never URLs)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from federation import cases, receipts
from federation.api.auth import PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import (
    CaseCreateSchema,
    CaseCredentialsSchema,
    CaseReceiptSchema,
    CaseStatusSchema,
)
from federation.db import db
from federation.ratelimit import guard, limit
from federation.services import services
from federation.signals import parse_signal
from federation.web import client_key

blp = ApiBlueprint("cases", __name__, access=PUBLIC, url_prefix="/v1/cases",
                   description="Report once, check status, withdraw")
_NO_STORE = {"Cache-Control": "no-store"}


class PlatformDeletionSchema(Schema):
    platform = fields.String(required=True, metadata={"description": "the platform's display name"})
    confirmed = fields.Boolean(required=True, metadata={
        "description": "true: deleted, with a signed receipt for every hash; false: not yet confirmed"})
    receipts = fields.Integer(required=True)
    deletes = fields.Integer(required=True)
    deleted_at = fields.DateTime(allow_none=True, metadata={"description": "when, once confirmed"})


class PersonCaseStatusSchema(CaseStatusSchema):
    """The status, and whether the report still waits to be sent to platforms."""

    held = fields.Boolean(required=True, metadata={
        "description": "true while the report is recorded but its hashes wait to be published "
                       "(the feed's budget for reports was spent); they follow shortly, in order"})
    paused = fields.Integer(required=True, metadata={
        "description": "hashes kept out of the feed while the operator checks them "
                       "(docs/list-hygiene.md); never says which platform asked"})
    not_shared = fields.Integer(required=True, metadata={
        "description": "hashes a check found are of a picture that is not intimate (a logo, a meme)"})
    restored = fields.Integer(required=True, metadata={
        "description": "hashes that were paused for a check and are shared again"})
    deletion = fields.List(fields.Nested(PlatformDeletionSchema), required=True, metadata={
        "description": "once withdrawn: per platform, whether it confirmed deleting every hash of the "
                       "case with a signed receipt (empty while nothing was deleted)"})


class WithdrawalProofSchema(Schema):
    type = fields.String(required=True, metadata={"description": "federation/withdrawal-proof/v1"})
    checkpoint = fields.String(required=True, metadata={"description": "the log's signed checkpoint"})
    log_key = fields.Dict(required=True, metadata={"description": "the log's note key: name, public_key, vkey"})
    deletes = fields.List(fields.Dict(), required=True, metadata={
        "description": "each delete: seq, record_id, leaf_hash, inclusion (proof in the checkpoint's tree)"})
    receipts = fields.List(fields.Dict(), required=True, metadata={
        "description": "each platform's signed receipt, with its public key"})
    platforms = fields.List(fields.Dict(), required=True)


@blp.route("")
class CaseCollection(MethodView):
    @blp.arguments(CaseCreateSchema())
    @blp.response(201, CaseReceiptSchema)
    @blp.alt_response(415, description="Not JSON")
    @blp.alt_response(422, description="Not valid")
    @blp.alt_response(429, description="Too many reports from this network (`rate_limited`), or "
                                       "too many referral codes that did not work from here "
                                       "(`too_many_guesses`: send the report without the code); "
                                       "see Retry-After")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Report: open a case with the hashes made on the person's device.

        With a `referral_code` from a safety organisation's link, and only with
        `share_with_referrer: true`, that organisation may follow the case's outcome. A code
        that cannot be used does not stop the report: `referral.status` is `not_applied`.

        Send an `Idempotency-Key` header (a random UUID) so a retry after a lost
        response returns the same case instead of a second one. The retry's answer has
        `pin` null and `pin_sealed` set: open it with the same key (see README).
        """
        app = services()
        limit(app.report_limit, client_key())
        signals = [parse_signal(s["type"], s["value"], s["quality"], s["frames"]) for s in body["signals"]]
        code = body["referral_code"]
        if code is not None:
            guard(app.referral_guesses, client_key())
        receipt = cases.create_case(
            db.session, app.pins, app.signers, app.idempotency, signals, cases.Consent(**body["consent"]),
            referrals_policy=app.referrals, referral_code=code,
            share_with_referrer=body["share_with_referrer"], idempotency_key=idempotency_key,
            budget=app.feed_budget)
        if receipt.referral and not receipt.referral.applied and not receipt.replayed:
            app.referral_guesses.record_failure(client_key())
        return receipt, 201, {**_NO_STORE, **({"Idempotent-Replayed": "true"} if receipt.replayed else {})}


_CREDENTIAL_ERRORS = [
    (404, "No case matches this reference and PIN"),
    (429, "Too many requests from this network (`rate_limited`), or locked after repeated "
          "wrong PINs (`locked`: from this network, or from everywhere for the rest of the UTC "
          "day); see Retry-After"),
]


def _person_action(handler):
    """Document the answers every reference-and-PIN action shares."""
    for status, description in _CREDENTIAL_ERRORS:
        handler = blp.alt_response(status, description=description)(handler)
    return blp.response(200, PersonCaseStatusSchema)(blp.arguments(CaseCredentialsSchema())(handler))


def _network() -> str:
    """This client's network, after counting the request against its limit."""
    network = client_key()
    limit(services().case_access_limit, network)
    return network


@blp.route("/status")
class CaseStatus(MethodView):
    @_person_action
    def post(self, body):
        """The case's status, for the person holding its reference and PIN."""
        network = _network()
        return cases.case_status(db.session, services().pins, body["reference"], body["pin"], network), \
            200, _NO_STORE


@blp.route("/withdraw")
class CaseWithdraw(MethodView):
    @_person_action
    def post(self, body):
        """Withdraw the case: every platform is told to delete its hashes."""
        network = _network()
        app = services()
        return cases.withdraw_case(db.session, app.pins, app.signers, body["reference"], body["pin"],
                                   network), 200, _NO_STORE


@blp.route("/stop-sharing")
class CaseStopSharing(MethodView):
    @_person_action
    def post(self, body):
        """Stop sharing the case's progress with the organisation that referred it, at once."""
        network = _network()
        return cases.stop_sharing(db.session, services().pins, body["reference"], body["pin"], network), \
            200, _NO_STORE


@blp.route("/withdrawal-proof")
class CaseWithdrawalProof(MethodView):
    @blp.arguments(CaseCredentialsSchema())
    @blp.response(200, WithdrawalProofSchema())
    @blp.alt_response(404, description=_CREDENTIAL_ERRORS[0][1])
    @blp.alt_response(429, description=_CREDENTIAL_ERRORS[1][1])
    def post(self, body):
        """The withdrawal proof to keep or share: the deletes' inclusion proofs in the signed
        checkpoint and each platform's signed receipt, with no hash of the pictures in it
        (docs/verify-withdrawal.md shows how anyone checks it offline)."""
        network = _network()
        app = services()
        proof = receipts.withdrawal_proof(db.session, app.pins, app.log, app.signers, body["reference"],
                                          body["pin"], network)
        return proof, 200, {**_NO_STORE, "Content-Disposition": 'attachment; filename="withdrawal-proof.json"'}
