"""End to end: a person reports a video through the portal (vPDQ made in their browser);
a platform's kit syncs the feed and finds a transcoded copy; after withdrawal it does not.

The video is made in the test from generated pictures; the copy is what a platform's
pipeline would make of it (resized, re-encoded as VP9 at a low bitrate): other bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from partners.cli import main as partner_cli
from tests import videos
from tests.factories import add_partner
from tests.functional.browser_support import expect

pytestmark = pytest.mark.browser


def _smaller(frame: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize((240, 180), Image.BILINEAR))


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e-videos")
    original = videos.make(root / "holiday.mp4", seed=21, seconds=10)
    return {
        "original": original,
        "copy": videos.transcode(original, root / "reupload.webm", _smaller, codec="libvpx-vp9",
                                 bit_rate=120_000),
        "unrelated": videos.make(root / "unrelated.mp4", seed=22, seconds=10),
    }


@pytest.fixture
def kit(app, base_url, tmp_path):
    token = add_partner(app, display_name="Acme Video")
    env = {"FEDERATION_SERVER": base_url, "FEDERATION_PARTNER_TOKEN": token,
           "FEDERATION_PARTNER_STORE": str(tmp_path / "store.db")}

    def run(*args):
        return CliRunner().invoke(partner_cli, list(args), env=env, catch_exceptions=False)
    return run


def matches(output: str) -> dict[str, list]:
    return {Path(line["path"]).name: line["matches"] for line in map(json.loads, output.splitlines())}


def test_reported_in_the_browser_matched_by_the_kit_until_withdrawn(portal, kit, made, client):
    portal.start_report()
    portal.choose(others=[made["original"]])
    portal.make_hashes()
    expect(portal.row("holiday.mp4")).to_contain_text("10 pictures from the video")
    [(reference, pin)] = portal.send()
    # What left the page: the frames' hashes as JSON, no byte of the video.
    [post] = portal.case_posts()
    body = json.loads(post.post_data_buffer)
    [vpdq] = [s for s in body["signals"] if s["type"] == "vpdq"]
    assert len(vpdq["frames"]) == 10
    assert b"ftyp" not in post.post_data_buffer and len(post.post_data_buffer) < 5000
    assert portal.off_machine() == [] and portal.errors == []

    synced = kit("sync")
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout.splitlines()[-1])["active"] == 3   # vpdq, md5, sha256

    found = kit("match", *(str(made[k]) for k in ("original", "copy", "unrelated")))
    assert found.exit_code == 0, found.output
    result = matches(found.stdout)
    assert {m["type"] for m in result["holiday.mp4"]} == {"md5", "sha256", "vpdq"}
    [copy] = result["reupload.webm"]
    assert copy["type"] == "vpdq" and copy["query_percent"] >= 80
    assert result["unrelated.mp4"] == []

    assert client.post("/v1/cases/withdraw", json={"reference": reference, "pin": pin}).status_code == 200
    again = kit("sync")
    assert json.loads(again.stdout.splitlines()[-1])["active"] == 0
    after = kit("match", str(made["copy"]), str(made["original"]))
    assert after.exit_code == 1 and all(not m for m in matches(after.stdout).values())


def test_a_video_the_browser_cannot_play_is_sent_as_its_file_hashes_with_a_note(portal, tmp_path, engine):
    from sqlalchemy import select

    from federation.models import Signal
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100)
    portal.start_report()
    portal.choose(others=[broken])
    portal.make_hashes()
    expect(portal.row("broken.mp4")).to_contain_text("could not play this video")
    portal.send()
    with engine.connect() as connection:
        assert sorted(connection.scalars(select(Signal.type))) == ["md5", "sha256"]
