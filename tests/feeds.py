"""Feeds written in a test, and what they leave active, computed from the entries alone."""
from __future__ import annotations


def replay(entries: list[dict]) -> set[tuple[str, str, str]]:
    """The active set as (record id, type, value), computed from the entries alone
    (independently of any store): an add makes its value active, a delete ends it."""
    active: dict[tuple[str, str], str] = {}
    for entry in entries:
        if entry["op"] == "add":
            active[(entry["type"], entry["value"])] = entry["id"]
        else:
            active.pop((entry["type"], entry["value"]), None)
    return {(record, kind, value) for (kind, value), record in active.items()}
