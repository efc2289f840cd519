"""Signal types: the allow-list pattern of each, normalisation and distance."""
from __future__ import annotations

import re
from dataclasses import dataclass

from federation import vpdq
from federation.errors import InvalidSignal
from federation.rules import HEX_LENGTHS, MIN_PDQ_QUALITY, VPDQ_TYPE, degenerate
from federation.rules import SIGNAL_TYPES as HEX_TYPES

TYPES = (*HEX_TYPES, VPDQ_TYPE)

_PATTERNS = {kind: re.compile(rf"[0-9a-fA-F]{{{n}}}") for kind, n in HEX_LENGTHS.items()}
# A vpdq signal is named by its value, the SHA-256 of its canonical frames (federation.vpdq).
_NAMED = {**HEX_LENGTHS, VPDQ_TYPE: 64}
_NAME_PATTERNS = {**_PATTERNS, VPDQ_TYPE: _PATTERNS["sha256"]}


@dataclass(frozen=True, slots=True)
class SignalValue:
    """A validated, normalised hash. `quality` is set for PDQ only; `frames` for vPDQ
    only (its canonical bytes, federation.vpdq), whose `value` is their SHA-256."""

    type: str
    value: str
    quality: int | None = None
    frames: bytes | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.value)


def parse_signal(kind: str, value: str | None, quality: int | None = None,
                 frames: object = None) -> SignalValue:
    """Validate and normalise one signal entering the list (lower-case hex), or raise
    InvalidSignal: also for a value no real file has (`degenerate_signal`).

    A `vpdq` signal comes as its frames alone (federation.vpdq); its value is computed.
    """
    if kind == VPDQ_TYPE:
        return _parse_vpdq(value, quality, frames)
    if frames is not None:
        raise InvalidSignal(f"frames apply to vpdq only, not {kind}")
    value = parse_value(kind, value)
    reason = degenerate(kind, value)
    if reason is not None:
        raise InvalidSignal(f"this {kind} cannot come from a real picture or video: {reason}",
                            code="degenerate_signal")
    if kind != "pdq":
        if quality is not None:
            raise InvalidSignal(f"quality applies to pdq only, not {kind}")
        return SignalValue(kind, value)
    if quality is None:
        raise InvalidSignal("a pdq signal needs its quality (0-100)", code="pdq_quality_missing")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise InvalidSignal("pdq quality must be a whole number from 0 to 100")
    if quality < MIN_PDQ_QUALITY:
        raise InvalidSignal(f"pdq quality {quality} is below {MIN_PDQ_QUALITY}: the image is too "
                            "featureless to match safely", code="pdq_quality_too_low")
    return SignalValue(kind, value.lower(), quality)


def _parse_vpdq(value: str | None, quality: int | None, frames: object) -> SignalValue:
    if value is not None or quality is not None:
        raise InvalidSignal("a vpdq signal is its frames alone: its value is computed from them "
                            "and each frame carries its own quality; leave out value and quality")
    canonical = vpdq.parse_frames(frames)
    return SignalValue(VPDQ_TYPE, vpdq.digest(canonical), None, vpdq.canonical_bytes(canonical))


def parse_value(kind: str, value: str | None) -> str:
    """A well-formed value of this type, normalised; raise InvalidSignal otherwise.
    Only the format is checked: for naming a signal we may hold, not for adding one (a
    vpdq signal is named by its 64-hex value, as its feed entries carry it)."""
    if kind not in _NAMED:
        raise InvalidSignal(f"unknown signal type {kind!r}; expected one of {', '.join(TYPES)}",
                            code="unknown_signal_type")
    if not isinstance(value, str) or not _NAME_PATTERNS[kind].fullmatch(value):
        raise InvalidSignal(f"a {kind} value must be exactly {_NAMED[kind]} hexadecimal characters")
    return value.lower()


def dedupe(signals: list[SignalValue]) -> list[SignalValue]:
    """Drop repeats of the same (type, value), keeping the first and its order."""
    seen: dict[tuple[str, str], SignalValue] = {}
    for signal in signals:
        seen.setdefault(signal.key, signal)
    return list(seen.values())


def hamming_distance(a: str, b: str) -> int:
    """Bits that differ between two equal-length hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
