"""Deletion receipts: a platform registers a key, its kit signs a receipt for each delete
it applied, the server verifies and keeps it once, and the person's status says, per
platform, "deleted, with a signed receipt" or not yet confirmed. Receipts are made and
checked here with `cryptography` and `json` from the format in docs/log.md, not with the
service's or the kit's code."""
from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.models import DeletionReceipt
from partners.client import FederationClient
from partners.receipts import register_key, send_receipts
from partners.store import LocalStore
from partners.sync import sync
from tests.factories import add_partner, bearer, case_payload, random_signal

ORIGIN = "federation.example/log"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(public: bytes) -> str:
    import hashlib

    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64u(public)}, sort_keys=True,
                         separators=(",", ":")).encode()
    return b64u(hashlib.sha256(members).digest())


class Platform:
    """A platform as the spec describes it: a token and an Ed25519 receipt key."""

    def __init__(self, app, client, name: str) -> None:
        self.token = add_partner(app, name, scopes="feed:read feedback:write", display_name=name.title())
        self.client = client
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes_raw()
        self.kid = thumbprint(self.public)

    def register(self):
        return self.client.post("/v1/receipt-keys", json={"public_key": b64u(self.public)},
                                headers=bearer(self.token))

    def receipt(self, seq: int, record_id: str, tree_size: int, **changes) -> dict:
        fields = {"type": "federation/deletion-receipt/v1", "log": ORIGIN, "record_id": record_id,
                  "seq": seq, "tree_size": tree_size, "deleted_at": "2026-01-02T03:04:05Z", **changes}
        signed = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        return {**fields, "kid": self.kid, "sig": b64u(self.key.sign(signed))}

    def send(self, *receipts, key: str | None = None):
        headers = bearer(self.token) | ({"Idempotency-Key": key} if key else {})
        return self.client.post("/v1/receipts", json={"receipts": list(receipts)}, headers=headers)


def withdrawn_case(client, count: int = 2) -> dict:
    """A person's case of `count` hashes, withdrawn; its credentials."""
    made = client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(count)])).get_json()
    credentials = {"reference": made["reference"], "pin": made["pin"]}
    assert client.post("/v1/cases/withdraw", json=credentials).status_code == 200
    return credentials


def feed(client, token: str) -> list[dict]:
    return client.get("/v1/feed?after=0&limit=100", headers=bearer(token)).get_json()["entries"]


def stored(app) -> int:
    with Session(app.extensions["federation.db"].engine) as session:
        return session.scalar(select(func.count()).select_from(DeletionReceipt)) or 0


def test_the_kit_sends_signed_receipts_and_the_person_sees_them(app, client, live_server, tmp_path):
    acme, other = Platform(app, client, "acme"), Platform(app, client, "other")
    credentials = withdrawn_case(client, 2)
    kit = FederationClient(live_server, acme.token)
    with LocalStore(tmp_path / "acme.db") as store:
        registered = register_key(kit, store)
        assert registered["witness_name"] == "acme"
        sync(kit, store, workers=1)
        assert send_receipts(kit, store) == 2
        assert send_receipts(kit, store) == 0  # each delete once
    kit.close()

    deletes = [e for e in feed(client, acme.token) if e["op"] == "delete"]
    with Session(app.extensions["federation.db"].engine) as session:
        rows = session.execute(select(DeletionReceipt.body, DeletionReceipt.signature, DeletionReceipt.kid)
                               .order_by(DeletionReceipt.seq)).all()
    assert len(rows) == 2
    material = base64.b64decode(registered["witness_vkey"].split("+", 2)[2])  # 0x04 || the public key
    assert material[0] == 4 and thumbprint(material[1:]) == registered["kid"]
    verifier = Ed25519PublicKey.from_public_bytes(material[1:])
    for (body, signature, kid), entry in zip(rows, deletes, strict=True):
        verifier.verify(base64.urlsafe_b64decode(signature + "=="), body)  # raises if forged
        receipt = json.loads(body)
        assert receipt["seq"] == entry["seq"] and receipt["record_id"] == entry["id"]
        assert receipt["tree_size"] == 4 and kid == registered["kid"]

    status = client.post("/v1/cases/status", json=credentials).get_json()
    by_name = {d["platform"]: d for d in status["deletion"]}
    assert by_name["Acme"]["confirmed"] is True and by_name["Acme"]["deleted_at"]
    assert by_name["Acme"]["receipts"] == 2 == by_name["Acme"]["deletes"]
    assert by_name["Other"] == {"platform": "Other", "confirmed": False, "receipts": 0, "deletes": 2,
                                "deleted_at": None}
    assert other.token  # a platform that sent nothing is shown as not yet confirmed


