"""The referral flow in headless Chromium: a caseworker signs in and makes a referral;
the person opens the link, reports with it and agrees to share; a platform takes a copy
down; the caseworker sees it; the person stops sharing; the caseworker no longer sees it.

Two browser contexts (the caseworker's and the person's) share nothing but the server.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.factories import add_organisation, add_partner, bearer, reset_guess_counter
from tests.functional.browser_support import Portal

pytestmark = pytest.mark.browser


@pytest.fixture
def people(browser, base_url, app, clean_database):
    reset_guess_counter(app)
    caseworker, person = Portal(browser, base_url), Portal(browser, base_url)
    yield caseworker, person
    caseworker.close()
    person.close()


def case_row(caseworker: Portal, referral_id: str):
    return caseworker.page.locator(f'#referrals li[data-id="{referral_id}"]')


def test_referral_consent_takedown_and_stop_sharing(people, app, corpus_dir):
    caseworker, person = people
    _, workers = add_organisation(app, "haven", "Safe Haven Helpline", caseworkers=("sam",))

    # The caseworker signs in and makes a referral; the slip shows the link once.
    caseworker.open("/caseworker")
    expect(caseworker.page).to_have_url(re.compile(r"/caseworker/sign-in$"))
    caseworker.page.fill("#token", workers["sam"])
    caseworker.page.click("#sign-in")
    expect(caseworker.page.locator("#signed-in-as")).to_have_text("Signed in as sam at Safe Haven Helpline.")
    [cookie] = caseworker.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/caseworker"
    caseworker.page.click("#new-referral")
    expect(caseworker.page.locator("#slip")).to_contain_text("Your link from Safe Haven Helpline")
    code = caseworker.page.locator("#slip-code").inner_text()
    link = caseworker.page.locator("#slip-link").inner_text()
    assert link == f"{caseworker.base_url}/r/{code}"
    # On paper: the slip alone, without the page's header, buttons or sign-out bar.
    caseworker.page.emulate_media(media="print")
    expect(caseworker.page.locator("#print")).to_be_hidden()
    expect(caseworker.page.locator("#quick-exit")).to_be_hidden()
    expect(caseworker.page.locator("#sign-out")).to_be_hidden()
    expect(caseworker.page.locator("#slip-code")).to_be_visible()
    caseworker.page.emulate_media(media="screen")
    caseworker.page.click("#back")
    referral_id = caseworker.page.locator("#referrals li").first.get_attribute("data-id")
    expect(case_row(caseworker, referral_id)).to_have_attribute("data-state", "open")

    # The person opens the link: it names the organisation, and the code leaves the address bar.
    person.page.goto(link)
    expect(person.page.locator("#referral")).to_contain_text("Safe Haven Helpline sent you this link")
    expect(person.page).to_have_url(f"{person.base_url}/report")
    person.choose(photos=[corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg"])
    person.make_hashes()
    person.agree()
    expect(person.page.locator("#share-no")).to_be_checked()  # sharing is off unless chosen
    person.page.check("#share-yes")
    person.page.click("#send")
    [(reference, pin)] = person.receipts()
    expect(person.page.locator("#referral-result")).to_contain_text("Safe Haven Helpline can follow")

    [post] = person.case_posts()
    sent = json.loads(post.post_data_buffer)
    assert sent["referral_code"] == code and sent["share_with_referrer"] is True
    pdq = next(s for s in sent["signals"] if s["type"] == "pdq")

    caseworker.page.reload()
    row = case_row(caseworker, referral_id)
    expect(row).to_have_attribute("data-state", "shared")
    expect(row).to_contain_text("No platform has reported anything yet.")

    # A platform takes a copy down.
    token = add_partner(app, scopes="feedback:write", display_name="Acme Video")
    item = {"type": "pdq", "value": pdq["value"], "verdict": "blocked", "count": 2,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    with app.test_client() as platform:
        assert platform.post("/v1/feedback", json={"items": [item]}, headers=bearer(token)).status_code == 200

    caseworker.page.reload()
    expect(row.locator(".platform-outcome")).to_have_text("Acme Video: took down 2 copies.")
    assert reference not in caseworker.page.content() and pdq["value"] not in caseworker.page.content()

    # The person stops sharing on the status page.
    person.credentials("/status", reference, pin)
    expect(person.page.locator("#sharing-text")).to_contain_text("Safe Haven Helpline can see the progress")
    expect(person.page.locator("#platforms")).to_contain_text("Took down 2 copies.")
    person.page.click("#stop-sharing")
    expect(person.page.locator("#sharing-message")).to_have_text(
        "Done. Safe Haven Helpline can no longer see this report.")
    expect(person.page.locator("#stop-sharing")).to_be_hidden()

    caseworker.page.reload()
    expect(row).to_have_attribute("data-state", "used")
    expect(row.locator(".referral-case")).to_have_count(0)
    expect(caseworker.page.locator("#referrals")).not_to_contain_text("took down")

    # Nothing left this machine; the code was in one URL only (the link itself), and the
    # reference and PIN in none.
    for side in (caseworker, person):
        assert side.off_machine() == []
        assert side.errors == []
    urls = [r.url for side in (caseworker, person) for r in side.requests.requests]
    assert [urlsplit(u).path for u in urls if code in u] == [f"/r/{code}"]
    assert not [u for u in urls if reference in u or pin in u]
    assert person.context.cookies() == []
