"""Who may call an API route, decided once per blueprint.

Every API blueprint is an `ApiBlueprint` (federation/api/blueprint.py) made with one of
these. A route of an authenticated blueprint must name what it needs (a partner scope or
an organisation permission), or it cannot be registered: the check runs at import time.
The route then authenticates before the view runs and leaves the caller in `flask.g`
(`g.partner` or `g.actor`); OpenAPI documents its security scheme and its 401 and 403.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import g, request

from federation import organisations, partner_registry, stopncii
from federation.db import db
from federation.errors import Unauthorized


@dataclass(frozen=True)
class Access:
    """One way of calling a blueprint's routes.

    `needs` is what a route may name (empty: a public blueprint, whose routes name
    nothing); `check(need)` authenticates the request for that need or raises
    Unauthorized or Forbidden; `security` is its OpenAPI security requirement.
    """

    kind: str
    needs: frozenset[str] = frozenset()
    check: Callable[[str], None] | None = None
    security: list[dict] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return self.check is None


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if header and kind.lower() != "bearer":
        raise Unauthorized("use Authorization: Bearer <token>", code="missing_token")
    return token.strip() or None


def _partner(scope: str) -> None:
    g.partner = partner_registry.authenticate(db.session, bearer_token(), scope)


def _organisation(permission: str) -> None:
    g.actor = organisations.authenticate(db.session, bearer_token(), permission)


def _stopncii(scope: str) -> None:
    g.partner = stopncii.authenticate(db.session, request.headers.get("x-functions-key"),
                                      request.headers.get("Ocp-Apim-Subscription-Key"), scope)


PUBLIC = Access("public")
PARTNER = Access("partner scope", partner_registry.SCOPES, _partner, [{"bearer": []}])
ORGANISATION = Access("organisation permission", organisations.PERMISSIONS, _organisation,
                      [{"bearer": []}])
# StopNCII clients send two headers instead of a bearer token; the scopes are a partner's.
STOPNCII = Access("partner scope", partner_registry.SCOPES, _stopncii,
                  [{"stopncii_function_key": [], "stopncii_subscription_key": []}])
