"""Send feedback to the federation in batches, idempotently."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from partners.client import FederationClient
from partners.store import LocalStore

BATCH = 1000
VERDICTS = ("match_pending_review", "blocked", "not_blocked", "deleted")


def batches(items: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def send(client: FederationClient, items: Iterable[dict[str, Any]]) -> dict[str, int]:
    """POST the items in batches; return totals of recorded / already_recorded / unknown_signal.

    Each batch's Idempotency-Key is a digest of its content, so re-running the same
    report after a crash or timeout is answered from the first time, never counted twice.
    """
    totals = {"recorded": 0, "already_recorded": 0, "unknown_signal": 0}
    for batch in batches(items):
        key = "fpk-" + hashlib.sha256(json.dumps(batch, sort_keys=True).encode()).hexdigest()
        receipt = client.post("/v1/feedback", {"items": batch}, idempotency_key=key)
        for name in totals:
            totals[name] += receipt.get(name, 0)
    return totals


def report_deletes(client: FederationClient, store: LocalStore) -> int:
    """Report `deleted` for every delete a sync applied and has not reported yet."""
    sent = 0
    while True:
        pending = store.unreported_deletes(BATCH)
        if not pending:
            return sent
        # occurred_at is when the delete was applied, so a retry after a crash sends the
        # very same batch and the same Idempotency-Key.
        send(client, [{"type": kind, "value": value, "verdict": "deleted", "occurred_at": applied_at,
                       "count": 1} for _seq, kind, value, applied_at in pending])
        store.mark_reported([row[0] for row in pending])
        sent += len(pending)
