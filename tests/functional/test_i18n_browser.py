"""The portal in Chromium, in several languages: the whole report -> status -> withdraw
flow in English, Arabic (right to left) and Spanish; the bugs of issue 17, each shown
fixed; the flow by keyboard alone with a visible focus; 320 px widths; screenshots.

Screenshots go to a temporary folder; to refresh the ones in docs/portal/languages/, run
    FEDERATION_PORTAL_SCREENSHOTS=docs/portal pytest tests/functional/test_i18n_browser.py
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from federation.portal.i18n import LANGUAGES
from tests.factories import add_partner, bearer
from tests.functional.browser_support import HASHING_TIMEOUT_MS, Portal, expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Month names from CLDR's spec tables, written out here (not taken from our code or Babel).
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "ar": ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
           "ديسمبر"],
}


def long_date(code: str, day: dt.date) -> str:
    month = MONTHS[code][day.month - 1]
    return {"en": f"{month} {day.day}, {day.year}", "es": f"{day.day} de {month} de {day.year}",
            "ar": f"{day.day} {month} {day.year}"}[code]


# What each flow step must say, in each language of the flow test (from the catalogs'
# meaning; a page left in English fails).
WORDS = {
    "en": {"summary": "You chose 3 files to protect.", "hashes": "We will send 9 hashes",
           "done": "Your report is in", "active": "Your report is active", "since": "Reported on",
           "blocked": "Took down 2 copies.", "withdrawn": "Your report is withdrawn",
           "withdrew": "You withdrew this report on"},
    "ar": {"summary": "اخترت 3 ملفات للحماية.", "hashes": "سنرسل 9 بصمات",
           "done": "وصلنا بلاغك", "active": "بلاغك نشط", "since": "تاريخ البلاغ",
           "blocked": "أزالت نسختين (2).", "withdrawn": "سُحب بلاغك", "withdrew": "سحبت هذا البلاغ في"},
    "es": {"summary": "Elegiste 3 archivos para proteger.", "hashes": "Enviaremos 9 hashes",
           "done": "Tu denuncia está hecha", "active": "Tu denuncia está activa", "since": "Denunciada el",
           "blocked": "Quitó 2 copias.", "withdrawn": "Tu denuncia está retirada",
           "withdrew": "Retiraste esta denuncia el"},
}


@pytest.fixture
def out_dir(tmp_path) -> Path:
    target = os.environ.get("FEDERATION_PORTAL_SCREENSHOTS")
    folder = (Path(target) if target else tmp_path) / "languages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


@pytest.mark.parametrize("code", ["en", "ar", "es"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_report_status_withdraw_in_a_language(browser, base_url, clean_database, photos, app, client, code,
                                              viewport, out_dir):
    portal = Portal(browser, base_url, viewport=viewport)
    page = portal.page
    words = WORDS[code]
    size = "phone" if viewport is PHONE else "desktop"

    def shot(step: str) -> None:
        no_sideways_scroll(page)
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of the picture
        page.screenshot(path=str(out_dir / f"{code}-{step}-{size}.png"), full_page=True)

    portal.open(f"/{code}/")
    assert page.evaluate("document.documentElement.dir") == ("rtl" if code == "ar" else "ltr")
    page.click("#age-adult")
    expect(page).to_have_url(f"{base_url}/{code}/report")
    expect(page.locator("#step-choose")).to_be_visible()
    portal.choose(photos=photos[:3])
    expect(page.locator("#file-list .file")).to_have_count(3)
    portal.make_hashes()
    # 3 photos: the person reads "3 files", then why there are 9 hashes.
    expect(page.locator("#review-summary")).to_contain_text(words["summary"])
    expect(page.locator("#review-summary")).to_contain_text(words["hashes"])
    shot("review")
    portal.agree()
    page.click("#send")
    [(reference, pin)] = portal.receipts()
    expect(page.locator("#done-title")).to_have_text(words["done"])
    shot("done")

    token = add_partner(app, name="acme", scopes="feedback:write", display_name="Acme Video")
    with app.test_client() as platform:
        sent = [s for s in portal.case_posts()[0].post_data_json["signals"] if s["type"] == "pdq"]
        item = {"type": "pdq", "value": sent[0]["value"], "verdict": "blocked", "count": 2,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
        assert platform.post("/v1/feedback", json={"items": [item]}, headers=bearer(token)).status_code == 200

    portal.credentials(f"/{code}/status", reference, pin)
    expect(page.locator("#outcome-text")).to_contain_text(words["active"])
    today = dt.datetime.now(dt.UTC).date()
    expect(page.locator("#outcome-date")).to_contain_text(f"{words['since']} {long_date(code, today)}")
    expect(page.locator("#platforms")).to_contain_text(words["blocked"])
    shot("status")

    portal.credentials(f"/{code}/withdraw", reference, pin)
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-yes")
    expect(page.locator("#done-text")).to_contain_text(words["withdrawn"])
    portal.credentials(f"/{code}/status", reference, pin)
    expect(page.locator("#outcome-text")).to_contain_text(f"{words['withdrew']} {long_date(code, today)}")
    shot("withdrawn")

    if code == "ar":
        # Mirrored: the Quick exit button is on the left, the site name on the right,
        # and a list's bullets on the right of its text.
        portal.open("/ar/")
        exit_box = page.locator("#quick-exit").bounding_box()
        name_box = page.locator(".site-name").bounding_box()
        assert exit_box["x"] < name_box["x"]
        item = page.locator(".steps-list li").first.bounding_box()
        main = page.locator("main").bounding_box()
        assert main["x"] + main["width"] - (item["x"] + item["width"]) > 10  # indented from the right
    assert portal.errors == []
    assert portal.off_machine() == []
    assert portal.context.cookies() == []
    portal.close()


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.code)
def test_every_language_fits_320_px_and_is_photographed(browser, base_url, clean_database, language, out_dir):
    for name, viewport in (("narrow", {"width": 320, "height": 640}), ("phone", PHONE), ("desktop", DESKTOP)):
        portal = Portal(browser, base_url, viewport=viewport)
        page = portal.page
        for path in ("/", "/report", "/status", "/withdraw", "/next", "/caseworker/{lang}/sign-in"):
            url = path.format(lang=language.code) if "{lang}" in path else f"/{language.code}{path}"
            portal.open(url)
            no_sideways_scroll(page)
            exit_box = page.locator("#quick-exit").bounding_box()
            assert 0 <= exit_box["x"] and exit_box["x"] + exit_box["width"] <= viewport["width"], url
        portal.open(f"/{language.code}/")
        if name != "narrow":
            page.screenshot(path=str(out_dir / f"{language.code}-start-{name}.png"))
        # The language menu opens within the screen, every language reachable.
        page.click("#languages summary")
        for link in page.locator("#languages a").all():
            box = link.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], link.text_content()
        no_sideways_scroll(page)
        assert portal.errors == []
        portal.close()


def test_switching_language_keeps_the_page_and_sets_no_cookie(portal):
    portal.open("/status")
    portal.page.click("#languages summary")
    portal.page.click('#languages a[data-language="hu"]')
    expect(portal.page).to_have_url(f"{portal.base_url}/hu/status")
    expect(portal.page.locator("h1")).to_have_text("Bejelentés ellenőrzése")
    portal.page.click("#languages summary")
    portal.page.click('#languages a[data-language="ur"]')
    expect(portal.page).to_have_url(f"{portal.base_url}/ur/status")
    assert portal.page.evaluate("document.documentElement.dir") == "rtl"
    # Quick exit and Esc work the same in every language.
    portal.page.keyboard.press("Escape")
    expect(portal.page).to_have_title("Weather")
    assert portal.context.cookies() == []


def test_step_heading_is_not_hidden_behind_the_header_on_a_phone(browser, base_url, clean_database, photos,
                                                                  tmp_path):
    # 390x844 (issue 17): after "Make hashes" the heading sat at 38-69 px under a header
    # ending at 92 px. A slow file keeps the hashing step on screen long enough to look.
    video = tmp_path / "long-video.mp4"
    with open(video, "wb") as f:
        f.truncate(120 * 2**20)
    portal = Portal(browser, base_url, viewport=PHONE)
    page = portal.page
    portal.start_report()
    portal.choose(photos=photos[:6], others=[video])
    expect(page.locator("#file-list .file")).to_have_count(7)
    page.click("#hash-start")

    def heading_clear_of_header(selector: str) -> None:
        header = page.locator("header.top").bounding_box()
        heading = page.locator(selector).bounding_box()
        assert heading["y"] >= header["y"] + header["height"], (selector, heading, header)
        assert heading["y"] + heading["height"] <= PHONE["height"], (selector, heading)

    expect(page.locator("#step-hash")).to_be_visible()
    heading_clear_of_header("#hash-title")
    expect(page.locator("#step-review")).to_be_visible(timeout=HASHING_TIMEOUT_MS)
    heading_clear_of_header("#review-title")
    page.click("#review-continue")
    heading_clear_of_header("#consent-title")
    portal.close()


def test_press_esc_is_not_offered_on_a_phone(browser, base_url, clean_database):
    phone = Portal(browser, base_url, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.open("/")
    for hint in phone.page.locator(".keys-only").all():
        expect(hint).to_be_hidden()
    # What is shown (innerText), not what is in the markup.
    assert phone.page.locator("#quick-exit-hint").inner_text().strip() == "Leave this site now."
    assert "Esc" not in phone.page.locator("main").inner_text()
    phone.close()
    desktop = Portal(browser, base_url, viewport=DESKTOP)
    desktop.open("/")
    assert "press the Esc key" in desktop.page.locator("#quick-exit-hint").inner_text()
    assert "the Esc key does the same" in desktop.page.locator("main").inner_text()
    desktop.close()


def test_empty_choose_step_does_not_say_go_back(portal):
    portal.start_report()
    portal.page.click("#hash-start")
    message = portal.page.locator("#choose-message")
    expect(message).to_have_text("Please add at least one photo or video first.")
    expect(message).not_to_contain_text("Go back")


def test_hashing_progress_is_announced(portal, photos, tmp_path):
    portal.start_report()
    portal.choose(photos=photos[:3])
    progress = portal.page.locator("#overall-text")
    assert progress.get_attribute("role") == "status" and progress.get_attribute("aria-live") == "polite"
    # Every text the live region takes is recorded, as a screen reader would hear it.
    portal.page.evaluate("""() => {
        window.announced = [];
        new MutationObserver(() => window.announced.push(document.getElementById("overall-text").textContent))
            .observe(document.getElementById("overall-text"), { childList: true, characterData: true, subtree: true });
    }""")
    portal.make_hashes()
    announced = portal.page.evaluate("window.announced")
    assert announced[-1] == "3 of 3 files done."
    assert announced[0] in {"0 of 3 files done.", "1 of 3 files done.", "2 of 3 files done.", "3 of 3 files done."}
    assert len(announced) == len(set(announced))  # each change once, not every frame


def test_whole_flow_by_keyboard_alone_with_visible_focus(browser, base_url, clean_database, photos):
    portal = Portal(browser, base_url, viewport=DESKTOP)
    page = portal.page

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement?.matches(s)", selector):
                assert focus_visible(selector), selector
                return
        raise AssertionError(f"Tab never reached {selector}")

    def focus_visible(selector: str) -> bool:
        # A 3 px solid outline (or the picker's label ring for the hidden file input).
        return page.evaluate("""(s) => {
            const node = document.activeElement;
            const target = node.type === "file" ? node.closest(".picker").querySelector(".file-button") : node;
            const style = getComputedStyle(target);
            return style.outlineStyle === "solid" && parseFloat(style.outlineWidth) >= 3;
        }""", selector)

    portal.open("/")
    tab_to("#age-adult")
    page.keyboard.press("Enter")
    expect(page.locator("#step-choose")).to_be_visible()
    tab_to("#photos")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files([str(p) for p in photos[:2]])
    expect(page.locator("#file-list .file")).to_have_count(2)
    tab_to("#hash-start")
    page.keyboard.press("Enter")
    expect(page.locator("#step-review")).to_be_visible(timeout=HASHING_TIMEOUT_MS)
    assert page.evaluate("document.activeElement.id") == "review-title"  # focus moved to the step
    tab_to("#review-continue")
    page.keyboard.press("Enter")
    for box in ("#consent-adult", "#consent-depicted", "#consent-share"):
        tab_to(box)
        page.keyboard.press("Space")
    tab_to("#send")
    page.keyboard.press("Enter")
    [(reference, pin)] = portal.receipts()

    portal.open("/withdraw")
    tab_to("#reference")
    page.keyboard.type(reference)
    tab_to("#pin")
    page.keyboard.type(pin)
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_visible()
    tab_to("#confirm-yes")
    page.keyboard.press("Enter")
    expect(page.locator("#done")).to_be_visible()

    # The language menu by keyboard: open with Enter, choose with Enter.
    portal.open("/")
    tab_to("#languages summary")
    page.keyboard.press("Enter")
    tab_to('#languages a[data-language="fr"]')
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/fr/")
    assert portal.errors == []
    portal.close()