def test_a_receipt_sent_twice_is_kept_once(app, client):
    acme = Platform(app, client, "acme")
    assert acme.register().status_code == 200
    withdrawn_case(client, 1)
    delete = next(e for e in feed(client, acme.token) if e["op"] == "delete")
    receipt = acme.receipt(delete["seq"], delete["id"], 2)
    first = acme.send(receipt)
    assert first.status_code == 200 and first.get_json()["recorded"] == 1
    again = acme.send(receipt)
    assert again.status_code == 200 and again.get_json() == {
        "results": [{"status": "already_recorded"}], "recorded": 0, "already_recorded": 1}
    key = "receipt-batch-0000000000000001"
    assert acme.send(receipt, key=key).status_code == 200
    replay = acme.send(receipt, key=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert stored(app) == 1


@pytest.mark.parametrize("case", ["an add, not a delete", "past the head", "another record's delete",
                                  "another platform's receipt", "bad signature", "another log",
                                  "unregistered key", "tree smaller than seq"])
def test_bad_receipts_are_refused_and_nothing_is_kept(app, client, case):
    acme, other = Platform(app, client, "acme"), Platform(app, client, "other")
    assert acme.register().status_code == other.register().status_code == 200
    withdrawn_case(client, 2)
    entries = feed(client, acme.token)
    adds = [e for e in entries if e["op"] == "add"]
    deletes = [e for e in entries if e["op"] == "delete"]
    good = acme.receipt(deletes[0]["seq"], deletes[0]["id"], 4)
    sender, expected = acme, "no_such_delete"
    if case == "an add, not a delete":
        bad = acme.receipt(adds[0]["seq"], adds[0]["id"], 4)
    elif case == "past the head":
        bad = acme.receipt(9, deletes[1]["id"], 9)
    elif case == "another record's delete":
        bad = acme.receipt(deletes[1]["seq"], deletes[0]["id"], 4)
    elif case == "another platform's receipt":  # acme's own, sent by the other platform
        bad, sender, expected = acme.receipt(deletes[1]["seq"], deletes[1]["id"], 4), other, "unknown_receipt_key"
        good = other.receipt(deletes[0]["seq"], deletes[0]["id"], 4)
    elif case == "bad signature":
        bad = acme.receipt(deletes[1]["seq"], deletes[1]["id"], 4) | {"deleted_at": "2026-01-02T03:04:06Z"}
        expected = "invalid_receipt"
    elif case == "another log":
        bad, expected = acme.receipt(deletes[1]["seq"], deletes[1]["id"], 4, log="elsewhere/log"), "invalid_receipt"
    elif case == "unregistered key":
        stranger = Platform(app, client, "stranger")
        bad, expected = stranger.receipt(deletes[1]["seq"], deletes[1]["id"], 4), "unknown_receipt_key"
    else:
        bad, expected = acme.receipt(deletes[1]["seq"], deletes[1]["id"], 3), "invalid_receipt"
    response = sender.send(good, bad)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == expected and response.get_json()["indexes"] == [1]
    assert stored(app) == 0  # the good receipt in the same batch is not kept either


def test_receipt_keys_through_the_operator_cli(app, client, test_config, monkeypatch):
    from federation.cli import main

    for name, value in test_config.items():
        monkeypatch.setenv(f"FEDERATION_{name}", str(value))
    acme, other = Platform(app, client, "acme"), Platform(app, client, "other")
    runner = CliRunner()
    done = runner.invoke(main, ["partners", "receipt-key", "acme", b64u(acme.public)], catch_exceptions=False)
    assert done.exit_code == 0 and f"kid {acme.kid}" in done.output
    assert "acme+" in done.output.split("witness vkey ")[1]
    again = runner.invoke(main, ["partners", "receipt-key", "acme", b64u(acme.public)], catch_exceptions=False)
    assert again.exit_code == 0  # registering the same key again is a no-op
    taken = runner.invoke(main, ["partners", "receipt-key", "other", b64u(acme.public)], catch_exceptions=False)
    assert taken.exit_code == 1 and "another platform" in taken.output
    assert other.register().status_code == 200
    refused = client.post("/v1/receipt-keys", json={"public_key": b64u(other.public)}, headers=bearer(acme.token))
    assert refused.status_code == 409 and refused.get_json()["code"] == "receipt_key_taken"
    short = client.post("/v1/receipt-keys", json={"public_key": b64u(b"x" * 31)}, headers=bearer(acme.token))
    assert short.status_code == 422 and short.get_json()["code"] == "invalid_public_key"
    # One public key in 64 begins with "-" in base64url: it is a value, not an option.
    dashed = next(raw for raw in (Ed25519PrivateKey.generate().public_key().public_bytes_raw()
                                  for _ in range(2000)) if b64u(raw).startswith("-"))
    second = runner.invoke(main, ["partners", "receipt-key", "other", b64u(dashed)], catch_exceptions=False)
    assert second.exit_code == 0 and f"kid {thumbprint(dashed)}" in second.output
