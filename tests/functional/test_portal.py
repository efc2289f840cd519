"""The person's portal in headless Chromium: the whole flow, bad input, and Quick exit.

The app runs on 127.0.0.1 with the run's database; files reach the page through its real
<input type=file> elements, as a person's photos would. Every request the page makes is
recorded so a test can prove what left the page and where it went.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.models import Case, CaseSignal, Signal
from tests.factories import add_partner, bearer, case_payload, random_signal

pytestmark = pytest.mark.browser

EXIT_URL = "https://www.bbc.co.uk/weather"
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
MAX_BODY_BYTES = 4096  # a few corpus photos' hashes as JSON; any image would be far bigger


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def sent_signals(engine) -> set[tuple[str, str]]:
    with Session(engine) as session:
        return set(session.execute(select(Signal.type, Signal.value).join(CaseSignal)).all())


def digests(path: Path) -> set[tuple[str, str]]:
    data = path.read_bytes()
    return {("md5", hashlib.md5(data).hexdigest()), ("sha256", hashlib.sha256(data).hexdigest())}


# --- the whole flow ------------------------------------------------------------------

def test_whole_flow_sends_only_hashes_and_stays_on_this_machine(portal, photos, tmp_path, engine):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 200)
    chosen = photos[:3]

    portal.start_report()
    portal.choose(photos=chosen, others=[video])
    # Thumbnails are drawn from the files on the device.
    thumbs = portal.page.locator("#file-list .thumb img")
    expect(thumbs).to_have_count(3)
    assert all(src.startswith("blob:") for src in
               (thumbs.nth(i).get_attribute("src") for i in range(3)))
    portal.make_hashes()

    # Review shows exactly what will be sent: each file's hashes, and the request itself.
    shown = portal.page.locator("#file-list .hash").all_inner_texts()
    assert len(shown) == 3 * 3 + 2
    for md5_sha in digests(video):
        assert md5_sha[1] in shown
    body = json.loads(portal.page.locator("#request-body").text_content())
    assert sorted(s["value"] for s in body["signals"]) == sorted(shown)

    [(reference, pin)] = portal.send()
    assert re.fullmatch(r"[0-9]{8}", pin)
    expect(portal.page.locator("#done-warning")).to_contain_text("cannot show them again")
    assert count(engine, Case) == 1
    assert sent_signals(engine) == {(s["type"], s["value"]) for s in body["signals"]}

    portal.credentials("/status", reference, pin)
    expect(portal.page.locator("#outcome")).to_contain_text("Your report is active")
    expect(portal.page.locator("#outcome")).to_contain_text("11 hashes")

    portal.credentials("/withdraw", reference, pin)
    expect(portal.page.locator("#confirm")).to_be_visible()
    portal.page.click("#confirm-yes")
    expect(portal.page.locator("#done")).to_contain_text("Your report is withdrawn")

    portal.credentials("/status", reference, pin)
    expect(portal.page.locator("#outcome")).to_contain_text("You withdrew this report")

    # What left the page: hashes as small JSON, to this machine only.
    assert portal.off_machine() == []
    posts = [r for r in portal.requests.requests if r.post_data_buffer]
    assert [urlpath(r.url) for r in posts] == [
        "/v1/cases", "/v1/cases/status", "/v1/cases/withdraw", "/v1/cases/status"]
    for request in posts:
        data = request.post_data_buffer
        assert len(data) < MAX_BODY_BYTES, request.url
        assert JPEG_MAGIC not in data and PNG_MAGIC not in data, request.url
        assert request.headers["content-type"] == "application/json"
    # The reference and PIN travel in bodies, never in a URL.
    assert not [r.url for r in portal.requests.requests if reference in r.url or pin in r.url]
    assert portal.page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert portal.context.cookies() == []
    assert portal.errors == []


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# --- bad input -----------------------------------------------------------------------

def test_non_image_chosen_as_photo_can_be_protected_as_a_file(portal, tmp_path, engine):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    portal.start_report()
    portal.choose(photos=[notes])
    portal.make_hashes()
    row = portal.row("notes.txt")
    expect(row.locator(".file-problem")).to_contain_text("not a photo we can read")
    expect(portal.page.locator("#review-continue")).to_be_hidden()  # nothing to send yet

    row.locator(".use-as-file").click()
    expect(row.locator(".file-problem")).to_contain_text("protected as a file")
    expect(row.locator(".hash")).to_have_count(2)
    portal.send()
    assert sent_signals(engine) == digests(notes)


def test_corrupt_jpeg_is_explained_and_offers_file_hashes(portal, tmp_path, photos):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photos[0].read_bytes()[:2000])
    portal.start_report()
    portal.choose(photos=[broken])
    portal.make_hashes()
    row = portal.row("broken.jpg")
    expect(row.locator(".file-problem")).to_contain_text("seems to be damaged")
    expect(row.locator(".use-as-file")).to_be_visible()
    expect(row.locator(".hash")).to_have_count(0)


def test_empty_file_is_not_sent(portal, tmp_path, photos, engine):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    portal.start_report()
    portal.choose(photos=[empty, photos[0]])
    portal.make_hashes()
    row = portal.row("empty.jpg")
    expect(row.locator(".file-problem")).to_contain_text("This file is empty")
    expect(row.locator(".use-as-file")).to_be_hidden()
    expect(portal.page.locator("#review-skipped")).to_contain_text("1 file will not be sent")
    portal.send()
    assert len(sent_signals(engine)) == 3  # the photo's pdq, md5 and sha256 only


def test_format_the_browser_cannot_decode_offers_file_hashes(portal, tmp_path, photos, engine):
    tiff = tmp_path / "photo.tiff"
    Image.open(photos[0]).save(tiff)
    portal.start_report()
    portal.choose(photos=[tiff])
    portal.make_hashes()
    row = portal.row("photo.tiff")
    expect(row.locator(".file-problem")).to_contain_text("cannot open this kind of photo")
    row.locator(".use-as-file").click()
    portal.send()
    assert sent_signals(engine) == digests(tiff)


def test_featureless_photo_sends_file_hashes_without_pdq(portal, tmp_path, engine):
    # One flat colour: PDQ quality 0, which the API refuses. The page must not send it.
    flat = tmp_path / "flat.png"
    Image.new("RGB", (256, 256), (120, 120, 120)).save(flat)
    portal.start_report()
    portal.choose(photos=[flat])
    portal.make_hashes()
    row = portal.row("flat.png")
    expect(row.locator(".file-problem")).to_contain_text("too plain")
    body = json.loads(portal.page.locator("#request-body").text_content())
    assert {s["type"] for s in body["signals"]} == {"md5", "sha256"}
    portal.send()
    assert sent_signals(engine) == digests(flat)


def test_five_hundred_files_at_once(portal, tmp_path, engine):
    files = []
    for i in range(500):
        path = tmp_path / f"clip-{i:03}.bin"
        path.write_bytes(i.to_bytes(2, "big") * 512)
        files.append(path)
    portal.start_report()
    # Long tasks block the page (no clicks, no Quick exit): record every one from here on.
    portal.page.evaluate("""() => {
        window.longTasks = [];
        new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map(e => e.duration)))
            .observe({ type: "longtask" });
    }""")
    portal.choose(others=files)
    expect(portal.page.locator("#file-list .file")).to_have_count(500)
    portal.make_hashes()
    # 500 files make 1000 hashes; a case holds 500, so it goes as two reports.
    expect(portal.page.locator("#review-parts")).to_contain_text("as 2 reports")
    long_tasks = portal.page.evaluate("window.longTasks")
    assert max(long_tasks, default=0) < 500, long_tasks
    receipts = portal.send()
    assert len(receipts) == 2 and len(set(receipts)) == 2
    assert count(engine, Case) == 2
    assert len(sent_signals(engine)) == 1000
    assert all(len(r.post_data_buffer) < 100_000 for r in portal.case_posts())


def test_more_than_five_hundred_files_are_capped_with_a_message(portal, tmp_path):
    files = []
    for i in range(503):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(b"x%d" % i)
        files.append(path)
    portal.start_report()
    portal.choose(others=files)
    expect(portal.page.locator("#file-list .file")).to_have_count(500)
    expect(portal.page.locator("#choose-message")).to_contain_text("up to 500 files")


def test_parts_keep_each_files_hashes_together_and_send_each_hash_once(portal):
    portal.start_report()
    parts = portal.page.evaluate("""async () => {
        const { packParts } = await import("/assets/js/portal/parts.js");
        const files = Array.from({ length: 500 }, (_, i) => ["pdq", "md5", "sha256"].map(
            (type) => ({ type, value: `${type}-${i}` })));
        files.push(files[7]);  // the same photo chosen twice
        return packParts(files);
    }""")
    assert all(len(part) <= 500 for part in parts)
    assert len(parts) == 4  # 166 photos fit in a case: 166 + 166 + 166 + 2
    flat = [s["value"] for part in parts for s in part]
    assert len(flat) == len(set(flat)) == 1500
    for part in parts:  # a file's three hashes are in one case
        numbers = [v.split("-")[1] for v in (s["value"] for s in part)]
        assert all(numbers.count(n) == 3 for n in numbers)


def test_double_click_on_send_makes_one_case(portal, photos, engine):
    portal.start_report()
    portal.choose(photos=photos[:1])
    portal.make_hashes()
    portal.agree()
    portal.page.dblclick("#send")
    assert len(portal.receipts()) == 1
    assert len(portal.case_posts()) == 1
    assert count(engine, Case) == 1


def test_network_failure_then_retry_keeps_the_idempotency_key(portal, photos, engine, client):
    failures = []

    def fail_first(route):
        if not failures:
            failures.append(route.request.headers["idempotency-key"])
            route.abort("internetdisconnected")
        else:
            route.continue_()

    portal.page.route("**/v1/cases", fail_first)
    portal.start_report()
    portal.choose(photos=photos[:1])
    portal.make_hashes()
    portal.agree()
    portal.page.click("#send")
    expect(portal.page.locator("#consent-message")).to_contain_text("could not reach our server")
    expect(portal.page.locator("#retry")).to_have_text("Try again")
    assert count(engine, Case) == 0
    portal.page.click("#retry")
    [(reference, pin)] = portal.receipts()

    keys = [r.headers["idempotency-key"] for r in portal.case_posts()]
    assert len(keys) == 2 and keys[0] == keys[1] == failures[0]
    assert count(engine, Case) == 1
    assert client.post("/v1/cases/status", json={"reference": reference, "pin": pin}).status_code == 200


def test_lost_answer_is_replayed_and_the_sealed_pin_opened_in_the_browser(portal, photos, engine):
    # The server makes the case, but its answer never reaches the page.
    first_answers, replays = [], []

    def lose_first_answer(route):
        if not first_answers:
            first_answers.append(route.fetch().json())
            route.abort("connectionreset")
        else:
            response = route.fetch()
            replays.append(response.json())
            route.fulfill(response=response)

    portal.page.route("**/v1/cases", lose_first_answer)
    portal.start_report()
    portal.choose(photos=photos[:2])
    portal.make_hashes()
    portal.agree()
    portal.page.click("#send")
    expect(portal.page.locator("#retry")).to_be_visible()
    assert count(engine, Case) == 1
    portal.page.click("#retry")
    [(reference, pin)] = portal.receipts()

    [first], [replay] = first_answers, replays
    assert replay["replayed"] is True and replay["pin"] is None and replay["pin_sealed"]
    assert (reference, pin) == (first["reference"], first["pin"])
    assert count(engine, Case) == 1
    keys = {r.headers["idempotency-key"] for r in portal.case_posts()}
    assert len(keys) == 1


def test_consent_is_required_before_sending(portal, photos):
    portal.start_report()
    portal.choose(photos=photos[:1])
    portal.make_hashes()
    portal.page.click("#review-continue")
    portal.page.check("#consent-adult")
    portal.page.click("#send")
    expect(portal.page.locator("#consent-message")).to_contain_text("tick all three")
    assert portal.case_posts() == []


def test_wrong_pin_on_the_status_page(portal, client):
    receipt = client.post("/v1/cases", json=case_payload()).get_json()
    wrong = "00000000" if receipt["pin"] != "00000000" else "11111111"
    portal.credentials("/status", receipt["reference"], wrong)
    expect(portal.page.locator("#form-message")).to_contain_text("could not find a report")
    expect(portal.page.locator("#outcome")).to_be_hidden()


def test_status_tells_what_each_platform_did_in_plain_words(portal, client, app):
    signal = random_signal("pdq")
    receipt = client.post("/v1/cases", json=case_payload([signal])).get_json()
    portal.credentials("/status", receipt["reference"], receipt["pin"])
    expect(portal.page.locator("#platforms")).to_contain_text("No member platform has told us")

    token = add_partner(app, "acme", scopes="feedback:write", display_name="Acme Video")
    item = {"type": "pdq", "value": signal["value"], "verdict": "blocked", "count": 3,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    assert client.post("/v1/feedback", json={"items": [item]}, headers=bearer(token)).status_code == 200
    portal.page.click("#credentials-submit")
    platforms = portal.page.locator("#platforms")
    expect(platforms).to_contain_text("Acme Video")
    expect(platforms).to_contain_text("Took down 3 copies.")


def test_pin_that_is_not_eight_numbers_is_caught_on_the_page(portal):
    portal.credentials("/status", "7KQ2-M9XD-4RTW", "1234")
    expect(portal.page.locator("#form-message")).to_contain_text("8 numbers")
    assert [r for r in portal.requests.requests if r.method == "POST"] == []


def test_locked_case_says_when_to_try_again(portal, client, app):
    receipt = client.post("/v1/cases", json=case_payload()).get_json()
    wrong = "00000000" if receipt["pin"] != "00000000" else "11111111"
    for _ in range(app.config["PIN_MAX_FAILURES"]):
        client.post("/v1/cases/status", json={"reference": receipt["reference"], "pin": wrong})
    portal.credentials("/status", receipt["reference"], receipt["pin"])
    expect(portal.page.locator("#form-message")).to_contain_text("try again in 1 minute")


def test_withdraw_can_be_cancelled(portal, client, engine):
    receipt = client.post("/v1/cases", json=case_payload()).get_json()
    portal.credentials("/withdraw", receipt["reference"], receipt["pin"])
    portal.page.click("#confirm-no")
    expect(portal.page.locator("#confirm")).to_be_hidden()
    assert [r for r in portal.requests.requests if r.url.endswith("/withdraw") and r.method == "POST"] == []
    with Session(engine) as session:
        assert session.scalar(select(Case.status)) == "active"


def test_under_18_points_to_take_it_down(portal):
    portal.open("/")
    portal.page.click("#age-minor")
    link = portal.page.locator("#take-it-down")
    expect(link).to_have_attribute("href", "https://takeitdown.ncmec.org/")
    # The page loads nothing from there: it is only a link.
    assert portal.off_machine() == []


# --- Quick exit ----------------------------------------------------------------------

@pytest.mark.parametrize("how", ["escape", "button"])
def test_quick_exit_leaves_and_is_not_in_back_history(portal, how):
    portal.page.goto("about:blank")
    portal.open("/")
    portal.page.click("#age-adult")  # moves within the portal without a new history entry
    expect(portal.page.locator("#step-choose")).to_be_visible()
    if how == "escape":
        portal.page.keyboard.press("Escape")
    else:
        portal.page.click("#quick-exit")
    portal.page.wait_for_url(EXIT_URL)
    assert portal.page.evaluate("history.length") == 2  # about:blank, then the neutral site
    portal.page.go_back()
    assert portal.page.url == "about:blank"


def test_quick_exit_works_on_every_page(portal):
    for path in ("/", "/under-18", "/report", "/status", "/withdraw", "/assets/no-such-file"):
        portal.open(path)
        portal.page.keyboard.press("Escape")
        portal.page.wait_for_url(EXIT_URL)
