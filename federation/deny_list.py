"""The deny list's entrance check: known-benign hashes (logos, blank frames, stock
images) that no report may bring into the list. Operators manage it through
`federation.list_trust` (which also takes denied hashes out of the feed); this module
only reads it, so that `cases` can refuse a report without importing the review code.
"""
from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from federation.errors import InvalidSignal
from federation.models import DeniedSignal
from federation.rules import PDQ_MATCH_DISTANCE
from federation.signals import SignalValue


def refuse_denied(session: Session, signals: list[SignalValue]) -> None:
    """Raise InvalidSignal (`denied_signal`) if any signal is on the deny list, or is a
    PDQ within matching distance of a denied PDQ. Nothing is written either way.

    The error lists the refused signals as sent: the sender already holds them, and a
    portal needs them to say which file it was.
    """
    if not signals:
        return
    keys = list({s.key for s in signals})
    denied = {(kind, value) for kind, value in session.execute(
        select(DeniedSignal.type, DeniedSignal.value).where(tuple_(DeniedSignal.type, DeniedSignal.value).in_(keys)))}
    pdqs = [s for s in signals if s.type == "pdq" and s.key not in denied]
    if pdqs:
        # Near-duplicates of a benign picture would match the same uploads: a denied PDQ
        # covers every PDQ a platform would match to it. The list is short (operators add
        # to it by hand), so a scan is cheaper than an index.
        near = [int(v, 16) for v in session.scalars(select(DeniedSignal.value).where(DeniedSignal.type == "pdq"))]
        for signal in pdqs:
            bits = int(signal.value, 16)
            if any((bits ^ other).bit_count() <= PDQ_MATCH_DISTANCE for other in near):
                denied.add(signal.key)
    if denied:
        refused = [{"type": s.type, "value": s.value} for s in signals if s.key in denied]
        raise InvalidSignal(f"{len(refused)} of these hashes are of pictures known not to be intimate "
                            "(on this federation's deny list) and cannot be shared",
                            code="denied_signal", denied=refused)
