"""vPDQ in the person's browser: the portal's hashing modules on real videos in headless Chromium.

Videos are made in the test from generated pictures (tests/videos.py); files reach the
page through a real <input type=file>. The kit (partners/video.py, PyAV) hashes the
same files as the independent side.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from partners.video import hash_video
from tests import videos
from tests.functional.browser_support import PORTAL_STATIC, RequestLog, serve_static

pytestmark = pytest.mark.browser

# The browser (the decoded Y plane, WebCodecs VideoFrame) against the kit (FFmpeg), same video:
# the same decoded frame, measured 0-6 bits apart, median 0 (bench/README.md, "Video").
BROWSER_KIT_BITS = 8

HARNESS = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>video harness</title>
<input type="file" id="files" multiple>
<script type="module">
import { hashFile, HashingError } from "/static/js/hashing/client.js";
window.hashChosen = (kind, cancelAtProgress = false) => Promise.all(
  [...document.getElementById("files").files].map(async (file) => {
    const controller = new AbortController();
    const progress = [];
    const onProgress = ({ done, total }) => {
      progress.push([done, total]);
      if (cancelAtProgress && done > 0) controller.abort();
    };
    const start = performance.now();
    try {
      const { signals, note } = await hashFile(file, { kind, onProgress, signal: controller.signal });
      return { name: file.name, signals, note: note ?? null, error: null, progress,
               milliseconds: performance.now() - start };
    } catch (error) {
      if (!(error instanceof HashingError)) throw error;
      return { name: file.name, signals: error.signals, error: error.code, progress,
               milliseconds: performance.now() - start };
    }
  }),
);
</script></html>
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser-videos")
    original = videos.make(root / "original.mp4", seed=1, seconds=12)
    data = original.read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) // 2])
    (root / "notes.mp4").write_text("not a video\n" * 50)
    (root / "empty.mp4").write_bytes(b"")
    return {
        "original": original,
        "webm": videos.make(root / "vp9.webm", seed=5, seconds=6, codec="libvpx-vp9"),
        "one": videos.make(root / "one.mp4", seed=4, seconds=1 / 15),
        "long": videos.make(root / "long.mp4", seed=6, seconds=40, width=160, height=120),
        "cut": root / "cut.mp4", "notes": root / "notes.mp4", "empty": root / "empty.mp4",
        "huge": videos.write(root / "huge.mp4", [np.zeros((6000, 7000, 3), np.uint8)], fps=1,
                             options={"preset": "ultrafast"}),
        "sound": _sound_only(root / "sound.webm"),
    }


def _sound_only(path: Path) -> Path:
    import av
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libopus", rate=48000)
        tone = np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440).astype(np.float32)
        for start in range(0, 48000, 960):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 960], format="flt", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def harness_url():
    with serve_static({"/static/": PORTAL_STATIC}, {"/harness.html": HARNESS}) as base_url:
        yield f"{base_url}/harness.html"


@pytest.fixture
def page(browser, harness_url):
    context = browser.new_context()
    log = RequestLog.attach(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(harness_url)
    page.requests = log
    yield page
    context.close()
    assert errors == []


def hash_files(page, paths: list[Path], kind: str = "video", cancel: bool = False) -> list[dict]:
    page.set_input_files("#files", [str(p) for p in paths])
    return page.evaluate("([kind, cancel]) => window.hashChosen(kind, cancel)", [kind, cancel])


def by_type(outcome: dict) -> dict[str, dict]:
    return {s["type"]: s for s in outcome["signals"]}


def digests(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def test_h264_and_vp9_hash_like_the_kit_with_exact_digests(page, made):
    outcomes = hash_files(page, [made["original"], made["webm"]])
    for outcome, path in zip(outcomes, [made["original"], made["webm"]], strict=True):
        assert outcome["error"] is None and outcome["note"] is None, outcome
        signals = by_type(outcome)
        assert {k: signals[k]["value"] for k in ("md5", "sha256")} == digests(path)
        browser_frames = signals["vpdq"]["frames"]
        kit_frames = hash_video(path).frames
        assert [f["time_ms"] for f in browser_frames] == [f.time_ms for f in kit_frames]
        for ours, kit in zip(browser_frames, kit_frames, strict=True):
            assert (int(ours["pdq"], 16) ^ int(kit.pdq, 16)).bit_count() <= BROWSER_KIT_BITS
        assert outcome["progress"][-1][0] == path.stat().st_size


def test_frames_above_2048_pixels_are_scaled_through_a_canvas_and_still_match(page, tmp_path):
    big = videos.make(tmp_path / "big.mp4", seed=8, seconds=3, width=2560, height=1440)
    [outcome] = hash_files(page, [big])
    frames = by_type(outcome)["vpdq"]["frames"]
    kit = hash_video(big).frames
    assert [f["time_ms"] for f in frames] == [f.time_ms for f in kit]
    for ours, theirs in zip(frames, kit, strict=True):
        assert (int(ours["pdq"], 16) ^ int(theirs.pdq, 16)).bit_count() <= 31


def test_a_one_frame_video(page, made):
    [outcome] = hash_files(page, [made["one"]])
    assert [f["time_ms"] for f in by_type(outcome)["vpdq"]["frames"]] == [0]


@pytest.mark.parametrize(("name", "note"), [
    ("notes", "video_undecodable"), ("cut", "video_undecodable"),
    ("sound", "video_no_picture"), ("huge", "video_too_large"),
])
def test_a_video_without_frames_still_gets_its_file_hashes_and_a_note(page, made, name, note):
    [outcome] = hash_files(page, [made[name]])
    assert outcome["error"] is None and outcome["note"] == note
    assert {s["type"]: s["value"] for s in outcome["signals"]} == digests(made[name])


def test_an_empty_file_is_refused(page, made):
    [outcome] = hash_files(page, [made["empty"]])
    assert outcome["error"] == "empty_file"


def test_hashing_can_be_cancelled(page, made):
    [outcome] = hash_files(page, [made["long"]], cancel=True)
    assert outcome["error"] == "cancelled" and outcome["signals"] == []


def test_no_byte_of_the_video_leaves_the_page(page, made):
    hash_files(page, [made["original"], made["webm"], made["notes"]])
    assert page.requests.off_host() == [] or all(u.split()[1].startswith("blob:")
                                                 for u in page.requests.off_host())
    assert page.requests.with_body() == []
    fetched = [r.url for r in page.requests.requests]
    assert all(url.startswith(("blob:", page.url.rsplit("/", 1)[0] + "/static/", page.url)) for url in fetched)
