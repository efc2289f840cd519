"""The HTTP API: flask-smorest, OpenAPI at /openapi.json, interactive docs at /docs.

`blp.arguments` takes schema instances, built once at import: given a class, webargs
builds the schema (and its nested ones) again on every request.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request, send_from_directory
from flask_smorest import Api

from federation.errors import FederationError

_JSON_TYPES = ("application/json",)


class UnsupportedMediaType(FederationError):
    status = 415
    code = "unsupported_media_type"
    title = "Send JSON (Content-Type: application/json); files and forms are never accepted"


def require_json_body() -> None:
    """before_request of every API blueprint (attach it where the blueprint is made): a body must be JSON, never a file or a form.

    Runs before anything reads the body, so a multipart image upload is refused
    without being parsed or stored (DESIGN invariant 1).
    """
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType()


def client_key() -> str:
    """The requesting client, for rate-limit counting: its address (after
    FEDERATION_PROXY_HOPS has unwrapped trusted proxies). Counters HMAC it before storing."""
    return f"ip:{request.remote_addr}"


def init_api(app: Flask) -> None:
    from federation.api import cases, feed, feedback, health, referrals, signals, stopncii, wellknown

    app.config.setdefault("API_TITLE", "Federation")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/docs/assets/")
    api = Api(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme(
        "stopncii_function_key", {"type": "apiKey", "in": "header", "name": "x-functions-key"})
    api.spec.components.security_scheme(
        "stopncii_subscription_key", {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"})
    for blueprint in (cases.blp, feed.blp, feedback.blp, signals.blp, stopncii.blp, referrals.blp,
                      health.blp, wellknown.blp):
        api.register_blueprint(blueprint)
    _serve_swagger_assets(app)


def _serve_swagger_assets(app: Flask) -> None:
    # Swagger UI's files come from the flask-swagger-ui wheel, served by us: the docs
    # page loads nothing from a third party.
    import flask_swagger_ui

    dist = Path(flask_swagger_ui.__file__).parent / "dist"

    @app.get("/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(dist, filename, max_age=3600)
