"""Input a script sends to hurt us: every case gets a 4xx problem+json with a stable code,
on both databases, and leaves nothing written. And the headers that keep answers out of
shared caches and pages out of frames."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.factories import add_partner, bearer, case_payload, random_signal, snapshot

PROBLEM = "application/problem+json"


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, "acme", scopes="feed:read feedback:write signals:write")


def post_raw(client, path, text, headers=None):
    return client.post(path, data=text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text,
                       headers={"Content-Type": "application/json", **(headers or {})})


def feedback_body(note: str) -> str:
    signal = random_signal("md5")
    item = {"type": signal["type"], "value": signal["value"], "verdict": "blocked",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    return json.dumps({"items": [item]})[:-3] + ', "note": "' + note + '"}]}'


@pytest.mark.parametrize("body, code", [
    ('{"signals": [], "signals": []}', "duplicate_key"),
    ("[" * 3000 + "]" * 3000, "too_deeply_nested"),
    ('{"signals": ' + "1" * 4400 + "}", "number_too_large"),
    ('{"signals": NaN}', "malformed_json"),
    ('{"signals": [', "malformed_json"),
    ('{"signals": "\\u0000"}', "invalid_characters"),
    ('{"signals": "\\ud800"}', "invalid_characters"),
])
def test_malformed_report_bodies_are_400_with_their_code(client, engine, body, code):
    before = snapshot(engine)
    response = post_raw(client, "/v1/cases", body)
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == code
    assert snapshot(engine) == before


def test_a_duplicate_key_inside_a_signal_is_refused(client, engine):
    signal = random_signal("md5")
    body = json.dumps(case_payload([signal]))
    body = body.replace('"type": "md5"', '"type": "md5", "type": "sha256"')
    response = post_raw(client, "/v1/cases", body)
    assert response.status_code == 400 and response.get_json()["code"] == "duplicate_key"


@pytest.mark.parametrize("field, value", [("adult", 1), ("adult", 1.0), ("share_with_platforms", "true"),
                                          ("share_with_referrer", 0), ("share_with_referrer", 0.0)])
def test_a_number_or_a_string_is_not_a_yes_or_a_no(client, engine, field, value):
    """Consent is JSON true, nothing that Python happens to think equal to it."""
    payload = case_payload()
    if field == "share_with_referrer":
        payload[field] = value
    else:
        payload["consent"][field] = value
    before = snapshot(engine)
    response = client.post("/v1/cases", json=payload)
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input"
    assert snapshot(engine) == before


@pytest.mark.parametrize("note", ["\\u0000", "a\\u0000b", "\\udfff", "\\ud83d"])
def test_nul_or_lone_surrogate_in_a_feedback_note_is_refused(client, engine, token, note):
    before = snapshot(engine)
    response = post_raw(client, "/v1/feedback", feedback_body(note), bearer(token))
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_characters"
    assert snapshot(engine) == before


def test_a_paired_surrogate_escape_is_a_real_character(client, token):
    response = post_raw(client, "/v1/feedback", feedback_body("\\ud83d\\ude00"), bearer(token))
    assert response.status_code == 200


@pytest.mark.parametrize("pin", ["12345678\n", " 12345678", "12345678 ", "1234 5678", "１２３４５６７８"])
def test_a_pin_with_whitespace_is_invalid_input_not_a_wrong_guess(client, engine, pin):
    from sqlalchemy import text

    receipt = client.post("/v1/cases", json=case_payload()).get_json()
    response = client.post("/v1/cases/status", json={"reference": receipt["reference"], "pin": pin})
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE event = 'pin_failed'")).scalar() == 0


def test_answers_to_credentials_are_never_shared_cache_material(client, token):
    client.post("/v1/cases", json=case_payload())
    for response in (client.get("/v1/feed", headers=bearer(token)),
                     client.post("/v1/signals", json={"signals": [random_signal("md5")]},
                                 headers=bearer(token)),
                     client.get("/v1/feed", headers={"Authorization": "Bearer nope"})):
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "Authorization" in response.headers.get("Vary", "")


def test_api_answers_say_nosniff_and_docs_cannot_be_framed(client):
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in docs.headers  # plain http: no HSTS


def test_hsts_only_when_https_arrived_through_a_trusted_proxy(make_app):
    behind_proxy = make_app(PROXY_HOPS=1).test_client()
    https = behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in behind_proxy.get("/healthz").headers
    # Without a trusted proxy, a client's own X-Forwarded-Proto proves nothing.
    direct = make_app().test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in direct.headers
