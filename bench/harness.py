"""What the benchmarks share: a throwaway PostgreSQL database, a gunicorn on loopback,
and summary statistics. Benchmarks are not tests: they print numbers for bench/README.md."""
from __future__ import annotations

import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg

from federation.crypto.encoding import b64u_encode
from federation.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("FEDERATION_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new database migrated to head, dropped afterwards. Yields its SQLAlchemy URL."""
    name = f"federation_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(database_url: str) -> dict[str, str]:
    return {"FEDERATION_DATABASE_URL": database_url,
            "FEDERATION_PEPPER": b64u_encode(secrets.token_bytes(32)),
            "FEDERATION_KEK": b64u_encode(secrets.token_bytes(32)),
            "FEDERATION_LOG_LEVEL": "WARNING"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int, threads: int = 4,
             app: str = "federation.wsgi:app") -> Iterator[str]:
    """gunicorn with our production config on 127.0.0.1; yields the base URL."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:federation.gunicorn_conf",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
               "--access-logfile", "/dev/null", app]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)  # start-up polling, not test synchronisation
    raise RuntimeError("gunicorn did not become ready")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown cpu")
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
