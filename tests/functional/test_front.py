"""Holding under attack (issue 12): slow clients, saturation, clients that leave, and
what the logs keep. Every test runs `federation serve` the README's way."""
from __future__ import annotations

import json
import re
import secrets
import socket
import time

import pytest
from sqlalchemy import text

from tests.factories import case_payload
from tests.functional.served import nginx_or_skip, serve

pytestmark = pytest.mark.slow


def count_cases(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM cases")).scalar_one()


def raw_post(served, path: str, body: bytes, *, source: str = "127.0.0.1", content_length: int | None = None
             ) -> socket.socket:
    """A connection that has sent a POST's header and `body` (maybe less than it announced)."""
    sock = socket.create_connection((served.host, served.port), timeout=30, source_address=(source, 0))
    length = len(body) if content_length is None else content_length
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode() + body)
    return sock


def test_slow_clients_do_not_hold_the_service(tmp_path, test_config, clean_database):
    """64 connections that never finish their request (headers or body) from 8 addresses:
    without the front they held every gunicorn thread and normal reports timed out."""
    nginx_or_skip()
    with serve(tmp_path, test_config) as served:
        slow = []
        for index in range(64):
            sock = socket.create_connection((served.host, served.port), timeout=30,
                                            source_address=(f"127.0.0.{10 + index % 8}", 0))
            if index % 4:
                sock.sendall(b"POST /v1/cases HTTP/1.1\r\nHost: x\r\n")  # header never ends
            else:
                sock.sendall(b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000\r\n\r\n{\"signals\"")  # body never ends
            slow.append(sock)
        try:
            for _ in range(8):
                started = time.monotonic()
                status, _, _ = served.request("POST", "/v1/cases", case_payload(), timeout=5)
                assert status == 201 and time.monotonic() - started < 5
        finally:
            for sock in slow:
                sock.close()


def test_a_request_that_queued_past_the_budget_is_refused_and_does_nothing(client, engine):
    stale = client.post("/v1/cases", json=case_payload(),
                        headers={"X-Request-Start": f"t={time.time() - 3:.3f}"})
    assert stale.status_code == 503 and stale.mimetype == "application/problem+json"
    assert stale.get_json() == {"type": "urn:federation:problem:overloaded", "title": "Service overloaded",
                                "status": 503, "code": "overloaded", "detail": stale.get_json()["detail"]}
    assert int(stale.headers["Retry-After"]) > 0
    assert stale.headers["X-Content-Type-Options"] == "nosniff"
    assert count_cases(engine) == 0
    fresh = client.post("/v1/cases", json=case_payload(), headers={"X-Request-Start": f"t={time.time():.3f}"})
    assert fresh.status_code == 201 and count_cases(engine) == 1


@pytest.mark.parametrize("front", ["nginx", "none"])
def test_the_front_stamps_each_request_with_its_start(front, tmp_path, test_config, engine, clean_database):
    """With a budget no request can meet, only a stamped request is refused: nginx stamps."""
    if front == "nginx":
        nginx_or_skip()
    impossible = {"FEDERATION_FRONT": front, "FEDERATION_QUEUE_BUDGET_MS": "-1"}
    with serve(tmp_path, test_config, impossible) as served:
        status, headers, body = served.request("POST", "/v1/cases", case_payload())
    if front == "nginx":
        assert (status, body["code"]) == (503, "overloaded")
        assert headers["Content-Type"] == "application/problem+json"
        assert count_cases(engine) == 0
    else:
        assert status == 201 and count_cases(engine) == 1


@pytest.mark.parametrize("front", ["nginx", "none"])
def test_a_report_whose_client_left_before_commit_creates_nothing(front, tmp_path, test_config, engine,
                                                                  clean_database):
    """One thread, and a PIN hash slow enough (256 MiB) that the client has left before
    the transaction commits."""
    if front == "nginx":
        nginx_or_skip()
    slow_pin = {"FEDERATION_FRONT": front, "FEDERATION_WORKERS": "1", "FEDERATION_THREADS": "1",
                "FEDERATION_PIN_ARGON2_MEMORY_KIB": "262144", "FEDERATION_PIN_ARGON2_PASSES": "3"}
    with serve(tmp_path, test_config, slow_pin) as served:
        raw_post(served, "/v1/cases", json.dumps(case_payload()).encode()).close()
        # One thread: this answer comes only after the abandoned report is done with.
        assert served.request("GET", "/healthz")[0] == 200
        assert count_cases(engine) == 0
        status, _, receipt = served.request("POST", "/v1/cases", case_payload())
        assert status == 201 and receipt["pin"] and count_cases(engine) == 1
        _, stderr = served.stop()
    assert "client left before its transaction committed: rolled back" in stderr


def test_logs_hold_no_client_address_referral_code_or_secret(tmp_path, test_config, clean_database):
    """Everything `serve` writes (nginx's access and error logs, gunicorn's, the app's at
    DEBUG) after reports, PIN checks, a referral link, a refused body and a client that
    gave up mid-body."""
    nginx_or_skip()
    code = "K7QM-2XD4-RTWP"
    with serve(tmp_path, test_config, {"FEDERATION_LOG_LEVEL": "DEBUG"}) as served:
        status, _, receipt = served.request("POST", "/v1/cases", case_payload(), source="127.0.0.2")
        assert status == 201
        credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
        wrong = dict(credentials, pin="00000000" if receipt["pin"] != "00000000" else "11111111")
        assert served.request("POST", "/v1/cases/status", credentials, source="127.0.0.2")[0] == 200
        assert served.request("POST", "/v1/cases/status", wrong, source="127.0.0.3")[0] == 404
        served.request("GET", f"/r/{code}", source="127.0.0.3")
        # Too large: nginx refuses it and writes an error line naming the client and the request.
        too_large = raw_post(served, f"/r/{code}", b"{", content_length=2 * 1024 * 1024, source="127.0.0.4")
        assert too_large.recv(65536).startswith(b"HTTP/1.1 413")
        too_large.close()
        raw_post(served, "/v1/cases", b'{"signals": [', content_length=5000, source="127.0.0.5").close()
        served.request("GET", "/healthz", source="127.0.0.3")
        stdout, stderr = served.stop()
    logs = (stdout + stderr).replace(f"serving on http://127.0.0.1:{served.port}", "")  # ours, not a client's
    assert '"POST /v1/cases" 201' in stdout and '"GET /r/[redacted]"' in stdout  # nginx's access log
    assert "client intended to send too large body" in stderr and "client: [address]" in stderr
    assert not re.search(r"127\.0\.0\.\d", logs)
    for secret in (code, code.replace("-", ""), receipt["reference"], receipt["reference"].replace("-", ""),
                   receipt["pin"]):
        assert secret not in logs


def test_behind_nginx_each_client_is_counted_by_its_own_address(tmp_path, test_config, clean_database):
    """Rate limits count per client address: behind nginx the app must see the address
    nginx saw (not nginx's socket, not a header the client wrote)."""
    nginx_or_skip()
    settings = {"FEDERATION_WORKERS": "1", "FEDERATION_REFERRAL_GUESS_LIMIT": "3"}
    with serve(tmp_path, test_config, settings) as served:
        guesses = [served.request("GET", f"/r/{secrets.token_hex(6)}", source="127.0.0.2")[0]
                   for _ in range(4)]
        assert guesses == [200, 200, 200, 429]
        spoofed = served.request("GET", f"/r/{secrets.token_hex(6)}", source="127.0.0.2",
                                 headers={"X-Forwarded-For": "192.0.2.7"})[0]
        assert spoofed == 429
        assert served.request("GET", f"/r/{secrets.token_hex(6)}", source="127.0.0.3")[0] == 200
