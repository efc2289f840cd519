"""Health probes, OpenAPI and docs, errors for unknown routes, privacy of logs and audit."""
from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import text

from federation.config import ConfigError
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


def test_audit_and_logs_hold_no_secret_and_no_hash(client, engine, caplog):
    caplog.set_level(logging.DEBUG)
    payload = case_payload()
    receipt = client.post("/v1/cases", json=payload).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    client.post("/v1/cases/status", json=dict(credentials, pin="99999999"))
    client.post("/v1/cases/status", json=credentials)
    client.post("/v1/cases/withdraw", json=credentials)

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event, actor, detail FROM audit_events ORDER BY id")).all()
    events = [row.event for row in rows]
    assert events[0] == "case_created" and "pin_failed" in events and events[-1] == "case_withdrawn"
    secrets_ = [receipt["reference"], receipt["reference"].replace("-", ""), receipt["pin"],
                payload["signals"][0]["value"]]
    everything = repr(rows) + caplog.text
    for secret in secrets_:
        assert secret not in everything


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
