"""GET /v1/feed and /.well-known/federation-keys: the feed's surface and its bad input."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy.orm import Session

from federation import signing_keys
from federation.crypto.errors import KeyStatusError, SignatureError, UnknownKeyError
from federation.crypto.keys import KeySet, verify_entry
from federation.models import MemberStatus
from tests.factories import add_partner, bearer, case_payload, random_signal, read_feed, rotate_signing_key


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, scopes="feed:read")


def report(client, signals):
    receipt = client.post("/v1/cases", json=case_payload(signals)).get_json()
    return {"reference": receipt["reference"], "pin": receipt["pin"]}


def keyset(client) -> KeySet:
    return KeySet.from_jwks(client.get("/.well-known/federation-keys").get_json())


def test_cases_and_withdrawals_become_signed_adds_and_deletes(client, token):
    a, b = random_signal("pdq"), random_signal("md5")
    credentials = report(client, [a, b])
    client.post("/v1/cases/withdraw", json=credentials)

    entries = read_feed(client, token)
    keys = keyset(client)
    for entry in entries:
        verify_entry(entry, keys)
    assert [(e["seq"], e["op"], e["value"]) for e in entries] == [
        (1, "add", a["value"]), (2, "add", b["value"]), (3, "delete", a["value"]), (4, "delete", b["value"])]
    assert entries[0]["quality"] == 100 and "quality" not in entries[1]
    assert entries[0]["id"] == entries[2]["id"] and entries[0]["id"].startswith("r_")
    assert credentials["reference"] not in str(entries)


def test_a_signal_leaves_only_with_its_last_case_and_comes_back(client, token):
    shared = random_signal("sha256")
    first, second = report(client, [shared]), report(client, [shared])
    client.post("/v1/cases/withdraw", json=first)
    assert [e["op"] for e in read_feed(client, token)] == ["add"]
    client.post("/v1/cases/withdraw", json=second)
    report(client, [shared])
    entries = read_feed(client, token)
    assert [e["op"] for e in entries] == ["add", "delete", "add"]
    assert entries[2]["id"] != entries[0]["id"]


def test_a_re_added_signal_carries_its_stored_quality(client, token):
    """The signal is stored with the first quality reported; every entry for it carries
    that one, whatever quality a later report sends (found in review: the re-add once
    signed the later report's quality while its delete carried the stored one)."""
    first = random_signal("pdq") | {"quality": 60}
    client.post("/v1/cases/withdraw", json=report(client, [first]))
    client.post("/v1/cases/withdraw", json=report(client, [first | {"quality": 95}]))
    entries = read_feed(client, token)
    assert [(e["op"], e["quality"]) for e in entries] == [("add", 60), ("delete", 60), ("add", 60), ("delete", 60)]


def test_pages_are_dense_and_full_pages_are_immutable(client, token):
    report(client, [random_signal("md5") for _ in range(7)])
    first = client.get("/v1/feed?after=0&limit=3", headers=bearer(token))
    body = first.get_json()
    assert [e["seq"] for e in body["entries"]] == [1, 2, 3] and body["next"] == 3 and body["has_more"]
    assert first.headers["Cache-Control"] == "private, no-store" and "Authorization" in first.headers["Vary"]
    again = client.get("/v1/feed?after=0&limit=3",
                       headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    last = client.get("/v1/feed?after=6&limit=3", headers=bearer(token))
    assert [e["seq"] for e in last.get_json()["entries"]] == [7]
    assert last.get_json()["has_more"] is False


def test_after_at_the_head_is_an_empty_page(client, token):
    report(client, [random_signal()])
    response = client.get("/v1/feed?after=1", headers=bearer(token))
    assert response.get_json() == {"entries": [], "next": 1, "has_more": False}
    assert response.headers["Feed-Head"] == "1"


@pytest.mark.parametrize("after", ["2", "99", str(2**63 - 1)])
def test_after_beyond_the_head_is_refused_with_the_head(client, token, after):
    report(client, [random_signal()])
    response = client.get(f"/v1/feed?after={after}", headers=bearer(token))
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "checkpoint_ahead" and body["head"] == 1


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "limit=0", "limit=1000000000", "limit=5001",
                                   "after=1.5", "after=9223372036854775808", "after=" + "9" * 5000])
