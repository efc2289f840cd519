"""Platforms witness the log: a kit cosigns the checkpoint it verified (C2SP
tlog-cosignature), the served checkpoint carries the cosignatures, a forged one is
refused, and a split view or a rewritten history is caught by the kit and by
`federation-partner audit`, end to end. Cosignatures are checked with the independent
verifier (tests/log_reference.py)."""
from __future__ import annotations

import base64
import time

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from partners.cli import main as partner_cli
from partners.client import FederationClient
from partners.store import LocalStore
from partners.sync import LogError, sync
from tests import log_reference as ref
from tests.factories import add_partner, bearer, case_payload, random_signal, rewrite_history

ORIGIN = "federation.example/log"


def report(client, count: int) -> None:
    assert client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(count)])
                       ).status_code == 201


def log_vkey(client) -> str:
    return next(k["note_vkey"] for k in client.get("/.well-known/federation-keys").get_json()["keys"]
                if k["status"] == "active")


@pytest.fixture
def platforms(app, live_server, tmp_path):
    """Run `federation-partner` as platform NAME (its own token and store)."""
    tokens: dict[str, str] = {}
    runner = CliRunner()

    def run(name: str, *args: str, stdin: str | None = None):
        if name not in tokens:
            tokens[name] = add_partner(app, name, scopes="feed:read feedback:write", display_name=name.title())
        return runner.invoke(partner_cli, ["--server", live_server, "--token", tokens[name],
                                           "--store", str(tmp_path / f"{name}.db"), *args], input=stdin)
    run.tokens = tokens
    run.base = live_server
    run.store = lambda name: LocalStore(tmp_path / f"{name}.db")
    return run


def witness_key(platforms, name: str) -> tuple[str, bytes]:
    with platforms.store(name) as store:
        private, witness = store.receipt_key()
    raw = base64.urlsafe_b64decode(private + "=")
    return witness, Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()


def test_kits_cosign_and_the_served_checkpoint_carries_the_cosignatures(client, platforms):
    report(client, 3)
    for name in ("acme", "other"):
        assert platforms(name, "receipt-key").exit_code == 0
        done = platforms(name, "sync", "--quiet")
        assert done.exit_code == 0, done.output
        assert '"cosigned": 3' in done.output
    served = client.get("/v1/log/checkpoint").get_data(as_text=True)
    origin, size, _ = ref.open_checkpoint(served, log_vkey(client))
    assert (origin, size) == (ORIGIN, 3)
    now = int(time.time())
    for name in ("acme", "other"):
        witness, public = witness_key(platforms, name)
        stamps = ref.cosignatures(served, witness, public)
        assert len(stamps) == 1 and now - 60 <= stamps[0] <= now
    # The kit still follows a checkpoint that carries others' signatures.
    report(client, 1)
    assert platforms("acme", "sync", "--quiet").exit_code == 0
    at_four = client.get("/v1/log/checkpoint").get_data(as_text=True)
    assert "\u2014 acme " in at_four and "\u2014 other " not in at_four  # size 4: only acme cosigned it
    # What acme hands a peer: the log's signature and acme's own cosignature, nothing else.
    handed = platforms("acme", "checkpoint").output
    assert ref.open_checkpoint(handed, log_vkey(client))[1] == 4
    assert [line.split(" ")[1] for line in handed.rpartition("\n\n")[2].splitlines()] == [ORIGIN, "acme"]
    assert len(ref.cosignatures(handed, *witness_key(platforms, "acme"))) == 1


@pytest.mark.parametrize("forgery", ["bad signature", "another platform's key", "another name",
                                     "a root the log never had", "past the head", "in the future"])
