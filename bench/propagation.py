"""bench/propagation.py: how long a person's report takes to reach a platform's kit.

One run, one server, the same reports for both kits: gunicorn (2 workers, 4 threads) on
PostgreSQL (or SQLite with `--database sqlite`), and two `federation-partner sync --watch`
processes, each with its own store and partner credentials, following it at once:
  long-poll - `--watch` as shipped: GET /v1/feed?wait=25, a sync as soon as an entry is committed;
  polling   - `--watch --wait 0 --interval 30`: the previous behaviour, a sync every 30 s (jittered).
`--reports` reports (one MD5 each) are sent one at a time with random gaps (exponential,
mean `--gap` s), so they land at every point of the 30 s polling cycle. Each is timed from
its 201 to the moment the hash is in the kit's store (what `federation-partner match`
loads its index from), seen by a watcher thread reading each store every 5 ms. Both
kits see the same reports, so the comparison is paired (better than alternating runs).
CPU: of the two kit processes and the gunicorn this started, from /proc.
Run: `.venv/bin/python -m bench.propagation [--reports 200] [--gap 0.5] [--database postgres]`.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from bench.cases import descendants, process_cpu
from bench.harness import gunicorn, machine, median, percentile, postgres_database, service_env
from bench.log import sqlite_database
from federation import partner_registry, signing_keys
from federation.config import parse_secret
from federation.db import make_engine

CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}
GOAL_P99_S = 2.0
KITS = {"long-poll": ["--wait", "25"], "polling": ["--wait", "0", "--interval", "30"]}


def seed(url: str, env: dict[str, str]) -> dict[str, str]:
    """A signing key and one partner per kit; returns their tokens."""
    kek = parse_secret("KEK", env["FEDERATION_KEK"])
    engine = make_engine(url)
    with Session(engine) as session:
        signing_keys.create_key(session, kek)
        session.commit()
        tokens = {name: partner_registry.add_partner(session, f"bench-{name}", frozenset({"feed:read"}),
                                                     f"Bench {name}").token for name in KITS}
    engine.dispose()
    return tokens


class StoreWatcher(threading.Thread):
    """Records when each MD5 first appears in a kit's store."""

    def __init__(self, path: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.path, self.stop, self.seen = path, stop, {}

    def run(self) -> None:
        while not self.path.exists() and not self.stop.is_set():
            time.sleep(0.05)  # the kit creates its store on start
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        last = 0
        while not self.stop.is_set():
            try:
                rows = db.execute("SELECT value, seq FROM signals WHERE seq > ? AND type = 'md5'",
                                  (last,)).fetchall()
            except sqlite3.OperationalError:
                rows = []  # the store is being created
            now = time.monotonic()
            for value, seq in rows:
                self.seen.setdefault(value, now)
                last = max(last, seq)
            time.sleep(0.005)  # sampling the store; the resolution of the figures
        db.close()


@contextlib.contextmanager
def kit(name: str, base: str, token: str, folder: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    store = folder / f"{name}.db"
    command = [sys.executable, "-m", "partners.cli", "--server", base, "--token", token, "--store", str(store),
               "sync", "--watch", "--quiet", *KITS[name]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.err", "wb"))
    try:
        yield process, store
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(conn: http.client.HTTPConnection) -> tuple[str, float]:
    value = secrets.token_hex(16)
    body = json.dumps({"signals": [{"type": "md5", "value": value}], "consent": CONSENT})
    conn.request("POST", "/v1/cases", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"report refused: {response.status}")
    return value, time.monotonic()


def summary(name: str, latencies: list[float], missing: int, cpu: float) -> str:
    return (f"{name:10} p50 {median(latencies):6.3f} s  p90 {percentile(latencies, 90):6.3f} s  "
            f"p99 {percentile(latencies, 99):6.3f} s  max {max(latencies):6.3f} s  "
            f"not seen {missing}  kit CPU {cpu:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.5, help="mean seconds between reports")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--settle", type=float, default=45, help="seconds to wait for the last reports")
    args = parser.parse_args()
    print(machine())
    rng = random.Random(14)
    database = postgres_database() if args.database == "postgres" else sqlite_database()
    with database as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = service_env(url) | {"FEDERATION_REPORT_LIMIT": "1000000", "FEDERATION_FEED_WAITERS": "2",
                                  "FEDERATION_FEED_PERSON_ENTRIES_PER_MINUTE": "0"}
        tokens = seed(url, env)
        with gunicorn(env, workers=2) as base, kit("long-poll", base, tokens["long-poll"], folder) as fast, \
                kit("polling", base, tokens["polling"], folder) as slow:
            stop = threading.Event()
            watchers = {"long-poll": StoreWatcher(fast[1], stop), "polling": StoreWatcher(slow[1], stop)}
            for watcher in watchers.values():
                watcher.start()
            host, port = base.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            time.sleep(3)  # both kits past their first sync (trust on first use) before the first report
            server_cpu0 = sum(process_cpu(pid) for pid in descendants(os.getpid())
                              if pid not in (fast[0].pid, slow[0].pid))
            kit_cpu0 = {"long-poll": process_cpu(fast[0].pid), "polling": process_cpu(slow[0].pid)}
            sent: dict[str, float] = {}
            started = time.monotonic()
            for _ in range(args.reports):
                value, at = report(conn)
                sent[value] = at
                time.sleep(rng.expovariate(1 / args.gap))  # an open arrival process, not synchronisation
            conn.close()
            deadline = time.monotonic() + args.settle
            while time.monotonic() < deadline and not all(
                    len(set(sent) & w.seen.keys()) == len(sent) for w in watchers.values()):
                time.sleep(0.2)
            wall = time.monotonic() - started
            kit_cpu = {"long-poll": process_cpu(fast[0].pid) - kit_cpu0["long-poll"],
                       "polling": process_cpu(slow[0].pid) - kit_cpu0["polling"]}
            server_cpu = sum(process_cpu(pid) for pid in descendants(os.getpid())
                             if pid not in (fast[0].pid, slow[0].pid)) - server_cpu0
            stop.set()
        print(f"{args.reports} reports over {wall:.0f} s on {args.database}; gunicorn 2 workers x 4 threads, "
              f"FEDERATION_FEED_WAITERS=2; server CPU (gunicorn) {server_cpu:.1f} s for both kits")
        for name, watcher in watchers.items():
            latencies = [watcher.seen[v] - at for v, at in sent.items() if v in watcher.seen]
            print(summary(name, latencies, len(sent) - len(latencies), kit_cpu[name]))
        fast_p99 = percentile([watchers["long-poll"].seen[v] - at for v, at in sent.items()
                               if v in watchers["long-poll"].seen], 99)
        print(f"goal p99 < {GOAL_P99_S} s with long polling: {'met' if fast_p99 < GOAL_P99_S else 'NOT met'}")


if __name__ == "__main__":
    main()
