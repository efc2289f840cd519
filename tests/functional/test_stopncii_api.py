"""/stopncii/v1 through the test client: fields, paging, checkpoints, credentials, bad input.

The real `threatexchange` client and CLI against a live server are in
test_stopncii_threatexchange.py.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from federation import stopncii
from federation.cli import main as federation_cli
from tests.factories import add_partner, bearer, case_payload, random_signal, snapshot

BASE = "/stopncii/v1"


def stopncii_keys(app, name: str) -> dict:
    with Session(app.extensions["federation.db"].engine) as session:
        keys = stopncii.issue_keys(session, name)
        session.commit()
    return {"x-functions-key": keys.function_key, "Ocp-Apim-Subscription-Key": keys.subscription_key}


@pytest.fixture
def partner(app, clean_database):
    token = add_partner(app, "acme", scopes="feed:read feedback:write signals:write",
                        display_name="Acme Video")
    return {"token": token, "headers": stopncii_keys(app, "acme")}


@pytest.fixture
def headers(partner):
    return partner["headers"]


def report(client, signals):
    receipt = client.post("/v1/cases", json=case_payload(signals)).get_json()
    return {"reference": receipt["reference"], "pin": receipt["pin"]}


def fetch(client, headers, **params):
    return client.get(f"{BASE}/FetchHashes", query_string=params, headers=headers)


def fetch_all(client, headers, start=10, page_size=800) -> tuple[list[dict], int]:
    records, token = [], None
    while True:
        params = {"startTimestamp": start, "pageSize": page_size}
        if token:
            params["nextPageToken"] = token
        body = fetch(client, headers, **params).get_json()
        records += body["hashRecords"]
        token = body["nextPageToken"]
        if not body["hasMoreRecords"]:
            return records, body["nextSetTimestamp"]


def test_records_are_snapshots_with_stopncii_fields(client, headers):
    pdq, md5 = random_signal("pdq"), random_signal("md5")
    report(client, [pdq, md5, random_signal("sha256"), random_signal("phash")])
    body = fetch(client, headers, startTimestamp=10, pageSize=800).get_json()
    assert set(body) == {"count", "nextPageToken", "nextSetTimestamp", "hasMoreRecords", "hashRecords"}
    assert body["count"] == 2 and body["hasMoreRecords"] is False and body["nextPageToken"] is None
    # Positions are feed seqs + 10; the sha256 and phash at seqs 3-4 are covered, not served.
    assert body["nextSetTimestamp"] == 4 + stopncii.POSITION_OFFSET
    first, second = body["hashRecords"]
    assert first["signalType"] == "ImagePDQ" and first["hashValue"] == pdq["value"]
    assert second["signalType"] == "VideoMD5" and second["hashValue"] == md5["value"]
    assert first["lastModtimestamp"] == 11 and second["lastModtimestamp"] == 12
    assert first["hashStatus"] == "Active" and first["CSPFeedbacks"] == []
    [(record_id, status)] = first["caseNumbers"].items()
    assert record_id.startswith("r_") and status == "Active"


def test_a_withdrawn_hash_comes_again_as_withdrawn_from_the_checkpoint(client, headers):
    kept, withdrawn = random_signal("pdq"), random_signal("pdq")
    report(client, [kept])
    credentials = report(client, [withdrawn])
    records, checkpoint = fetch_all(client, headers)
    assert [r["hashStatus"] for r in records] == ["Active", "Active"]

    client.post("/v1/cases/withdraw", json=credentials)
    records, after = fetch_all(client, headers, start=checkpoint)
    [record] = records
    assert record["hashValue"] == withdrawn["value"] and record["hashStatus"] == "Withdrawn"
    assert list(record["caseNumbers"].values()) == ["Withdrawn"]
    assert after == checkpoint + 1
    assert fetch_all(client, headers, start=after)[0] == []


def test_a_shared_hash_is_one_record_with_each_case(client, headers):
    shared = random_signal("md5")
    first = report(client, [shared])
    report(client, [shared])
    client.post("/v1/cases/withdraw", json=first)
    [record] = fetch_all(client, headers)[0]
    assert record["hashStatus"] == "Active"
    assert sorted(record["caseNumbers"].values()) == ["Active", "Withdrawn"]


def test_every_page_and_no_change_skipped_while_paging(client, headers):
    signals = [random_signal("md5") for _ in range(7)]
    credentials = report(client, signals)
    page = fetch(client, headers, startTimestamp=10, pageSize=3).get_json()
    assert page["count"] == 3 and page["hasMoreRecords"] and page["nextSetTimestamp"] == 13
    # A change lands mid-traversal: the withdrawn hashes come again, later, as Withdrawn.
    client.post("/v1/cases/withdraw", json=credentials)
    seen, token = list(page["hashRecords"]), page["nextPageToken"]
    while token:
        page = fetch(client, headers, startTimestamp=10, pageSize=3, nextPageToken=token).get_json()
        seen += page["hashRecords"]
        token = page["nextPageToken"]
    assert page["nextSetTimestamp"] == 14 + stopncii.POSITION_OFFSET
    latest = {r["hashValue"]: r["hashStatus"] for r in seen}
    assert latest == {s["value"]: "Withdrawn" for s in signals}
    positions = [r["lastModtimestamp"] for r in seen]
    assert positions == sorted(positions)


def test_feedback_appears_in_cspfeedbacks_as_counts_never_naming_the_platform(app, client, partner, headers):
    signal = random_signal("md5")
    report(client, [signal])
    response = client.post(f"{BASE}/SubmitFeedback", headers=headers, json={
        "count": 1, "hashFeedbacks": [{"tags": [], "feedbackValue": "Blocked", "hashValue": signal["value"]}]})
    assert response.status_code == 200
    assert response.get_json()["hashFeedbacks"] == [{"hashValue": signal["value"], "status": "recorded"}]
    other = add_partner(app, "other-video")
    client.post("/v1/feedback", headers=bearer(other), json={"items": [
        {"type": "md5", "value": signal["value"], "verdict": "blocked", "occurred_at": "2026-01-01T00:00:00Z"}]})
    [record] = fetch_all(client, headers)[0]
    assert record["CSPFeedbacks"] == [
        {"feedbackValue": "Blocked", "tags": ["platforms:2"], "source": "federation:aggregate"}]
    assert "Acme Video" not in json.dumps(record)


def test_tag_only_feedback_items_are_ignored_per_item_not_fatal(client, headers, engine):
    # Meta's client models None, QualityUnknown and Unknown as tag-only feedback.
    known = random_signal("md5")
    report(client, [known])
    items = [{"feedbackValue": value, "hashValue": known["value"], "tags": ["x"]}
             for value in ("None", "QualityUnknown", "Unknown")]
    response = client.post(f"{BASE}/SubmitFeedback", headers=headers, json={
        "count": 4, "hashFeedbacks": [*items, {"feedbackValue": "Blocked", "hashValue": known["value"]}]})
    assert response.status_code == 200, response.get_json()
    assert [r["status"] for r in response.get_json()["hashFeedbacks"]] == ["ignored"] * 3 + ["recorded"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT verdict FROM feedback_events")).scalars().all() == ["blocked"]
    only_tags = client.post(f"{BASE}/SubmitFeedback", headers=headers, json={"count": 1, "hashFeedbacks": items[:1]})
    assert only_tags.status_code == 200
    assert only_tags.get_json() == {"count": 1, "hashFeedbacks": [{"hashValue": known["value"], "status": "ignored"}]}


def test_submit_feedback_reports_an_unknown_hash_per_item(client, headers):
    known = random_signal("pdq")
    report(client, [known])
    response = client.post(f"{BASE}/SubmitFeedback", headers=headers, json={
        "count": 2, "hashFeedbacks": [
            {"feedbackValue": "NotBlocked", "hashValue": random_signal("pdq")["value"]},
            {"feedbackValue": "PendingReview", "hashValue": known["value"]}]})
    assert [r["status"] for r in response.get_json()["hashFeedbacks"]] == ["unknown_signal", "recorded"]


def test_submit_hashes_makes_a_platform_case(client, partner, headers):
    pdq, md5 = random_signal("pdq"), random_signal("md5")
    response = client.post(f"{BASE}/SubmitHashes", headers=headers, json={"count": 2, "hashRecords": [
        {"lastModtimestamp": 1700000000, "signalType": "StopNCIISignalType.ImagePDQ",
         "hashValue": pdq["value"], "CSPFeedbacks": [{"tags": ["quality:90"], "feedbackValue": "Blocked"}]},
        {"signalType": "VideoMD5", "hashValue": md5["value"], "CSPFeedbacks": []}]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["addedToFeed"] == 2
    entries = client.get("/v1/feed", headers=bearer(partner["token"])).get_json()["entries"]
    assert [(e["value"], e.get("quality")) for e in entries] == [(pdq["value"], 90), (md5["value"], None)]
    records = {r["hashValue"]: r for r in fetch_all(client, headers)[0]}
    assert records[pdq["value"]]["CSPFeedbacks"][0]["feedbackValue"] == "Blocked"


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["0", "100000", "x", "-1", "1.5"])
def test_bad_page_size(client, headers, size):
    response = fetch(client, headers, startTimestamp=10, pageSize=size)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert "pageSize" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("start", ["x", "-5"])
def test_bad_start_timestamp(client, headers, start):
    assert fetch(client, headers, startTimestamp=start).status_code == 422


def test_a_start_beyond_our_head_is_400_not_a_silent_skip(client, headers):
    report(client, [random_signal("md5")])
    # e.g. a real StopNCII checkpoint (a unix time) brought to this server
    response = fetch(client, headers, startTimestamp=1_700_000_000)
    assert response.status_code == 409 and response.get_json()["code"] == "checkpoint_ahead"


def _token_after_first_page(client, headers) -> str:
    report(client, [random_signal("md5") for _ in range(3)])
    return fetch(client, headers, startTimestamp=10, pageSize=1).get_json()["nextPageToken"]


@pytest.mark.parametrize("forge", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # tag altered
    lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:],  # payload altered
    lambda t: "not a token!",
    lambda t: "",
    lambda t: "%%%",
    lambda t: t + t,
    lambda t: "x" * 200,
])
def test_forged_page_token_is_400(client, headers, forge):
    token = forge(_token_after_first_page(client, headers))
    response = fetch(client, headers, startTimestamp=10, pageSize=1, nextPageToken=token)
    if token == "":
        assert response.status_code == 200  # an empty token is no token (the client sends none)
        return
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "invalid_page_token"


def test_page_token_for_another_start_is_400(client, headers):
    token = _token_after_first_page(client, headers)
    response = fetch(client, headers, startTimestamp=11, pageSize=1, nextPageToken=token)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_page_token"


def test_stale_page_token_is_400(app, client, headers):
    report(client, [random_signal("md5") for _ in range(3)])
    old = dt.datetime.now(dt.UTC) - stopncii.PAGE_TOKEN_TTL - dt.timedelta(minutes=1)
    token = stopncii._seal_token(app.config["PEPPER_BYTES"], 10, 1, old)
    response = fetch(client, headers, startTimestamp=10, pageSize=1, nextPageToken=token)
    assert response.status_code == 400 and "expired" in response.get_json()["detail"]


def test_page_token_beyond_the_head_is_400(app, client, headers):
    report(client, [random_signal("md5")])
    token = stopncii._seal_token(app.config["PEPPER_BYTES"], 10, 99, dt.datetime.now(dt.UTC))
    response = fetch(client, headers, startTimestamp=10, nextPageToken=token)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_page_token"


def test_page_token_signed_under_another_pepper_is_400(client, headers):
    token = stopncii._seal_token(b"\x01" * 32, 10, 0, dt.datetime.now(dt.UTC))
    response = fetch(client, headers, startTimestamp=10, nextPageToken=token)
    assert response.status_code == 400


def test_feed_only_credential_on_submit_feedback_is_403(app, client, partner):
    add_partner(app, "reader", scopes="feed:read")
    reader = stopncii_keys(app, "reader")
    signal = random_signal("md5")
    report(client, [signal])
    assert fetch(client, reader).status_code == 200
    body = {"count": 1, "hashFeedbacks": [{"feedbackValue": "Blocked", "hashValue": signal["value"]}]}
    response = client.post(f"{BASE}/SubmitFeedback", headers=reader, json=body)
    assert response.status_code == 403 and response.get_json()["code"] == "insufficient_scope"
    hashes = {"count": 1, "hashRecords": [{"signalType": "VideoMD5", "hashValue": signal["value"]}]}
    assert client.post(f"{BASE}/SubmitHashes", headers=reader, json=hashes).status_code == 403


def test_keys_must_both_be_right_and_belong_together(app, client, headers):
    add_partner(app, "other", scopes="feed:read")
    other = stopncii_keys(app, "other")
    assert fetch(client, {}).status_code == 401
    assert fetch(client, {"x-functions-key": headers["x-functions-key"]}).status_code == 401
    mixed = {"x-functions-key": other["x-functions-key"],
             "Ocp-Apim-Subscription-Key": headers["Ocp-Apim-Subscription-Key"]}
    assert fetch(client, mixed).get_json()["code"] == "invalid_token"
    # The bearer token is not a StopNCII key, and the StopNCII keys are not a bearer token.
    assert client.get("/v1/feed", headers=bearer(headers["x-functions-key"])).status_code == 401
    # Reissuing replaces the pair.
    stopncii_keys(app, "acme")
    assert fetch(client, headers).status_code == 401


def test_suspended_partner_is_refused(app, client, headers):
    from federation import partner_registry

    with Session(app.extensions["federation.db"].engine) as session:
        partner_registry.set_status(session, "acme", "suspended")
        session.commit()
    assert fetch(client, headers).get_json()["code"] == "partner_suspended"


def _refused(client, headers, engine, endpoint, body, code="invalid_input"):
    before = snapshot(engine)
    response = client.post(f"{BASE}/{endpoint}", headers=headers, json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == code
    assert snapshot(engine) == before


@pytest.mark.parametrize("value", ["blocked", "none", "Nonsense", ""])
def test_submit_feedback_value_not_a_verdict(client, headers, engine, value):
    signal = random_signal("md5")
    report(client, [signal])
    _refused(client, headers, engine, "SubmitFeedback",
             {"count": 1, "hashFeedbacks": [{"feedbackValue": value, "hashValue": signal["value"]}]},
             "invalid_verdict")


def test_submit_feedback_bad_hashes(client, headers, engine):
    for value in ["ab" * 20, "zz" * 16]:
        _refused(client, headers, engine, "SubmitFeedback",
                 {"count": 1, "hashFeedbacks": [{"feedbackValue": "Blocked", "hashValue": value}]},
                 "invalid_signal")


def test_submit_feedback_same_hash_twice_and_count_mismatch(client, headers, engine):
    signal = random_signal("md5")
    report(client, [signal])
    twice = [{"feedbackValue": "Blocked", "hashValue": signal["value"]}] * 2
    _refused(client, headers, engine, "SubmitFeedback", {"count": 2, "hashFeedbacks": twice},
             "duplicate_item")
    _refused(client, headers, engine, "SubmitFeedback", {"count": 3, "hashFeedbacks": twice[:1]},
             "count_mismatch")
    many = [{"feedbackValue": "Blocked", "hashValue": random_signal("md5")["value"]} for _ in range(1001)]
    _refused(client, headers, engine, "SubmitFeedback", {"count": 1001, "hashFeedbacks": many})


@pytest.mark.parametrize("record, code", [
    ({"signalType": "VideoTMK", "hashValue": "ab" * 16}, "unknown_signal_type"),
    ({"signalType": "URL", "hashValue": "ab" * 16}, "unknown_signal_type"),
    ({"signalType": "ImagePDQ", "hashValue": "ab" * 32}, "pdq_quality_missing"),
    ({"signalType": "ImagePDQ", "hashValue": "a" * 64,
      "CSPFeedbacks": [{"tags": ["quality:20"], "feedbackValue": "Blocked"}]}, "pdq_quality_too_low"),
    # Values no real file has: a quality tag of 100 is only the sender's claim.
    ({"signalType": "ImagePDQ", "hashValue": "0" * 64,
      "CSPFeedbacks": [{"tags": ["quality:100"], "feedbackValue": "Blocked"}]}, "degenerate_signal"),
    ({"signalType": "ImagePDQ", "hashValue": "ab" * 32,
      "CSPFeedbacks": [{"tags": ["quality:100"], "feedbackValue": "None"}]}, "degenerate_signal"),
    ({"signalType": "VideoMD5", "hashValue": "d41d8cd98f00b204e9800998ecf8427e"}, "degenerate_signal"),
    ({"signalType": "VideoMD5", "hashValue": "ab" * 15}, "invalid_signal"),
    ({"signalType": "VideoMD5", "hashValue": "ab" * 16, "lastModtimestamp": 4_000_000_000,
      "CSPFeedbacks": [{"feedbackValue": "Blocked"}]}, "occurred_at_in_future"),
])
def test_submit_hashes_bad_records(client, headers, engine, record, code):
    _refused(client, headers, engine, "SubmitHashes", {"count": 1, "hashRecords": [record]}, code)


def test_submit_hashes_same_hash_twice(client, headers, engine):
    record = {"signalType": "VideoMD5", "hashValue": "ab" * 16}
    _refused(client, headers, engine, "SubmitHashes", {"count": 2, "hashRecords": [record, record]},
             "duplicate_item")


def test_cli_issues_stopncii_keys_once(app, client, test_config, monkeypatch, partner):
    for name, value in test_config.items():
        monkeypatch.setenv(f"FEDERATION_{name}", str(value))
    result = CliRunner().invoke(federation_cli, ["partners", "stopncii-keys", "acme"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines()[1:])
    assert fetch(client, lines).status_code == 200
    assert fetch(client, partner["headers"]).status_code == 401  # the old pair is replaced
    assert lines["x-functions-key"] not in CliRunner().invoke(federation_cli, ["partners", "list"]).output
    missing = CliRunner().invoke(federation_cli, ["partners", "stopncii-keys", "nobody"])
    assert missing.exit_code == 1 and "no partner" in missing.output


def test_the_new_endpoints_are_in_the_openapi_spec(client):
    spec = client.get("/openapi.json").get_json()
    assert {"/v1/feedback", "/v1/signals", "/stopncii/v1/FetchHashes", "/stopncii/v1/SubmitHashes",
            "/stopncii/v1/SubmitFeedback"} <= set(spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert schemes["stopncii_function_key"]["name"] == "x-functions-key"
    assert schemes["stopncii_subscription_key"]["name"] == "Ocp-Apim-Subscription-Key"
