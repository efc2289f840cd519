"""The portal's language over HTTP: in the URL, offered from Accept-Language, switchable on
every page, kept on every link, right-to-left where it should be, never a cookie; bad
languages and bad headers fall back with a notice, never an error."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from federation.portal.i18n import LANGUAGES
from tests.factories import add_organisation

PAGES = ["/", "/under-18", "/report", "/status", "/withdraw", "/next", "/platforms"]
# A word of each language's start page, written here from the translations' meaning, so
# that a page falling back to English is caught.
START_TITLE_WORD = {"en": "Stop", "ar": "امنع", "bn": "বন্ধ", "es": "Evita", "fr": "Empêcher", "hi": "रोकें",
                    "hu": "Akadályozza", "ko": "막으세요", "pt-br": "Impeça", "sv": "Stoppa", "ur": "روکیں"}


def html_of(client, path, **headers) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def root(html: str) -> dict[str, str]:
    tag = re.search(r"<html ([^>]*)>", html).group(1)
    return dict(re.findall(r'(\w+)="([^"]*)"', tag))


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.code)
def test_every_page_in_every_language(client, language):
    for path in PAGES:
        url = f"/{language.code}{path}" if path != "/" else f"/{language.code}/"
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert root(html) == {"lang": language.tag, "dir": "rtl" if language.rtl else "ltr"}, url
        assert response.headers["Content-Language"] == language.tag
        assert "Set-Cookie" not in response.headers
        # Links to other portal pages keep the language.
        for href in re.findall(r'<a [^>]*href="(/[^"]*)"[^>]*data-nav', html):
            if 'data-language' not in href:
                assert href.startswith("/") and re.match(r"^/[a-z-]+/", href), (url, href)
        # The switcher names every language, in its own name, linking to this page.
        for other in LANGUAGES:
            target = f"/{other.code}{path}" if path != "/" else f"/{other.code}/"
            assert re.search(rf'<a href="{re.escape(target)}" lang="{other.tag}" hreflang="{other.tag}"', html), \
                (url, other.code)
            assert other.name in html
    assert START_TITLE_WORD[language.code] in html_of(client, f"/{language.code}/")


def test_links_from_a_page_in_a_language_keep_it(client):
    html = html_of(client, "/sv/")
    assert 'href="/sv/report"' in html and 'href="/sv/status"' in html and 'href="/sv/withdraw"' in html
    assert 'href="/sv/next"' in html and 'href="/sv/platforms"' in html
    assert 'href="/sv/under-18"' in html


@pytest.mark.parametrize("header, expected", [
    ("es-MX,es;q=0.9,en;q=0.8", "es"),
    ("de-DE,de;q=0.9,fr;q=0.5", "fr"),  # German we do not have; French is next
    ("pt-PT,pt;q=0.9", "pt-br"),  # the only Portuguese we have
    ("ar-EG", "ar"),
    ("en-GB;q=0.2,ko;q=0.9", "ko"),  # by quality, not order
    ("", "en"),
    ("*", "en"),
    ("zz", "en"),
])
def test_bare_paths_follow_accept_language(client, header, expected):
    response = client.get("/status", headers={"Accept-Language": header})
    language = next(language for language in LANGUAGES if language.code == expected)
    assert root(response.get_data(as_text=True))["lang"] == language.tag
    assert "Accept-Language" in response.headers["Vary"]
    # Bare links stay bare, so the browser's language keeps choosing.
    assert 'href="/report"' in response.get_data(as_text=True)


@pytest.mark.parametrize("header", [
    ";;;,,,q=abc", "es;q=nan", "es;q=-1,ar;q=2", "\x00\x01", "é" * 50, "x" * 20_000,
    ",".join(f"l{i:04}" for i in range(4000)), "en;q=0.5," * 3000 + "ko",
])
def test_garbage_or_huge_accept_language_never_fails_a_page(client, header):
    response = client.get("/", headers={"Accept-Language": header})
    assert response.status_code == 200
    assert root(response.get_data(as_text=True))["lang"] in {language.tag for language in LANGUAGES}


@pytest.mark.parametrize("path", ["/de/", "/de/report", "/xx-yy/status", "/zh-hant-tw/withdraw", "/DE/next"])
def test_unknown_language_in_the_url_falls_back_with_a_visible_notice(client, path):
    response = client.get(path, headers={"Accept-Language": "es"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert root(html)["lang"] == "es"
    notice = re.search(r'<p class="message" id="language-unknown" role="status">(.*?)</p>', html).group(1)
    requested = path.split("/")[1]
    assert f"<bdi>{requested}</bdi>" in notice and "<bdi>Español</bdi>" in notice
    assert "no está disponible" in notice


def test_markup_in_an_unknown_language_segment_cannot_reach_the_page(client):
    # Only a language-shaped segment is taken as a language; anything else is not a page.
    assert client.get("/%3Cscript%3E/report").status_code == 404
    assert client.get("/es-%3Cb%3E/report").status_code == 404


def test_known_language_in_either_case_or_with_underscore(client):
    assert root(html_of(client, "/PT-BR/report"))["lang"] == "pt-BR"
    assert root(html_of(client, "/pt_br/report"))["lang"] == "pt-BR"


def test_error_page_is_in_the_language_of_the_url(client):
    response = client.get("/fr/assets/none.js")
    assert response.status_code == 404
    response = client.get("/assets/none.js", headers={"Accept-Language": "fr"})
    assert response.status_code == 404 and "Nous ne trouvons pas cette page" in response.get_data(as_text=True)


def test_caseworker_pages_in_a_language_and_dates_by_locale(client, app):
    _, workers = add_organisation(app, "haven", "Safe Haven", caseworkers=("sam",))
    signed = client.post("/caseworker/es/sign-in", data={"token": workers["sam"]})
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/caseworker/es")
    home = html_of(client, "/caseworker/es")
    assert "Sesión iniciada como <bdi>sam</bdi> en <bdi>Safe Haven</bdi>." in home
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    slip = client.post("/caseworker/es/referrals", data={"csrf_token": csrf}).get_data(as_text=True)
    # The link for the person is bare: their own browser chooses its language.
    assert re.search(r'id="slip-link" dir="ltr">http://localhost/r/[0-9A-Z-]+<', slip)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    # Babel's CLDR long date in Spanish, e.g. "2 de enero de 2027" (month names from the spec).
    months = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
              "octubre", "noviembre", "diciembre"]
    day = f"{expires.day} de {months[expires.month - 1]} de {expires.year}"
    assert f"Úsalo antes del <bdi>{day}</bdi>." in slip
    english = html_of(client, "/caseworker/en")
    english_months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
    assert f"Not used yet (until <bdi>{english_months[expires.month - 1]} {expires.day}, {expires.year}</bdi>)" \
        in english
    assert "Derivaciones" not in english


def test_plural_forms_on_server_pages(client, app):
    # Korean has one form, Arabic six: "1 minute" and "15 minutes" in the sign-in lead.
    assert "<bdi>15</bdi> minutes without activity" in html_of(client, "/caseworker/en/sign-in")
    assert "<bdi>15</bdi>분 동안" in html_of(client, "/caseworker/ko/sign-in")
    assert "بعد <bdi>15</bdi> دقيقة" in html_of(client, "/caseworker/ar/sign-in")  # 11-99: the "many" form


def test_script_text_is_the_pages_language_with_cldr_plural_categories(client):
    import json

    def block(path):
        html = html_of(client, path)
        return json.loads(re.search(r'id="portal-text">(.*?)</script>', html, re.S).group(1))

    arabic = block("/ar/status")
    assert set(arabic["outcome_blocked"]) == {"zero", "one", "two", "few", "many", "other"}
    assert arabic["outcome_blocked"]["two"] == "أزالت نسختين ({count})."
    assert block("/ko/status")["outcome_blocked"] == {"other": "복사본 {count}개를 삭제했습니다."}
    spanish = block("/es/status")
    assert spanish["outcome_blocked"]["one"] == "Quitó {count} copia."
    assert spanish["outcome_blocked"]["other"] == "Quitó {count} copias."
    assert spanish["remove"] == "Quitar"
