"""How many platforms confirmed or disputed the hashes a search matched, never which
(the server's POST /v1/signals/standing; docs/list-hygiene.md).

Counts change as platforms review, so they are asked for when matches are found, not
kept in the store. Only record ids travel, in a POST body: no hash, no file name.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from partners.client import FederationClient

BATCH = 1000


def lookup(client: FederationClient, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{record id: {"confirmed": n, "disputed": n, "withheld": reason or None}} for the
    ids the server knows. Raises FeedError if the server cannot be asked."""
    ids = sorted(set(record_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), BATCH):
        answer = client.post("/v1/signals/standing", {"records": ids[start:start + BATCH]})
        for item in answer["standing"]:
            found[item["id"]] = {"confirmed": item["confirmed"], "disputed": item["disputed"],
                                 "withheld": item["withheld"]}
    return found


def disputed(standing: dict[str, Any] | None) -> bool:
    """Disputed by a platform and confirmed by none: what `--hide-disputed` leaves out."""
    return standing is not None and standing["disputed"] > 0 and standing["confirmed"] == 0
