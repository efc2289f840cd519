"""What a person sees when a limit answers 429 (report, status, withdraw), and while
their report is held: plain words, when to try again, no blame. Headless Chromium
against the real server, whose limits are lowered for the test."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from federation.models import Case, utcnow
from federation.ratelimit import Limit
from federation.services import services
from tests.factories import case_payload

pytestmark = pytest.mark.browser

EXIT_SITE = re.compile(r"^https://www\.bbc\.co\.uk/")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context()
    context.route(EXIT_SITE, lambda route: route.fulfill(status=200, content_type="text/html", body="x"))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.base = live_server  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == []


def credentials(page, path: str, reference: str, pin: str) -> None:
    page.goto(page.base + path)
    page.fill("#reference", reference)
    page.fill("#pin", pin)
    page.click("#credentials-submit")


def receipt(client) -> dict:
    return client.post("/v1/cases", json=case_payload()).get_json()


@pytest.mark.parametrize("path", ["/status", "/withdraw"])
def test_a_busy_network_is_told_kindly_when_to_try_again(page, app, client, monkeypatch, path):
    made = receipt(client)
    monkeypatch.setattr(services(app).case_access_limit, "limit", Limit(0, 600))
    credentials(page, path, made["reference"], made["pin"])
    if path == "/withdraw":
        page.click("#confirm-yes")
    message = page.locator("#form-message")
    expect(message).to_contain_text("You did nothing wrong")
    expect(message).to_contain_text("try again in 10 minutes")


def test_a_locked_case_says_when_without_blame(page, client):
    made = receipt(client)
    wrong = "00000000" if made["pin"] != "00000000" else "11111111"
    for _ in range(5):
        client.post("/v1/cases/status", json={"reference": made["reference"], "pin": wrong})
    credentials(page, "/status", made["reference"], made["pin"])
    message = page.locator("#form-message")
    expect(message).to_contain_text("too many tries with a wrong PIN")
    expect(message).to_contain_text("try again in 1 minute.")


def test_a_held_report_is_recorded_and_will_be_sent_shortly(page, client, engine):
    made = receipt(client)
    with engine.begin() as conn:
        conn.execute(update(Case).values(held_at=utcnow()))
    credentials(page, "/status", made["reference"], made["pin"])
    expect(page.locator("#outcome-text")).to_contain_text("Your report is recorded")
    expect(page.locator("#outcome-text")).to_contain_text("will be sent to member platforms shortly")


def test_a_busy_network_on_the_report_page_keeps_the_photos_and_can_retry(page, app, corpus_dir, monkeypatch):
    photo = sorted((corpus_dir / "pdq-reference" / "bridge-mods").glob("*.jpg"))[0]
    page.goto(page.base + "/")
    page.click("#age-adult")
    expect(page.locator("#step-choose")).to_be_visible()
    page.set_input_files("#photos", [str(photo)])
    expect(page.locator("#file-list .file")).to_have_count(1)
    page.click("#hash-start")
    expect(page.locator("#step-review")).to_be_visible(timeout=120_000)
    page.click("#review-continue")
    for box in ("#consent-adult", "#consent-depicted", "#consent-share"):
        page.check(box)
    limit = services(app).report_limit
    monkeypatch.setattr(limit, "limit", Limit(0, 3600))
    page.click("#send")
    message = page.locator("#consent-message")
    expect(message).to_contain_text("nothing was sent")
    expect(message).to_contain_text("try again in 60 minutes")
    expect(page.locator("#retry")).to_be_visible()
    monkeypatch.setattr(limit, "limit", Limit(100_000, 3600))
    page.click("#retry")
    expect(page.locator("#step-done")).to_be_visible()
