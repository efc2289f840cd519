"""The verifiable log over HTTP: checkpoints and proofs checked by an independent verifier
(tests/log_reference.py, from RFC 9162 and C2SP), across a key rotation, under
concurrent writers, and every bad range."""
from __future__ import annotations

import base64
import threading

import pytest

from federation.crypto.encoding import b64u_decode
from tests import log_reference as ref
from tests.factories import add_partner, bearer, case_payload, random_signal, read_feed


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, scopes="feed:read")


def report(client, count: int) -> dict:
    receipt = client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(count)]))
    assert receipt.status_code == 201
    body = receipt.get_json()
    return {"reference": body["reference"], "pin": body["pin"]}


def active_vkey(client) -> str:
    """The active key's note vkey, checked to be the same key as its JWK."""
    key = next(k for k in client.get("/.well-known/federation-keys").get_json()["keys"]
               if k["status"] == "active")
    _, _, public = ref.parse_vkey(key["note_vkey"])
    assert public == b64u_decode(key["x"])
    return key["note_vkey"]


def checkpoint(client) -> str:
    response = client.get("/v1/log/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def hashes(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v, validate=True) for v in values]


def check_every_proof(client, token, leaves: list[bytes], sizes: range) -> None:
    for size in sizes:
        root = ref.mth(leaves[:size])
        for seq in range(1, size + 1):
            answer = client.get(f"/v1/log/inclusion?seq={seq}&size={size}", headers=bearer(token)).get_json()
            assert answer["leaf_index"] == seq - 1 and answer["tree_size"] == size
            got = hashes(answer["proof"])
            assert got == ref.path(seq - 1, leaves[:size]), (seq, size)
            assert ref.inclusion_ok(seq - 1, size, leaves[seq - 1], got, root), (seq, size)
        for first in range(1, size + 1):
            answer = client.get(f"/v1/log/consistency?first={first}&second={size}",
                                headers=bearer(token)).get_json()
            got = hashes(answer["proof"])
            assert got == ref.proof(first, leaves[:size]), (first, size)
            if first < size:
                assert ref.consistency_ok(first, size, ref.mth(leaves[:first]), root, got), (first, size)


def test_checkpoints_and_proofs_verify_independently_across_a_key_rotation(app, client, token):
    from tests.factories import rotate_signing_key as rotate

    origin, size, root = ref.open_checkpoint(checkpoint(client), active_vkey(client))
    assert (origin, size, root) == ("federation.example/log", 0, ref.sha256(b""))

    report(client, 3)
    client.post("/v1/cases/withdraw", json=report(client, 2))
    report(client, 2)
    old_vkey, old_note = active_vkey(client), checkpoint(client)
    leaves = [ref.entry_leaf(e) for e in read_feed(client, token)]
    assert len(leaves) == 9
    _, size, root = ref.open_checkpoint(old_note, old_vkey)
    assert size == 9 and root == ref.mth(leaves)
    check_every_proof(client, token, leaves, range(1, 10))

    rotate(app)
    report(client, 4)
    new_vkey, new_note = active_vkey(client), checkpoint(client)
    assert new_vkey != old_vkey
    with pytest.raises(AssertionError, match="no signature by this key"):
        ref.open_checkpoint(new_note, old_vkey)
    leaves = [ref.entry_leaf(e) for e in read_feed(client, token)]
    _, size, root = ref.open_checkpoint(new_note, new_vkey)
    assert size == 13 and root == ref.mth(leaves)
    # The old checkpoint, signed by the retired key, is a prefix of the new one.
    proof = client.get("/v1/log/consistency?first=9&second=13", headers=bearer(token)).get_json()["proof"]
    assert ref.consistency_ok(9, 13, ref.open_checkpoint(old_note, old_vkey)[2], root, hashes(proof))
    check_every_proof(client, token, leaves, range(10, 14))


def test_the_tree_holds_under_concurrent_writers(app, client, token):
    def writer():
        local = app.test_client()
        for _ in range(4):
            assert local.post("/v1/cases", json=case_payload(
                [random_signal("sha256") for _ in range(3)])).status_code == 201

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    leaves = [ref.entry_leaf(e) for e in read_feed(client, token)]
    _, size, root = ref.open_checkpoint(checkpoint(client), active_vkey(client))
    assert size == len(leaves) == 48 and root == ref.mth(leaves)
    for first in (1, 7, 16, 31):
        proof = client.get(f"/v1/log/consistency?first={first}&second=48", headers=bearer(token)).get_json()
        assert ref.consistency_ok(first, 48, ref.mth(leaves[:first]), root, hashes(proof["proof"]))


def test_a_feed_page_names_the_tree_size_that_covers_it(client, token):
    report(client, 3)
    response = client.get("/v1/feed?after=0&limit=2", headers=bearer(token))
    assert response.headers["Log-Size"] == "3"
    assert set(response.get_json()) == {"entries", "next", "has_more"}  # unchanged for old clients


@pytest.mark.parametrize("query, status, code", [
    ("consistency?first=0&second=3", 422, "invalid_input"),
    ("consistency?first=3&second=2", 422, "invalid_log_range"),
    ("consistency?first=2&second=4", 409, "log_size_ahead"),
    ("consistency?first=-1&second=2", 422, "invalid_input"),
    ("consistency?first=1", 422, "invalid_input"),
    ("inclusion?seq=0&size=3", 422, "invalid_input"),
    ("inclusion?seq=3&size=2", 422, "invalid_log_range"),
    ("inclusion?seq=1&size=4", 409, "log_size_ahead"),
    ("inclusion?seq=x&size=3", 422, "invalid_input"),
    ("inclusion?seq=1&size=0", 422, "invalid_input"),
])
def test_bad_ranges_are_problems_with_stable_codes(client, token, query, status, code):
    report(client, 3)
    response = client.get(f"/v1/log/{query}", headers=bearer(token))
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code
    if code == "log_size_ahead":
        assert response.get_json()["head"] == 3


def test_proofs_need_feed_read_and_the_checkpoint_nothing(app, client, token):
    report(client, 1)
    assert client.get("/v1/log/consistency?first=1&second=1").status_code == 401
    other = add_partner(app, scopes="feedback:write")
    assert client.get("/v1/log/inclusion?seq=1&size=1", headers=bearer(other)).status_code == 403
    ok = client.get("/v1/log/consistency?first=1&second=1", headers=bearer(token))
    assert ok.status_code == 200 and ok.get_json()["proof"] == []
    assert client.get("/v1/log/checkpoint").status_code == 200
