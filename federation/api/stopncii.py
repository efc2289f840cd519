"""/stopncii/v1: FetchHashes, SubmitHashes, SubmitFeedback, as the StopNCII API that
Meta's `threatexchange` client speaks (field names, enum values, headers, paging).

Credentials are the two headers StopNCII clients send, `x-functions-key` and
`Ocp-Apim-Subscription-Key`, issued per partner by `federation partners stopncii-keys`.
Like every authenticated blueprint, a route here cannot be registered without naming the
scope it needs (federation/api/blueprint.py).
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields, validate

from federation import stopncii
from federation.api.auth import STOPNCII
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import JsonInteger
from federation.cases import MAX_SIGNALS
from federation.db import db
from federation.errors import InvalidInput
from federation.feedback import MAX_ITEMS
from federation.services import services

blp = ApiBlueprint("stopncii", __name__, access=STOPNCII, url_prefix="/stopncii/v1",
                   description="StopNCII-compatible endpoints for threatexchange and HMA")


class _Compatible(Schema):
    # A compatibility surface: fields StopNCII may add later are ignored, not refused.
    class Meta:
        unknown = EXCLUDE


class FetchHashesQuery(Schema):
    # Strict, unlike the bodies: the clients send these three parameters and nothing else.
    startTimestamp = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "a nextSetTimestamp from an earlier answer (a feed position, not a time); "
                       "0 or 10 to start from the beginning"})
    pageSize = fields.Integer(load_default=stopncii.DEFAULT_PAGE,
                              validate=validate.Range(1, stopncii.MAX_PAGE))
    nextPageToken = fields.String(load_default=None, validate=validate.Length(max=200))


class CSPFeedbackSchema(_Compatible):
    feedbackValue = fields.String(required=True, validate=validate.Length(max=32),
                                  metadata={"enum": list(stopncii.FEEDBACK_VALUES)})
    tags = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                       validate=validate.Length(max=20))
    source = fields.String(load_default=None, validate=validate.Length(max=200))


_HASH_VALUE_DOC = {"pattern": "^([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$",
                   "description": "an ImagePDQ (64 hex) or a VideoMD5 (32 hex)"}


class HashRecordSchema(_Compatible):
    lastModtimestamp = JsonInteger(load_default=None)
    signalType = fields.String(required=True, validate=validate.Length(max=64), metadata={
        "enum": [f"{prefix}{name}" for name in stopncii.TYPES.values() for prefix in ("", "StopNCIISignalType.")]})
    hashValue = fields.String(required=True, validate=validate.Length(1, 64), metadata=_HASH_VALUE_DOC)
    CSPFeedbacks = fields.List(fields.Nested(CSPFeedbackSchema), load_default=list,
                               validate=validate.Length(max=10))


class SubmitHashesSchema(_Compatible):
    count = JsonInteger(required=True)
    hashRecords = fields.List(fields.Nested(HashRecordSchema), required=True,
                              validate=validate.Length(1, MAX_SIGNALS))


class HashFeedbackSchema(_Compatible):
    hashValue = fields.String(required=True, validate=validate.Length(1, 64), metadata=_HASH_VALUE_DOC)
    feedbackValue = fields.String(required=True, validate=validate.Length(max=32),
                                  metadata={"enum": list(stopncii.FEEDBACK_VALUES)})
    tags = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                       validate=validate.Length(max=20))


class SubmitFeedbackSchema(_Compatible):
    count = JsonInteger(required=True)
    hashFeedbacks = fields.List(fields.Nested(HashFeedbackSchema), required=True,
                                validate=validate.Length(1, MAX_ITEMS))


# --- answers (documented; the bodies are dumped through these) ---------------------------

class CSPFeedbackOutSchema(Schema):
    feedbackValue = fields.String(required=True, metadata={"enum": sorted(set(stopncii.TO_FEEDBACK_VALUE.values()))})
    tags = fields.List(fields.String(), required=True)
    source = fields.String(required=True, metadata={
        "description": f"always `{stopncii.AGGREGATE_SOURCE}`: the tag `platforms:N` says how many "
                       "platforms hold this verdict, never which"})


class HashRecordOutSchema(Schema):
    lastModtimestamp = fields.Integer(required=True, metadata={"description": "a feed position"})
    signalType = fields.String(required=True, metadata={"enum": list(stopncii.TYPES.values())})
    hashValue = fields.String(required=True)
    hashStatus = fields.String(required=True, metadata={"enum": ["Active", "Withdrawn"]})
    caseNumbers = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "record id -> Active or Withdrawn"})
    CSPFeedbacks = fields.List(fields.Nested(CSPFeedbackOutSchema), required=True)


class FetchHashesAnswerSchema(Schema):
    count = fields.Integer(required=True)
    nextPageToken = fields.String(required=True, allow_none=True)
    nextSetTimestamp = fields.Integer(required=True)
    hasMoreRecords = fields.Boolean(required=True)
    hashRecords = fields.List(fields.Nested(HashRecordOutSchema), required=True)


class HashFeedbackResultSchema(Schema):
    hashValue = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "enum": ["recorded", "already_recorded", "unknown_signal", stopncii.IGNORED]})


class SubmitFeedbackAnswerSchema(Schema):
    count = fields.Integer(required=True)
    hashFeedbacks = fields.List(fields.Nested(HashFeedbackResultSchema), required=True)


class SubmittedRecordSchema(Schema):
    signalType = fields.String(required=True, metadata={"enum": list(stopncii.TYPES.values())})
    hashValue = fields.String(required=True)
    caseNumber = fields.String(required=True, metadata={"description": "the record id in our feed"})


class SubmitHashesAnswerSchema(Schema):
    count = fields.Integer(required=True)
    addedToFeed = fields.Integer(required=True)
    hashRecords = fields.List(fields.Nested(SubmittedRecordSchema), required=True)


def _check_count(body: dict, items: str) -> None:
    if body["count"] != len(body[items]):
        raise InvalidInput(f"count is {body['count']} but {items} holds {len(body[items])}",
                                    code="count_mismatch")


@blp.route("/FetchHashes", needs="feed:read")
class FetchHashes(MethodView):
    @blp.arguments(FetchHashesQuery(), location="query")
    @blp.response(200, FetchHashesAnswerSchema)
    @blp.alt_response(400, description="nextPageToken forged or expired")
    @blp.alt_response(409, description="startTimestamp is ahead of the feed (checkpoint_ahead)")
    def get(self, query):
        """Snapshots of the ImagePDQ and VideoMD5 hashes changed after startTimestamp."""
        return stopncii.fetch_hashes(db.session, services().pepper,
                                     start_timestamp=query["startTimestamp"],
                                     page_size=query["pageSize"], page_token=query["nextPageToken"]), \
            200, {"Cache-Control": "no-store"}


@blp.route("/SubmitFeedback", needs="feedback:write")
class SubmitFeedback(MethodView):
    @blp.arguments(SubmitFeedbackSchema())
    @blp.response(200, SubmitFeedbackAnswerSchema)
    @blp.alt_response(422, description="Not valid: nothing is recorded")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Verdicts on hashes (by hashValue alone, as StopNCII sends them)."""
        _check_count(body, "hashFeedbacks")
        app = services()
        return stopncii.submit_feedback(db.session, app.idempotency, g.partner.id, body["hashFeedbacks"],
                                        review=app.review, idempotency_key=idempotency_key)


@blp.route("/SubmitHashes", needs="signals:write")
class SubmitHashes(MethodView):
    @blp.arguments(SubmitHashesSchema())
    @blp.response(200, SubmitHashesAnswerSchema)
    @blp.alt_response(422, description="Not valid: nothing is recorded")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Hashes the platform found, recorded as a platform case; new ones enter the feed.

        Send an `Idempotency-Key` so a retry is not a second case."""
        _check_count(body, "hashRecords")
        app = services()
        return stopncii.submit_hashes(db.session, app.signers, app.idempotency, g.partner.id,
                                      body["hashRecords"], review=app.review, idempotency_key=idempotency_key)
