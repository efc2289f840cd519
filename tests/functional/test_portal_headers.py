"""The portal's pages over HTTP: safety headers, no cookies, no inline script or style,
nothing third-party, and HTML (not problem+json) errors for portal paths."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from federation.portal.text import PAGES, SCRIPT, Plural

PAGES_PATHS = ["/", "/under-18", "/report", "/status", "/withdraw", "/next", "/platforms",
               "/es/", "/ar/status", "/pt-br/report"]
REQUIRED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "worker-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp_directives(header: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", PAGES_PATHS)
def test_page_has_safety_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    directives = csp_directives(response.headers["Content-Security-Policy"])
    for name, value in REQUIRED_CSP.items():
        assert directives[name] == value, name
    # Nothing loosens the policy: no inline code, no eval, no other hosts.
    assert not re.search(r"unsafe-|data:|https?:|\*", response.headers["Content-Security-Policy"])
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", PAGES_PATHS)
def test_page_has_no_inline_script_style_or_third_party_asset(client, path):
    html = client.get(path).get_data(as_text=True)
    for tag in re.findall(r"<script\b[^>]*>", html):
        # Either a same-site module file, or the JSON text block (never executed).
        assert re.search(r'src="/assets/', tag) or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    assert "<style" not in html
    # Every src and stylesheet is ours; the only off-site addresses are plain links.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        if url.startswith(("http://", "https://", "//")):
            assert re.search(rf'<a [^>]*href="{re.escape(url)}"', html), url


def test_quick_exit_is_on_every_page(client):
    for path in PAGES_PATHS:
        html = client.get(path).get_data(as_text=True)
        assert 'id="quick-exit"' in html and "safety.js" in html, path


def test_script_text_is_a_json_data_block(client):
    html = client.get("/report").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="portal-text">(.*?)</script>', html, re.S)

    # English, with a text that has plural forms given per CLDR category (one, other).
    expected = {key: {"one": value.singular, "other": value.plural} if isinstance(value, Plural) else value
                for key, value in SCRIPT.items()}
    assert json.loads(block.group(1)) == expected


def test_all_page_text_comes_from_the_text_module(client):
    # A sample of every page's words is in text.py, and the templates print them.
    for path, key in [("/", "start_title"), ("/under-18", "minors_title"), ("/report", "choose_title"),
                      ("/status", "status_title"), ("/withdraw", "withdraw_confirm_title")]:
        html = client.get(path).get_data(as_text=True)
        assert PAGES[key].replace("&", "&amp;") in html, (path, key)


def test_every_text_key_used_exists():
    # Jinja prints a missing key as nothing, and a button with no words is useless.
    portal = Path(__file__).resolve().parents[2] / "federation" / "portal"
    for template in (portal / "templates").glob("*.html"):
        text = template.read_text()
        for key in re.findall(r"\bt\.(\w+)", text) + re.findall(r'\btr(?:_plain)?\(\s*"(\w+)"\s*[,)]', text):
            assert key in PAGES, (template.name, key)
    for module in (portal / "static" / "js" / "portal").glob("*.js"):
        for key in re.findall(r'\bt\(\s*"(\w+)"', module.read_text()):
            assert key in SCRIPT, (module.name, key)


def test_portal_assets_are_served_with_the_right_types(client):
    # Static files are streamed: close each response so its file is closed.
    for path, types in [("/assets/js/portal/report.js", ("text/javascript", "application/javascript")),
                        ("/assets/js/hashing/worker.js", ("text/javascript", "application/javascript")),
                        ("/assets/css/portal.css", ("text/css",))]:
        with client.get(path) as response:
            assert response.status_code == 200, path
            assert response.mimetype in types, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_portal_errors_are_html_with_the_same_headers(client):
    response = client.get("/assets/no-such-file.js")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert PAGES["error_title_404"] in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_api_errors_stay_problem_json(client):
    response = client.post("/v1/cases/status", json={"reference": "x", "pin": "1"})
    assert response.mimetype == "application/problem+json"
