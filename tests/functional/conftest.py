"""Fixtures shared by the functional tests."""
from __future__ import annotations

import pytest

from tests.functional.browser_support import chromium_missing_reason, launch_chromium


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
