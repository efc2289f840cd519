"""bench/feedback.py: POST /v1/feedback throughput against gunicorn (2 workers) on PostgreSQL.

20,000 known signals; partner clients on 127.0.0.1 each send batches back to back (every
item a fresh report: random known signal, random verdict, a distinct occurred_at; 5%
unknown hashes), for a bounded time and at most --max-requests each. Phases: batches of
100 and of 1000 items, by 1 client (latency unloaded) and by 16 (throughput; closed loop,
so latency there includes queueing). Latency is per request (per batch).
Run: `.venv/bin/python -m bench.feedback [--seconds 20]`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import random
import secrets
import threading
import time

from bench.harness import gunicorn, machine, median, percentile, postgres_database, service_env

CLIENTS = 16
SIGNALS = 20_000
VERDICTS = ("match_pending_review", "blocked", "not_blocked", "deleted")


def seed(url: str, env: dict[str, str]) -> tuple[list[tuple[str, str]], str]:
    """Signing key, a partner and SIGNALS signals in cases of 500; returns (signals, token)."""
    from sqlalchemy.orm import Session

    from federation import cases, partner_registry, signing_keys
    from federation.case_access import PinPolicy
    from federation.cases import Consent
    from federation.config import parse_secret
    from federation.db import make_engine
    from federation.idempotency import IdempotencyPolicy
    from federation.referrals import ReferralPolicy
    from federation.signals import SignalValue

    kek, pepper = parse_secret("KEK", env["FEDERATION_KEK"]), parse_secret("PEPPER", env["FEDERATION_PEPPER"])
    pins, signers = PinPolicy(pepper=pepper), signing_keys.Signers(kek)
    referral_policy = ReferralPolicy(pepper)
    engine = make_engine(url)
    signals = [("pdq", secrets.token_hex(32)) if i % 2 else ("md5", secrets.token_hex(16))
               for i in range(SIGNALS)]
    with Session(engine, expire_on_commit=False) as session:
        signing_keys.create_key(session, kek)
        token = partner_registry.add_partner(session, "bench", partner_registry.SCOPES, "Bench Platform").token
        session.commit()
        for start in range(0, SIGNALS, cases.MAX_SIGNALS):
            chunk = [SignalValue(kind, value, 100 if kind == "pdq" else None)
                     for kind, value in signals[start:start + cases.MAX_SIGNALS]]
            cases.create_case(session, pins, signers, IdempotencyPolicy(), chunk, Consent(True, True, True),
                              referrals_policy=referral_policy)
    engine.dispose()
    return signals, token


def batch(signals: list[tuple[str, str]], size: int, rng: random.Random) -> bytes:
    now = dt.datetime.now(dt.UTC)
    items = []
    for kind, value in rng.sample(signals, size):  # distinct signals: no duplicate item
        if rng.random() < 0.05:
            value = secrets.token_hex(len(value) // 2)  # unknown hash, reported per item
        items.append({"type": kind, "value": value, "verdict": rng.choice(VERDICTS),
                      "occurred_at": (now - dt.timedelta(microseconds=rng.randrange(10**10))).isoformat(),
                      "count": rng.randint(1, 5)})
    return json.dumps({"items": items}).encode()


def run(base: str, token: str, signals, size: int, seconds: float, max_requests: int,
        clients: int = CLIENTS):
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    items_done = [0]
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(index * 7919 + size)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        for _ in range(max_requests):  # bounded: by time and by count
            if time.monotonic() >= stop:
                break
            body = batch(signals, size, rng)
            headers["Idempotency-Key"] = secrets.token_urlsafe(24)
            sent = time.monotonic()
            conn.request("POST", "/v1/feedback", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            elapsed = time.monotonic() - sent
            with lock:
                if response.status == 200:
                    latencies.append(elapsed)
                    items_done[0] += len(json.loads(answer)["results"])
                else:
                    errors[0] += 1
        conn.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, items_done[0], errors[0], time.monotonic() - began


def report(name: str, latencies: list[float], items: int, errors: int, wall: float) -> None:
    ms = [x * 1000 for x in latencies]
    print(f"{name}: {items / wall:,.0f} items/s, {len(ms) / wall:,.1f} batches/s, "
          f"p50 {median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms, "
          f"errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-requests", type=int, default=2000, help="per client and phase")
    args = parser.parse_args()
    print(machine())
    with postgres_database() as url:
        env = service_env(url)
        signals, token = seed(url, env)
        with gunicorn(env, workers=2, threads=8) as base:
            run(base, token, signals, 10, 3, 50)  # warm up connections and code paths
            for clients in (1, CLIENTS):
                for size in (100, 1000):
                    latencies, items, errors, wall = run(base, token, signals, size, args.seconds,
                                                         args.max_requests, clients)
                    report(f"batches of {size}, {clients} client(s)", latencies, items, errors, wall)


if __name__ == "__main__":
    main()
