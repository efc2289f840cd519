"""`federation keys revoke`: the JWKS shows it, the feed goes on under a new key, and the
partner kit keeps what the key signed before and refuses what it signs after."""
from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.crypto import keys as crypto_keys
from federation.crypto.canonical import canonical_json
from federation.crypto.encoding import b64u_encode
from federation.models import AuditEvent, SigningKey
from partners.client import FederationClient
from partners.store import LocalStore
from partners.sync import SyncError, UntrustedKey, sync, trust
from tests.factories import add_partner, case_payload, random_signal, read_feed
from tests.functional.browser_support import serve_in_thread


def published(client) -> dict[str, dict]:
    return {k["kid"]: k for k in client.get("/.well-known/federation-keys").get_json()["keys"]}


def active_kid(client) -> str:
    return next(kid for kid, key in published(client).items() if key["status"] == "active")


def test_revoking_the_active_key(cli, client, app, engine):
    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(3)]))
    leaked = active_kid(client)
    done = cli("keys", "revoke", leaked, "--reason", "found in a public paste")
    assert done.exit_code == 0, done.output
    assert f"key {leaked} revoked after seq 3" in done.output
    keys = published(client)
    assert keys[leaked]["status"] == "revoked" and keys[leaked]["last_seq"] == 3 and "exp" in keys[leaked]
    successor = active_kid(client)
    assert successor != leaked and f"new active key: {successor}" in done.output
    # The feed goes on, signed by the new key.
    token = add_partner(app, scopes="feed:read")
    assert client.post("/v1/cases", json=case_payload([random_signal("md5")])).status_code == 201
    assert [e["kid"] for e in read_feed(client, token)] == [leaked] * 3 + [successor]
    # The reason is in the audit log, with the kid and the boundary.
    with Session(engine) as session:
        details = session.scalars(select(AuditEvent.detail).where(AuditEvent.event == "key_revoked")).all()
    assert details == [f"kid={leaked} last_seq=3 reason=found in a public paste"]


def test_revoking_a_retired_key_keeps_the_active_one(cli, client):
    client.post("/v1/cases", json=case_payload([random_signal("md5")]))
    old = active_kid(client)
    assert cli("keys", "rotate").exit_code == 0
    current = active_kid(client)
    done = cli("keys", "revoke", old, "--reason", "old laptop lost")
    assert done.exit_code == 0 and "new active key" not in done.output
    assert active_kid(client) == current and published(client)[old]["last_seq"] == 1


def test_unknown_or_already_revoked_kid_is_a_clear_error(cli, client):
    unknown = cli("keys", "revoke", "no-such-kid", "--reason", "x")
    assert unknown.exit_code == 1 and "no signing key 'no-such-kid'" in unknown.output
    kid = active_kid(client)
    assert cli("keys", "revoke", kid, "--reason", "leaked").exit_code == 0
    again = cli("keys", "revoke", kid, "--reason", "leaked")
    assert again.exit_code == 1 and f"key {kid} was already revoked" in again.output
    assert published(client)[kid]["status"] == "revoked"
    no_reason = cli("keys", "revoke", kid)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output


def test_a_kid_beginning_with_a_dash_is_a_kid_not_an_option(cli):
    # Thumbprints are base64url: one kid in 64 begins with "-".
    dashed = cli("keys", "revoke", "-Fx9", "--reason", "x")
    assert dashed.exit_code == 1 and "no signing key '-Fx9'" in dashed.output


# --- the partner kit -------------------------------------------------------------------------

def forge(engine, kek: bytes, kid: str, like: dict, seq: int) -> dict:
    """An entry signed with the (leaked) private key of `kid`, as its thief would make it."""
    with Session(engine) as session:
        sealed = session.get_one(SigningKey, kid).private_sealed
    signer = crypto_keys.load_signer(sealed, kek, kid)
    body = {k: v for k, v in like.items() if k not in ("kid", "sig")}
    body.update(seq=seq, value="ab" * 16)
    return {**body, "kid": kid, "sig": b64u_encode(signer.sign(canonical_json(body)))}


class Replay:
    """A federation that serves the real JWKS and the given pages (by `after`)."""

    def __init__(self, jwks: dict, pages: dict[int, list[dict]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/.well-known/"):
                    body = json.dumps(outer.jwks).encode()
                else:
                    after = int(self.path.split("after=")[1].split("&")[0])
                    entries = outer.pages.get(after, [])
                    body = json.dumps({"entries": entries, "next": entries[-1]["seq"] if entries else after,
                                       "has_more": after + len(entries) < max(outer.pages) + 1}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.jwks, self.pages = jwks, pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def test_the_kit_keeps_what_came_before_and_refuses_what_comes_after(cli, app, client, live_server,
                                                                      engine, tmp_path):
    token = add_partner(app, scopes="feed:read")
    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(3)]))
    leaked = active_kid(client)
    with LocalStore(tmp_path / "old.db") as store, contextlib.closing(FederationClient(live_server, token)) as kit:
        assert sync(kit, store, workers=1).applied == 3  # pins the key, on first use

        assert cli("keys", "revoke", leaked, "--reason", "leaked").exit_code == 0
        successor = active_kid(client)
        client.post("/v1/cases", json=case_payload([random_signal("md5")]))
        # A platform that had the key pinned: the new key needs its operator's check, as
        # after any rotation; then it goes on, and what it applied before stays.
        with pytest.raises(UntrustedKey):
            sync(kit, store, workers=1)
        trust(kit, store, successor)
        assert sync(kit, store, workers=1).applied == 1 and store.checkpoint == 4

    # A platform that joins after the revocation gets the whole feed, the old key's
    # entries included: signed before the revocation, and bound by the signed log.
    with LocalStore(tmp_path / "new.db") as store, contextlib.closing(FederationClient(live_server, token)) as kit:
        result = sync(kit, store, workers=1)
        assert result.applied == 4 and leaked not in result.trusted_on_first_use

    # Whoever holds the leaked key signs seq 5: refused, naming the seq; nothing applied.
    entries = read_feed(client, token)
    forged = forge(engine, app.config["KEK_BYTES"], leaked, entries[0], seq=5)
    replay = Replay(client.get("/.well-known/federation-keys").get_json(), {0: entries, 4: [forged]})
    with serve_in_thread(replay.server) as base, LocalStore(tmp_path / "fake.db") as store, \
            contextlib.closing(FederationClient(base, "fpt_x")) as kit:
        with pytest.raises(SyncError) as error:
            sync(kit, store, workers=1, verify_log=False, trust_new_keys=True)
        assert error.value.seq == 5 and "revoked after seq 3" in str(error.value)
        assert store.checkpoint == 4
