"""`federation-partner serve` under load (issue 15): lookups/s and latency from a loopback
load generator while a sync applies entries, one process against ``--workers N``.

The server runs in a process of its own, started as the CLI starts it (one process, or
a parent that syncs and N forked workers), over a store of N random PDQ hashes, with a
sync that applies ``rate`` pre-verified entries per second (half adds, half deletes of
earlier adds) as a partner's sync does after verification. The load generator is
``wrk`` (Debian's package) with keep-alive connections sending single lookups, a
shuffled mix of near-duplicates (distance 0-31) and non-matches; without wrk, a Python
generator (which itself needs about as much CPU per request as the server). Server CPU
is the CPU time of the server's processes (parent and workers) over the run; the load
generator's is reported apart. Configurations alternate (A B A B) and medians are kept.

    .venv/bin/python -m bench.partner --only serve --sizes 1000000 --serve-workers 1 2
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]

_WRK_SCRIPT = r"""
local bodies, next_body = {}, 1
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  next_body = math.random(#bodies)
end
function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/v1/lookup", {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def family_cpu(pid: int) -> float:
    """CPU seconds of the server process and its workers."""
    from bench.cases import descendants, process_cpu

    return sum(process_cpu(member) for member in [pid, *descendants(pid)])


def server_child(store_path: str, workers: int, rate: int, seed: int) -> None:
    """The server under test: `serve` (workers == 1) or `serve --workers N`, with a sync
    applying `rate` pre-verified entries per second to the store."""
    import sqlite3

    from bench.partner import new_record_ids
    from partners import prefork
    from partners.serve import Matcher, make_server, serve
    from partners.store import LocalStore

    rng = np.random.default_rng(seed)
    with sqlite3.connect(store_path) as db:
        victims = db.execute("SELECT seq, record_id, value FROM signals ORDER BY random() LIMIT 200000").fetchall()

    def sync_once(store: LocalStore) -> None:
        after = store.checkpoint
        entries = []
        for i in range(rate):
            seq = after + i + 1
            if i % 2 and victims:
                _, record, value = victims.pop()
                entries.append({"seq": seq, "op": "delete", "id": record, "type": "pdq", "value": value,
                                "quality": 90})
            else:
                record = new_record_ids(rng, 1)[0]
                value = f"{int(rng.integers(0, 2**62)):016x}" * 4
                victims.insert(0, (seq, record, value))
                entries.append({"seq": seq, "op": "add", "id": record, "type": "pdq", "value": value, "quality": 90})
        store.apply(entries, after)

    stop = threading.Event()
    if workers > 1:
        prefork.serve_workers(lambda: Matcher(store_path), store_path, "127.0.0.1", 0, workers, sync_once, 1.0,
                              stop, lambda port: print(port, flush=True))
        return
    matcher = Matcher(store_path)
    server = make_server(matcher, "127.0.0.1", 0)
    print(server.server_address[1], flush=True)
    serve(matcher, server, sync_once, 1.0, stop)


def _ready(base: str, workers: int, deadline: float) -> None:
    """Until every worker says ready (each new connection reaches one of them)."""
    seen: set[int | None] = set()
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz") as response:
                seen.add(json.loads(response.read()).get("worker"))
        except OSError:
            time.sleep(1)
            continue
        if len(seen) >= workers:
            return
    raise RuntimeError("the server did not get ready")


def _wrk(port: int, bodies_path: str, seconds: float, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", script.name,
             f"http://127.0.0.1:{port}", "--", bodies_path], stdout=subprocess.PIPE, text=True)
        output, _ = process.communicate()
        wall = time.perf_counter() - started
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    requests, duration_us, p50, p99, peak, errors = (int(x) for x in line.split()[1:])
    return {"requests": requests, "seconds": duration_us / 1e6, "p50": p50 / 1e3, "p99": p99 / 1e3,
            "max": peak / 1e3, "errors": errors, "wall": wall}


