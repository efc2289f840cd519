"""The application factory: it only wires config, database, services, API, portal,
security headers and errors."""
from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from federation import admission
from federation.api import init_api
from federation.api.problems import register_error_handlers
from federation.config import load_config
from federation.db import db
from federation.log_redaction import redact_referral_links
from federation.metrics import init_metrics
from federation.portal import init_portal, render_error
from federation.services import init_services
from federation.transparency_page import init_transparency_page
from federation.web import init_security_headers


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    # The instance folder holds the embedded default's database and generated secrets.
    app = Flask("federation", instance_path=os.environ.get("FEDERATION_INSTANCE_PATH") or None,
                static_folder=None)  # the portal serves its own assets
    load_config(app, overrides)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if app.config["PROXY_HOPS"]:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    db.init_app(app)
    admission.init_app(app)
    redact_referral_links()
    init_services(app)
    init_api(app)
    init_portal(app)
    init_security_headers(app)
    init_metrics(app)
    init_transparency_page(app)
    register_error_handlers(app, html_handler=render_error)
    return app
