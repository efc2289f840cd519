"""Health probes, OpenAPI and docs, errors for unknown routes, privacy of logs and audit."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from federation.config import ConfigError
from federation.db import make_engine
from tests.factories import case_payload


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_is_503_when_the_database_is_unreachable(make_app, tmp_path):
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["code"] == "not_ready"


@pytest.mark.parametrize("setting", [{"PIN_ARGON2_MEMORY_KIB": 4}, {"PIN_ARGON2_PASSES": 0}])
def test_a_pin_hash_cost_libsodium_refuses_stops_start_up(make_app, setting):
    with pytest.raises(ConfigError, match="FEDERATION_PIN_ARGON2"):
        make_app(**setting)


def test_openapi_and_docs_are_served_without_third_parties(client):
    spec = client.get("/openapi.json").get_json()
    assert {"/v1/cases", "/v1/cases/status", "/v1/cases/withdraw"} <= set(spec["paths"])
    for name in ("Signal", "FeedbackItem"):  # documented, though federation.signals enforces them
        value = spec["components"]["schemas"][name]["properties"]["value"]
        assert (value["minLength"], value["maxLength"]) == (16, 64)
    docs = client.get("/docs")
    assert docs.status_code == 200
    page = docs.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page and "https://" not in page
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200


def test_unknown_route_and_method_are_problems(client):
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    wrong_method = client.get("/v1/cases")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert wrong_method.get_json()["code"] == "method_not_allowed"


def wrong_pin_for(receipt: dict) -> str:
    return "00000000" if receipt["pin"] != "00000000" else "11111111"


def test_audit_and_logs_hold_no_secret_and_no_hash(client, engine, caplog):
    caplog.set_level(logging.DEBUG)
    payload = case_payload()
    receipt = client.post("/v1/cases", json=payload).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    client.post("/v1/cases/status", json=dict(credentials, pin=wrong_pin_for(receipt)))
    client.post("/v1/cases/status", json=credentials)
    client.post("/v1/cases/withdraw", json=credentials)
    locked = client.post("/v1/cases", json=case_payload()).get_json()
    for _ in range(6):
        client.post("/v1/cases/status", json={"reference": locked["reference"], "pin": wrong_pin_for(locked)})

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event, actor, detail FROM audit_events ORDER BY id")).all()
    events = [row.event for row in rows]
    assert events[0] == "case_created"
    assert {"pin_failed", "status_checked", "case_withdrawn", "case_locked", "locked_attempt"} <= set(events)
    secrets_ = [payload["signals"][0]["value"]]
    for made in (receipt, locked):
        secrets_ += [made["reference"], made["reference"].replace("-", ""), made["pin"]]
    everything = repr(rows) + caplog.text
    for secret in secrets_:
        assert secret not in everything


@pytest.fixture
def gunicorn_logs(test_config, clean_database, tmp_path):
    """gunicorn with the production config (2 workers) on a socket we bound on 127.0.0.1,
    logging what an operator turning logs up would: the app at DEBUG, SQLAlchemy's
    statements at INFO. Yields the base URL and a function that stops gunicorn and
    returns (access log, everything else it wrote: error log and output).
    Requests made before the workers are up wait in the socket's backlog: no polling."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    access, errors, output = tmp_path / "access.log", tmp_path / "error.log", tmp_path / "output.log"
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps({"version": 1, "disable_existing_loggers": False,
                                      "loggers": {"sqlalchemy.engine": {"level": "INFO"}}}))
    env = {**os.environ, "FEDERATION_DATABASE_URL": test_config["DATABASE_URL"],
           "FEDERATION_PEPPER": test_config["PEPPER"], "FEDERATION_KEK": test_config["KEK"],
           "FEDERATION_LOG_LEVEL": "DEBUG"}
    command = [sys.executable, "-m", "gunicorn", "-c", "python:federation.gunicorn_conf",
               "--bind", f"fd://{listener.fileno()}", "--workers", "2", "--log-config-json", str(log_config),
               "--access-logfile", str(access), "--error-logfile", str(errors), "federation.wsgi:app"]
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, env=env, pass_fds=[listener.fileno()], stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)

    def stop() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs() -> tuple[str, str]:
        stop()  # first, so every line is flushed to the files
        return access.read_text(), errors.read_text() + output.read_text()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", logs
    finally:
        stop()
        listener.close()


