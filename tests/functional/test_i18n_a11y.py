"""axe-core (axe-playwright-python) on every portal page in every language, in headless
Chromium: no serious or critical violation. Pages are checked in the states a person
sees: the report flow's steps, a status with platform outcomes, a withdraw confirmation,
the caseworker sign-in, an error page, the language menu open."""
from __future__ import annotations

import datetime as dt

import pytest
from axe_playwright_python.sync_playwright import Axe

from federation.portal.i18n import LANGUAGES
from tests.factories import add_partner, bearer, case_payload, random_signal
from tests.functional.browser_support import Portal, expect

pytestmark = pytest.mark.browser

STATIC_PAGES = ["/", "/under-18", "/report", "/status", "/withdraw", "/next", "/platforms",
                "/caseworker/{lang}/sign-in",
                "/assets/no-such-page"]


def serious(page) -> list[str]:
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def axe_portal(browser, base_url):
    portal = Portal(browser, base_url)
    yield portal
    portal.close()


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.code)
def test_every_page_passes_axe(axe_portal, language, clean_database, app, client):
    add_partner(app, name="acme", display_name="Acme Video")
    page = axe_portal.page
    found = {}
    for path in STATIC_PAGES:
        url = path.format(lang=language.code) if "{lang}" in path else \
            (f"/{language.code}{path}" if not path.startswith("/assets") else path)
        if path.startswith("/assets"):
            page.set_extra_http_headers({"Accept-Language": language.tag})
        axe_portal.open(url)
        page.set_extra_http_headers({})
        found[url] = serious(page)
    # The language menu, open.
    axe_portal.open(f"/{language.code}/")
    page.click("#languages summary")
    found["menu open"] = serious(page)
    assert {url: problems for url, problems in found.items() if problems} == {}


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language.code in ("en", "ar", "hi")],
                         ids=lambda language: language.code)
def test_flow_states_pass_axe(portal, language, photos, app, client):
    found = {}
    page = portal.page
    portal.open(f"/{language.code}/report")
    portal.choose(photos=photos[:2])
    expect(page.locator("#file-list .file")).to_have_count(2)
    found["choose"] = serious(page)
    portal.make_hashes()
    found["review"] = serious(page)
    portal.agree()
    found["consent"] = serious(page)
    page.click("#send")
    [(reference, pin)] = portal.receipts()
    found["done"] = serious(page)

    signal = random_signal("pdq")
    other = client.post("/v1/cases", json=case_payload([signal])).get_json()
    token = add_partner(app, name="acme", scopes="feedback:write", display_name="Acme Video")
    item = {"type": "pdq", "value": signal["value"], "verdict": "blocked", "count": 2,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    assert client.post("/v1/feedback", json={"items": [item]}, headers=bearer(token)).status_code == 200
    portal.credentials(f"/{language.code}/status", other["reference"], other["pin"])
    expect(page.locator("#outcome")).to_be_visible()
    found["status"] = serious(page)
    portal.credentials(f"/{language.code}/status", reference, "00000000" if pin != "00000000" else "11111111")
    expect(page.locator("#form-message")).to_be_visible()
    found["status wrong pin"] = serious(page)
    portal.credentials(f"/{language.code}/withdraw", reference, pin)
    expect(page.locator("#confirm")).to_be_visible()
    found["withdraw confirm"] = serious(page)
    page.click("#confirm-yes")
    expect(page.locator("#done")).to_be_visible()
    found["withdraw done"] = serious(page)
    assert {step: problems for step, problems in found.items() if problems} == {}
    assert portal.errors == []


def test_axe_here_does_find_a_serious_problem(axe_portal):
    # The check can fail: a button with no name and an image with no text are reported.
    axe_portal.open("/es/")
    axe_portal.page.evaluate("""() => {
        document.querySelector("main").append(document.createElement("button"));
        const image = document.createElement("img");
        image.src = "/assets/none.png";
        document.querySelector("main").append(image);
    }""")
    found = serious(axe_portal.page)
    assert any(problem.startswith("button-name") for problem in found), found
    assert any(problem.startswith("image-alt") for problem in found), found
