"""`federation serve` started the README's way: the venv's `federation` command as a
subprocess, on 127.0.0.1, configured by environment variables only."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FEDERATION = Path(sys.executable).with_name("federation")


def nginx_or_skip() -> None:
    from federation.front.nginx import find_nginx

    if find_nginx() is None:
        pytest.skip("nginx not installed (apt-get install nginx; .ci/run installs it)")


def free_port() -> int:
    # nginx cannot listen on port 0 and say which port it got, so the test asks the
    # kernel for a free one and hands it over (nothing else binds on this loopback).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    host: str
    port: int
    stdout: Path
    stderr: Path
    process: subprocess.Popen

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                timeout: float = 30, source: str | None = None) -> tuple[int, dict, dict]:
        """One request on a new connection, from `source` (another loopback address, as
        another client) if given."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                           **(headers or {})})
            response = conn.getresponse()
            raw = response.read()
            parsed = json.loads(raw) if raw and "json" in response.headers.get("Content-Type", "") else {}
            return response.status, dict(response.headers), parsed
        finally:
            conn.close()

    def stop(self) -> tuple[str, str]:
        """Stop it (SIGTERM, as a process manager does); return (stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.stdout.read_text(), self.stderr.read_text()


@contextlib.contextmanager
def serve(tmp_path: Path, test_config: dict, env: dict[str, str] | None = None,
          ready_timeout: float = 60) -> Iterator[Served]:
    """`federation serve` on a free port; yields once /healthz answers 200."""
    port = free_port()
    environment = {**os.environ, "FEDERATION_DATABASE_URL": test_config["DATABASE_URL"],
                   "FEDERATION_PEPPER": test_config["PEPPER"], "FEDERATION_KEK": test_config["KEK"],
                   "FEDERATION_INSTANCE_PATH": str(tmp_path / "instance"),
                   "FEDERATION_BIND": f"127.0.0.1:{port}", **(env or {})}
    stdout, stderr = tmp_path / "serve.out", tmp_path / "serve.err"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([str(FEDERATION), "serve"], env=environment, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    served = Served("127.0.0.1", port, stdout, stderr, process)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited ({process.returncode}):\n{stderr.read_text()}")
            try:
                if served.request("GET", "/healthz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve not ready in {ready_timeout} s:\n{stderr.read_text()}")
            time.sleep(0.1)  # polling for readiness, bounded by the deadline
        yield served
    finally:
        served.stop()
