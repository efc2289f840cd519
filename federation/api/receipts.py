"""Platforms' deletion receipts and the keys they sign them with (docs/log.md)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from federation import receipts
from federation.api.auth import PARTNER
from federation.api.blueprint import ApiBlueprint
from federation.crypto.encoding import b64u_decode
from federation.db import db
from federation.errors import InvalidInput
from federation.services import services

blp = ApiBlueprint("receipts", __name__, access=PARTNER, url_prefix="/v1",
                   description="Platforms sign what they deleted")


class ReceiptKeySchema(Schema):
    public_key = fields.String(required=True, validate=validate.Length(1, 64), metadata={
        "description": "the platform's Ed25519 public key, 32 bytes in base64url"})


class RegisteredKeySchema(Schema):
    kid = fields.String(required=True, metadata={"description": "RFC 7638 thumbprint: the receipts' `kid`"})
    witness_name = fields.String(required=True, metadata={"description": "the key's name when it cosigns"})
    witness_vkey = fields.String(required=True, metadata={"description": "C2SP vkey of its cosignatures"})


class ReceiptBatchSchema(Schema):
    receipts = fields.List(fields.Dict(), required=True, validate=validate.Length(1, receipts.MAX_RECEIPTS),
                           metadata={"description": "signed receipts (federation/crypto/receipt.py): type, "
                                                    "log, record_id, seq, tree_size, deleted_at, kid, sig"})


class ReceiptResultSchema(Schema):
    status = fields.String(required=True, metadata={"description": "recorded or already_recorded"})


class ReceiptAnswerSchema(Schema):
    results = fields.List(fields.Nested(ReceiptResultSchema), required=True)
    recorded = fields.Integer(required=True)
    already_recorded = fields.Integer(required=True)


@blp.route("/receipt-keys", needs="feedback:write")
class ReceiptKeys(MethodView):
    @blp.arguments(ReceiptKeySchema())
    @blp.response(200, RegisteredKeySchema())
    @blp.alt_response(409, description="the key is registered to another platform (receipt_key_taken)")
    @blp.alt_response(422, description="not an Ed25519 public key (invalid_public_key)")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Register your receipt key: it signs deletion receipts and cosignatures. Again: no-op."""
        try:
            public = b64u_decode(body["public_key"])
        except ValueError:
            raise InvalidInput("public_key is not base64url", code="invalid_public_key") from None
        return receipts.register_key(db.session, services().idempotency, g.partner.id, public,
                                     idempotency_key=idempotency_key)


@blp.route("/receipts", needs="feedback:write")
class Receipts(MethodView):
    @blp.arguments(ReceiptBatchSchema())
    @blp.response(200, ReceiptAnswerSchema())
    @blp.alt_response(422, description="a receipt is malformed or for another log (invalid_receipt), signed "
                                       "by a key you did not register (unknown_receipt_key), or for a "
                                       "delete the log does not have (no_such_delete): nothing is kept")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Send signed receipts for deletes you applied; one sent again is `already_recorded`."""
        result, replayed = receipts.record_receipts(
            db.session, services().idempotency, services().log.origin, g.partner.id, body["receipts"],
            idempotency_key=idempotency_key)
        return result, 200, {"Idempotent-Replayed": "true"} if replayed else {}
