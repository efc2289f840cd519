"""What counting every request for /metrics costs (issue 18).

Two gunicorns on the same PostgreSQL database, one worker each: A without
FEDERATION_METRICS_TOKEN (nothing counted, the baseline), B with it (every request
counted into prometheus-client's multiprocess files). Batches of requests alternate
A B A B ..., each on one keep-alive connection; the CPU counted is the gunicorn processes'
own (master and worker, from /proc), per request; medians over the rounds.

    .venv/bin/python -m bench.metrics [--rounds 5] [--requests 2000]
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
import tempfile
from urllib.parse import urlsplit

from bench.cases import descendants, process_cpu
from bench.harness import gunicorn, machine, median, postgres_database, service_env

PATHS = ("/healthz", "/.well-known/federation-keys")  # no database; one database read


def tree_cpu(master: int) -> float:
    return sum(process_cpu(pid) for pid in [master, *descendants(master)])


def batch(base: str, path: str, count: int) -> None:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for _ in range(count):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
    finally:
        conn.close()


def master_of(base: str) -> int:
    port = urlsplit(base).port
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f"127.0.0.1:{port}".encode() in f.read():
                    return pid
        except OSError:
            continue
    raise RuntimeError("gunicorn master not found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(machine(), "| load average", os.getloadavg()[0], "(shared machine)")
    with postgres_database() as url, tempfile.TemporaryDirectory() as scratch:
        env = service_env(url)
        plain = {**env, "FEDERATION_METRICS_TOKEN": ""}
        counted = {**env, "FEDERATION_METRICS_TOKEN": secrets.token_urlsafe(16),
                   "PROMETHEUS_MULTIPROC_DIR": scratch}
        with gunicorn(plain, workers=1) as base_a, gunicorn(counted, workers=1) as base_b:
            masters = {"A": master_of(base_a), "B": master_of(base_b)}
            bases = {"A": base_a, "B": base_b}
            for path in PATHS:
                for side in "AB":  # warm up: imports, connections, first metric files
                    batch(bases[side], path, 200)
                results: dict[str, list[float]] = {"A": [], "B": []}
                for _ in range(args.rounds):
                    for side in "AB":
                        before = tree_cpu(masters[side])
                        batch(bases[side], path, args.requests)
                        results[side].append((tree_cpu(masters[side]) - before) / args.requests * 1e6)
                a, b = median(results["A"]), median(results["B"])
                print(f"{path}: CPU per request, median of {args.rounds} rounds of {args.requests}: "
                      f"A (no metrics) {a:.0f} us, B (metrics) {b:.0f} us, B/A {b / a:.2f}, "
                      f"B-A {b - a:+.0f} us | A {[round(x) for x in results['A']]} "
                      f"B {[round(x) for x in results['B']]}")


if __name__ == "__main__":
    main()
