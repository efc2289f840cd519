"""POST /v1/signals: hashes a platform found, recorded as a platform case in the feed."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from federation.models import Case
from tests.factories import add_partner, bearer, case_payload, random_signal, read_feed, snapshot


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, "acme", scopes="feed:read signals:write")


def submit(client, token, signals, key=None):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/v1/signals", json={"signals": signals}, headers=headers)


def test_platform_hashes_enter_the_feed_as_a_platform_case(client, token, session):
    already = random_signal("pdq")
    client.post("/v1/cases", json=case_payload([already]))
    fresh = random_signal("md5")
    response = submit(client, token, [fresh, already])
    assert response.status_code == 201
    body = response.get_json()
    assert body["signal_count"] == 2 and body["added_to_feed"] == 1 and body["replayed"] is False
    assert {r["value"] for r in body["records"]} == {fresh["value"], already["value"]}

    entries = read_feed(client, token)
    assert [(e["op"], e["value"]) for e in entries] == [("add", already["value"]), ("add", fresh["value"])]
    record = {r["value"]: r["id"] for r in body["records"]}
    assert entries[1]["id"] == record[fresh["value"]]
    case = session.scalars(select(Case).where(Case.source == "platform")).one()
    assert case.partner_id is not None and case.status == "active"


def test_a_platform_case_has_no_reference_or_pin_a_person_could_use(client, token, session):
    submit(client, token, [random_signal("md5")])
    case = session.scalars(select(Case).where(Case.source == "platform")).one()
    assert case.pin_hash == "!platform-case"
    # No reference reaches it: the status endpoint answers as for any unknown case.
    response = client.post("/v1/cases/status", json={"reference": "0000-0000-0000", "pin": "00000000"})
    assert response.status_code == 404


def test_idempotent_with_a_key(client, token):
    signals = [random_signal("md5")]
    key = str(uuid.uuid4())
    first = submit(client, token, signals, key)
    again = submit(client, token, signals, key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["records"] == first.get_json()["records"]
    assert len(read_feed(client, token)) == 1
    conflict = submit(client, token, [random_signal("md5")], key)
    assert conflict.status_code == 409


def test_bad_input_is_refused_and_writes_nothing(client, token, engine):
    before = snapshot(engine)
    low = dict(random_signal("pdq"), quality=20)
    assert submit(client, token, [low]).get_json()["code"] == "pdq_quality_too_low"
    assert submit(client, token, []).status_code == 422
    assert submit(client, token, [{"type": "tmk", "value": "00"}]).status_code == 422
    assert snapshot(engine) == before


def test_scope(app, client, token):
    feed_only = add_partner(app, scopes="feed:read feedback:write")
    response = submit(client, feed_only, [random_signal("md5")])
    assert response.status_code == 403 and response.get_json()["code"] == "insufficient_scope"
