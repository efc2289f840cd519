"""Request and response schemas shared by the API blueprints (marshmallow, via flask-smorest)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from federation.cases import MAX_SIGNALS
from federation.feedback import MAX_COUNT, MAX_ITEMS, MAX_NOTE
from federation.models import VERDICTS
from federation.rules import HEX_LENGTHS, MIN_PDQ_QUALITY, VPDQ_MAX_FRAMES, VPDQ_MAX_TIME_MS, VPDQ_TYPE


class JsonInteger(fields.Integer):
    """An integer as JSON Schema defines one: a JSON number with no fraction (`84` and
    `84.0`), never a string or a boolean. For request bodies (query strings are text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        return super()._deserialize(int(value), attr, data, **kwargs)


# Bounds on every string: nothing a person types is stored except on purpose.
_REFERENCE = fields.String(required=True, validate=validate.Length(1, 40),
                           metadata={"example": "7KQ2-M9XD-4RTW"})
_PIN = fields.String(required=True, validate=validate.Regexp(r"[0-9]{8}\Z", error="a PIN is 8 digits"),
                     metadata={"example": "12345678", "pattern": "^[0-9]{8}$"})

# Lengths are checked per type by federation.signals (code `invalid_signal`), so a hash
# one character too long is refused as clearly as one too short; the bounds are documented.
_HASH_VALUE = fields.String(required=True, metadata={
    "description": "hexadecimal: 64 characters for pdq and sha256, 32 for md5, 16 for phash",
    "minLength": 16, "maxLength": 64})


# A vpdq signal's frames: loaded as they come and checked by federation.vpdq, so each
# mistake (a wrong length, a repeated time, a degenerate frame) gets its own code.
VPDQ_FRAME = {"type": "object", "additionalProperties": False,
               "required": ["pdq", "quality", "time_ms"], "properties": {
                   "pdq": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                   "quality": {"type": "integer", "minimum": 0, "maximum": 100,
                               "description": "frames below 50 are dropped"},
                   "time_ms": {"type": "integer", "minimum": 0, "maximum": VPDQ_MAX_TIME_MS}}}


class SignalSchema(Schema):
    """One hash. Loaded loosely here and checked per type by federation.signals, so each
    mistake gets its own code; documented exactly by `signal_document`."""

    type = fields.String(required=True, validate=validate.OneOf([*HEX_LENGTHS, VPDQ_TYPE]))
    value = fields.String(load_default=None, metadata={
        "description": "hexadecimal: 64 characters for pdq and sha256, 32 for md5, 16 for phash; "
                       "absent for vpdq (computed from its frames)",
        "minLength": 16, "maxLength": 64})
    quality = JsonInteger(load_default=None,
                             metadata={"description": "PDQ only: 0-100; below 50 is refused"})
    frames = fields.Raw(load_default=None, metadata={
        "description": f"vpdq only: 1-{VPDQ_MAX_FRAMES} frames of the video, about one a second, "
                       "each with its PDQ, quality and time (docs/video.md)",
        "type": "array", "minItems": 1, "maxItems": VPDQ_MAX_FRAMES, "items": VPDQ_FRAME})


def typed_values(*, quality: bool) -> list[dict]:
    """JSON Schema alternatives tying a hash's `value` to its `type` (and, for signals,
    PDQ's required `quality`), as federation.signals checks them: the loose field
    schemas above let each mistake get its own error code, these document the truth."""
    alternatives = []
    for kind, length in HEX_LENGTHS.items():
        alternative: dict = {"properties": {
            "type": {"enum": [kind]}, "value": {"type": "string", "pattern": f"^[0-9a-fA-F]{{{length}}}$"}}}
        if quality and kind == "pdq":
            alternative["properties"]["quality"] = {"type": "integer", "minimum": MIN_PDQ_QUALITY,
                                                    "maximum": 100}
            alternative["required"] = ["quality"]
        elif quality:
            alternative["properties"]["quality"] = {"type": "null"}  # absent, or null
        if quality:
            alternative["required"] = [*alternative.get("required", []), "value"]
            alternative["properties"]["frames"] = {"type": "null"}
        alternatives.append(alternative)
    if not quality:  # feedback names a video by its value, the SHA-256 of its frames
        alternatives.append({"properties": {
            "type": {"enum": [VPDQ_TYPE]}, "value": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}})
    if quality:  # signals, not feedback: a video as its frames
        alternatives.append({"required": ["frames"], "properties": {
            "type": {"enum": [VPDQ_TYPE]}, "value": {"type": "null"}, "quality": {"type": "null"},
            "frames": {"type": "array", "minItems": 1, "maxItems": VPDQ_MAX_FRAMES,
                       "items": VPDQ_FRAME}}})
    return alternatives


def document_typed_values(components: dict) -> None:
    """Add the type-value alternatives to the schemas that carry a hash."""
    for name, quality in (("Signal", True), ("FeedbackItem", False)):
        components[name]["oneOf"] = typed_values(quality=quality)


class JsonBoolean(fields.Boolean):
    """Only JSON true or false: "yes", 1 or 0.0 is not a person's explicit consent. (A set
    like {True} would not do: 1 == True and 0.0 == False in Python, and hash alike.)"""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value




class ConsentSchema(Schema):
    # Each must be true (code `consent_required` otherwise).
    adult = JsonBoolean(required=True,
                        metadata={"description": "I am 18 or over", "enum": [True]})
    depicted_or_acting_for = JsonBoolean(
        required=True,
        metadata={"description": "I am the person pictured, or act for them with their agreement",
                  "enum": [True]})
    share_with_platforms = JsonBoolean(
        required=True,
        metadata={"description": "I agree that these hashes go to member platforms", "enum": [True]})


# The count is checked by the service (code `signal_count`); documented here.
_SIGNAL_LIST = {"minItems": 1, "maxItems": MAX_SIGNALS}


class CaseCreateSchema(Schema):
    signals = fields.List(fields.Nested(SignalSchema), required=True, metadata=_SIGNAL_LIST)
    consent = fields.Nested(ConsentSchema, required=True)
    referral_code = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{4,64}$"),
                                  metadata={"description": "the code from a safety organisation's link, "
                                                           "if the person came with one"})
    share_with_referrer = JsonBoolean(load_default=False, metadata={
        "description": "the person agrees that the referring organisation may follow the outcome "
                       "of this case (never the hashes); false unless they said yes"})


