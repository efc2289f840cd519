"""bench/feed.py: a platform syncs 1,000,000 feed entries from gunicorn on PostgreSQL.

Measures, in one run: entries/s served by our feed (one worker), entries/s served by a
naive endpoint that rebuilds each entry from the ORM (bench/naive_feed.py), and entries/s
verified by the client. Run: `.venv/bin/python -m bench.feed [--entries N]`.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import multiprocessing
import os
import time
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from bench.harness import gunicorn, machine, median, postgres_database, service_env
from federation import partner_registry, signing_keys
from federation.crypto import merkle
from federation.crypto.canonical import leaf_hash
from federation.crypto.encoding import b64u_encode
from federation.crypto.keys import KeySet, load_signer, verify_entry
from federation.db import make_engine

_SEED_CHUNK = 100_000
_signer: Any = None  # the seeding processes' signer, inherited by fork


def _sign_bodies(bodies: list[bytes]) -> list[str]:
    return [b64u_encode(_signer.sign(body)) for body in bodies]


def seed(url: str, kek: bytes, count: int) -> str:
    """Insert `count` signed add entries, their signals and the log's Merkle nodes with
    COPY, signing on every core; return a partner token.

    The entries are exactly what federation.feed.publish would write (canonical bodies,
    Ed25519 signatures, RFC 9162 leaf hashes, every complete subtree in merkle_nodes), so
    the feed, its checkpoint and its proofs serve them as they serve real ones."""
    global _signer
    engine = make_engine(url)
    with Session(engine) as session:
        key = signing_keys.create_key(session, kek)
        sealed, kid = key.private_sealed, key.kid
        session.commit()
        token = partner_registry.add_partner(session, "bench", frozenset({"feed:read"})).token
    engine.dispose()
    _signer = load_signer(sealed, kek, kid)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    workers = os.cpu_count() or 1
    frontier: list[bytes] = []
    with multiprocessing.get_context("fork").Pool(workers) as pool, \
            psycopg.connect(plain) as conn, conn.cursor() as cursor:
        for first in range(1, count + 1, _SEED_CHUNK):
            seqs = range(first, min(count, first + _SEED_CHUNK - 1) + 1)
            values = os.urandom(32 * len(seqs)).hex()
            # Ids as the federation makes them ("r_" + token_urlsafe(16): 16 random bytes, 22
            # characters), so the kit holds them as it would real ones (partners.records).
            raw = os.urandom(16 * len(seqs))
            records = [(seq, values[64 * i:64 * i + 64],
                        "r_" + base64.urlsafe_b64encode(raw[16 * i:16 * i + 16]).decode()[:22])
                       for i, seq in enumerate(seqs)]
            # Canonical by construction: sorted keys, hex and base64url strings, small ints.
            bodies = [(f'{{"id":"{record}","op":"add","quality":100,"seq":{seq},"type":"pdq",'
                       f'"v":1,"value":"{value}"}}').encode() for seq, value, record in records]
            share = -(-len(bodies) // workers)
            signatures = [s for part in pool.map(_sign_bodies, [bodies[i:i + share]
                                                                 for i in range(0, len(bodies), share)])
                          for s in part]
            leaves = [leaf_hash(body) for body in bodies]
            frontier, made = merkle.append(frontier, first - 1, leaves)
            with cursor.copy("COPY signals (id, type, value, quality, active, active_record_id, created_at)"
                             " FROM STDIN") as copy:
                for seq, value, record in records:
                    copy.write_row((seq, "pdq", value, 100, True, record, "2026-11-24T00:00:00Z"))
            with cursor.copy("COPY feed_entries (seq, op, signal_id, record_id, body, signature, kid,"
                             " leaf_hash, created_at) FROM STDIN") as copy:
                for (seq, _, record), body, signature, leaf in zip(records, bodies, signatures, leaves,
                                                                   strict=True):
                    copy.write_row((seq, "add", seq, record, body, signature, kid, leaf,
                                    "2026-11-24T00:00:00Z"))
            with cursor.copy("COPY merkle_nodes (level, idx, hash) FROM STDIN") as copy:
                for level, index, digest in made:
                    if level:
                        copy.write_row((level, index, digest))
        cursor.execute("UPDATE feed_head SET last_seq = %s", (count,))
        cursor.execute("SELECT setval(pg_get_serial_sequence('signals', 'id'), %s)", (count,))
        cursor.execute("ANALYZE")
    _signer = None
    print(f"seeded {count:,} signed entries in {time.perf_counter() - started:.0f} s")
    return token


def sync(base: str, path: str, token: str, upto: int, limit: int) -> tuple[float, list[bytes]]:
    """Fetch pages until `upto` entries; return seconds spent and the raw page bodies."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    pages, after = [], 0
    started = time.perf_counter()
    while after < upto:
        conn.request("GET", f"{path}?after={after}&limit={min(limit, upto - after)}",
                     headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        pages.append(body)
        after += body.count(b'"seq":')
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, pages


def verify_all(pages: list[bytes], keyset: KeySet) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    for page in pages:
        for entry in json.loads(page)["entries"]:
            verify_entry(entry, keyset)
            count += 1
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--naive-entries", type=int, default=100_000,
                        help="prefix both servers sync for the ratio (the naive one is slow)")
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    with postgres_database() as url:
        env = service_env(url)
        from federation.config import parse_secret
        token = seed(url, parse_secret("KEK", env["FEDERATION_KEK"]), args.entries)
        with gunicorn(env, workers=1, threads=1, app="bench.naive_feed:app") as base:
            jwks = json.load(io.BytesIO(http_get(base + "/.well-known/federation-keys")))
            keyset = KeySet.from_jwks(jwks)
            full, ours, naive, pages = [], [], [], None
            for _ in range(args.repeat):
                seconds, pages = sync(base, "/v1/feed", token, args.entries, args.limit)
                full.append(args.entries / seconds)
                seconds, _ = sync(base, "/v1/feed", token, args.naive_entries, args.limit)
                ours.append(args.naive_entries / seconds)
                seconds, _ = sync(base, "/naive/feed", token, args.naive_entries, args.limit)
                naive.append(args.naive_entries / seconds)
            digest = hashlib.sha256(b"".join(pages)).hexdigest()[:12]
            verify_seconds, verified = verify_all(pages, keyset)
    print(f"served, ours, {args.entries:,} entries, 1 worker: median {median(full):,.0f} entries/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in full)}); pages digest {digest}")
    print(f"served, first {args.naive_entries:,}: ours {median(ours):,.0f}/s, naive ORM "
          f"{median(naive):,.0f}/s, ratio {median(ours) / median(naive):.1f}x")
    print(f"verified by the client (federation.crypto.keys.verify_entry, 1 core): "
          f"{verified / verify_seconds:,.0f} entries/s ({verified:,} entries)")


def http_get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


if __name__ == "__main__":
    main()
