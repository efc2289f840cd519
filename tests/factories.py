"""Test data in one place: valid payloads, corpus hashes, and a database snapshot."""
from __future__ import annotations

import csv
import secrets
from pathlib import Path

from sqlalchemy import Engine, MetaData, select

CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}


def random_signal(kind: str = "pdq") -> dict:
    lengths = {"pdq": 32, "phash": 8, "md5": 16, "sha256": 32}
    signal = {"type": kind, "value": secrets.token_hex(lengths[kind])}
    if kind == "pdq":
        signal["quality"] = 100
    return signal


def case_payload(signals: list[dict] | None = None, **extra) -> dict:
    return {"signals": signals if signals is not None else [random_signal()], "consent": dict(CONSENT),
            **extra}


def corpus_rows(corpus: Path) -> list[dict]:
    with open(corpus / "pdq-reference" / "expected.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, to prove a failed request changed nothing."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
                for name, table in metadata.tables.items()}