class ReferralOutcomeSchema(Schema):
    status = fields.String(required=True, metadata={
        "description": "applied, or not_applied: the code was unknown, expired, used or its "
                       "organisation suspended (the report went in without it)"})
    organisation = fields.String(allow_none=True)
    shared = fields.Boolean(required=True)


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
    referral = fields.Nested(ReferralOutcomeSchema, allow_none=True, metadata={
        "description": "null when no referral code was sent"})


class CaseCredentialsSchema(Schema):
    reference = _REFERENCE
    pin = _PIN


class OutcomeSchema(Schema):
    verdict = fields.String(required=True, metadata={"description": ", ".join(VERDICTS)})
    outcome = fields.String(required=True, metadata={
        "description": "in plain words: found, taken down, reviewed and kept up, deleted after withdrawal"})
    signals = fields.Integer(required=True, metadata={"description": "how many of the case's hashes"})
    count = fields.Integer(required=True, metadata={"description": "how many times the platform reported it"})
    first_at = fields.DateTime(required=True)
    last_at = fields.DateTime(required=True)


class PlatformOutcomeSchema(Schema):
    platform = fields.String(required=True, metadata={"description": "the platform's display name"})
    outcomes = fields.List(fields.Nested(OutcomeSchema), required=True)


class SharingSchema(Schema):
    organisation = fields.String(required=True)
    shared = fields.Boolean(required=True)
    stopped_at = fields.DateTime(allow_none=True)


class CaseStatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "active or withdrawn"})
    signal_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    platforms = fields.List(fields.Nested(PlatformOutcomeSchema), required=True, metadata={
        "description": "what each member platform reported about this case's hashes"})
    sharing = fields.Nested(SharingSchema, allow_none=True, metadata={
        "description": "the organisation that referred the case, and whether it may follow it"})


