"""The person's and caseworker's web pages: Jinja templates and static ES modules."""
from __future__ import annotations

from flask import Flask, Response


def init_portal(app: Flask) -> None:
    """Register the portal's blueprints (pages live under /, static under /static)."""


def render_error(status: int, code: str, title: str) -> Response:
    """The HTML error page for portal requests (API requests get problem+json)."""
    return Response(f"<!doctype html><title>{status}</title><h1>{title}</h1>", status=status,
                    mimetype="text/html")
