"""bench/cases.py: case submissions against gunicorn (2 workers) on PostgreSQL.

50 concurrent clients on 127.0.0.1, PIN hashing included. Each submission is what the
portal sends: 3 fresh signals, the consent, and an Idempotency-Key. Phases, same run:
  paced    - `--rate` submissions/s offered (the issue's target: p99 under 100 ms at 100/s),
             `--repeat` times; medians over the repeats are what bench/README.md quotes;
  flat out - each client submits back to back, for the ceiling.
After each phase: where the CPU went, per submission: this process, the gunicorn it
started (master and workers, from /proc), and the PostgreSQL backends serving its database
(pg_stat_activity), never other processes on the host; goal: gunicorn and PostgreSQL
together at most 10 ms per report.
With `--timeline`, each paced run also prints p99 and the cores' busy share per 2 s.
Run: `.venv/bin/python -m bench.cases [--seconds 20] [--repeat 3] [--timeline]`.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import uuid

import psycopg

from bench.harness import PG_ADMIN, gunicorn, machine, median, percentile, postgres_database, service_env
from tests.factories import random_hash

CLIENTS = 50
TARGET_P99_MS = 100
TARGET_CPU_MS = 10  # CPU per report, gunicorn and PostgreSQL together (issue 12)
CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}


def payload() -> bytes:
    # A PDQ a picture could have (half its bits set): a random one is refused half the time.
    signals = [{"type": "pdq", "value": random_hash("pdq"), "quality": 100},
               {"type": "md5", "value": random_hash("md5")},
               {"type": "sha256", "value": random_hash("sha256")}]
    return json.dumps({"signals": signals, "consent": CONSENT}).encode()


def run(base: str, seconds: float, rate: float | None, *, with_key: bool = True
        ) -> tuple[list[tuple[float, float]], int]:
    """Drive CLIENTS threads; with `rate`, each paces itself so all together offer `rate`/s.

    Returns (when sent, on the monotonic clock; latency) of each 201, and the error count.
    """
    host, port = base.removeprefix("http://").split(":")
    latencies: list[tuple[float, float]] = []
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
            headers = {"Content-Type": "application/json"}
            if with_key:
                headers["Idempotency-Key"] = str(uuid.uuid4())
            sent = time.monotonic()
            conn.request("POST", "/v1/cases", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.monotonic() - sent
            with lock:
                if response.status == 201:
                    latencies.append((sent, elapsed))
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


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # fields from the 3rd (state) on
    except OSError:
        return None  # the process ended while we looked


def descendants(root: int) -> list[int]:
    """The processes started by `root`, and by those, and so on (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def process_cpu(pid: int) -> float:
    """utime + stime of `pid`, plus those of its children it has reaped (exited workers)."""
    fields = _stat(pid)
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def backend_pids(database: str) -> list[int]:
    """PostgreSQL's backends serving connections to `database` (the service's pool)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (database,)).fetchall()
    return [pid for (pid,) in rows]


def cpu_seconds(database: str) -> dict[str, float]:
    """CPU used so far by what this benchmark started, and nothing else on the host: this
    process, the gunicorn it spawned (master and workers), and the PostgreSQL backends
    serving its database (not PostgreSQL's shared background processes)."""
    return {"client": sum(os.times()[:2]),
            "gunicorn": sum(process_cpu(pid) for pid in descendants(os.getpid())),
            "postgres": sum(process_cpu(pid) for pid in backend_pids(database))}


def busy_fraction() -> tuple[int, int]:
    """The machine's CPU ticks so far: (busy, all), from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def sample_busy(stop: float, every: float = 0.5) -> list[tuple[float, float]]:
    """Until `stop` (monotonic): (when, the machine's busy share over the last `every` s)."""
    samples, previous = [], busy_fraction()
    while time.monotonic() < stop:
        time.sleep(every)  # a sampling period, not synchronisation
        current = busy_fraction()
        spent = current[1] - previous[1]
        samples.append((time.monotonic(), (current[0] - previous[0]) / spent if spent else 0.0))
        previous = current
    return samples


def print_timeline(sent_latency: list[tuple[float, float]], busy: list[tuple[float, float]],
                   window: float = 2.0) -> None:
    """p99 and the cores' busy share per window. A tail that comes in bursts with the
    cores near 100% is CPU saturation; slow requests while the cores idle, a stall."""
    origin = min(sent for sent, _ in sent_latency)
    latencies: dict[int, list[float]] = {}
    for sent, latency in sent_latency:
        latencies.setdefault(int((sent - origin) // window), []).append(latency * 1000)
    shares: dict[int, list[float]] = {}
    for at, share in busy:
        shares.setdefault(int((at - origin) // window), []).append(share)
    cells = []
    for w, values in sorted(latencies.items()):
        busy_share = median(shares[w]) if w in shares else float("nan")
        cells.append(f"{w * window:.0f}s {percentile(values, 99):.0f} ms/{busy_share:.0%}")
    print(f"  per {window:g} s, p99 / cores busy: " + ", ".join(cells))


def phase(name: str, base: str, database: str, seconds: float, rate: float | None, with_key: bool,
          timeline: bool = False) -> dict:
    before, load = cpu_seconds(database), os.getloadavg()[0]
    busy: list[tuple[float, float]] = []
    sampler = threading.Thread(target=lambda: busy.extend(sample_busy(time.monotonic() + seconds + 0.5)))
    if timeline:
        sampler.start()
    sent_latency, errors = run(base, seconds, rate, with_key=with_key)
    after = cpu_seconds(database)
    if timeline:
        sampler.join()
    done = len(sent_latency)
    if not done:
        raise SystemExit(f"{name}: no submission succeeded ({errors} errors)")
    ms = [latency * 1000 for _, latency in sent_latency]
    cpu = {k: (after[k] - before[k]) / done * 1000 for k in after}
    service = cpu["gunicorn"] + cpu["postgres"]
    result = {"rate": done / seconds, "p50": median(ms), "p99": percentile(ms, 99), "max": max(ms),
              "cpu": service}
    print(f"{name}: {result['rate']:,.1f} submissions/s, p50 {result['p50']:.1f} ms, "
          f"p99 {result['p99']:.1f} ms ({result['p99'] / TARGET_P99_MS:.2f}x the target), "
          f"max {result['max']:.1f} ms, errors {errors}, load before {load:.1f}; "
          f"CPU per submission: gunicorn {cpu['gunicorn']:.2f} ms, "
          f"PostgreSQL {cpu['postgres']:.2f} ms, together {service:.2f} ms = "
          f"{service / TARGET_CPU_MS:.2f}x the {TARGET_CPU_MS} ms goal; "
          f"load generator {cpu['client']:.2f} ms",
          flush=True)
    if timeline:
        print_timeline(sent_latency, busy)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="default: federation/gunicorn_conf.py's")
    parser.add_argument("--without-key", action="store_true",
                        help="send no Idempotency-Key (the portal always sends one)")
    parser.add_argument("--timeline", action="store_true",
                        help="also print p99 and the cores' busy share per 2 s of each paced run")
    args = parser.parse_args()
    with_key = not args.without_key
    print(f"{machine()}; gunicorn {args.workers} workers x {args.threads} threads; "
          f"{CLIENTS} clients; PIN Argon2id {os.environ.get('FEDERATION_PIN_ARGON2_MEMORY_KIB', 4096)} KiB x "
          f"{os.environ.get('FEDERATION_PIN_ARGON2_PASSES', 3)} passes; "
          f"Idempotency-Key {'sent' if with_key else 'not sent'}")
    with postgres_database() as url:
        env = service_env(url)
        # One machine sends every report: lift the per-network limit, and give the feed's
        # budget room so that its bucket is read and spent on every report but holds none.
        env |= {"FEDERATION_REPORT_LIMIT": "100000000",
                "FEDERATION_FEED_PERSON_ENTRIES_PER_MINUTE": "100000000",
                "FEDERATION_FEED_PERSON_BURST": "100000000"}
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
            run(base, 3, args.rate, with_key=with_key)  # warm up connections and code paths
            database = url.rsplit("/", 1)[1]
            paced = [phase(f"paced at {args.rate:.0f}/s offered, run {i + 1}", base, database, args.seconds,
                           args.rate, with_key, args.timeline) for i in range(args.repeat)]
            p99s = [r["p99"] for r in paced]
            print(f"paced, median of {args.repeat}: {median([r['rate'] for r in paced]):,.1f} "
                  f"submissions/s, p50 {median([r['p50'] for r in paced]):.1f} ms, "
                  f"p99 {median(p99s):.1f} ms = {median(p99s) / TARGET_P99_MS:.2f}x the "
                  f"{TARGET_P99_MS} ms target (runs: {', '.join(f'{p:.0f}' for p in p99s)} ms); "
                  f"CPU per submission {median([r['cpu'] for r in paced]):.2f} ms = "
                  f"{median([r['cpu'] for r in paced]) / TARGET_CPU_MS:.2f}x the {TARGET_CPU_MS} ms goal")
            phase("flat out", base, database, args.seconds, None, with_key)


if __name__ == "__main__":
    main()
