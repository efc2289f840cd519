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


# --- the kit's vPDQ rule (partners.matching), against the reference's pseudocode -------

def reference_rule(query, reported, distance=31, quality=50):
    """The reference README's algorithm, written out: unique frames, quality filter, both shares."""
    q = {h for h, qual in query if qual >= quality}
    c = {h for h, qual in reported if qual >= quality}
    if not q or not c:
        return 0.0, 0.0
    def near(a, b):
        return (int(a, 16) ^ int(b, 16)).bit_count() <= distance
    q_matched = sum(any(near(x, y) for y in c) for x in q)
    c_matched = sum(any(near(y, x) for x in q) for y in c)
    return 100 * q_matched / len(q), 100 * c_matched / len(c)


def test_a_frame_at_31_bits_matches_and_at_32_does_not():
    from partners.matching import MatchIndex, VideoRule
    rng = random.Random(5)
    stored = balanced(rng)
    index = MatchIndex(video_rule=VideoRule(query_percent=100))
    index.add_video("r_video", [(stored, 90)])
    at_31 = flip(stored, list(range(31)))
    at_32 = flip(stored, list(range(32)))
    assert [m.record_id for m in index.match_video([(at_31, 90)])] == ["r_video"]
    assert index.match_video([(at_32, 90)]) == []
    # The reference C++ tool's `< 31`, for whoever needs its exact counts:
    strict = MatchIndex(video_rule=VideoRule(max_distance=30, query_percent=100))
    strict.add_video("r_video", [(stored, 90)])
    assert strict.match_video([(at_31, 90)]) == []


def test_the_index_gives_the_reference_rules_shares():
    from partners.matching import MatchIndex, VideoRule
    rng = random.Random(11)
    videos = {f"r_{n}": [(balanced(rng), rng.choice((30, 60, 90))) for _ in range(rng.randrange(3, 12))]
              for n in range(20)}
    index = MatchIndex(video_rule=VideoRule(query_percent=0, reported_percent=0))
    index.add_videos(list(videos), list(videos.values()))
    for trial in range(30):
        source = videos[f"r_{trial % 20}"]
        # A query: some of the video's frames, moved by up to 40 bits, and some strangers.
        query = [(flip(h, rng.sample(range(256), rng.randrange(0, 40))), q) for h, q in source
                 if rng.random() < 0.7] + [(balanced(rng), 80) for _ in range(rng.randrange(0, 4))]
        found = {m.record_id: (m.query_percent, m.reported_percent) for m in index.match_video(query)}
        for record_id, frames in videos.items():
            q_share, c_share = reference_rule(query, frames)
            if q_share or c_share:
                assert found[record_id] == (round(q_share, 1), round(c_share, 1))
            else:
                assert record_id not in found


def test_thresholds_decide_and_a_removed_video_stops_matching():
    from partners.matching import MatchIndex, VideoRule
    rng = random.Random(12)
    stored = [(balanced(rng), 90) for _ in range(10)]
    query = stored[:4] + [(balanced(rng), 90) for _ in range(1)]      # 4 of 5 query frames: 80%
    index = MatchIndex()
    index.add_video("r_v", stored)
    assert [(m.query_percent, m.reported_percent) for m in index.match_video(query)] == [(80.0, 40.0)]
    assert MatchIndex(video_rule=VideoRule(query_percent=81)).match_video(query) == []
    both = MatchIndex(video_rule=VideoRule(reported_percent=41))
    both.add_video("r_v", stored)
    assert both.match_video(query) == []
    assert index.remove("r_v") and index.match_video(query) == []
    # Low-quality query frames take no part: the same 4 matches of 4 usable frames.
    index.add_video("r_v", stored)
    assert index.match_video([*query[:4], (balanced(rng), 10)])[0].query_percent == 100.0
