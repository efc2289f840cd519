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

# PDQ sets a bit where its DCT coefficient exceeds the median of all 256, so a hash made
# from a real picture has at most 128 ones, and fewer only where coefficients tie (flat
# pictures). docs/list-hygiene.md records the distribution these bounds come from.
PDQ_MIN_ONES = 96
PDQ_MAX_ONES = 128


def pdq_degenerate(value: str) -> str | None:
    """Why a 64-hex-digit PDQ value cannot come from a real picture, or None if it can.

    The sender's claimed quality is not evidence: this looks at the bits alone.
    """
    ones = int(value, 16).bit_count()
    if ones == 0:
        return "all zeros"
    if ones == 256:
        return "all ones"
    if not PDQ_MIN_ONES <= ones <= PDQ_MAX_ONES:
        return f"{ones} of 256 bits set; a picture's PDQ sets {PDQ_MIN_ONES} to {PDQ_MAX_ONES}"
    return None

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
