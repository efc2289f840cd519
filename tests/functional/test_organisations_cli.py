"""The operator's `federation orgs ...` and `federation stats` commands."""
from __future__ import annotations

import json

from tests.factories import bearer, case_payload


def test_organisation_and_caseworker_lifecycle(cli, client):
    added = cli("orgs", "add", "haven", "--display-name", "Safe Haven Helpline")
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("fot_")
    worker = cli("orgs", "caseworker-add", "haven", "sam")
    assert worker.exit_code == 0, worker.output
    credential = worker.output.strip().splitlines()[-1]
    assert credential.startswith("fcw_")
    assert client.post("/v1/referrals", json={}, headers=bearer(credential)).status_code == 201

    listed = cli("orgs", "list").output
    assert "haven\tactive\tSafe Haven Helpline\tcaseworkers: sam" in listed
    assert token not in listed and credential not in listed

    assert cli("orgs", "suspend", "haven").exit_code == 0
    assert client.post("/v1/referrals", json={}, headers=bearer(token)).status_code == 403
    assert cli("orgs", "resume", "haven").exit_code == 0
    assert client.post("/v1/referrals", json={}, headers=bearer(token)).status_code == 201

    assert cli("orgs", "caseworker-revoke", "haven", "sam").exit_code == 0
    assert client.post("/v1/referrals", json={}, headers=bearer(credential)).status_code == 401
    assert "caseworkers: -" in cli("orgs", "list").output
    # Revoking twice is fine; the organisation's own token still works.
    assert cli("orgs", "caseworker-revoke", "haven", "sam").exit_code == 0
    assert client.post("/v1/referrals", json={}, headers=bearer(token)).status_code == 201


def test_organisation_mistakes_are_clear(cli):
    assert cli("orgs", "add", "haven").exit_code == 0
    again = cli("orgs", "add", "haven")
    assert again.exit_code == 1 and "exists" in again.output
    assert "name is 2-64" in cli("orgs", "add", "Bad Name").output
    assert "no organisation" in cli("orgs", "suspend", "nobody").output
    assert "no organisation" in cli("orgs", "caseworker-add", "nobody", "sam").output
    assert cli("orgs", "caseworker-add", "haven", "sam").exit_code == 0
    assert "already has a caseworker" in cli("orgs", "caseworker-add", "haven", "sam").output
    assert "no caseworker" in cli("orgs", "caseworker-revoke", "haven", "kim").output


def test_stats_are_counts_only(cli, client):
    token = cli("orgs", "add", "haven").output.strip().splitlines()[-1]
    made = client.post("/v1/referrals", json={}, headers=bearer(token)).get_json()
    client.post("/v1/referrals", json={}, headers=bearer(token))
    receipt = client.post("/v1/cases", json=case_payload(referral_code=made["code"],
                                                         share_with_referrer=True)).get_json()
    client.post("/v1/cases", json=case_payload())

    lines = cli("stats").output
    assert "referrals.made\t2" in lines and "referrals.used\t1" in lines
    assert "cases.active\t2" in lines and "organisations.active\t1" in lines
    counts = json.loads(cli("stats", "--json").output)
    assert counts["referrals"] == {"made": 2, "used": 1, "open": 1, "expired": 0, "shared": 1}
    assert counts["cases"]["active"] == 2 and counts["cases"]["withdrawn"] == 0
    for secret in (made["code"], made["id"], receipt["reference"], receipt["pin"], token):
        assert secret not in lines and secret not in json.dumps(counts)
