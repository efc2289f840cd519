"""The signed feed: an ordered log of adds and deletes to the set of active signals."""
from __future__ import annotations

from sqlalchemy.orm import Session

from federation.models import CaseSignal


def publish(session: Session, changes: list[tuple[str, CaseSignal]]) -> None:
    """Append one entry per change; the caller holds the feed head lock."""
