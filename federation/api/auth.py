"""Partner authentication that cannot be forgotten (STYLE 9).

`PartnerBlueprint.route(rule, scope=...)` refuses, at import time, to register a route
that does not name a known scope; every such route authenticates the bearer token and
checks the scope before the view runs. The partner is then in `flask.g.partner`.
"""
from __future__ import annotations

import functools

from flask import g, request
from flask_smorest import Blueprint

from federation import partners
from federation.db import db
from federation.errors import Unauthorized

class PartnerBlueprint(Blueprint):
    def route(self, rule, *, scope: str | None = None, **options):
        if scope not in partners.SCOPES:
            raise TypeError(f"partner route {rule!r} must name its scope, one of {sorted(partners.SCOPES)}")
        register = super().route(rule, **options)

        def decorate(view):
            view.decorators = [*getattr(view, "decorators", ()), require_scope(scope)]
            return register(view)
        return decorate


def require_scope(scope: str):
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.partner = partners.authenticate(db.session, bearer_token(), scope)
            return view(*args, **kwargs)
        return wrapper
    return decorator


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if header and kind.lower() != "bearer":
        raise Unauthorized("use Authorization: Bearer <token>", code="missing_token")
    return token.strip() or None