def test_gunicorn_logs_hold_no_reference_pin_or_hash(gunicorn_logs):
    """What an operator's log files hold after a person's whole flow, PIN failures included."""
    base, logs = gunicorn_logs

    def post(path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    payload, key = case_payload(), str(uuid.uuid4())
    try:
        status, receipt = post("/v1/cases", payload, {"Idempotency-Key": key})
    except OSError as error:  # gunicorn did not come up: show what it said
        pytest.fail(f"{error}; gunicorn wrote:\n{logs()[1]}")
    assert status == 201
    status, replay = post("/v1/cases", payload, {"Idempotency-Key": key})
    assert status == 201 and replay["pin_sealed"]
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    for _ in range(2):
        assert post("/v1/cases/status", dict(credentials, pin=wrong_pin_for(receipt)))[0] == 404
    assert post("/v1/cases/status", {"reference": "ZZZZ-ZZZZ-ZZZZ", "pin": receipt["pin"]})[0] == 404
    assert post("/v1/cases/status", credentials)[0] == 200
    assert post("/v1/cases/withdraw", credentials)[0] == 200
    access, rest = logs()

    # The logs are really written: every request, and the statements that stored the case.
    assert access.count("POST /v1/cases/status") == 4
    assert "INSERT INTO cases" in rest and "INSERT INTO signals" in rest
    assert "Control socket" not in rest  # off in the production config
    secrets_ = [receipt["reference"], receipt["reference"].replace("-", ""), receipt["pin"],
                payload["signals"][0]["value"], key, replay["pin_sealed"]]
    for secret in secrets_:
        assert secret not in access + rest


def test_every_error_is_an_rfc9457_problem(client):
    """One shape for every failure: type, title, status (the response's), a stable code."""
    receipt = client.post("/v1/cases", json=case_payload()).get_json()
    wrong = {"reference": receipt["reference"], "pin": wrong_pin_for(receipt)}
    key = str(uuid.uuid4())
    client.post("/v1/cases", json=case_payload(), headers={"Idempotency-Key": key})
    failures = {
        "malformed_json": client.post("/v1/cases", data=b"{", content_type="application/json"),
        "unsupported_media_type": client.post("/v1/cases", data=b"x", content_type="text/plain"),
        "body_too_large": client.post("/v1/cases", data=b"[" + b" " * (1024 * 1024) + b"]",
                                      content_type="application/json"),
        "invalid_input": client.post("/v1/cases", json={"signals": []}),
        "invalid_signal": client.post("/v1/cases", json=case_payload([{"type": "md5", "value": "x"}])),
        "idempotency_key_reused": client.post("/v1/cases", json=case_payload(),
                                              headers={"Idempotency-Key": key}),
        "case_not_found": client.post("/v1/cases/status", json=wrong),
        "not_found": client.get("/v1/nothing-here"),
        "method_not_allowed": client.delete("/v1/cases"),
    }
    for _ in range(5):
        client.post("/v1/cases/status", json=wrong)
    failures["locked"] = client.post("/v1/cases/status", json=wrong)
    for code, response in failures.items():
        body = response.get_json()
        assert response.mimetype == "application/problem+json", code
        assert body["code"] == code and body["status"] == response.status_code >= 400, body
        assert isinstance(body["type"], str) and body["type"] and isinstance(body["title"], str), body


def test_sqlite_connections_are_durable_and_check_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'federation.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_unknown_reference_costs_as_much_as_a_wrong_pin(client):
    """Both paths pay one PIN hash. Without the dummy hash an unknown reference would answer
    in a fraction of the time (ratio near 0.1), telling a guesser which references exist.

    The minimum of several tries measures the intrinsic cost; a median would also
    measure whatever else the shared machine was doing.
    """
    receipts = [client.post("/v1/cases", json=case_payload()).get_json() for _ in range(3)]

    def timed(reference, pin):
        start = time.perf_counter()
        response = client.post("/v1/cases/status", json={"reference": reference, "pin": pin})
        assert response.status_code == 404
        return time.perf_counter() - start

    wrong, unknown = [], []
    for i in range(6):  # two wrong PINs per case: below the lock threshold of five
        receipt = receipts[i % 3]
        wrong_pin = "00000000" if receipt["pin"] != "00000000" else "11111111"
        wrong.append(timed(receipt["reference"], wrong_pin))
        unknown.append(timed(f"ZZZZ-ZZZZ-ZZZ{i}", receipt["pin"]))
    ratio = min(unknown) / min(wrong)
    assert 0.5 < ratio < 2.0, (wrong, unknown)
