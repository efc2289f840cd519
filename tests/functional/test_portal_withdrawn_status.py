"""A withdrawn report's status shows what platforms did up to the withdrawal, and the
deletions after it, never what they did later because someone else reported the same
picture (that would reveal the other report). Through the API, and on the page."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import add_partner, bearer, case_payload, random_signal
from tests.functional.browser_support import expect


def feedback(client, token, signal, verdict, when, count=1):
    item = {"type": signal["type"], "value": signal["value"], "verdict": verdict, "count": count,
            "occurred_at": when.isoformat()}
    response = client.post("/v1/feedback", json={"items": [item]}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()


def outcomes(body) -> dict[str, list[tuple[str, int]]]:
    return {p["platform"]: [(o["verdict"], o["count"]) for o in p["outcomes"]] for p in body["platforms"]}


@pytest.fixture
def withdrawn_then_reported_again(client, app):
    """Case A (two pictures) gets feedback, is withdrawn; case B, someone else's, reports
    the same pictures; platforms then act on B. Returns A's credentials."""
    kept, deleted = random_signal("pdq"), random_signal("pdq")
    mine = client.post("/v1/cases", json=case_payload([kept, deleted])).get_json()
    acme = add_partner(app, "acme", scopes="feedback:write", display_name="Acme Video")
    zed = add_partner(app, "zed", scopes="feedback:write", display_name="Zed Photos")
    before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    feedback(client, acme, kept, "blocked", before, count=2)
    feedback(client, acme, deleted, "match_pending_review", before)
    credentials = {"reference": mine["reference"], "pin": mine["pin"]}
    assert client.post("/v1/cases/withdraw", json=credentials).status_code == 200
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    feedback(client, acme, deleted, "deleted", after)  # after my withdrawal: about my hashes
    client.post("/v1/cases", json=case_payload([kept, deleted]))  # someone else's report
    later = after + dt.timedelta(minutes=2)
    feedback(client, acme, kept, "blocked", later, count=5)
    feedback(client, acme, deleted, "not_blocked", later)
    feedback(client, zed, kept, "match_pending_review", later)
    return mine


def test_withdrawn_status_leaves_out_what_came_after_the_withdrawal(client, withdrawn_then_reported_again):
    mine = withdrawn_then_reported_again
    body = client.post("/v1/cases/status", json={"reference": mine["reference"], "pin": mine["pin"]}).get_json()
    assert body["status"] == "withdrawn"
    # Acme: the 2 copies taken down before, and the deletion; not the 5 taken down for
    # the other report, nor its later review. Zed acted only after: it is not named.
    assert outcomes(body) == {"Acme Video": [("blocked", 2), ("deleted", 1)]}


def test_active_status_still_shows_the_latest(client, app):
    signal = random_signal("pdq")
    mine = client.post("/v1/cases", json=case_payload([signal])).get_json()
    acme = add_partner(app, "acme", scopes="feedback:write", display_name="Acme Video")
    now = dt.datetime.now(dt.UTC)
    feedback(client, acme, signal, "blocked", now - dt.timedelta(hours=1), count=2)
    feedback(client, acme, signal, "blocked", now, count=3)
    body = client.post("/v1/cases/status", json={"reference": mine["reference"], "pin": mine["pin"]}).get_json()
    assert outcomes(body) == {"Acme Video": [("blocked", 5)]}


@pytest.mark.browser
def test_status_page_of_a_withdrawn_report(portal, withdrawn_then_reported_again):
    mine = withdrawn_then_reported_again
    portal.credentials("/status", mine["reference"], mine["pin"])
    platforms = portal.page.locator("#platforms")
    expect(platforms).to_contain_text("Took down 2 copies.")
    expect(platforms).to_contain_text("Deleted your hashes after you withdrew.")
    expect(platforms).not_to_contain_text("Zed Photos")
    expect(platforms).not_to_contain_text("7")
    expect(portal.page.locator("#outcome-withdrawn-note")).to_be_visible()
    assert portal.errors == []
