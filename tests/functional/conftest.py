"""Fixtures shared by the functional tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.browser_support import Portal, chromium_missing_reason, launch_chromium, serve_in_thread


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, one per test module (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def base_url(app):
    """The app served on 127.0.0.1 by a threaded server, for the browser."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    with serve_in_thread(server) as url:
        yield url


@pytest.fixture
def portal(browser, base_url, clean_database):
    portal = Portal(browser, base_url)
    yield portal
    portal.close()


@pytest.fixture(scope="module")
def photos(corpus_dir) -> list[Path]:
    return sorted((corpus_dir / "pdq-reference" / "bridge-mods").glob("*.jpg"))


@pytest.fixture
def cli(app, test_config, monkeypatch, clean_database):
    """`federation ...` as the operator runs it (its app built from the environment),
    on the test run's database; returns click's result."""
    from click.testing import CliRunner

    from federation.cli import main

    for name, value in test_config.items():
        monkeypatch.setenv(f"FEDERATION_{name}", str(value))

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    return run