# --- partners: feedback and platform-sourced signals --------------------------------

class FeedbackItemSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf([*HEX_LENGTHS, VPDQ_TYPE]))
    value = _HASH_VALUE
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS), metadata={
        "description": "match_pending_review (found), blocked (taken down), "
                       "not_blocked (reviewed, not NCII), deleted (purged after withdrawal)"})
    occurred_at = fields.AwareDateTime(required=True, metadata={
        "description": "when it happened (ISO 8601 with offset); at most 5 minutes ahead of our clock"})
    count = JsonInteger(load_default=1, validate=validate.Range(1, MAX_COUNT))
    # Validated here and in the service; never logged and never shown to the person.
    note = fields.String(load_default=None, validate=validate.Length(max=MAX_NOTE),
                         metadata={"description": f"for operators, at most {MAX_NOTE} characters"})


class FeedbackBatchSchema(Schema):
    items = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                        validate=validate.Length(1, MAX_ITEMS))


class FeedbackResultSchema(Schema):
    status = fields.String(required=True, metadata={
        "description": "recorded, already_recorded (the same report came before) or unknown_signal"})


class FeedbackReceiptSchema(Schema):
    results = fields.List(fields.Nested(FeedbackResultSchema), required=True,
                          metadata={"description": "one per item, in order"})
    recorded = fields.Integer(required=True)
    already_recorded = fields.Integer(required=True)
    unknown_signal = fields.Integer(required=True)


class PlatformSignalsSchema(Schema):
    signals = fields.List(fields.Nested(SignalSchema), required=True, metadata=_SIGNAL_LIST)


class PlatformRecordSchema(Schema):
    type = fields.String(required=True)
    value = fields.String(required=True)
    id = fields.String(required=True, metadata={"description": "the record id the feed carries"})


class PlatformCaseReceiptSchema(Schema):
    status = fields.String(required=True)
    signal_count = fields.Integer(required=True)
    added_to_feed = fields.Integer(required=True, metadata={
        "description": "hashes that were not active before and got a feed `add`"})
    created_at = fields.DateTime(required=True)
    records = fields.List(fields.Nested(PlatformRecordSchema), required=True)
    replayed = fields.Boolean(required=True)


# --- organisations: referrals and counts -------------------------------------------

class ReferralCreateSchema(Schema):
    """Empty for now: every referral is alike (the expiry is the operator's setting)."""


class IssuedReferralSchema(Schema):
    id = fields.String(required=True, metadata={
        "description": "names the referral in GET /v1/referrals/{id}; not a secret on its own"})
    code = fields.String(required=True, metadata={
        "description": "for the person only; shown in this response once, stored only as a digest"})
    link = fields.String(required=True, metadata={"description": "the portal link with the code, /r/CODE"})
    organisation = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)


class CaseSummarySchema(Schema):
    status = fields.String(required=True, metadata={"description": "active or withdrawn"})
    signal_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    platforms = fields.List(fields.Nested(PlatformOutcomeSchema), required=True)


class ReferralViewSchema(Schema):
    id = fields.String(required=True)
    state = fields.String(required=True, metadata={
        "description": "open (not used yet), expired, used (a report was made; not shared), "
                       "shared (the person agreed; `case` is set)"})
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    caseworker = fields.String(allow_none=True)
    case = fields.Nested(CaseSummarySchema, allow_none=True, metadata={
        "description": "the case's outcome summary, only while the person shares it"})


class ReferralListSchema(Schema):
    referrals = fields.List(fields.Nested(ReferralViewSchema), required=True)


class ReferralCountsSchema(Schema):
    made = fields.Integer(required=True)
    used = fields.Integer(required=True)
    open = fields.Integer(required=True)
    expired = fields.Integer(required=True)
    shared = fields.Integer(required=True)


class SharedCaseCountsSchema(Schema):
    active = fields.Integer(required=True)
    withdrawn = fields.Integer(required=True)
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "per verdict, how many shared cases a platform reported it for"})


class OrganisationStatsSchema(Schema):
    referrals = fields.Nested(ReferralCountsSchema, required=True)
    shared_cases = fields.Nested(SharedCaseCountsSchema, required=True)
