"""bench/cases.py: case submissions against gunicorn (2 workers) on PostgreSQL.

50 concurrent clients on 127.0.0.1, PIN hashing included. Two phases, same run:
  paced   - 100 submissions/s offered (the issue's target: p99 under 100 ms there);
  flat-out - each client submits back to back, for the ceiling.
Run: `.venv/bin/python -m bench.cases [--seconds 30]`.
"""
from __future__ import annotations

import argparse
import http.client
import json
import secrets
import threading
import time

from bench.harness import gunicorn, machine, median, percentile, postgres_database, service_env

CLIENTS = 50
CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}


def payload() -> bytes:
    signals = [{"type": "pdq", "value": secrets.token_hex(32), "quality": 100},
               {"type": "md5", "value": secrets.token_hex(16)},
               {"type": "sha256", "value": secrets.token_hex(32)}]
    return json.dumps({"signals": signals, "consent": CONSENT}).encode()


def run(base: str, seconds: float, rate: float | None) -> tuple[list[float], int]:
    """Drive CLIENTS threads; with `rate`, each paces itself so all together offer `rate`/s."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    stop = start + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        interval = CLIENTS / rate if rate else 0.0
        next_send = start + index * (interval / CLIENTS if rate else 0)
        while True:
            now = time.monotonic()
            if next_send > now:
                time.sleep(next_send - now)  # pacing an open-loop load, not synchronising
            if time.monotonic() >= stop:
                break
            body = payload()
            sent = time.monotonic()
            conn.request("POST", "/v1/cases", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed = time.monotonic() - sent
            with lock:
                if response.status == 201:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1
            next_send = (next_send + interval) if rate else time.monotonic()
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def report(name: str, latencies: list[float], errors: int, seconds: float) -> None:
    ms = [x * 1000 for x in latencies]
    print(f"{name}: {len(ms) / seconds:,.1f} submissions/s, p50 {median(ms):.1f} ms, "
          f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms, errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(f"{machine()}; gunicorn {args.workers} workers x {args.threads} threads")
    with postgres_database() as url:
        env = service_env(url)
        from sqlalchemy.orm import Session

        from federation import signing_keys
        from federation.config import parse_secret
        from federation.db import make_engine
        engine = make_engine(url)
        with Session(engine) as session:
            signing_keys.create_key(session, parse_secret("KEK", env["FEDERATION_KEK"]))
            session.commit()
        engine.dispose()
        with gunicorn(env, workers=args.workers, threads=args.threads) as base:
            run(base, 3, args.rate)  # warm up connections and code paths
            latencies, errors = run(base, args.seconds, args.rate)
            report(f"paced at {args.rate:.0f}/s offered", latencies, errors, args.seconds)
            latencies, errors = run(base, args.seconds / 2, None)
            report("flat out", latencies, errors, args.seconds / 2)


if __name__ == "__main__":
    main()
