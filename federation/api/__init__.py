"""The HTTP API: flask-smorest, OpenAPI at /openapi.json, interactive docs at /docs.

Every blueprint is an `ApiBlueprint` (federation/api/blueprint.py). `blp.arguments`
takes schema instances, built once at import: given a class, webargs builds the schema
(and its nested ones) again on every request.
"""
from __future__ import annotations

import http
from pathlib import Path

from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from federation.api.problems import PROBLEM_TYPE, ProblemSchema
from federation.api.schemas import document_typed_values


class FederationApi(Api):
    """flask-smorest's Api, documenting its default error responses as we send them:
    RFC 9457 problem+json, not flask-smorest's own error shape."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def init_api(app: Flask) -> None:
    from federation.api import cases, feed, feedback, health, log, referrals, signals, stopncii, transparency, wellknown

    app.config.setdefault("API_TITLE", "Federation")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/docs/assets/")
    api = FederationApi(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme(
        "stopncii_function_key", {"type": "apiKey", "in": "header", "name": "x-functions-key"})
    api.spec.components.security_scheme(
        "stopncii_subscription_key", {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"})
    for blueprint in (cases.blp, feed.blp, feedback.blp, signals.blp, stopncii.blp, referrals.blp,
                      health.blp, wellknown.blp, log.public, log.blp, transparency.blp):
        api.register_blueprint(blueprint)
    document_typed_values(api.spec.components.schemas)
    _serve_swagger_assets(app)


def _serve_swagger_assets(app: Flask) -> None:
    # Swagger UI's files come from the flask-swagger-ui wheel, served by us: the docs
    # page loads nothing from a third party.
    import flask_swagger_ui

    dist = Path(flask_swagger_ui.__file__).parent / "dist"

    @app.get("/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(dist, filename, max_age=3600)
