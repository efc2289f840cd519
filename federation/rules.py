"""The federation's signal rules, shared by the server and the partner kit.

This module imports nothing, so the kit (`partners/`) reads the same numbers as the
server without importing the server: what is refused on entry and what counts as a
match are decided here once.
"""
from __future__ import annotations

# Hex digits of each signal type's value, lower case on the wire.
HEX_LENGTHS = {"pdq": 64, "phash": 16, "md5": 32, "sha256": 64}
SIGNAL_TYPES = tuple(HEX_LENGTHS)

# Below this a picture is too featureless to match safely: refused on entry, and the
# kit does not PDQ-match an upload below it.
MIN_PDQ_QUALITY = 50
# Two PDQ hashes match at a Hamming distance of at most this many bits of 256.
PDQ_MATCH_DISTANCE = 31
# Two pHashes match within this many bits of 64: the same fraction (about 12%) as PDQ's.
PHASH_MATCH_DISTANCE = 8

# --- hashes that cannot come from a real file (docs/list-hygiene.md) -------------------
# The digest of empty input matches every empty file: it is never evidence of anything.
EMPTY_DIGESTS = {
    "md5": "d41d8cd98f00b204e9800998ecf8427e",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
# PDQ sets a bit where its DCT coefficient exceeds the median of all 256, and pHash
# where it exceeds the median of 64: a real picture's hash has at most half its bits
# set, and fewer only where coefficients tie (flat pictures, which PDQ's quality
# refuses anyway). docs/list-hygiene.md records the distribution these bounds come from.
BIT_BALANCE = {"pdq": (112, 128), "phash": (24, 32)}


def degenerate(kind: str, value: str) -> str | None:
    """Why a well-formed hash of this type cannot come from a real file, or None.

    A sender's claimed PDQ quality is not evidence: this looks at the value alone.
    """
    if EMPTY_DIGESTS.get(kind) == value:
        return f"it is the {kind} of empty input, which every empty file has"
    if kind not in BIT_BALANCE:
        return None
    bits = len(value) * 4
    ones = int(value, 16).bit_count()
    if ones in (0, bits):
        return f"all its bits are {'zero' if ones == 0 else 'one'}"
    low, high = BIT_BALANCE[kind]
    if not low <= ones <= high:
        return f"{ones} of its {bits} bits are set; a picture's {kind} sets {low} to {high}"
    return None


def pdq_degenerate(value: str) -> str | None:
    """degenerate("pdq", value): for one PDQ frame or picture."""
    return degenerate("pdq", value.lower())


# --- vPDQ: a video as the PDQ of about one frame per second (docs/video.md) -----------
# The signal carries its frames; its `value` is the SHA-256 of their canonical bytes.
VPDQ_TYPE = "vpdq"
# One hour at one frame a second. A longer video is sampled more sparsely so that it
# fits (the portal and the kit do it): the rule compares frames as a set, not a sequence.
VPDQ_MAX_FRAMES = 3600
# A frame's time in whole milliseconds from the start, at most two days.
VPDQ_MAX_TIME_MS = 48 * 3600 * 1000
# Consecutive frames (in time) within this many bits of the last frame kept are pruned,
# as the reference describes ("D_prune"): a still scene is one frame, not sixty.
VPDQ_PRUNE_DISTANCE = 2
# The rule, with the reference's defaults: two frames match at distance <= 31 (the
# reference's README and Python; its C++ tool counts < 31, i.e. 30 here); frames of
# quality below 50 take no part; a query video matches a reported one when at least
# VPDQ_QUERY_MATCH_PERCENT of the query's frames found a match among the reported
# video's, and at least VPDQ_REPORTED_MATCH_PERCENT of the reported video's frames found
# one among the query's.
VPDQ_MATCH_DISTANCE = PDQ_MATCH_DISTANCE
VPDQ_MIN_QUALITY = MIN_PDQ_QUALITY
VPDQ_QUERY_MATCH_PERCENT = 80.0
VPDQ_REPORTED_MATCH_PERCENT = 0.0
