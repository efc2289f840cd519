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
