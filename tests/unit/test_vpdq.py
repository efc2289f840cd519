"""The vpdq signal's canonical form and validation (federation.vpdq via parse_signal)."""
from __future__ import annotations

import hashlib
import json
import random

import pytest

from federation.errors import InvalidSignal
from federation.rules import VPDQ_MAX_FRAMES, VPDQ_PRUNE_DISTANCE
from federation.signals import parse_signal


def balanced(rng: random.Random) -> str:
    """A PDQ-like hash: 120 of 256 bits set, within what a real picture's hash has."""
    bits = [1] * 120 + [0] * 136
    rng.shuffle(bits)
    return f"{int(''.join(map(str, bits)), 2):064x}"


def flip(value: str, bits: list[int]) -> str:
    number = int(value, 16)
    for bit in bits:
        number ^= 1 << bit
    return f"{number:064x}"


def frames(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"pdq": balanced(rng), "quality": 90, "time_ms": 1000 * i} for i in range(count)]


def refused(raw) -> InvalidSignal:
    with pytest.raises(InvalidSignal) as caught:
        parse_signal("vpdq", None, None, raw)
    return caught.value


def test_canonical_value_is_sha256_of_rfc8785_frames_written_independently():
    sent = frames(5)
    sent[2]["pdq"] = sent[2]["pdq"].upper()
    shuffled = [sent[i] for i in (3, 0, 4, 2, 1)]
    signal = parse_signal("vpdq", None, None, shuffled)
    # RFC 8785 for these values: sorted keys, no spaces, plain integers, ASCII strings.
    expected = [{"pdq": f["pdq"].lower(), "quality": f["quality"], "time_ms": f["time_ms"]} for f in sent]
    data = json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()
    assert signal.frames == data
    assert signal.value == hashlib.sha256(data).hexdigest()
    assert signal.type == "vpdq" and signal.quality is None


def test_near_duplicate_consecutive_frames_are_pruned_against_the_last_kept():
    rng = random.Random(7)
    base, other = balanced(rng), balanced(rng)
    sent = [
        {"pdq": base, "quality": 90, "time_ms": 0},
        {"pdq": flip(base, [0, 1]), "quality": 90, "time_ms": 1000},          # 2 bits: pruned
        {"pdq": flip(base, [0, 1, 2]), "quality": 90, "time_ms": 2000},       # 3 bits from kept: kept
        {"pdq": other, "quality": 90, "time_ms": 3000},
        {"pdq": base, "quality": 90, "time_ms": 4000},                        # same as frame 0, not consecutive
    ]
    kept = json.loads(parse_signal("vpdq", None, None, sent).frames)
    assert [f["time_ms"] for f in kept] == [0, 2000, 3000, 4000]
    assert VPDQ_PRUNE_DISTANCE == 2


def test_low_quality_frames_are_dropped_and_a_degenerate_one_there_is_not_refused():
    sent = frames(3)
    sent[1] = {"pdq": "0" * 64, "quality": 0, "time_ms": 1000}   # a black frame, as PDQ gives it
    kept = json.loads(parse_signal("vpdq", None, None, sent).frames)
    assert [f["time_ms"] for f in kept] == [0, 2000]


@pytest.mark.parametrize(("raw", "code"), [
    ([], "vpdq_no_frames"),
    (None, "vpdq_no_frames"),
    ("abc", "vpdq_no_frames"),
    (frames(VPDQ_MAX_FRAMES + 1), "vpdq_too_many_frames"),
])
def test_frame_count_refusals(raw, code):
    assert refused(raw).code == code


def test_the_largest_count_is_accepted():
    assert len(json.loads(parse_signal("vpdq", None, None, frames(VPDQ_MAX_FRAMES)).frames)) == VPDQ_MAX_FRAMES


def _with(index: int, **change) -> list[dict]:
    sent = frames(4)
    sent[index] = {**sent[index], **change}
    return sent


@pytest.mark.parametrize(("raw", "code"), [
    (_with(1, pdq="ab" * 31), "vpdq_frame_invalid"),          # 62 hex digits
    (_with(1, pdq="ab" * 33), "vpdq_frame_invalid"),          # 66
    (_with(1, pdq="zz" * 32), "vpdq_frame_invalid"),
    (_with(1, pdq=12), "vpdq_frame_invalid"),
    (_with(2, quality=101), "vpdq_frame_quality"),
    (_with(2, quality=-1), "vpdq_frame_quality"),
    (_with(2, quality=True), "vpdq_frame_quality"),
    (_with(2, quality=50.5), "vpdq_frame_quality"),
    (_with(2, quality="90"), "vpdq_frame_quality"),
    (_with(3, time_ms=-1), "vpdq_frame_invalid"),
    (_with(3, time_ms=1.5), "vpdq_frame_invalid"),
    (_with(3, time_ms=10 ** 12), "vpdq_frame_invalid"),
    (_with(3, time_ms=0), "vpdq_duplicate_timestamp"),
    (_with(0, pdq="0" * 64), "vpdq_frame_degenerate"),
    (_with(0, pdq="f" * 64), "vpdq_frame_degenerate"),
    (_with(0, pdq="f" * 48 + "0" * 16), "vpdq_frame_degenerate"),  # 192 of 256 bits set
    ([{"pdq": "0" * 64, "quality": 10, "time_ms": 0}], "vpdq_no_usable_frames"),
    ([{"pdq": "ab" * 32, "quality": 90}], "vpdq_frame_invalid"),
    ([{"pdq": "ab" * 32, "quality": 90, "time_ms": 0, "extra": 1}], "vpdq_frame_invalid"),
    (["ab" * 32], "vpdq_frame_invalid"),
])
def test_bad_frames_refused_with_their_code(raw, code):
    error = refused(raw)
    assert error.code == code and error.status == 422


def test_the_degenerate_frame_is_named():
    assert "frame 2" in refused(_with(2, pdq="0" * 64)).detail


def test_vpdq_takes_neither_value_nor_quality_and_others_take_no_frames():
    with pytest.raises(InvalidSignal):
        parse_signal("vpdq", "ab" * 32, None, frames(2))
    with pytest.raises(InvalidSignal):
        parse_signal("vpdq", None, 90, frames(2))
    with pytest.raises(InvalidSignal):
        parse_signal("pdq", "ab" * 32, 90, frames(2))


def test_a_page_holds_the_largest_entry():
    from federation import feed, vpdq
    assert feed.MAX_PAGE_BYTES > vpdq.MAX_FRAMES_BYTES + 1024
    largest = [{"pdq": "f" * 64, "quality": 100, "time_ms": 172_800_000}] * VPDQ_MAX_FRAMES
    assert len(json.dumps(largest, separators=(",", ":"))) <= vpdq.MAX_FRAMES_BYTES
