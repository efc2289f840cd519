"""Referrals over HTTP: an organisation makes a code, a person reports with it, and the
organisation sees the outcome only while the person shares it. Every bad input."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from federation.models import AuditEvent, Referral
from tests.factories import (
    add_organisation,
    add_partner,
    bearer,
    case_payload,
    random_signal,
    reset_guess_counter,
    set_organisation_status,
    snapshot,
)

CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def make_referral(client, token: str) -> dict:
    response = client.post("/v1/referrals", json={}, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def report(client, code: str | None, share: bool = False, signals=None, **kwargs):
    payload = case_payload(signals)
    if code is not None:
        payload.update(referral_code=code, share_with_referrer=share)
    return client.post("/v1/cases", json=payload, **kwargs)


def takedown(client, app, signal: dict, count: int = 2) -> None:
    token = add_partner(app, scopes="feedback:write", display_name="Acme Video")
    item = {"type": signal["type"], "value": signal["value"], "verdict": "blocked", "count": count,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    assert client.post("/v1/feedback", json={"items": [item]}, headers=bearer(token)).status_code == 200


@pytest.fixture(autouse=True)
def _fresh_counts(app):
    reset_guess_counter(app)


@pytest.fixture
def org(app, client):
    token, workers = add_organisation(app, "haven", "Safe Haven Helpline", caseworkers=("sam",))
    return {"token": token, "sam": workers["sam"]}


# --- the flow ----------------------------------------------------------------------------

def test_a_code_is_made_once_and_stored_only_as_a_digest(client, org, engine):
    made = make_referral(client, org["sam"])
    assert CODE.fullmatch(made["code"])
    assert made["link"] == f"http://localhost/r/{made['code']}"
    assert made["id"].startswith("rf_") and made["organisation"] == "Safe Haven Helpline"
    expires = dt.datetime.fromisoformat(made["expires_at"]) - dt.datetime.fromisoformat(made["created_at"])
    assert expires == dt.timedelta(days=30)
    # Nowhere in the database: not in clear, not in the audit log.
    stored = repr(snapshot(engine))
    assert made["code"] not in stored and made["code"].replace("-", "") not in stored
    listed = client.get("/v1/referrals", headers=bearer(org["token"])).get_json()["referrals"]
    assert [(r["id"], r["state"], r["caseworker"], r["case"]) for r in listed] == [
        (made["id"], "open", "sam", None)]
    assert made["code"] not in json.dumps(listed)


def test_with_consent_the_organisation_sees_the_outcome_and_nothing_else(client, app, org):
    made = make_referral(client, org["sam"])
    signal = random_signal()
    receipt = report(client, made["code"], share=True, signals=[signal]).get_json()
    assert receipt["referral"] == {"status": "applied", "organisation": "Safe Haven Helpline", "shared": True}
    takedown(client, app, signal, count=3)

    response = client.get(f"/v1/referrals/{made['id']}", headers=bearer(org["sam"]))
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert body["state"] == "shared"
    case = body["case"]
    assert case["status"] == "active" and case["signal_count"] == 1
    [platform] = case["platforms"]
    assert platform["platform"] == "Acme Video"
    assert [(o["verdict"], o["count"]) for o in platform["outcomes"]] == [("blocked", 3)]
    text = response.get_data(as_text=True)
    for secret in (signal["value"], receipt["reference"], receipt["pin"], made["code"]):
        assert secret not in text

    # The person withdraws: the organisation sees that too, while sharing lasts.
    client.post("/v1/cases/withdraw", json={"reference": receipt["reference"], "pin": receipt["pin"]})
    again = client.get(f"/v1/referrals/{made['id']}", headers=bearer(org["token"])).get_json()
    assert again["case"]["status"] == "withdrawn" and again["case"]["withdrawn_at"]


def test_the_person_sees_the_referral_and_can_stop_sharing_at_once(client, org):
    made = make_referral(client, org["sam"])
    receipt = report(client, made["code"], share=True).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    status = client.post("/v1/cases/status", json=credentials).get_json()
    assert status["sharing"] == {"organisation": "Safe Haven Helpline", "shared": True, "stopped_at": None}

    stopped = client.post("/v1/cases/stop-sharing", json=credentials)
    assert stopped.status_code == 200
    assert stopped.get_json()["sharing"]["shared"] is False and stopped.get_json()["sharing"]["stopped_at"]
    assert client.get(f"/v1/referrals/{made['id']}", headers=bearer(org["token"])).status_code == 404
    [listed] = client.get("/v1/referrals", headers=bearer(org["token"])).get_json()["referrals"]
    assert listed["state"] == "used" and listed["case"] is None
    # Stopping again is not an error; a wrong PIN is the usual 404.
    assert client.post("/v1/cases/stop-sharing", json=credentials).status_code == 200
    wrong = "00000000" if receipt["pin"] != "00000000" else "11111111"
    refused = client.post("/v1/cases/stop-sharing", json={**credentials, "pin": wrong})
    assert refused.status_code == 404 and refused.get_json()["code"] == "case_not_found"


def test_a_case_without_sharing_is_a_404_for_the_organisation(client, app, org):
    made = make_referral(client, org["sam"])
    receipt = report(client, made["code"]).get_json()  # share_with_referrer defaults to false
    assert receipt["referral"] == {"status": "applied", "organisation": "Safe Haven Helpline", "shared": False}
    response = client.get(f"/v1/referrals/{made['id']}", headers=bearer(org["token"]))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "case_not_shared"
    [listed] = client.get("/v1/referrals", headers=bearer(org["token"])).get_json()["referrals"]
    assert listed["state"] == "used" and listed["case"] is None

    # Another organisation asking for this referral, even one that was shared: 404, not 403.
    other_token, _ = add_organisation(app, "other")
    shared = make_referral(client, org["sam"])
    report(client, shared["code"], share=True)
    for referral_id in (made["id"], shared["id"], "rf_nosuchreferral"):
        answer = client.get(f"/v1/referrals/{referral_id}", headers=bearer(other_token))
        assert answer.status_code == 404 and answer.get_json()["code"] == "case_not_shared"
    assert client.get("/v1/referrals", headers=bearer(other_token)).get_json() == {"referrals": []}


def test_share_without_a_code_is_ignored_and_share_must_be_a_real_boolean(client):
    response = client.post("/v1/cases", json=case_payload(share_with_referrer=True))
    assert response.status_code == 201 and response.get_json()["referral"] is None
    bad = client.post("/v1/cases", json=case_payload(referral_code="ABCD-ABCD-ABCD-ABCD",
                                                     share_with_referrer="yes"))
    assert bad.status_code == 422 and "share_with_referrer" in bad.get_json()["errors"]


# --- codes that cannot be used: the person still reports -----------------------------------

def _assert_reported_without_referral(client, code: str, engine) -> None:
    response = report(client, code, share=True)
    assert response.status_code == 201
    body = response.get_json()
    assert body["referral"] == {"status": "not_applied", "organisation": None, "shared": False}
    status = client.post("/v1/cases/status", json={"reference": body["reference"], "pin": body["pin"]})
    assert status.get_json()["sharing"] is None


def test_a_used_code_is_single_use(client, org, engine):
    made = make_referral(client, org["sam"])
    assert report(client, made["code"], share=True).get_json()["referral"]["status"] == "applied"
    _assert_reported_without_referral(client, made["code"], engine)
    page = client.get(f"/r/{made['code']}")
    assert page.status_code == 200 and "cannot be used any more" in page.get_data(as_text=True)


def test_an_expired_code(client, org, engine):
    made = make_referral(client, org["sam"])
    with Session(engine) as session:
        session.execute(update(Referral).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        session.commit()
    page = client.get(f"/r/{made['code']}").get_data(as_text=True)
    assert "cannot be used any more" in page and "Safe Haven" not in page
    assert 'id="referral"' not in page and 'id="step-choose"' in page  # the report form is there
    _assert_reported_without_referral(client, made["code"], engine)
    [listed] = client.get("/v1/referrals", headers=bearer(org["token"])).get_json()["referrals"]
    assert listed["state"] == "expired"


def test_an_unknown_code(client, engine):
    for code in ("ABCD-ABCD-ABCD-ABCD", "not-a-code"):
        page = client.get(f"/r/{code}").get_data(as_text=True)
        assert "cannot be used any more" in page and 'id="step-choose"' in page
        _assert_reported_without_referral(client, code, engine)


def test_a_code_from_a_suspended_organisation(client, app, org, engine):
    made = make_referral(client, org["sam"])
    set_organisation_status(app, "haven", "suspended")
    page = client.get(f"/r/{made['code']}").get_data(as_text=True)
    assert "cannot be used any more" in page and "Safe Haven" not in page
    _assert_reported_without_referral(client, made["code"], engine)
    # Its credentials are refused too, and it sees nothing.
    for token in (org["token"], org["sam"]):
        refused = client.get("/v1/referrals", headers=bearer(token))
        assert refused.status_code == 403 and refused.get_json()["code"] == "organisation_suspended"
    # Resumed, an unused code works again.
    set_organisation_status(app, "haven", "active")
    fresh = make_referral(client, org["sam"])
    assert "Safe Haven Helpline" in client.get(f"/r/{fresh['code']}").get_data(as_text=True)


def test_a_typed_code_is_forgiven_like_a_reference(client, org):
    made = make_referral(client, org["sam"])
    typed = made["code"].lower().replace("-", "").replace("1", "l").replace("0", "o")
    assert report(client, typed).get_json()["referral"]["status"] == "applied"


def test_two_reports_racing_with_one_code_use_it_once(client, org, app):
    import threading

    made = make_referral(client, org["sam"])
    results, barrier = [], threading.Barrier(4)

    def send():
        with app.test_client() as own:
            barrier.wait()
            results.append(report(own, made["code"], share=True).get_json()["referral"]["status"])
    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["applied", "not_applied", "not_applied", "not_applied"]


def test_an_idempotent_replay_keeps_the_referral_answer(client, org):
    made = make_referral(client, org["sam"])
    payload = case_payload(referral_code=made["code"], share_with_referrer=True)
    headers = {"Idempotency-Key": "referral-replay-key-0000000001"}
    first = client.post("/v1/cases", json=payload, headers=headers).get_json()
    again = client.post("/v1/cases", json=payload, headers=headers).get_json()
    assert again["replayed"] is True and again["reference"] == first["reference"]
    assert again["referral"] == first["referral"] == {
        "status": "applied", "organisation": "Safe Haven Helpline", "shared": True}


# --- guessing codes ------------------------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def limited_app(request, make_app, clean_database):
    """An app allowing 3 failed look-ups per client, counting in memory or in Redis (under
    a key prefix of its own: its counters, and their daily key, start empty)."""
    space = request.getfixturevalue("redis_space") if request.param == "redis" else None
    return make_app(REFERRAL_GUESS_LIMIT=3, REFERRAL_GUESS_WINDOW_SECONDS=600,
                    REDIS_URL=space.url if space else "", REDIS_PREFIX=space.prefix if space else "test:")


def test_guessing_codes_is_rate_limited_per_client(limited_app):
    client = limited_app.test_client()
    _token, workers = add_organisation(limited_app, "haven", "Safe Haven Helpline", caseworkers=("sam",))
    made = make_referral(client, workers["sam"])
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(3):
        page = client.get(f"/r/ABCD-ABCD-ABCD-{n:04}", environ_base=guesser)
        assert page.status_code == 200
    # Over the limit: every look-up from this client is refused, the right code included,
    # so the answer says nothing about which guess was right.
    for path in ("/r/ABCD-ABCD-ABCD-0009", f"/r/{made['code']}"):
        refused = client.get(path, environ_base=guesser)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 600
        page = refused.get_data(as_text=True)
        assert "cannot check this link right now" in page and 'id="step-choose"' in page
        assert "Safe Haven" not in page
    api = report(client, made["code"], environ_base=guesser)
    assert api.status_code == 429 and api.get_json()["code"] == "too_many_guesses"
    assert int(api.headers["Retry-After"]) >= 1
    # The person can still report from there, without the code.
    assert report(client, None, environ_base=guesser).status_code == 201
    # Another client is not affected, and the code was not spent by the refused attempts.
    assert "Safe Haven Helpline" in client.get(f"/r/{made['code']}").get_data(as_text=True)
    assert report(client, made["code"]).get_json()["referral"]["status"] == "applied"


def test_failed_codes_in_reports_count_too(limited_app):
    client = limited_app.test_client()
    for n in range(3):
        assert report(client, f"ABCD-ABCD-ABCD-{n:04}").get_json()["referral"]["status"] == "not_applied"
    assert report(client, "ABCD-ABCD-ABCD-0004").status_code == 429


def test_an_organisation_guessing_referral_ids_is_limited_per_credential(limited_app):
    client = limited_app.test_client()
    token, workers = add_organisation(limited_app, "haven", caseworkers=("sam",))
    own = make_referral(client, workers["sam"])
    # Its own referral, not shared: a 404 but not a guess, however often it asks.
    for _ in range(5):
        assert client.get(f"/v1/referrals/{own['id']}", headers=bearer(token)).status_code == 404
    for n in range(3):
        assert client.get(f"/v1/referrals/rf_guess{n}", headers=bearer(token)).status_code == 404
    refused = client.get(f"/v1/referrals/{own['id']}", headers=bearer(token))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    # The limit is the credential's organisation's, from any address.
    assert client.get(f"/v1/referrals/{own['id']}", headers=bearer(workers["sam"]),
                      environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 429


# --- credentials and counts ------------------------------------------------------------------

def test_credentials(client, app, org):
    assert client.post("/v1/referrals", json={}).status_code == 401
    bad = client.post("/v1/referrals", json={}, headers=bearer("fot_nope"))
    assert bad.status_code == 401 and bad.get_json()["code"] == "invalid_token"
    partner = add_partner(app)
    assert client.post("/v1/referrals", json={}, headers=bearer(partner)).status_code == 401
    # The organisation's own token makes referrals too (no caseworker named).
    made = make_referral(client, org["token"])
    [listed] = client.get("/v1/referrals", headers=bearer(org["sam"])).get_json()["referrals"]
    assert listed["id"] == made["id"] and listed["caseworker"] is None
    # A form or an empty body is not JSON: refused before it is read.
    assert client.post("/v1/referrals", headers=bearer(org["token"])).status_code == 415


def test_a_revoked_caseworker_is_refused(client, app, org):
    from federation import organisations

    with Session(app.extensions["federation.db"].engine) as session:
        organisations.revoke_caseworker(session, "haven", "sam")
        session.commit()
    refused = client.post("/v1/referrals", json={}, headers=bearer(org["sam"]))
    assert refused.status_code == 401 and refused.get_json()["code"] == "invalid_token"
    assert client.post("/v1/referrals", json={}, headers=bearer(org["token"])).status_code == 201


def test_organisation_counts_identify_no_case(client, app, org):
    open_one = make_referral(client, org["sam"])
    unshared, shared, withdrawn = (make_referral(client, org["sam"]) for _ in range(3))
    report(client, unshared["code"])
    signal = random_signal()
    report(client, shared["code"], share=True, signals=[signal])
    gone = report(client, withdrawn["code"], share=True).get_json()
    client.post("/v1/cases/withdraw", json={"reference": gone["reference"], "pin": gone["pin"]})
    takedown(client, app, signal)
    assert open_one

    refused = client.get("/v1/referrals/stats", headers=bearer(org["sam"]))
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_permitted"
    counts = client.get("/v1/referrals/stats", headers=bearer(org["token"])).get_json()
    assert counts == {
        "referrals": {"made": 4, "used": 3, "open": 1, "expired": 0, "shared": 2},
        "shared_cases": {"active": 1, "withdrawn": 1, "outcomes": {
            "match_pending_review": 0, "blocked": 1, "not_blocked": 0, "deleted": 0}},
    }
    text = json.dumps(counts)
    assert "rf_" not in text and signal["value"] not in text


def test_no_code_or_secret_in_a_log_line_or_the_audit_log(client, org, engine, caplog):
    made = make_referral(client, org["sam"])
    caplog.set_level(logging.DEBUG)
    client.get(f"/r/{made['code']}")
    receipt = report(client, made["code"], share=True).get_json()
    # What the HTTP servers would print: the access loggers redact the link.
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /r/%s HTTP/1.1" 200 -', made["code"])
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s', {
        "h": "127.0.0.1", "r": f"GET /r/{made['code']} HTTP/1.1", "s": "200"})
    text = caplog.text
    assert "/r/[redacted]" in text
    for secret in (made["code"], receipt["reference"], receipt["pin"], org["sam"]):
        assert secret not in text
    with Session(engine) as session:
        details = " ".join(f"{e.event} {e.actor} {e.detail}" for e in session.scalars(select(AuditEvent)))
    assert "referral_created" in details and "referral_used" in details
    assert made["code"] not in details and receipt["reference"] not in details


def test_the_referral_page_sends_no_referrer_and_is_not_kept(client, org):
    made = make_referral(client, org["sam"])
    for path in (f"/r/{made['code']}", "/r/ABCD-ABCD-ABCD-ABCD"):
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response.headers["Cache-Control"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Set-Cookie" not in response.headers
        assert '<meta name="referrer" content="no-referrer">' in response.get_data(as_text=True)
    # The code is on the page only where the script needs it, and the page names the organisation.
    html = client.get(f"/r/{made['code']}").get_data(as_text=True)
    assert html.count(made["code"]) == 1 and f'data-code="{made["code"]}"' in html
    # (the name is isolated in <bdi>, so a right-to-left name cannot reorder the question; issue 17)
    assert "Share the progress of your report with <bdi>Safe Haven Helpline</bdi>?" in html
    assert re.search(r'id="share-no" value="no" checked', html)
