"""The append-only security log: what happened, when, to which case id. Never a secret,
a reference, a PIN, a token or a hash: `detail` is for counts and reasons only."""
from __future__ import annotations

from sqlalchemy.orm import Session

from federation.models import AuditEvent, table

EVENTS = frozenset({
    "case_created", "status_checked", "pin_failed", "case_locked", "locked_attempt",
    "unknown_reference", "case_withdrawn", "withdraw_repeated", "case_held", "case_released",
    "referral_created", "referral_used", "sharing_stopped", "caseworker_signed_in",
    "signals_withheld", "signals_released", "signal_rejected",
    "key_revoked",
})


def record(session: Session, event: str, *, actor: str, case_id: int | None = None,
           detail: str | None = None) -> None:
    """Write one event in the current transaction (committed or rolled back with it)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    session.execute(_INSERT, {"event": event, "actor": actor, "case_id": case_id, "detail": detail})


# A plain INSERT, not an ORM object: nothing reads an event back in the same request.
_INSERT = table(AuditEvent).insert()
