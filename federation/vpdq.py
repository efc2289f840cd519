"""The `vpdq` signal: a video as the PDQ hashes of about one frame a second.

Wire form (a report, and the feed's `add` entry)::

    {"type": "vpdq", "frames": [{"pdq": "<64 hex>", "quality": 0-100, "time_ms": 0-...}, ...]}

Canonical form, which is what is stored and signed, made by :func:`parse_frames`:

1. each frame is checked: exactly the keys `pdq`, `quality`, `time_ms`; 64 hex digits;
   a whole quality from 0 to 100; a whole, non-negative time within two days;
2. no two frames share a time (a decoder never yields two frames at one instant, so
   a repeat is a client's bug, and refused rather than guessed at);
3. frames of quality below 50 are dropped: the rule never compares them, on either side
   (docs/video.md), so keeping them would only grow the feed;
4. the rest must each be a PDQ a real picture can have (`rules.pdq_degenerate`): the
   sender's quality is not evidence;
5. frames are sorted by time, hex lower-cased, and a frame within
   `VPDQ_PRUNE_DISTANCE` bits of the last frame kept is pruned, as the reference
   describes: a still scene becomes one frame.

The signal's `value` is the SHA-256 (hex) of the canonical frames' RFC 8785 bytes, so
two reports of the same video are one signal, and the value fits the 64-character
column every other signal uses.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from federation.crypto.canonical import canonical_json
from federation.errors import InvalidSignal
from federation.rules import (
    VPDQ_MAX_FRAMES,
    VPDQ_MAX_TIME_MS,
    VPDQ_MIN_QUALITY,
    VPDQ_PRUNE_DISTANCE,
    pdq_degenerate,
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_KEYS = frozenset({"pdq", "quality", "time_ms"})
# The largest canonical frame: {"pdq":"<64>","quality":100,"time_ms":172800000}
MAX_FRAME_BYTES = len(canonical_json({"pdq": "0" * 64, "quality": 100, "time_ms": VPDQ_MAX_TIME_MS}))
# So the largest canonical frame list, and a bound any page or body must leave room for.
MAX_FRAMES_BYTES = 2 + VPDQ_MAX_FRAMES * (MAX_FRAME_BYTES + 1)


@dataclass(frozen=True, slots=True)
class Frame:
    pdq: str
    quality: int
    time_ms: int

    def as_json(self) -> dict[str, Any]:
        return {"pdq": self.pdq, "quality": self.quality, "time_ms": self.time_ms}


def parse_frames(raw: object) -> tuple[Frame, ...]:
    """Validate and normalise a vpdq signal's frames (see the module's docstring).

    Raises InvalidSignal with one of the codes `vpdq_no_frames`, `vpdq_too_many_frames`,
    `vpdq_frame_invalid`, `vpdq_frame_quality`, `vpdq_duplicate_timestamp`,
    `vpdq_frame_degenerate`, `vpdq_no_usable_frames`; `detail` names the frame's index
    as sent.
    """
    if not isinstance(raw, list):
        raise InvalidSignal("a vpdq signal needs `frames`: a list of {pdq, quality, time_ms}",
                            code="vpdq_no_frames")
    if not raw:
        raise InvalidSignal("a vpdq signal needs at least one frame", code="vpdq_no_frames")
    if len(raw) > VPDQ_MAX_FRAMES:
        raise InvalidSignal(f"a vpdq signal has at most {VPDQ_MAX_FRAMES} frames, not {len(raw)}: "
                            "sample a long video more sparsely", code="vpdq_too_many_frames")
    frames = [_frame(i, item) for i, item in enumerate(raw)]
    seen: dict[int, int] = {}
    for i, frame in enumerate(frames):
        if frame.time_ms in seen:
            raise InvalidSignal(f"frames {seen[frame.time_ms]} and {i} have the same time_ms "
                                f"({frame.time_ms})", code="vpdq_duplicate_timestamp")
        seen[frame.time_ms] = i
    usable = []
    for i, frame in enumerate(frames):
        if frame.quality < VPDQ_MIN_QUALITY:
            continue
        reason = pdq_degenerate(frame.pdq)
        if reason:
            raise InvalidSignal(f"frame {i}: its PDQ cannot come from a real picture ({reason})",
                                code="vpdq_frame_degenerate")
        usable.append(frame)
    if not usable:
        raise InvalidSignal(f"no frame has quality {VPDQ_MIN_QUALITY} or more: the video is too "
                            "featureless to match safely", code="vpdq_no_usable_frames")
    usable.sort(key=lambda f: f.time_ms)
    return tuple(prune(usable))


def prune(frames: Sequence[Frame], distance: int = VPDQ_PRUNE_DISTANCE) -> list[Frame]:
    """Drop each frame within `distance` bits of the last frame kept (frames in time order)."""
    kept: list[Frame] = []
    last = -1
    for frame in frames:
        value = int(frame.pdq, 16)
        if kept and (value ^ last).bit_count() <= distance:
            continue
        kept.append(frame)
        last = value
    return kept


def canonical_bytes(frames: Sequence[Frame]) -> bytes:
    """The frames' RFC 8785 bytes: what is stored, signed in the entry, and digested."""
    return canonical_json([f.as_json() for f in frames])


def digest(frames: Sequence[Frame]) -> str:
    """The signal's value: SHA-256 of the canonical bytes, 64 lower-case hex digits."""
    return hashlib.sha256(canonical_bytes(frames)).hexdigest()


def frames_from_bytes(data: bytes) -> list[dict[str, Any]]:
    """Stored canonical bytes back to the JSON list that travels in an entry."""
    return json.loads(data)


def _frame(index: int, item: object) -> Frame:
    if not isinstance(item, dict) or set(item) != _KEYS:
        raise InvalidSignal(f"frame {index}: must be an object with exactly pdq, quality and time_ms",
                            code="vpdq_frame_invalid")
    pdq, quality, time_ms = item["pdq"], item["quality"], item["time_ms"]
    if not isinstance(pdq, str) or not _HEX64.fullmatch(pdq):
        raise InvalidSignal(f"frame {index}: pdq must be exactly 64 hexadecimal characters",
                            code="vpdq_frame_invalid")
    if not _whole(quality) or not 0 <= quality <= 100:
        raise InvalidSignal(f"frame {index}: quality must be a whole number from 0 to 100",
                            code="vpdq_frame_quality")
    if not _whole(time_ms) or not 0 <= time_ms <= VPDQ_MAX_TIME_MS:
        raise InvalidSignal(f"frame {index}: time_ms must be a whole number of milliseconds "
                            f"from 0 to {VPDQ_MAX_TIME_MS}", code="vpdq_frame_invalid")
    return Frame(pdq.lower(), int(quality), int(time_ms))


def _whole(value: object) -> bool:
    # JSON has one number type: 84 and 84.0 are the same number; true is not one.
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
