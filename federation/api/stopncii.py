"""/stopncii/v1: FetchHashes, SubmitHashes, SubmitFeedback, as the StopNCII API that
Meta's `threatexchange` client speaks (field names, enum values, headers, paging).

Credentials are the two headers StopNCII clients send, `x-functions-key` and
`Ocp-Apim-Subscription-Key`, issued per partner by `federation partners stopncii-keys`.
Like PartnerBlueprint, a route here cannot be registered without naming its scope.
"""
from __future__ import annotations

import functools

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from federation import idempotency, partners, stopncii
from federation.api import require_json_body
from federation.cases import MAX_SIGNALS
from federation.db import db
from federation.errors import InvalidInput
from federation.feedback import MAX_ITEMS


class StopNCIIBlueprint(Blueprint):
    def route(self, rule, *, scope: str | None = None, **options):
        if scope not in partners.SCOPES:
            raise TypeError(f"StopNCII route {rule!r} must name its scope, one of {sorted(partners.SCOPES)}")
        register = super().route(rule, **options)

        def decorate(view):
            view.decorators = [*getattr(view, "decorators", ()), _require_keys(scope)]
            return register(view)
        return decorate


def _require_keys(scope: str):
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.partner = stopncii.authenticate(db.session, request.headers.get("x-functions-key"),
                                              request.headers.get("Ocp-Apim-Subscription-Key"), scope)
            return view(*args, **kwargs)
        return wrapper
    return decorator


blp = StopNCIIBlueprint("stopncii", __name__, url_prefix="/stopncii/v1",
                        description="StopNCII-compatible endpoints for threatexchange and HMA")
blp.before_request(require_json_body)
_SECURITY = [{"stopncii_function_key": [], "stopncii_subscription_key": []}]


class _Compatible(Schema):
    # A compatibility surface: fields StopNCII may add later are ignored, not refused.
    class Meta:
        unknown = EXCLUDE


class FetchHashesQuery(_Compatible):
    startTimestamp = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "a nextSetTimestamp from an earlier answer (a feed position, not a time); "
                       "0 or 10 to start from the beginning"})
    pageSize = fields.Integer(load_default=stopncii.DEFAULT_PAGE,
                              validate=validate.Range(1, stopncii.MAX_PAGE))
    nextPageToken = fields.String(load_default=None, validate=validate.Length(max=200))


class CSPFeedbackSchema(_Compatible):
    feedbackValue = fields.String(required=True, validate=validate.Length(max=32))
    tags = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                       validate=validate.Length(max=20))
    source = fields.String(load_default=None, validate=validate.Length(max=200))


class HashRecordSchema(_Compatible):
    lastModtimestamp = fields.Integer(load_default=None)
    signalType = fields.String(required=True, validate=validate.Length(max=64))
    hashValue = fields.String(required=True, validate=validate.Length(1, 64))
    CSPFeedbacks = fields.List(fields.Nested(CSPFeedbackSchema), load_default=list,
                               validate=validate.Length(max=10))


class SubmitHashesSchema(_Compatible):
    count = fields.Integer(required=True)
    hashRecords = fields.List(fields.Nested(HashRecordSchema), required=True,
                              validate=validate.Length(1, MAX_SIGNALS))


class HashFeedbackSchema(_Compatible):
    hashValue = fields.String(required=True, validate=validate.Length(1, 64))
    feedbackValue = fields.String(required=True, validate=validate.Length(max=32))
    tags = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                       validate=validate.Length(max=20))


class SubmitFeedbackSchema(_Compatible):
    count = fields.Integer(required=True)
    hashFeedbacks = fields.List(fields.Nested(HashFeedbackSchema), required=True,
                                validate=validate.Length(1, MAX_ITEMS))


def _check_count(body: dict, items: str) -> None:
    if body["count"] != len(body[items]):
        raise InvalidInput(f"count is {body['count']} but {items} holds {len(body[items])}",
                                    code="count_mismatch")


def _policy():
    return current_app.extensions["federation.case_policy"]


@blp.route("/FetchHashes", scope="feed:read")
class FetchHashes(MethodView):
    @blp.arguments(FetchHashesQuery(), location="query")
    @blp.doc(security=_SECURITY)
    @blp.response(200)
    @blp.alt_response(400, description="nextPageToken forged or expired, or startTimestamp ahead")
    @blp.alt_response(401, description="Keys missing or not valid")
    @blp.alt_response(403, description="Suspended, or no feed:read scope")
    def get(self, query):
        """Snapshots of the ImagePDQ and VideoMD5 hashes changed after startTimestamp."""
        return stopncii.fetch_hashes(db.session, _policy().pepper,
                                     start_timestamp=query["startTimestamp"],
                                     page_size=query["pageSize"], page_token=query["nextPageToken"]), \
            200, {"Cache-Control": "no-store"}


@blp.route("/SubmitFeedback", scope="feedback:write")
class SubmitFeedback(MethodView):
    @blp.arguments(SubmitFeedbackSchema())
    @blp.doc(security=_SECURITY)
    @blp.response(200)
    @blp.alt_response(401, description="Keys missing or not valid")
    @blp.alt_response(403, description="Suspended, or no feedback:write scope")
    @blp.alt_response(409, description="Idempotency-Key reused with a different body")
    @blp.alt_response(422, description="Not valid: nothing is recorded")
    def post(self, body):
        """Verdicts on hashes (by hashValue alone, as StopNCII sends them)."""
        _check_count(body, "hashFeedbacks")
        key = request.headers.get("Idempotency-Key")
        return stopncii.submit_feedback(
            db.session, g.partner.id, body["hashFeedbacks"],
            idempotency_key=idempotency.check_key(key) if key is not None else None,
            idempotency_ttl=_policy().idempotency_ttl)


@blp.route("/SubmitHashes", scope="signals:write")
class SubmitHashes(MethodView):
    @blp.arguments(SubmitHashesSchema())
    @blp.doc(security=_SECURITY)
    @blp.response(200)
    @blp.alt_response(401, description="Keys missing or not valid")
    @blp.alt_response(403, description="Suspended, or no signals:write scope")
    @blp.alt_response(422, description="Not valid: nothing is recorded")
    def post(self, body):
        """Hashes the platform found, recorded as a platform case; new ones enter the feed."""
        _check_count(body, "hashRecords")
        return stopncii.submit_hashes(db.session, _policy(), g.partner.id, body["hashRecords"])
