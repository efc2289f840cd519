"""bench/log.py: what keeping the Merkle tree costs a report, and what the log costs to read.

In one process, on PostgreSQL and on SQLite, with a feed already `--entries` long:
  publish - the write a report makes to the feed: 3 signals, then 3 entries appended under
            the head lock (federation.feed.publish), committed. With the tree (as shipped)
            on one database and without it (federation.tlog.extend replaced by a no-op) on
            a twin seeded the same way, in blocks of `--block` alternating between the two,
            `--rounds` times; medians per transaction.
  report  - POST /v1/cases through Flask's test client (PIN hash included), with and
            without the tree, interleaved the same way.
  reads   - a checkpoint (root + signature), an inclusion and a consistency proof.
Run: `.venv/bin/python -m bench.log [--entries 100000] [--rounds 15] [--block 40]`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bench.harness import machine, median, postgres_database
from federation import feed, signing_keys, tlog
from federation.db import lock_feed_head, make_engine, write_transaction
from federation.migrate import upgrade
from federation.models import Signal
from federation.signals import SignalValue

CONSENT = {"adult": True, "depicted_or_acting_for": True, "share_with_platforms": True}


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        yield url


def append(session: Session, signers: signing_keys.Signers, count: int) -> None:
    """One write transaction: `count` new signals and their add entries."""
    with write_transaction(session):
        values = [secrets.token_hex(16) for _ in range(count)]
        ids = session.scalars(insert(Signal).returning(Signal.id),
                              [{"type": "md5", "value": v, "active": True} for v in values]).all()
        lock_feed_head(session)
        feed.publish(session, signers, [
            feed.Change("add", signal_id, "r_" + secrets.token_urlsafe(16), SignalValue("md5", value))
            for signal_id, value in zip(ids, values, strict=True)])


@contextlib.contextmanager
def tree(on: bool) -> Iterator[None]:
    if on:
        yield
        return
    real = tlog.extend
    tlog.extend = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        tlog.extend = real  # type: ignore[assignment]


def interleaved(actions: dict[bool, Callable[[], None]], rounds: int, block: int) -> dict[bool, list[float]]:
    """Seconds per action with the tree (on its database) and without (on the twin),
    in blocks alternating between them, the order flipped each round."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(rounds):
        for on in ((True, False) if round_ % 2 else (False, True)):
            with tree(on):
                for _ in range(block):
                    started = time.perf_counter()
                    actions[on]()
                    times[on].append(time.perf_counter() - started)
    return times


def timed(action: Callable[[], object], repeat: int = 200) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return median(samples)


def report_line(name: str, times: dict[bool, list[float]]) -> None:
    with_tree, without = median(times[True]) * 1000, median(times[False]) * 1000
    print(f"  {name:8s} with tree {with_tree:7.3f} ms   without {without:7.3f} ms   "
          f"ratio {with_tree / without:.3f}   (+{with_tree - without:.3f} ms, n={len(times[True])} each)",
          flush=True)


class Twin:
    """One seeded database, its app and a session on it."""

    def __init__(self, url: str, entries: int) -> None:
        from federation.app import create_app

        kek = secrets.token_bytes(32)
        self.app = create_app({"DATABASE_URL": url, "KEK": _b64u(kek),
                               "PEPPER": _b64u(secrets.token_bytes(32)), "LOG_LEVEL": "WARNING"})
        self.engine = make_engine(url)
        self.signers = signing_keys.Signers(kek)
        self.session = Session(self.engine)
        signing_keys.create_key(self.session, kek)
        self.session.commit()
        size = 0
        while size < entries:
            append(self.session, self.signers, min(5000, entries - size))
            size = feed.head(self.session)
            self.session.rollback()
        self.client = self.app.test_client()

    def publish(self) -> None:
        append(self.session, self.signers, 3)

    def report(self) -> None:
        body = {"signals": [{"type": "md5", "value": secrets.token_hex(16)} for _ in range(3)],
                "consent": CONSENT}
        response = self.client.post("/v1/cases", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 201

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()
        self.app.extensions["federation.db"].engine.dispose()


def bench(backend: str, urls: tuple[str, str], entries: int, rounds: int, block: int) -> None:
    started = time.perf_counter()
    with_tree, without = Twin(urls[0], entries), Twin(urls[1], entries)
    print(f"{backend}: seeded 2 x {entries:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
    try:
        report_line("publish", interleaved({True: with_tree.publish, False: without.publish}, rounds, block))
        report_line("report", interleaved({True: with_tree.report, False: without.report},
                                          max(2, rounds // 3), block))
        session, signers = with_tree.session, with_tree.signers
        size = feed.head(session)
        session.rollback()
        policy = tlog.LogPolicy()
        reads = {"checkpoint": lambda: tlog.checkpoint(session, policy, signers),
                 "inclusion": lambda: tlog.inclusion(session, size // 3, size),
                 "consistency": lambda: tlog.consistency(session, size // 3, size)}
        print(f"  reads at size {size:,}: " + ", ".join(
            f"{name} {timed(read) * 1000:.3f} ms" for name, read in reads.items()), flush=True)
        session.rollback()
    finally:
        with_tree.close()
        without.close()


def _b64u(raw: bytes) -> str:
    from federation.crypto.encoding import b64u_encode

    return b64u_encode(raw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=40)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    options = parser.parse_args()
    print(machine())
    if options.backend in ("postgres", "both"):
        with postgres_database() as first, postgres_database() as second:
            bench("postgres", (first, second), options.entries, options.rounds, options.block)
    if options.backend in ("sqlite", "both"):
        with sqlite_database() as first, sqlite_database() as second:
            bench("sqlite", (first, second), options.entries, options.rounds, options.block)


if __name__ == "__main__":
    main()
