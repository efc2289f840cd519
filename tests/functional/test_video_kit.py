"""The kit's video hashing and the vPDQ rule on real encoded videos, and bad files.

Videos are made in the test from generated pictures (tests/videos.py), never downloaded.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pdqhash
import pytest

from partners.matching import MatchIndex, VideoRule
from partners.video import NotAVideo, NoVideoTrack, VideoTooLarge, hash_video
from tests import videos

# Our PDQ against Meta's C++ (pdqhash) on the same decoded RGB frame: they differ only
# by float rounding at the median, measured 0-2 bits (bench/README.md, "Video").
COMPATIBLE_BITS = 6


def reference_hex(rgb: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    original = videos.make(root / "original.mp4", seed=1, seconds=12)
    return {
        "original": original,
        # What a platform does to an upload: other size, other bitrate, other codec.
        "transcoded": videos.transcode(original, root / "transcoded.webm",
                                       lambda f: _resize(f, 240, 180),
                                       codec="libvpx-vp9", bit_rate=150_000),
        "clip": videos.write(root / "clip.mp4", list(videos.frames(1, 12, 15, 320, 240))[60:150]),
        "unrelated": videos.make(root / "unrelated.mp4", seed=2, seconds=12),
    }


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def frames_of(path: Path) -> list[tuple[str, int]]:
    return [(f.pdq, f.quality) for f in hash_video(path).frames]


def test_one_frame_a_second_each_compatible_with_meta_pdq_on_the_same_decoded_frame(made):
    hashed = hash_video(made["original"])
    assert [f.time_ms for f in hashed.frames] == [1000 * k for k in range(12)]
    assert hashed.complete and hashed.decoded_frames == 180
    decoded = list(videos.decoded(made["original"]))
    for frame in hashed.frames:
        expected, quality = reference_hex(decoded[frame.time_ms * 15 // 1000])
        assert distance(frame.pdq, expected) <= COMPATIBLE_BITS
        assert abs(frame.quality - quality) <= 2


def test_fast_mode_stays_close_to_exact(made):
    exact, fast = hash_video(made["original"]), hash_video(made["original"], mode="fast")
    assert len(exact.frames) == len(fast.frames)
    assert all(abs(a.time_ms - b.time_ms) <= 200 for a, b in zip(exact.frames, fast.frames, strict=True))


def test_a_transcoded_copy_and_a_clip_match_an_unrelated_video_does_not(made):
    index = MatchIndex()
    index.add_video("r_original", frames_of(made["original"]))
    index.add_video("r_other", frames_of(made["unrelated"]))
    copy = index.match_video(frames_of(made["transcoded"]))
    assert [m.record_id for m in copy] == ["r_original"] and copy[0].query_percent >= 80
    clip = index.match_video(frames_of(made["clip"]))
    assert [m.record_id for m in clip] == ["r_original"]
    assert clip[0].query_percent == 100 and clip[0].reported_percent < 80   # 6 of 12 seconds
    # The reference's own default (80% of the reported video) would not take the clip.
    strict = MatchIndex(video_rule=VideoRule(query_percent=0, reported_percent=80))
    strict.add_video("r_original", frames_of(made["original"]))
    assert strict.match_video(frames_of(made["clip"])) == []
    assert index.remove("r_original")
    assert index.match_video(frames_of(made["transcoded"])) == []


def test_long_videos_are_sampled_more_sparsely_to_fit_the_bound(tmp_path):
    path = videos.make(tmp_path / "long.mp4", seed=3, seconds=10, fps=5, width=96, height=64)
    hashed = hash_video(path, max_frames=4)
    assert hashed.seconds_per_hash == math.ceil(10 / 4) and len(hashed.frames) == 4
    assert [f.time_ms for f in hashed.frames] == [0, 3000, 6000, 9000]


# --- bad files ------------------------------------------------------------------------

def test_not_a_video_and_an_empty_file(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (text, empty):
        with pytest.raises(NotAVideo):
            hash_video(path)


def test_a_truncated_mp4(tmp_path, made):
    data = made["original"].read_bytes()
    # moov at the end (FFmpeg's default): cut off, nothing says where the frames are.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotAVideo):
        hash_video(cut)
    # moov first (faststart): the frames before the cut are hashed, and it says so.
    whole = videos.make(tmp_path / "fast.mp4", seed=1, seconds=12,
                        container_options={"movflags": "faststart"})
    partial = tmp_path / "partial.mp4"
    partial.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    hashed = hash_video(partial)
    assert 0 < len(hashed.frames) < 12


def test_a_one_frame_video(tmp_path):
    path = videos.make(tmp_path / "one.mp4", seed=4, seconds=1 / 15)
    hashed = hash_video(path)
    assert [f.time_ms for f in hashed.frames] == [0] and hashed.decoded_frames == 1


def test_a_file_with_no_video_track(tmp_path):
    import av
    path = tmp_path / "sound.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=48000)
        tone = np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440).astype(np.float32)
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(NoVideoTrack):
        hash_video(path)


def test_an_enormous_resolution_is_not_decoded(tmp_path):
    path = videos.write(tmp_path / "huge.mp4", [np.zeros((6000, 7000, 3), np.uint8)], fps=1,
                        options={"preset": "ultrafast"})
    with pytest.raises(VideoTooLarge):
        hash_video(path)


def test_cli_reports_each_bad_file_in_its_line(tmp_path, made):
    from click.testing import CliRunner

    from partners.cli import main
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    result = CliRunner().invoke(main, ["--store", str(tmp_path / "s.db"), "match", str(empty),
                                       str(made["original"])], catch_exceptions=False)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["error"] == "unreadable_video" and lines[0]["matches"] == []
    assert lines[1]["frames"] == 12 and "error" not in lines[1]
    assert result.exit_code == 1
