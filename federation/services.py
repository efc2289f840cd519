"""The app's services and policies: made once from config at start-up, reached through
`services()`, typed, never fetched by a string key.

Views and pages call `services().pins`, `services().signers` and so on, and hand the
parts a service needs to it as plain arguments: services themselves never read this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from federation.case_access import PinPolicy
from federation.caseworker_sessions import SessionPolicy
from federation.config import ConfigError
from federation.idempotency import IdempotencyPolicy
from federation.ratelimit import GuessCounter, Limit, make_counter
from federation.referrals import ReferralPolicy
from federation.signing_keys import Signers
from federation.tlog import LogPolicy

_EXTENSION = "federation.services"


@dataclass(frozen=True)
class Services:
    pins: PinPolicy  # references, PINs and the lock on wrong PINs
    signers: Signers  # feed-signing keys, unsealed with the KEK once per process
    idempotency: IdempotencyPolicy
    referrals: ReferralPolicy
    referral_guesses: GuessCounter  # failed referral-code look-ups per client
    caseworker_sessions: SessionPolicy
    pepper: bytes  # HMAC key of the StopNCII page tokens
    log: LogPolicy  # the verifiable log's origin (docs/log.md)


def init_services(app: Flask) -> None:
    app.extensions[_EXTENSION] = build_services(app.config)


def services(app: Flask | None = None) -> Services:
    """The services of `app`, or of the app handling the current request."""
    return (app or current_app).extensions[_EXTENSION]


def build_services(config: dict[str, Any]) -> Services:
    pepper = config["PEPPER_BYTES"]
    pins = PinPolicy(
        pepper=pepper, memory_kib=int(config["PIN_ARGON2_MEMORY_KIB"]),
        passes=int(config["PIN_ARGON2_PASSES"]), max_failures=int(config["PIN_MAX_FAILURES"]),
        lock_base_seconds=int(config["PIN_LOCK_BASE_SECONDS"]),
        lock_max_seconds=int(config["PIN_LOCK_MAX_SECONDS"]))
    try:
        pins.dummy_pin_hash  # made now: a cost libsodium refuses fails here, not at a report
    except ValueError as error:
        raise ConfigError(f"FEDERATION_PIN_ARGON2_MEMORY_KIB / _PASSES: {error}") from None
    try:
        log = LogPolicy(str(config["LOG_ORIGIN"]))
    except ValueError as error:
        raise ConfigError(f"FEDERATION_LOG_ORIGIN: {error}") from None
    return Services(
        pins=pins,
        signers=Signers(config["KEK_BYTES"]),
        idempotency=IdempotencyPolicy(int(config["IDEMPOTENCY_TTL_SECONDS"])),
        referrals=ReferralPolicy(pepper, int(config["REFERRAL_TTL_DAYS"])),
        referral_guesses=make_counter(
            Limit(int(config["REFERRAL_GUESS_LIMIT"]), int(config["REFERRAL_GUESS_WINDOW_SECONDS"])),
            pepper, config["REDIS_URL"]),
        caseworker_sessions=SessionPolicy(int(config["CASEWORKER_IDLE_SECONDS"]),
                                          int(config["CASEWORKER_SESSION_MAX_SECONDS"])),
        pepper=pepper,
        log=log)
