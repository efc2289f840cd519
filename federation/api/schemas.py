"""Request and response schemas shared by the API blueprints (marshmallow, via flask-smorest)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from federation.signals import HEX_LENGTHS

# Bounds on every string: nothing a person types is stored except on purpose.
_REFERENCE = fields.String(required=True, validate=validate.Length(1, 40),
                           metadata={"example": "7KQ2-M9XD-4RTW"})
_PIN = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{8}$", error="a PIN is 8 digits"),
                     metadata={"example": "12345678"})


class SignalSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(list(HEX_LENGTHS)))
    value = fields.String(required=True, validate=validate.Length(1, 64))
    quality = fields.Integer(load_default=None, strict=True,
                             metadata={"description": "PDQ only: 0-100; below 50 is refused"})


def _StrictBool(**kwargs) -> fields.Boolean:  # noqa: N802 - reads as a field type
    # Only JSON true/false: "yes" or 1 is not a person's explicit consent.
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class ConsentSchema(Schema):
    adult = _StrictBool(required=True,
                           metadata={"description": "I am 18 or over"})
    depicted_or_acting_for = _StrictBool(
        required=True,
        metadata={"description": "I am the person pictured, or act for them with their agreement"})
    share_with_platforms = _StrictBool(
        required=True,
        metadata={"description": "I agree that these hashes go to member platforms"})


class CaseCreateSchema(Schema):
    signals = fields.List(fields.Nested(SignalSchema), required=True)
    consent = fields.Nested(ConsentSchema, required=True)
    referral_code = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{4,64}$"))


class CaseReceiptSchema(Schema):
    reference = fields.String(required=True, metadata={"description": "shown only in this response"})
    pin = fields.String(allow_none=True, metadata={
        "description": "shown only in the first response; null on an idempotent replay"})
    pin_sealed = fields.String(allow_none=True, metadata={
        "description": "on an idempotent replay: the PIN, AES-256-GCM sealed under "
                       "HKDF-SHA256(Idempotency-Key, info='federation/pin-seal/v1'); "
                       "base64url of nonce||ciphertext"})
    status = fields.String(required=True)
    signal_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    replayed = fields.Boolean(required=True)


class CaseCredentialsSchema(Schema):
    reference = _REFERENCE
    pin = _PIN


class CaseStatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "active or withdrawn"})
    signal_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    withdrawn_at = fields.DateTime(allow_none=True)
