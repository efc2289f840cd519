"""What platforms report about signals: found, taken down, reviewed and kept up, deleted.

Two tables: `feedback_events` keeps every report as received (the history) and
`feedback_latest` the latest verdict of each partner on each signal, which the person's
status reads. Feedback never changes the active set, so it does not take the feed head
lock: concurrent batches are made safe by upserts, not by serialising writers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import case, select, tuple_
from sqlalchemy.orm import Session

from federation import idempotency
from federation.db import dialect_insert
from federation.errors import InvalidInput
from federation.idempotency import IdempotencyPolicy
from federation.list_trust import Review
from federation.models import VERDICTS, FeedbackEvent, FeedbackLatest, Signal, table, utcnow
from federation.signals import SignalValue, parse_value

MAX_ITEMS = 1000
MAX_NOTE = 500
MAX_COUNT = 1_000_000
# Clocks differ: a report up to this far ahead of ours is taken as "now-ish"; more is
# a client bug (a wrong time zone, milliseconds read as seconds) and is refused.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)

RECORDED = "recorded"
ALREADY_RECORDED = "already_recorded"
UNKNOWN_SIGNAL = "unknown_signal"


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One report: a validated signal, a verdict, when it happened and how often."""

    signal: SignalValue
    verdict: str
    occurred_at: dt.datetime
    count: int = 1
    note: str | None = None


def check_items(items: list[FeedbackItem], *, now: dt.datetime) -> None:
    """Refuse a batch that is empty, too big, repeats a signal, or is dated in the future.

    Raises InvalidInput naming the offending item indexes; nothing is written.
    """
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput(f"a batch holds 1 to {MAX_ITEMS} items, got {len(items)}", code="batch_size")
    first_index: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        if item.verdict not in VERDICTS:
            raise InvalidInput(f"items[{index}].verdict must be one of {', '.join(VERDICTS)}",
                               code="invalid_verdict")
        if item.occurred_at.tzinfo is None:
            raise InvalidInput(f"items[{index}].occurred_at needs a time zone", code="naive_datetime")
        if item.occurred_at > now + MAX_CLOCK_SKEW:
            raise InvalidInput(
                f"items[{index}].occurred_at is in the future (more than "
                f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead of our clock)",
                code="occurred_at_in_future")
        if not 1 <= item.count <= MAX_COUNT:
            raise InvalidInput(f"items[{index}].count must be 1 to {MAX_COUNT}", code="invalid_count")
        if item.note is not None and len(item.note) > MAX_NOTE:
            raise InvalidInput(f"items[{index}].note is longer than {MAX_NOTE} characters",
                               code="note_too_long")
        # One verdict per signal per batch: two would make "latest" depend on the order
        # in the list, which is a client bug more often than an intent.
        earlier = first_index.setdefault(item.signal.key, index)
        if earlier != index:
            raise InvalidInput(f"items[{earlier}] and items[{index}] are about the same signal; "
                               "send one item per signal per batch", code="duplicate_item",
                               indexes=[earlier, index])


def submit_feedback(session: Session, idempotency_policy: IdempotencyPolicy, partner_id: int,
                    items: list[FeedbackItem], *, review: Review | None = None,
                    idempotency_key: str | None = None,
                    now: dt.datetime | None = None) -> tuple[dict, bool]:
    """Record a batch; return (response body, replayed).

    The body is {"results": [{"status": ...}, ...], "recorded": n, "already_recorded": n,
    "unknown_signal": n}, one result per item in order. An unknown signal is reported in
    its item and does not fail the batch. With an idempotency key, the same batch again
    returns the first body; another batch under the same key raises Conflict.
    With a `review`, disputes and matches that cross its thresholds withhold their
    signals in the same transaction (federation.list_trust).
    Raises InvalidInput (see check_items).
    """
    check_items(items, now=now or utcnow())
    return idempotency.write_once(
        session, idempotency_policy, scope=f"feedback:{partner_id}", key=idempotency_key,
        request=[_canonical(item) for item in items],
        write=lambda: record_items(session, partner_id, items, review=review), codec=idempotency.PLAIN_JSON)