def test_a_forged_cosignature_is_refused_and_not_served(app, client, platforms, forgery):
    report(client, 2)
    for name in ("acme", "other"):
        assert platforms(name, "receipt-key").exit_code == 0
    leaves = [ref.entry_leaf(e) for e in client.get("/v1/feed", headers=bearer(platforms.tokens["acme"]))
              .get_json()["entries"]]
    text = f"{ORIGIN}\n2\n{base64.b64encode(ref.mth(leaves)).decode()}\n"
    keys = {}
    for name in ("acme", "other"):
        with platforms.store(name) as store:
            keys[name] = Ed25519PrivateKey.from_private_bytes(
                base64.urlsafe_b64decode(store.receipt_key()[0] + "="))

    def line(name: str, key_of: str, body: str = text, when: int | None = None) -> str:
        key = keys[key_of]
        return ref.cosign(body, name, key.public_key().public_bytes_raw(), key.sign, when or int(time.time()))

    size, status = 2, 422
    if forgery == "bad signature":
        good = line("acme", "acme")
        blob = bytearray(base64.b64decode(good.split(" ")[2]))
        blob[-1] ^= 1
        cosignature = f"\u2014 acme {base64.b64encode(bytes(blob)).decode()}"
    elif forgery == "another platform's key":
        cosignature = line("acme", "other")
    elif forgery == "another name":  # other's own, valid cosignature, sent by acme
        cosignature = line("other", "other")
    elif forgery == "a root the log never had":
        cosignature = line("acme", "acme", f"{ORIGIN}\n2\n{base64.b64encode(b'x' * 32).decode()}\n")
    elif forgery == "past the head":
        size, status = 3, 409
        cosignature = line("acme", "acme", f"{ORIGIN}\n3\n{base64.b64encode(ref.mth(leaves)).decode()}\n")
    else:
        cosignature = line("acme", "acme", when=int(time.time()) + 3600)
    answer = client.post("/v1/log/cosignatures", json={"tree_size": size, "cosignature": cosignature},
                         headers=bearer(platforms.tokens["acme"]))
    assert answer.status_code == status, answer.get_json()
    assert answer.content_type == "application/problem+json"
    assert "\u2014 acme" not in client.get("/v1/log/checkpoint").get_data(as_text=True)
    # The same, honestly signed, is accepted (so the refusal above was about the forgery).
    fine = client.post("/v1/log/cosignatures", json={"tree_size": 2, "cosignature": line("acme", "acme")},
                       headers=bearer(platforms.tokens["acme"]))
    assert fine.status_code == 200 and fine.get_json()["witness"] == "acme"


def test_audit_says_two_checkpoints_of_one_history_agree(client, platforms, tmp_path):
    report(client, 3)
    assert platforms("acme", "sync", "--quiet").exit_code == 0
    report(client, 2)
    assert platforms("other", "sync", "--quiet").exit_code == 0
    peer = platforms("other", "checkpoint").output
    done = platforms("acme", "audit", "--peer", "-", stdin=peer)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("AGREE: ours (size 3) and the peer's (size 5) are one history")
    assert platforms("acme", "audit").exit_code == 0  # and with the federation's current one


def test_a_split_view_is_caught_by_the_kit_and_by_audit(app, client, platforms):
    """The federation shows acme one log and, later, other a different one of the same size."""
    report(client, 6)
    assert platforms("acme", "sync", "--quiet").exit_code == 0
    rewrite_history(app, drop_seq=3)
    report(client, 1)  # size 6 again, another root
    assert platforms("other", "sync", "--quiet").exit_code == 0  # other cannot tell on its own
    peer = platforms("other", "checkpoint").output
    done = platforms("acme", "audit", "--peer", "-", stdin=peer)
    assert done.exit_code == 1, done.output
    assert done.output.startswith("DISAGREE: ours (size 6) and the peer's (size 6) are both signed by the log, "
                                  "with different roots") and "split view" in done.output
    # The other way round, and acme's own kit on its next sync.
    mine = platforms("acme", "checkpoint").output
    assert platforms("other", "audit", "--peer", "-", stdin=mine).exit_code == 1
    kit = FederationClient(platforms.base, platforms.tokens["acme"])
    with platforms.store("acme") as store, pytest.raises(LogError, match="split view"):
        sync(kit, store, workers=1)
    kit.close()


def test_a_rewritten_history_is_caught_by_the_kit_and_by_audit(app, client, platforms):
    report(client, 6)
    assert platforms("acme", "sync", "--quiet").exit_code == 0
    rewrite_history(app, drop_seq=2)
    report(client, 3)  # 8 entries: more than acme holds, but not an extension of it
    done = platforms("acme", "audit")
    assert done.exit_code == 1, done.output
    assert done.output.startswith("DISAGREE: ours (size 6) and the federation's current (size 8)")
    assert "history was rewritten" in done.output
    assert platforms("other", "sync", "--quiet").exit_code == 0
    peer = platforms("other", "checkpoint").output
    assert platforms("acme", "audit", "--peer", "-", stdin=peer).exit_code == 1
    synced = platforms("acme", "sync", "--quiet")
    assert synced.exit_code == 1 and "does not extend the one we hold, of size 6" in synced.output


def test_audit_refuses_a_checkpoint_the_log_did_not_sign(client, platforms):
    report(client, 2)
    assert platforms("acme", "sync", "--quiet").exit_code == 0
    stranger = Ed25519PrivateKey.generate()
    fake = ref.sign_checkpoint(ORIGIN, 2, b"y" * 32, stranger.public_key().public_bytes_raw(), stranger.sign)
    done = platforms("acme", "audit", "--peer", "-", stdin=fake)
    assert done.exit_code == 2 and "proves nothing" in done.output

