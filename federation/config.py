"""Settings: defaults here, then FEDERATION_* environment variables, then a test mapping.

The embedded default (no environment at all) runs on SQLite under the instance folder
with secrets generated there on first run. Production (`FEDERATION_ENV=production`)
refuses to start without explicit secrets and database, rather than fall back silently.
"""
from __future__ import annotations

import json
import os
import secrets as _secrets
from pathlib import Path
from typing import Any

from flask import Flask

from federation.crypto.encoding import b64u_decode, b64u_encode

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    # SQLAlchemy URL; empty means SQLite at <instance>/federation.db.
    "DATABASE_URL": "",
    # Request bodies above this are refused with 413 (docs/architecture.md, invariant 1).
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Server-side secret mixed into PIN hashes and reference digests. base64url, 32 bytes.
    "PEPPER": "",
    # Key-encryption key for signing keys at rest. base64url, 32 bytes.
    "KEK": "",
    # Argon2id cost for PINs; see README "The person's secrets" for why these values.
    "PIN_ARGON2_MEMORY_KIB": 4096,
    "PIN_ARGON2_PASSES": 3,
    # Wrong PINs from one client network before that network is locked out of that case,
    # first lock length, cap on lock length (seconds). Other networks are not affected.
    "PIN_MAX_FAILURES": 5,
    "PIN_LOCK_BASE_SECONDS": 60,
    "PIN_LOCK_MAX_SECONDS": 24 * 3600,
    # Wrong PINs per case per UTC day from all networks together; past it every attempt
    # on the case is refused until the day rolls. See README "The person's secrets".
    "PIN_DAILY_CAP": 100,
    # Person endpoints, per client network (IPv4 address or IPv6 /64) and fixed window:
    # reports (POST /v1/cases), and status, withdraw and stop-sharing together.
    "REPORT_LIMIT": 10,
    "REPORT_WINDOW_SECONDS": 3600,
    "CASE_ACCESS_LIMIT": 60,
    "CASE_ACCESS_WINDOW_SECONDS": 3600,
    # How fast people's reports may grow the feed: entries per minute, saved up to a
    # burst; beyond it reports are held and published later (0 per minute: no bound).
    "FEED_PERSON_ENTRIES_PER_MINUTE": 300,
    "FEED_PERSON_BURST": 3000,
    # Idempotency records (and the sealed PIN they hold) are kept this long.
    "IDEMPOTENCY_TTL_SECONDS": 24 * 3600,
    # Number of reverse proxies in front of us whose X-Forwarded-* headers we trust.
    "PROXY_HOPS": 0,
    # Shared rate-limit counters for several workers; empty means counters in this process.
    "REDIS_URL": "",
    # Prefix of every Redis key we use (several deployments, or tests, on one Redis).
    "REDIS_PREFIX": "federation:",
    # Referral codes expire this many days after they are made.
    "REFERRAL_TTL_DAYS": 30,
    # Failed referral-code look-ups allowed per client (IP, or organisation credential)
    # in a window before every look-up from it is refused with 429 until the window ends.
    "REFERRAL_GUESS_LIMIT": 10,
    "REFERRAL_GUESS_WINDOW_SECONDS": 900,
    # A caseworker's portal session ends after this long without a request, and in any
    # case this long after sign-in.
    "CASEWORKER_IDLE_SECONDS": 15 * 60,
    "CASEWORKER_SESSION_MAX_SECONDS": 8 * 3600,
    "LOG_LEVEL": "INFO",
    # Trust in the list (docs/list-hygiene.md). A signal is withheld from the feed for the
    # operator's review when this many distinct platforms dispute it (`not_blocked`) and
    # none confirms it (`blocked`); 0 turns this off.
    "DISPUTES_TO_QUARANTINE": 2,
    # ... or when its matches in a window exceed a multiple of its own average per window
    # over the baseline before it (or of the floor, if higher), from at least this many
    # platforms, and no platform has confirmed it. A multiple of 0 turns this off.
    "FLOOD_WINDOW_MINUTES": 60,
    "FLOOD_BASELINE_DAYS": 7,
    "FLOOD_MULTIPLE": 10,
    "FLOOD_FLOOR": 100,
    "FLOOD_PLATFORMS": 2,
    # Bearer token for /metrics (docs/operations.md); empty: /metrics is off (404).
    "METRICS_TOKEN": "",
    # The verifiable log's name: the first line of every checkpoint and its note key name
    # (docs/log.md). A schema-less URL; no spaces, no "+".
    "LOG_ORIGIN": "federation.example/log",
}

_SECRET_NAMES = ("PEPPER", "KEK")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up, never at request time."""


def load_config(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Fill app.config from defaults, FEDERATION_* env vars and overrides, then check it."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("FEDERATION")
    if overrides:
        app.config.from_mapping(overrides)
    production = app.config["ENV"] == "production"

    if not app.config["DATABASE_URL"]:
        if production:
            raise ConfigError("FEDERATION_DATABASE_URL must be set in production")
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'federation.db'}"

    missing = [name for name in _SECRET_NAMES if not app.config[name]]
    if missing and production:
        raise ConfigError("missing in production: " + ", ".join(f"FEDERATION_{n}" for n in missing))
    if missing:
        generated = instance_secrets(Path(app.instance_path))
        for name in missing:
            app.config[name] = generated[name]
    for name in _SECRET_NAMES:
        app.config[f"{name}_BYTES"] = parse_secret(name, app.config[name])


def parse_secret(name: str, text: str) -> bytes:
    """Decode a 32-byte base64url secret, or raise ConfigError naming the variable."""
    try:
        raw = b64u_decode(str(text).strip())
    except ValueError as exc:
        raise ConfigError(f"FEDERATION_{name} is not base64url: {exc}") from None
    if len(raw) != 32:
        raise ConfigError(f"FEDERATION_{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def instance_secrets(instance: Path) -> dict[str, str]:
    """Secrets for the embedded default, generated once into the instance folder (mode 0600)."""
    path = instance / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    instance.mkdir(parents=True, exist_ok=True)
    values = {name: b64u_encode(_secrets.token_bytes(32)) for name in _SECRET_NAMES}
    # O_EXCL: two workers starting at once must not each write different secrets.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text())
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return values