def record_items(session: Session, partner_id: int, items: list[FeedbackItem], *,
                 review: Review | None = None) -> dict:
    """Write checked items in the caller's transaction; return the per-item result body.
    With a `review`, what was newly recorded may withhold signals (list_trust)."""
    ids = signal_ids(session, [item.signal for item in items])
    # Rows go in signal id order: concurrent batches then lock index entries in the same
    # order and cannot deadlock on PostgreSQL (bench/feedback.py found that they did).
    events = sorted(({"partner_id": partner_id, "signal_id": ids[item.signal.key],
                      "verdict": item.verdict, "occurred_at": item.occurred_at, "count": item.count,
                      "note": item.note, "received_at": utcnow()}
                     for item in items if item.signal.key in ids), key=lambda e: cast(int, e["signal_id"]))
    inserted: set[int] = set()
    if events:
        # A report already in the history (same partner, signal, verdict, time) is a
        # replay: it is neither stored twice nor counted twice in the latest verdict.
        # Core inserts on the tables: the ORM's bulk path costs more than the database here.
        history = table(FeedbackEvent)
        statement = dialect_insert(session, history).on_conflict_do_nothing().returning(history.c.signal_id)
        inserted = set(session.scalars(statement, events))
        fresh = [event for event in events if event["signal_id"] in inserted]
        if fresh:
            _upsert_latest(session, fresh)
            if review is not None:
                review.after_feedback(session, fresh)
    results = []
    for item in items:
        signal_id = ids.get(item.signal.key)
        status = UNKNOWN_SIGNAL if signal_id is None else (
            RECORDED if signal_id in inserted else ALREADY_RECORDED)
        results.append({"status": status})
    return {"results": results, **{name: sum(r["status"] == name for r in results)
                                   for name in (RECORDED, ALREADY_RECORDED, UNKNOWN_SIGNAL)}}


def signal_ids(session: Session, signals: list[SignalValue]) -> dict[tuple[str, str], int]:
    """Ids of the known signals among these, keyed by (type, value)."""
    found: dict[tuple[str, str], int] = {}
    keys = list({s.key for s in signals})
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update(((kind, value), signal_id) for signal_id, kind, value in session.execute(
            select(Signal.id, Signal.type, Signal.value).where(tuple_(Signal.type, Signal.value).in_(chunk))))
    return found


def _upsert_latest(session: Session, events: list[dict]) -> None:
    # Latest by occurred_at, not by arrival: a late-arriving older report of another
    # verdict goes to the history only. Reports of the current verdict add their count.
    latest = table(FeedbackLatest)
    statement = dialect_insert(session, latest)
    new = statement.excluded
    newer = new.occurred_at >= latest.c.occurred_at
    same = new.verdict == latest.c.verdict
    statement = statement.on_conflict_do_update(
        index_elements=[latest.c.partner_id, latest.c.signal_id],
        set_={
            "verdict": case((same, latest.c.verdict), (newer, new.verdict), else_=latest.c.verdict),
            "count": case((same, latest.c.count + new.count), (newer, new.count), else_=latest.c.count),
            "first_at": case((same & (new.first_at < latest.c.first_at), new.first_at),
                             (same, latest.c.first_at), (newer, new.first_at), else_=latest.c.first_at),
            "occurred_at": case((same & newer, new.occurred_at), (same, latest.c.occurred_at),
                                (newer, new.occurred_at), else_=latest.c.occurred_at),
            "updated_at": new.updated_at,
        })
    now = utcnow()
    session.execute(statement, [
        {"partner_id": e["partner_id"], "signal_id": e["signal_id"], "verdict": e["verdict"],
         "count": e["count"], "first_at": e["occurred_at"], "occurred_at": e["occurred_at"],
         "updated_at": now} for e in events])


def _canonical(item: FeedbackItem) -> list:
    return [item.signal.type, item.signal.value, item.verdict,
            item.occurred_at.astimezone(dt.UTC).isoformat(), item.count, item.note]


def signal_ref(kind: str, value: str) -> SignalValue:
    """A validated (type, value) naming a signal we may hold, without a PDQ quality.

    Raises InvalidSignal for an unknown type or a malformed value. A degenerate value
    passes: we may hold it from before the check, and an unknown one is reported per item.
    """
    return SignalValue(kind, parse_value(kind, value))
