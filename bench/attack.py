"""bench/attack.py: what holds under attack (issue 12), on 127.0.0.1 only.

The service on PostgreSQL with 2 workers, either as it was (`--front gunicorn`: gunicorn
alone on the port) or as the README runs it (`--front nginx`: `federation serve`, nginx in
front). Phases, each bounded in time:
  slow    - 64 sockets trickle one byte every 2 s (32 into headers, 32 into bodies) while a
            normal client sends a report every 0.5 s: p50/p99 and how many timed out (40 s);
  capacity- 16 clients back to back for `--seconds`: reports/s (201s);
  overload- 5x that capacity offered open loop, each client giving up after
            `--client-timeout` s: share of 503s, p99 of the accepted, and cases created
            whose 201 no client received (cases in the database minus 201s received);
  one client / flood - one address sending reports back to back for `--flood-seconds`:
            reports accepted per minute and feed entries added per minute; "not limited"
            when nothing refused it (per-client rate limits are another change).
Clients come from many loopback addresses (127.0.0.0/8 is all loopback), as people do.
Run: `.venv/bin/python -m bench.attack --front nginx` (and `--front gunicorn`, before).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.harness import ROOT, free_port, machine, median, percentile, postgres_database, service_env
from tests.factories import random_hash

CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}
HOST = "127.0.0.1"


def report_body() -> bytes:
    # A PDQ a picture could have (half its bits set): a random one is refused half the time.
    signals = [{"type": "pdq", "value": random_hash("pdq"), "quality": 100},
               {"type": "md5", "value": random_hash("md5")},
               {"type": "sha256", "value": random_hash("sha256")}]
    return json.dumps({"signals": signals, "consent": CONSENT}).encode()


def client_address(index: int) -> str:
    return f"127.0.{1 + index // 250 % 250}.{1 + index % 250}"


@contextlib.contextmanager
def service(front: str, env: dict[str, str], tmp: Path) -> Iterator[int]:
    """The service on a free port of 127.0.0.1; yields the port."""
    port = free_port()
    if front == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "-c", "python:federation.gunicorn_conf",
                   "--bind", f"{HOST}:{port}", "--workers", "2", "--access-logfile", "/dev/null",
                   "federation.wsgi:app"]
    else:
        command = [str(Path(sys.executable).with_name("federation")), "serve", "--front", front,
                   "--no-migrate"]
    environment = {**os.environ, **env, "FEDERATION_BIND": f"{HOST}:{port}", "FEDERATION_WORKERS": "2",
                   "FEDERATION_INSTANCE_PATH": str(tmp), "FEDERATION_ACCESS_LOG": "/dev/null"}
    process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while asyncio.run(request(port, "GET", "/healthz", None, 2))[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the service did not start")
            time.sleep(0.2)  # start-up polling
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# Connections whose clients gave up without closing them (`--give-up abandon`: a phone
# that lost its network sends no FIN); closed at the end of the phase.
ABANDONED: list[asyncio.StreamWriter] = []


async def request(port: int, method: str, path: str, body: bytes | None, timeout: float,
                  source: str = HOST, abandon: bool = False) -> tuple[int | str, float]:
    """(status, or "timeout"/"unsent"/"error"; seconds) of one request on a new connection.
    On timeout the client gives up: it closes its connection, as a browser closing a tab
    does, or with `abandon` leaves it open and silent."""
    started = time.monotonic()
    writer = None
    gave_up = False
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
            head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + (body or b""))
            status_line = await reader.readline()
            await reader.read()  # to the end: Connection: close
        return int(status_line.split()[1]), time.monotonic() - started
    except TimeoutError:
        # "unsent": gave up before the connection was even accepted (or the load
        # generator itself was too slow to send); "timeout": gave up waiting for the answer.
        gave_up = True
        return ("timeout" if writer is not None else "unsent"), time.monotonic() - started
    except (OSError, IndexError, ValueError):
        return "error", time.monotonic() - started
    finally:
        if writer is not None and gave_up and abandon:
            ABANDONED.append(writer)
        elif writer is not None:
            writer.close()


async def trickle(port: int, index: int, stop: float) -> None:
    """One slow client: a byte every 2 s into a header, or into a body, until `stop`."""
    try:
        _, writer = await asyncio.open_connection(HOST, port, local_addr=(f"127.0.9.{1 + index % 8}", 0))
    except OSError:
        return
    if index % 2:
        data = (b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: "
                + b"a" * 1000)
    else:
        writer.write(b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        data = b"[" * 100000
    try:
        for byte in data:
            if time.monotonic() >= stop:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(2)
    except OSError:
        pass  # the server cut it off: good
    finally:
        writer.close()


async def slow_phase(port: int, seconds: float, timeout: float = 40) -> str:
    stop = time.monotonic() + seconds
    attackers = [asyncio.create_task(trickle(port, i, stop)) for i in range(64)]
    await asyncio.sleep(2)  # let the attackers connect first, as in the issue
    normal = []
    while time.monotonic() < stop:
        normal.append(asyncio.create_task(request(port, "POST", "/v1/cases", report_body(), timeout)))
        await asyncio.sleep(0.5)  # pacing the normal client
    results = await asyncio.gather(*normal)
    await asyncio.gather(*attackers)
    ms = [t * 1000 for status, t in results if status == 201]
    timed_out = sum(1 for status, _ in results if status == "timeout")
    others = sorted({str(status) for status, _ in results} - {"201", "timeout"})
    summary = (f"slow clients: {len(results)} normal reports, {len(ms)} succeeded, {timed_out} timed out "
               f"({timeout:.0f} s)")
    if ms:
        summary += f", p50 {median(ms):.0f} ms, p99 {percentile(ms, 99):.0f} ms"
    return summary + (f", other answers: {', '.join(others)}" if others else "")


async def closed_loop(port: int, seconds: float, clients: int = 16) -> float:
    stop = time.monotonic() + seconds
    done = [0]

    async def client(index: int) -> None:
        while time.monotonic() < stop:
            status, _ = await request(port, "POST", "/v1/cases", report_body(), 30, client_address(index))
            done[0] += status == 201
    await asyncio.gather(*(client(i) for i in range(clients)))
    return done[0] / seconds


async def open_loop(port: int, rate: float, seconds: float, timeout: float, abandon: bool
                    ) -> list[tuple[int | str, float]]:
    tasks, start, index = [], time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        while index < elapsed * rate:
            tasks.append(asyncio.create_task(request(port, "POST", "/v1/cases", report_body(), timeout,
                                                     client_address(index), abandon)))
            index += 1
        await asyncio.sleep(0.005)  # pacing an open-loop load
    return await asyncio.gather(*tasks)


def count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (our table names)


async def overload_phase(port: int, url: str, capacity: float, seconds: float, timeout: float,
                         abandon: bool) -> str:
    before = count(url, "cases")
    results = await open_loop(port, 5 * capacity, seconds, timeout, abandon)
    # Requests the clients gave up on may still be running or queued: wait until the
    # service answers promptly again and the count has stopped moving (bounded).
    settled, deadline = count(url, "cases"), time.monotonic() + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(2)  # letting abandoned requests finish, bounded
        now = count(url, "cases")
        healthy = (await request(port, "GET", "/healthz", None, 1))[0] == 200
        if now == settled and healthy:
            break
        settled = now
    for writer in ABANDONED:
        writer.close()
    ABANDONED.clear()
    created = settled - before
    received = sum(1 for status, _ in results if status == 201)
    refused = sum(1 for status, _ in results if status == 503)
    timed_out = sum(1 for status, _ in results if status == "timeout")
    unsent = sum(1 for status, _ in results if status == "unsent")
    accepted_ms = [t * 1000 for status, t in results if status == 201]
    unseen = created - received
    share = len(results)
    return (f"overload ({'abandoning' if abandon else 'closing'} on giving up): {share} offered at "
            f"{5 * capacity:.0f}/s (5x), 201 {received}, 503 {refused} ({refused / share:.0%}), "
            f"gave up waiting {timed_out} ({timed_out / share:.0%}), "
            f"gave up connecting {unsent} ({unsent / len(results):.0%}), "
            f"other {len(results) - received - refused - timed_out - unsent}; p99 of accepted "
            f"{percentile(accepted_ms, 99) if accepted_ms else float('nan'):.0f} ms; "
            f"cases created {created}, "
            f"of which no client received the 201: {unseen} ({unseen / max(created, 1):.1%}; goal <= 1%)")


async def flood_phase(port: int, url: str, seconds: float) -> str:
    entries_before, stop = count(url, "feed_entries"), time.monotonic() + seconds
    statuses: dict[str, int] = {}
    while time.monotonic() < stop:
        status, _ = await request(port, "POST", "/v1/cases", report_body(), 30, "127.0.8.1")
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    minutes = seconds / 60
    accepted = statuses.get("201", 0)
    limited = statuses.get("429", 0)
    entries = count(url, "feed_entries") - entries_before
    verdict = f"limited ({limited} refused with 429)" if limited else "not limited"
    return (f"one client, back to back for {seconds:.0f} s: {accepted / minutes:,.0f} reports accepted "
            f"per minute, "
            f"{entries / minutes:,.0f} feed entries added per minute: {verdict}; answers {statuses}")


def signing_key(url: str, env: dict[str, str]) -> None:
    from sqlalchemy.orm import Session

    from federation import signing_keys
    from federation.config import parse_secret
    from federation.db import make_engine
    engine = make_engine(url)
    with Session(engine) as session:
        signing_keys.create_key(session, parse_secret("KEK", env["FEDERATION_KEK"]))
        session.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--front", choices=["gunicorn", "nginx"], default="nginx",
                        help="gunicorn: alone on the port (before); nginx: `federation serve` (after)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--client-timeout", type=float, default=5, help="overload: when a client gives up")
    parser.add_argument("--give-up", choices=["close", "abandon"], default="close",
                        help="overload: a client that gives up closes its connection, or leaves it open")
    parser.add_argument("--flood-seconds", type=float, default=20)
    parser.add_argument("--phases", default="slow,overload,flood")
    parser.add_argument("--keep-limits", action="store_true",
                        help="keep the per-network report limit (FEDERATION_REPORT_LIMIT); without it the "
                             "limit is lifted, so slow and overload measure the front and admission alone")
    args = parser.parse_args()
    phases = args.phases.split(",")
    print(f"{machine()}; front {args.front}; load average {os.getloadavg()[0]:.1f}", flush=True)
    with postgres_database() as url, contextlib.ExitStack() as stack:
        env = service_env(url)
        if not args.keep_limits:
            env["FEDERATION_REPORT_LIMIT"] = "100000000"
        signing_key(url, env)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="attack-")))
        port = stack.enter_context(service(args.front, env, tmp))
        asyncio.run(closed_loop(port, 3))  # warm up
        if "slow" in phases:
            print(asyncio.run(slow_phase(port, args.seconds)), flush=True)
        if "overload" in phases:
            capacity = asyncio.run(closed_loop(port, args.seconds))
            print(f"capacity: {capacity:.1f} reports/s (16 clients back to back)", flush=True)
            print(asyncio.run(overload_phase(port, url, capacity, args.seconds, args.client_timeout,
                                             args.give_up == "abandon")), flush=True)
        if "flood" in phases:
            print(asyncio.run(flood_phase(port, url, args.flood_seconds)), flush=True)


if __name__ == "__main__":
    main()
