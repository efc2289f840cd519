"""The app's services and policies: made once from config at start-up, reached through
`services()`, typed, never fetched by a string key.

Views and pages call `services().pins`, `services().signers` and so on, and hand the
parts a service needs to it as plain arguments: services themselves never read this.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from federation.case_access import PinPolicy
from federation.cases import MAX_SIGNALS, FeedBudget
from federation.caseworker_sessions import SessionPolicy
from federation.config import ConfigError
from federation.idempotency import IdempotencyPolicy
from federation.list_trust import Review, TrustPolicy
from federation.ratelimit import Limit, RateLimit, make_backend, make_limit
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
    referral_guesses: RateLimit  # failed referral-code look-ups per client
    report_limit: RateLimit  # POST /v1/cases per client network
    case_access_limit: RateLimit  # status, withdraw, stop-sharing per client network
    feed_budget: FeedBudget  # how fast people's reports may grow the feed
    caseworker_sessions: SessionPolicy
    pepper: bytes  # HMAC key of the StopNCII page tokens
    log: LogPolicy  # the verifiable log's origin (docs/log.md)
    review: Review  # when disputes and floods withhold signals (docs/list-hygiene.md)


def init_services(app: Flask) -> None:
    app.extensions[_EXTENSION] = build_services(app.config)


def services(app: Flask | None = None) -> Services:
    """The services of `app`, or of the app handling the current request."""
    return (app or current_app).extensions[_EXTENSION]


def build_services(config: dict[str, Any]) -> Services:
    pepper = config["PEPPER_BYTES"]
    # Every rate limit keys its counters under a rotating key, never the pepper.
    backend = make_backend(config["REDIS_URL"], config["REDIS_PREFIX"])
    pins = PinPolicy(
        pepper=pepper, memory_kib=int(config["PIN_ARGON2_MEMORY_KIB"]),
        passes=int(config["PIN_ARGON2_PASSES"]), max_failures=int(config["PIN_MAX_FAILURES"]),
        lock_base_seconds=int(config["PIN_LOCK_BASE_SECONDS"]),
        lock_max_seconds=int(config["PIN_LOCK_MAX_SECONDS"]),
        daily_cap=int(config["PIN_DAILY_CAP"]))
    object.__setattr__(pins, "network_locks",
                       pins.make_network_locks(backend.store, backend.keys, backend.prefix))
    budget = FeedBudget(int(config["FEED_PERSON_ENTRIES_PER_MINUTE"]), int(config["FEED_PERSON_BURST"]))
    if budget.per_minute > 0 and budget.burst < MAX_SIGNALS:
        raise ConfigError(f"FEDERATION_FEED_PERSON_BURST must be at least {MAX_SIGNALS} "
                          "(one report's hashes), or the largest reports would wait forever")
    try:
        _ = pins.dummy_pin_hash  # made now: a cost libsodium refuses fails here, not at a report
    except ValueError as error:
        raise ConfigError(f"FEDERATION_PIN_ARGON2_MEMORY_KIB / _PASSES: {error}") from None
    try:
        log = LogPolicy(str(config["LOG_ORIGIN"]))
    except ValueError as error:
        raise ConfigError(f"FEDERATION_LOG_ORIGIN: {error}") from None
    trust = TrustPolicy(
        disputes=int(config["DISPUTES_TO_QUARANTINE"]),
        flood_window=dt.timedelta(minutes=int(config["FLOOD_WINDOW_MINUTES"])),
        flood_baseline=dt.timedelta(days=int(config["FLOOD_BASELINE_DAYS"])),
        flood_multiple=float(config["FLOOD_MULTIPLE"]), flood_floor=int(config["FLOOD_FLOOR"]),
        flood_platforms=int(config["FLOOD_PLATFORMS"]))
    if trust.flood_baseline <= trust.flood_window:
        raise ConfigError("FEDERATION_FLOOD_BASELINE_DAYS must cover more than FEDERATION_FLOOD_WINDOW_MINUTES")
    signers = Signers(config["KEK_BYTES"])
    return Services(
        pins=pins,
        signers=signers,
        idempotency=IdempotencyPolicy(int(config["IDEMPOTENCY_TTL_SECONDS"])),
        referrals=ReferralPolicy(pepper, int(config["REFERRAL_TTL_DAYS"])),
        referral_guesses=make_limit(backend, "referral-guesses", Limit(
            int(config["REFERRAL_GUESS_LIMIT"]), int(config["REFERRAL_GUESS_WINDOW_SECONDS"]))),
        report_limit=make_limit(backend, "reports", Limit(
            int(config["REPORT_LIMIT"]), int(config["REPORT_WINDOW_SECONDS"]))),
        case_access_limit=make_limit(backend, "case-access", Limit(
            int(config["CASE_ACCESS_LIMIT"]), int(config["CASE_ACCESS_WINDOW_SECONDS"]))),
        feed_budget=budget,
        caseworker_sessions=SessionPolicy(int(config["CASEWORKER_IDLE_SECONDS"]),
                                          int(config["CASEWORKER_SESSION_MAX_SECONDS"])),
        pepper=pepper,
        log=log,
        review=Review(trust, signers))
