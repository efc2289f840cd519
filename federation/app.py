"""The application factory: it only wires config, database, API, portal, CLI and errors."""
from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from federation import admission
from federation.api import init_api
from federation.api.problems import register_error_handlers
from federation.cases import CasePolicy
from federation.config import ConfigError, load_config
from federation.db import db
from federation.log_redaction import redact_referral_links
from federation.portal import init_portal, render_error
from federation.ratelimit import Limit, make_counter
from federation.referrals import ReferralPolicy


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    # The instance folder holds the embedded default's database and generated secrets.
    app = Flask("federation", instance_path=os.environ.get("FEDERATION_INSTANCE_PATH") or None,
                static_folder=None)  # the portal serves its own assets
    load_config(app, overrides)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if app.config["PROXY_HOPS"]:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    db.init_app(app)
    admission.init_app(app)
    redact_referral_links()
    app.extensions["federation.case_policy"] = case_policy(app.config)
    app.extensions["federation.referral_policy"] = ReferralPolicy(
        app.config["PEPPER_BYTES"], int(app.config["REFERRAL_TTL_DAYS"]))
    app.extensions["federation.guess_counter"] = make_counter(
        Limit(int(app.config["REFERRAL_GUESS_LIMIT"]), int(app.config["REFERRAL_GUESS_WINDOW_SECONDS"])),
        app.config["PEPPER_BYTES"], app.config["REDIS_URL"])
    init_api(app)
    init_portal(app)
    register_error_handlers(app, html_handler=render_error)
    return app


def case_policy(config) -> CasePolicy:
    policy = CasePolicy(
        pepper=config["PEPPER_BYTES"], kek=config["KEK_BYTES"],
        pin_memory_kib=int(config["PIN_ARGON2_MEMORY_KIB"]),
        pin_passes=int(config["PIN_ARGON2_PASSES"]), max_failures=int(config["PIN_MAX_FAILURES"]),
        lock_base_seconds=int(config["PIN_LOCK_BASE_SECONDS"]),
        lock_max_seconds=int(config["PIN_LOCK_MAX_SECONDS"]),
        idempotency_ttl=int(config["IDEMPOTENCY_TTL_SECONDS"]))
    try:
        policy.dummy_pin_hash  # made now: a cost libsodium refuses fails here, not at a report
    except ValueError as error:
        raise ConfigError(f"FEDERATION_PIN_ARGON2_MEMORY_KIB / _PASSES: {error}") from None
    return policy