def bench_serve(count: int, seconds: float, workers_list: list[int], rate: int, seed: int,
                connections: int = 16, rounds: int = 2) -> None:
    from bench.partner import latency_queries, new_record_ids
    from partners.index import words_to_hex
    from partners.store import LocalStore

    if not shutil.which("wrk"):
        raise SystemExit("serve: needs wrk (apt-get install wrk): a Python load generator would take "
                         "as much CPU per request as the server it measures")
    print(f"\n== serve: {count:,} PDQ hashes, wrk with {connections} connections for {seconds:.0f} s per run, "
          f"sync applying {rate:,} entries/s; server processes: {workers_list} ==")
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    queries, _ = latency_queries(stored, 20_000, rng)
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({"type": "pdq", "value": h}, separators=(",", ":")) + "\n"
                                  for h in words_to_hex(queries)))
        batch_body = json.dumps({"items": [{"type": "pdq", "value": h}
                                           for h in words_to_hex(queries[:1000])]}).encode()
        path = str(Path(tmp) / "store.db")
        ids_rng = np.random.default_rng(seed + 1)
        with LocalStore(path) as store:
            for first in range(0, count, 5000):
                part = stored[first:first + 5000]
                store.apply([{"seq": first + i + 1, "op": "add", "id": record, "type": "pdq", "value": value,
                              "quality": 90}
                             for i, (record, value) in enumerate(zip(new_record_ids(ids_rng, len(part)),
                                                                     words_to_hex(part), strict=True))], first)
            store.count()
        del stored
        runs: dict[int, list[dict[str, float]]] = {w: [] for w in workers_list}
        for round_number in range(rounds):
            order = workers_list if round_number % 2 == 0 else workers_list[::-1]
            for workers in order:
                runs[workers].append(_one_server(path, workers, rate, seed, str(bodies), batch_body, seconds,
                                                 connections, count))
        print(f"RESULT serve N={count:,} medians of {rounds} runs:")
        for workers, results in runs.items():
            med = {k: statistics.median(r[k] for r in results) for k in results[0]}
            print(f"RESULT serve N={count:,} processes={workers}: {med['rate']:,.0f} lookups/s, "
                  f"p50 {med['p50']:.2f} ms p99 {med['p99']:.2f} ms max {med['max']:.1f} ms, "
                  f"server CPU {med['server_cores']:.2f} cores ({med['per_cpu']:,.0f} lookups per server "
                  f"CPU-second), wrk CPU {med['wrk_cores']:.2f} cores; batches of 1,000: "
                  f"{med['batched']:,.0f} lookups/s; ready after {med['ready']:.0f} s")
        if len(workers_list) > 1:
            first, last = workers_list[0], workers_list[-1]
            ratio = statistics.median(r["rate"] for r in runs[last]) / statistics.median(r["rate"] for r in runs[first])
            print(f"RESULT serve N={count:,} lookups/s, {last} processes / {first}: x{ratio:.2f}")


def _one_server(path: str, workers: int, rate: int, seed: int, bodies: str, batch_body: bytes,
                seconds: float, connections: int, count: int) -> dict[str, float]:
    child = subprocess.Popen(
        [sys.executable, "-c",
         f"from bench.partner_serve import server_child; server_child({path!r}, {workers}, {rate}, {seed})"],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        port = int(child.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        _ready(base, workers, started + 1800)
        ready = time.perf_counter() - started
        wrk_before = os.times()
        cpu, wall = family_cpu(child.pid), time.perf_counter()
        result = _wrk(port, bodies, seconds, connections)
        wall = time.perf_counter() - wall
        wrk_after = os.times()
        server = family_cpu(child.pid) - cpu
        wrk_cpu = (wrk_after.children_user + wrk_after.children_system
                   - wrk_before.children_user - wrk_before.children_system)
        if result["errors"]:
            raise RuntimeError(f"{result['errors']} failed lookups")
        rate_seen = result["requests"] / result["seconds"]
        cpu, started = family_cpu(child.pid), time.perf_counter()
        sent = 0
        while time.perf_counter() - started < seconds / 2:
            request = urllib.request.Request(base + "/v1/lookup", batch_body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                response.read()
            sent += 1000
        batched = sent / (time.perf_counter() - started)
        print(f"  N={count:,} processes={workers}: {rate_seen:,.0f}/s p50 {result['p50']:.2f} p99 "
              f"{result['p99']:.2f} max {result['max']:.1f} ms; server {server / wall:.2f} cores, "
              f"wrk {wrk_cpu / wall:.2f}; batched {batched:,.0f}/s; ready after {ready:.0f} s", flush=True)
        return {"rate": rate_seen, "p50": result["p50"], "p99": result["p99"], "max": result["max"],
                "server_cores": server / wall, "per_cpu": result["requests"] / max(server, 1e-9),
                "wrk_cores": wrk_cpu / wall, "batched": batched, "ready": ready}
    finally:
        child.terminate()
        child.wait(timeout=120)