def test_bad_paging_arguments(client, token, query):
    response = client.get(f"/v1/feed?{query}", headers=bearer(token))
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_credentials(app, client, token):
    assert client.get("/v1/feed").status_code == 401
    assert client.get("/v1/feed").headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/feed", headers=bearer("fpt_not-a-token")).get_json()["code"] == "invalid_token"
    assert client.get("/v1/feed", headers={"Authorization": f"Basic {token}"}).status_code == 401
    feedback_only = add_partner(app, scopes="feedback:write")
    refused = client.get("/v1/feed", headers=bearer(feedback_only))
    assert refused.status_code == 403 and refused.get_json()["code"] == "insufficient_scope"


def test_suspended_partner_is_refused(app, client, token):
    from federation import partner_registry

    with Session(app.extensions["federation.db"].engine) as session:
        name = partner_registry.list_partners(session)[0].name
        session.rollback()  # end the read: set_status is a write transaction of its own
        partner_registry.set_status(session, name, MemberStatus.SUSPENDED)
    response = client.get("/v1/feed", headers=bearer(token))
    assert response.status_code == 403 and response.get_json()["code"] == "partner_suspended"


@pytest.mark.parametrize("field, value", [("value", "0" * 32), ("op", "delete"), ("seq", 2),
                                          ("id", "r_forged"), ("type", "sha256"), ("v", 2)])
def test_tampered_entry_does_not_verify(client, token, field, value):
    report(client, [random_signal("md5")])
    entry = read_feed(client, token)[0]
    forged = dict(copy.deepcopy(entry), **{field: value})
    with pytest.raises(SignatureError):
        verify_entry(forged, keyset(client))


def test_unknown_kid_is_refused(client, token):
    report(client, [random_signal("md5")])
    entry = dict(read_feed(client, token)[0], kid="kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    with pytest.raises(UnknownKeyError):
        verify_entry(entry, keyset(client))


def test_rotation_mid_sync_keeps_every_entry_verifiable(app, client, token):
    report(client, [random_signal("md5") for _ in range(5)])
    synced = read_feed(client, token, limit=2)
    old_kid = synced[0]["kid"]
    rotate_signing_key(app)
    credentials = report(client, [random_signal("md5") for _ in range(5)])
    client.post("/v1/cases/withdraw", json=credentials)

    newer = read_feed(client, token, after=synced[-1]["seq"], limit=2)
    keys = keyset(client)  # fetched again, as a client does on an unknown kid
    for entry in synced + newer:
        verify_entry(entry, keys)
    assert [e["seq"] for e in synced + newer] == list(range(1, 16))
    assert {e["kid"] for e in newer} == {newer[0]["kid"]} and newer[0]["kid"] != old_kid
    statuses = {k["kid"]: k for k in client.get("/.well-known/federation-keys").get_json()["keys"]}
    assert statuses[old_kid]["status"] == "retired" and "exp" in statuses[old_kid]


def test_revoked_key_is_refused(app, client, token):
    report(client, [random_signal("md5")])
    entry = read_feed(client, token)[0]
    rotate_signing_key(app)
    with Session(app.extensions["federation.db"].engine) as session:
        signing_keys.revoke(session, entry["kid"], app.config["KEK_BYTES"], reason="test")
    verify_entry(entry, keyset(client))  # signed before the revocation: still verifies
    forged = {**entry, "seq": entry["seq"] + 1}  # what the leaked key could sign later
    with pytest.raises(KeyStatusError):
        verify_entry(forged, keyset(client))
