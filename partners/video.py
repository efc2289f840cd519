"""vPDQ of a video file: decode with PyAV (FFmpeg inside its wheels), sample about one
frame a second, and PDQ-hash each sampled frame with the kit's own PDQ.

Sampling is by time, not by frame count: the frame hashed for second ``k`` is the
first decoded frame whose presentation time is at or after ``k * seconds_per_hash``.
For a constant, whole frame rate that is exactly the frame the reference picks (its
``frameNumber % int(fps) == 0``); for 29.97 fps and variable-rate phone videos it
keeps to the clock where the reference drifts (every 29th frame), and it is what a
browser can do too (the portal samples the same way). Each frame's time is its
presentation time from the video's first frame, in whole milliseconds.

Two decoding modes:

* ``exact`` (the default): every frame is decoded, as the reference does;
* ``fast``: frames that no other frame refers to are not decoded, nor is
  the deblocking filter run (FFmpeg's ``skip_frame=nonref`` and
  ``skip_loop_filter=all``). The frame hashed for a second is then the first
  *decoded* frame at or after it, at most a few frames later than in ``exact``; its
  PDQ is within a few bits (bench/README.md, "Video", measures both). About twice as
  fast on H.264.

Frames are hashed from the decoded picture converted to RGB by FFmpeg (BT.601, as the
reference's ``sws_scale`` to RGB24 does), at most ``max_side`` pixels on the long
side (the reference hashes full size; PDQ's own filter reduces any frame to 64 x 64,
so a reduction first changes few bits: measured in bench/README.md).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from partners.pdq import luma_from_rgb, pdq_from_luma

# A frame above this many pixels is not decoded (8K is 33 M): a crafted file can claim
# any size, and each decoded frame of it would be allocated in full.
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".3gp", ".ts", ".mpg",
                            ".mpeg", ".wmv", ".flv", ".ogv"})


class VideoError(Exception):
    """The file could not be hashed as a video. `code` is stable, for JSON lines."""

    code = "unreadable_video"


class NotAVideo(VideoError):
    code = "unreadable_video"


class NoVideoTrack(VideoError):
    code = "no_video_track"


class VideoTooLarge(VideoError):
    code = "video_too_large"


@dataclass(frozen=True, slots=True)
class VideoFrame:
    pdq: str
    quality: int
    time_ms: int


@dataclass
class VideoHashes:
    frames: list[VideoFrame] = field(default_factory=list)
    seconds_per_hash: float = 1.0
    # False when decoding stopped at damaged or missing data (a truncated file): the
    # frames before it are still hashed and returned.
    complete: bool = True
    decoded_frames: int = 0


def hash_video(path: str | Path, *, seconds_per_hash: float = 1.0, mode: str = "exact",
               max_frames: int | None = None, max_side: int = MAX_SIDE) -> VideoHashes:
    """vPDQ frames of a video file (see the module's docstring).

    With `max_frames` (the federation's bound for a report, rules.VPDQ_MAX_FRAMES),
    a video too long for it is sampled more sparsely, from its declared duration.
    Raises NotAVideo, NoVideoTrack or VideoTooLarge; a truncated file gives the frames
    before the damage with `complete` False.
    """
    if mode not in ("fast", "exact"):
        raise ValueError("mode is fast or exact")
    if seconds_per_hash <= 0:
        raise ValueError("seconds_per_hash must be positive")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise NotAVideo(f"not a video this kit can read: {error}") from None
    with container:
        if not container.streams.video:
            raise NoVideoTrack("the file has no video track")
        stream = container.streams.video[0]
        context = stream.codec_context
        if (context.width or 0) * (context.height or 0) > MAX_PIXELS:
            raise VideoTooLarge(f"{context.width}x{context.height} is above {MAX_PIXELS:,} pixels a frame")
        context.thread_type = "NONE"  # one core: the caller runs several files in parallel if it wants
        context.thread_count = 1
        if mode == "fast":
            context.skip_frame = "NONREF"
            context.options = {"skip_loop_filter": "all"}
        duration = _duration(container, stream)
        if max_frames and duration and duration / seconds_per_hash > max_frames:
            seconds_per_hash = math.ceil(duration / max_frames)
        result = VideoHashes(seconds_per_hash=seconds_per_hash)
        for time_ms, frame in _sampled(container, stream, seconds_per_hash, result):
            pdq, quality = _hash_frame(frame, max_side)
            result.frames.append(VideoFrame(pdq, quality, time_ms))
            if max_frames and len(result.frames) >= max_frames:
                break
    return result


def _sampled(container, stream, interval: float,
             result: VideoHashes) -> Iterator[tuple[int, av.VideoFrame]]:
    """(ms from the first frame, frame) for the first frame at or after each interval."""
    start: float | None = None
    step_ms = round(interval * 1000)
    next_ms = 0
    try:
        for frame in container.decode(stream):
            result.decoded_frames += 1
            if frame.width * frame.height > MAX_PIXELS:
                raise VideoTooLarge(f"a frame of {frame.width}x{frame.height} is above {MAX_PIXELS:,} pixels")
            when = frame.time
            if when is None:  # no timestamps at all: count frames at the declared rate
                when = (result.decoded_frames - 1) / float(stream.average_rate or 30)
            if start is None:
                start = when
            # Whole milliseconds: a time base that cannot say 1.0 exactly says 0.99993.
            elapsed_ms = round((when - start) * 1000)
            if elapsed_ms < next_ms:
                continue
            yield elapsed_ms, frame
            next_ms = (elapsed_ms // step_ms + 1) * step_ms
    except av.error.FFmpegError:
        # Damaged or cut-off data: keep what decoded before it, and say so.
        result.complete = False
    if result.decoded_frames == 0 and not result.complete:
        raise NotAVideo("no frame of the video could be decoded")


def _hash_frame(frame: av.VideoFrame, max_side: int) -> tuple[str, int]:
    width, height = frame.width, frame.height
    scale = max(width, height) / max_side
    if scale > 1:  # FFmpeg's area filter: a box reduction, which PDQ's tent filter then smooths
        width, height = max(1, round(width / scale)), max(1, round(height / scale))
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    return pdq_from_luma(luma_from_rgb(rgb))


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def file_digests(path: str | Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """(MD5, SHA-256) of a file, read in chunks."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            md5.update(block)
            sha256.update(block)
    return md5.hexdigest(), sha256.hexdigest()


def as_signal(hashes: VideoHashes) -> dict:
    """The `vpdq` signal to report (POST /v1/cases or /v1/signals) for these frames."""
    return {"type": "vpdq", "frames": [{"pdq": f.pdq, "quality": f.quality, "time_ms": f.time_ms}
                                       for f in hashes.frames]}

