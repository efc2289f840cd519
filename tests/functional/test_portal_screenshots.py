"""Every step of the portal at phone and desktop widths, and at 320 px: nothing may need
sideways scrolling, and each step is photographed.

The pictures go to a temporary folder; to refresh the ones in docs/portal/, run
    FEDERATION_PORTAL_SCREENSHOTS=docs/portal pytest tests/functional/test_portal_screenshots.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.functional.browser_support import HASHING_TIMEOUT_MS, Portal

pytestmark = pytest.mark.browser

WIDTHS = {"phone": (390, 844), "desktop": (1280, 900), "narrow": (320, 640)}
BIG_VIDEO_BYTES = 160 * 2**20  # long enough to hash that the progress can be seen


@pytest.fixture
def out_dir(tmp_path) -> Path:
    target = os.environ.get("FEDERATION_PORTAL_SCREENSHOTS")
    return Path(target) if target else tmp_path


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_step_fits_and_is_photographed(browser, base_url, clean_database, photos, tmp_path,
                                             out_dir, width):
    w, h = WIDTHS[width]
    portal = Portal(browser, base_url, viewport={"width": w, "height": h})
    page = portal.page
    shots: list[Path] = []

    def shot(step: str) -> None:
        page.evaluate("document.fonts.ready")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{step} scrolls sideways by {overflow}px at {w}px"
        if width == "narrow":
            return  # checked for fit only
        path = out_dir / f"{len(shots) + 1:02}-{step}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    video = tmp_path / "video-from-phone.mp4"
    with open(video, "wb") as f:  # sparse: instant to make, still read byte by byte
        f.truncate(BIG_VIDEO_BYTES)
    plain = tmp_path / "screenshot-of-chat.png"
    Image.new("RGB", (300, 500), (250, 250, 250)).save(plain)

    portal.open("/")
    shot("start")
    page.click("#age-minor")
    expect(page.locator("#take-it-down")).to_be_visible()
    shot("under-18")

    portal.start_report()
    shot("choose-empty")
    portal.choose(photos=[*photos[:3], plain], others=[video])
    expect(page.locator("#file-list .file")).to_have_count(5)
    shot("choose")

    page.click("#hash-start")
    page.wait_for_function("""() => {
        const bar = document.querySelector('.file[data-status="hashing"] progress');
        return bar && bar.value > 0 && bar.value < bar.max;
    }""", polling="raf")
    shot("hashing")
    expect(page.locator("#step-review")).to_be_visible(timeout=HASHING_TIMEOUT_MS)
    shot("review")

    portal.agree()
    shot("consent")

    # The first send is lost on the way: the page offers a retry with the same key.
    sent = []
    page.route("**/v1/cases", lambda route: route.abort("internetdisconnected") if not sent.append(1)
               and len(sent) == 1 else route.continue_())
    page.click("#send")
    expect(page.locator("#retry")).to_be_visible()
    shot("send-failed")
    page.click("#retry")
    [(reference, pin)] = portal.receipts()
    shot("reference-and-pin")

    portal.credentials("/status", reference, "00000000" if pin != "00000000" else "11111111")
    expect(page.locator("#form-message")).to_contain_text("could not find")
    shot("status-wrong-pin")
    portal.credentials("/status", reference, pin)
    expect(page.locator("#outcome")).to_be_visible()
    shot("status")

    portal.credentials("/withdraw", reference, pin)
    expect(page.locator("#confirm")).to_be_visible()
    shot("withdraw-confirm")
    page.click("#confirm-yes")
    expect(page.locator("#done")).to_be_visible()
    shot("withdraw-done")

    assert portal.errors == []
    assert portal.off_machine() == []
    portal.close()
