"""The one place exceptions become HTTP errors: RFC 9457 application/problem+json.

Every error, ours or Werkzeug's or webargs', leaves with a stable machine-readable `code`.
Pages of the portal blueprint get an HTML error page instead (registered by the portal).
"""
from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from marshmallow import INCLUDE, Schema, fields
from werkzeug.exceptions import HTTPException

from federation.errors import FederationError, LockedOut, Unauthorized

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"

# Stable codes for the HTTP errors that Werkzeug and webargs raise before our code runs.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of the API is sent (documentation only).

    Like RFC 9457, it allows extension members (`head`, `indexes`, ...).
    """

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, metadata={"description": "urn:federation:problem:<code>"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "stable, machine-readable"})
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "per field, what is wrong (validation errors)"})


def problem(status: int, code: str, title: str, detail: str | None = None, **extra) -> Response:
    body = {"type": f"urn:federation:problem:{code}", "title": title, "status": status, "code": code}
    if detail and detail != title:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)


def register_error_handlers(app: Flask, html_handler=None) -> None:
    """Install the handlers. `html_handler(status, code, title)` serves portal pages."""

    def render(status: int, code: str, title: str, detail: str | None = None, **extra) -> Response:
        if html_handler is not None and request.blueprint and request.blueprint.startswith("portal"):
            return html_handler(status, code, title)
        return problem(status, code, title, detail, **extra)

    @app.errorhandler(FederationError)
    def _domain(error: FederationError):
        response = render(error.status, error.code, error.title, error.detail, **error.extra)
        if isinstance(error, LockedOut):
            response.headers["Retry-After"] = str(error.retry_after)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="federation"'

        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        status = error.code or 500
        code, detail, extra = _HTTP_CODES.get(status, "http_error"), error.description, {}
        messages = (getattr(error, "data", None) or {}).get("messages")
        if status == 400 and messages:
            # webargs answers a body it cannot parse with 400 and this message.
            code, detail = "malformed_json", "the body is not valid JSON"
        elif messages:
            # marshmallow validation: say which fields are wrong, keyed by location.
            extra["errors"] = messages.get("json", messages)
            detail = "some fields are not valid"
        response = render(status, code, error.name, detail, **extra)
        allowed = getattr(error, "valid_methods", None)  # a MethodNotAllowed's
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # The engine hides SQL parameters (db.make_engine), so a traceback quotes no values.
        log.error("unhandled %s in %s %s", type(error).__name__, request.method, request.url_rule,
                  exc_info=True)
        return render(500, "internal_error", "Internal error")
