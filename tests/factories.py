"""Test data in one place: valid payloads, corpus hashes, and a database snapshot."""
from __future__ import annotations

import csv
import secrets
from pathlib import Path

from sqlalchemy import Engine, MetaData, select

CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}


def random_hash(kind: str = "pdq") -> str:
    """A random value of this type that could come from a real file: a PDQ or pHash sets
    exactly half its bits, as a picture's does (federation.rules.degenerate)."""
    if kind in ("pdq", "phash"):
        bits = 256 if kind == "pdq" else 64
        ones = secrets.SystemRandom().sample(range(bits), bits // 2)
        return f"{sum(1 << i for i in ones):0{bits // 4}x}"
    return secrets.token_hex({"md5": 16, "sha256": 32}[kind])


def random_signal(kind: str = "pdq") -> dict:
    signal = {"type": kind, "value": random_hash(kind)}
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


def add_partner(app, name: str | None = None, scopes: str = "feed:read feedback:write signals:write",
                display_name: str | None = None) -> str:
    """Onboard a partner straight through the service; return its bearer token."""
    from sqlalchemy.orm import Session

    from federation import partner_registry

    with Session(app.extensions["federation.db"].engine) as session:
        issued = partner_registry.add_partner(session, name or f"p{secrets.token_hex(4)}",
                                      partner_registry.parse_scopes(scopes), display_name)
        session.commit()
        return issued.token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def read_feed(client, token: str, after: int = 0, limit: int = 1000) -> list[dict]:
    """Every entry after `after`, following pages to the end."""
    entries = []
    while True:
        page = client.get(f"/v1/feed?after={after}&limit={limit}", headers=bearer(token)).get_json()
        entries += page["entries"]
        after = page["next"]
        if not page["has_more"]:
            return entries


def add_organisation(app, name: str | None = None, display_name: str | None = None,
                     caseworkers: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """Onboard an organisation (and caseworkers) through the service; return its token
    and each caseworker's credential by name."""
    from sqlalchemy.orm import Session

    from federation import organisations

    with Session(app.extensions["federation.db"].engine) as session:
        name = name or f"o{secrets.token_hex(4)}"
        issued = organisations.add_organisation(session, name, display_name)
        workers = {worker: organisations.add_caseworker(session, name, worker).token for worker in caseworkers}
        session.commit()
        return issued.token, workers


def set_organisation_status(app, name: str, status: str) -> None:
    from sqlalchemy.orm import Session

    from federation import organisations

    with Session(app.extensions["federation.db"].engine) as session:
        organisations.set_status(session, name, status)
        session.commit()


def reset_guess_counter(app) -> None:
    """Forget the app's failed-guess counts (they live in the session-wide app's memory)."""
    from federation.services import init_services

    init_services(app)  # made afresh from config: new, empty counters


def rotate_signing_key(app) -> None:
    """A new active feed-signing key, as `federation keys rotate` makes one."""
    from sqlalchemy.orm import Session

    from federation import signing_keys

    with Session(app.extensions["federation.db"].engine) as session:
        signing_keys.rotate(session, app.config["KEK_BYTES"])
