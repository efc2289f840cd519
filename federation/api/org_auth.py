"""Organisation authentication that cannot be forgotten (STYLE 9), like api/auth.py for
partners: `OrganisationBlueprint.route(rule, permission=...)` refuses, at import time, a
route that does not name a known permission; every such route authenticates the bearer
token (an organisation's or a caseworker's) and checks the permission before the view
runs. The caller is then in `flask.g.actor` (an organisations.Actor).
"""
from __future__ import annotations

import functools

from flask import g
from flask_smorest import Blueprint

from federation import organisations
from federation.api.auth import bearer_token
from federation.db import db


class OrganisationBlueprint(Blueprint):
    def route(self, rule, *, permission: str | None = None, **options):
        if permission not in organisations.PERMISSIONS:
            raise TypeError(f"organisation route {rule!r} must name its permission, "
                            f"one of {sorted(organisations.PERMISSIONS)}")
        register = super().route(rule, **options)

        def decorate(view):
            view.decorators = [*getattr(view, "decorators", ()), require_permission(permission)]
            return register(view)
        return decorate


def require_permission(permission: str):
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.actor = organisations.authenticate(db.session, bearer_token(), permission)
            return view(*args, **kwargs)
        return wrapper
    return decorator
