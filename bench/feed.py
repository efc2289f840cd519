"""bench/feed.py: a platform syncs 1,000,000 feed entries from gunicorn on PostgreSQL.

Measures, in one run: entries/s served by our feed (one worker), entries/s served by a
naive endpoint that rebuilds each entry from the ORM (bench/naive_feed.py), and entries/s
verified by the client. Run: `.venv/bin/python -m bench.feed [--entries N]`.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import secrets
import time

import psycopg
from sqlalchemy.orm import Session

from bench.harness import gunicorn, machine, median, postgres_database, service_env
from federation import partner_registry, signing_keys
from federation.crypto.canonical import canonical_json, leaf_hash
from federation.crypto.encoding import b64u_encode
from federation.crypto.keys import KeySet, load_signer, verify_entry
from federation.db import make_engine


def seed(url: str, kek: bytes, count: int) -> str:
    """Insert `count` signed add entries (and their signals) with COPY; return a token."""
    engine = make_engine(url)
    with Session(engine) as session:
        key = signing_keys.create_key(session, kek)
        token = partner_registry.add_partner(session, "bench", frozenset({"feed:read"})).token
        session.commit()
        signer = load_signer(key.private_sealed, kek, key.kid)
    engine.dispose()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:
        with cursor.copy("COPY signals (id, type, value, quality, active, active_record_id, created_at)"
                         " FROM STDIN") as copy:
            records = []
            for seq in range(1, count + 1):
                value, record_id = secrets.token_hex(32), "r_" + secrets.token_urlsafe(16)
                records.append((value, record_id))
                copy.write_row((seq, "pdq", value, 100, True, record_id, "2026-11-24T00:00:00Z"))
        with cursor.copy("COPY feed_entries (seq, op, signal_id, record_id, body, signature, kid,"
                         " leaf_hash, created_at) FROM STDIN") as copy:
            for seq, (value, record_id) in enumerate(records, start=1):
                body = canonical_json({"id": record_id, "op": "add", "quality": 100, "seq": seq,
                                       "type": "pdq", "v": 1, "value": value})
                copy.write_row((seq, "add", seq, record_id, body, b64u_encode(signer.sign(body)),
                                signer.kid, leaf_hash(body), "2026-11-24T00:00:00Z"))
        cursor.execute("UPDATE feed_head SET last_seq = %s", (count,))
        cursor.execute("SELECT setval(pg_get_serial_sequence('signals', 'id'), %s)", (count,))
        cursor.execute("ANALYZE")
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
