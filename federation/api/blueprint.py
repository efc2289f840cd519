"""The one base of every API blueprint: authentication that cannot be forgotten, JSON
bodies only, errors documented as they are sent.

    blp = ApiBlueprint("feed", __name__, access=PARTNER, url_prefix="/v1")

    @blp.route("/feed", needs="feed:read")
    class Feed(MethodView): ...

- A route of an authenticated blueprint must name what it needs, or registering it
  raises TypeError at import time; a public blueprint's routes name nothing.
- A request with a body must be JSON, checked before anything reads the body: a
  multipart image upload is refused without being parsed (docs/architecture.md,
  invariant 1).
- OpenAPI documents each operation's security and every error response as RFC 9457
  `application/problem+json` with its real schema.
"""
from __future__ import annotations

import functools
from typing import Any

from flask import request
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from federation import idempotency
from federation.api import strict_json
from federation.api.auth import Access
from federation.api.problems import PROBLEM_TYPE, ProblemSchema
from federation.db import db, end_read
from federation.errors import FederationError

_JSON_TYPES = ("application/json",)
_BODY_METHODS = ("POST", "PUT", "PATCH")


class UnsupportedMediaType(FederationError):
    status = 415
    code = "unsupported_media_type"
    title = "Send JSON (Content-Type: application/json); files and forms are never accepted"


def require_json_body() -> None:
    """A request body must be JSON, never a file or a form."""
    if request.method in _BODY_METHODS and request.mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType()


class StrictParser(FlaskParser):
    """webargs' Flask parser, reading JSON bodies with federation.api.strict_json. A query
    parameter we do not know is refused like an unknown body field (each schema's own
    `unknown` rule applies), not silently dropped."""

    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012 - read-only, as in webargs
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None}

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return strict_json.loads(req.get_data(cache=True))


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, name: str, import_name: str, *, access: Access, **options: Any) -> None:
        super().__init__(name, import_name, **options)
        self.access = access
        self.before_request(require_json_body)

    def route(self, rule: str, *, needs: str | None = None, parameters=None, tags=None,
              **options: Any):
        access = self.access
        if access.public and needs is not None:
            raise TypeError(f"route {rule!r} is public: it needs nothing, not {needs!r}")
        if not access.public and needs not in access.needs:
            raise TypeError(f"route {rule!r} must name the {access.kind} it needs, "
                            f"one of {sorted(access.needs)}")
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorate(view):
            if not access.public:
                view.decorators = [*getattr(view, "decorators", ()), _authenticated(access, needs)]
                for method in view.methods:
                    handler = getattr(view, method.lower())
                    handler = self.doc(security=access.security)(handler)
                    handler = self.alt_response(401, description="Credentials missing or not valid")(handler)
                    handler = self.alt_response(403, description=f"Suspended, or no {needs}")(handler)
                    setattr(view, method.lower(), handler)
            return register(view)
        return decorate

    def idempotent(self, handler):
        """Decorate a write: reads and checks the `Idempotency-Key` header and passes it
        to the handler as `idempotency_key` (None when absent); documents the header and
        the 409 of a key reused with another request."""
        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            key = request.headers.get("Idempotency-Key")
            return handler(*args, idempotency_key=None if key is None else idempotency.check_key(key),
                           **kwargs)
        wrapper = self.doc(parameters=[_idempotency_key_parameter()])(wrapper)
        return self.alt_response(409, description="Idempotency-Key reused with a different request")(wrapper)

    def alt_response(self, status_code, response=None, *, schema=None, content_type=None, **kwargs):
        """As flask-smorest's, but an error status is documented as problem+json."""
        if response is None and schema is None and int(status_code) >= 400:
            schema, content_type = ProblemSchema, content_type or PROBLEM_TYPE
        return super().alt_response(status_code, response, schema=schema, content_type=content_type,
                                    **kwargs)


def _idempotency_key_parameter() -> dict:
    return {"in": "header", "name": "Idempotency-Key", "required": False,
            "schema": {"type": "string", "pattern": f"^{idempotency.KEY_PATTERN.pattern}$"},
            "description": "a random UUID: a retry with the same key and body gets the first "
                           "answer (with `Idempotent-Replayed: true`) instead of a second write"}


def _authenticated(access: Access, need: str | None):
    check = access.check
    if check is None or need is None:
        raise TypeError("a public route is not authenticated")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            check(need)
            # Authentication was a read: it ends here, so the view starts with no open
            # transaction and may write (the transaction rule, docs/architecture.md).
            end_read(db.session)
            return view(*args, **kwargs)
        return wrapper
    return decorator
