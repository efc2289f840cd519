"""federation.crypto.merkle and .note against an independent implementation of RFC 9162
and C2SP (tests/log_reference.py) and the C2SP spec's own example; and the migration
that builds the tree for a feed that existed before it."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from federation.crypto import merkle, note
from federation.crypto.errors import SignatureError, UnknownKeyError
from federation.crypto.signing import Signer, generate_keypair
from tests import log_reference as ref

LEAVES = [ref.sha256(b"\x00" + bytes([i])) for i in range(70)]


def stored_tree(n: int) -> dict[merkle.Node, bytes]:
    """Every node the service would store for n leaves, appended in uneven batches."""
    nodes: dict[merkle.Node, bytes] = {}
    frontier: list[bytes] = []
    size, step = 0, 1
    while size < n:
        batch = LEAVES[size:min(n, size + step)]
        frontier, made = merkle.append(frontier, size, batch)
        nodes.update({(level, index): digest for level, index, digest in made})
        size, step = size + len(batch), step % 4 + 1
    assert merkle.fold(frontier) == ref.mth(LEAVES[:n])
    return nodes


@pytest.mark.parametrize("n", [*range(1, 18), 31, 32, 33, 64, 70])
def test_roots_and_proofs_match_the_rfc_definitions(n):
    nodes = stored_tree(n)
    root = ref.mth(LEAVES[:n])
    assert merkle.range_hash(0, n, nodes) == root
    for m in range(n):
        path = [merkle.range_hash(a, b, nodes) for a, b in merkle.inclusion_ranges(m, n)]
        assert path == ref.path(m, LEAVES[:n])
        merkle.verify_inclusion(LEAVES[m], m, n, path, root)
    for m in range(1, n + 1):
        proof = [merkle.range_hash(a, b, nodes) for a, b in merkle.consistency_ranges(m, n)]
        assert proof == ref.proof(m, LEAVES[:n])
        merkle.verify_consistency(m, n, ref.mth(LEAVES[:m]), root, proof)


def test_verification_refuses_what_is_not_proven():
    nodes = stored_tree(13)
    root = ref.mth(LEAVES[:13])
    path = [merkle.range_hash(a, b, nodes) for a, b in merkle.inclusion_ranges(5, 13)]
    for bad in (lambda: merkle.verify_inclusion(LEAVES[6], 5, 13, path, root),
                lambda: merkle.verify_inclusion(LEAVES[5], 6, 13, path, root),
                lambda: merkle.verify_inclusion(LEAVES[5], 5, 4, path, root),
                lambda: merkle.verify_inclusion(LEAVES[5], 5, 13, path[:-1], root),
                lambda: merkle.verify_inclusion(LEAVES[5], 5, 13, [*path, root], root),
                lambda: merkle.verify_inclusion(LEAVES[5], 13, 13, path, root)):
        with pytest.raises(merkle.ProofError):
            bad()
    proof = [merkle.range_hash(a, b, nodes) for a, b in merkle.consistency_ranges(6, 13)]
    old = ref.mth(LEAVES[:6])
    for bad in (lambda: merkle.verify_consistency(6, 13, ref.mth(LEAVES[:5]), root, proof),
                lambda: merkle.verify_consistency(6, 13, old, ref.mth(LEAVES[:12]), proof),
                lambda: merkle.verify_consistency(6, 13, old, root, proof[1:]),
                lambda: merkle.verify_consistency(6, 13, old, root, []),
                lambda: merkle.verify_consistency(13, 6, root, old, proof),
                lambda: merkle.verify_consistency(6, 6, old, root, [])):
        with pytest.raises(merkle.ProofError):
            bad()


def test_the_c2sp_example_note_verifies():
    # From c2sp.org/signed-note, "Example".
    name, public = note.parse_vkey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    signed = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXp"
              "pzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
    assert note.open_note(signed, [(name, public)])[0] == "This is an example message.\n"
    with pytest.raises(SignatureError):
        note.open_note(signed.replace("example.", "exampl3."), [(name, public)])


def test_our_checkpoints_open_with_the_reference_and_theirs_with_ours():
    signer = Signer(generate_keypair()[0])
    checkpoint = note.Checkpoint("log.example/x", 13, ref.mth(LEAVES[:13]))
    signed = note.sign_checkpoint(checkpoint, signer)
    assert ref.open_checkpoint(signed, note.vkey("log.example/x", signer.public_raw)) == \
        ("log.example/x", 13, checkpoint.root)
    theirs = ref.sign_checkpoint("log.example/x", 2, LEAVES[0], signer.public_raw, signer.sign)
    assert note.open_checkpoint(theirs, "log.example/x", [signer.public_raw])[0].size == 2
    stranger = Signer(generate_keypair()[0])
    with pytest.raises(UnknownKeyError):
        note.open_checkpoint(signed, "log.example/x", [stranger.public_raw])
    with pytest.raises(SignatureError):  # the same key under another origin is another key
        note.open_checkpoint(signed, "log.example/y", [signer.public_raw])


@pytest.mark.parametrize("mangle", [
    lambda s: s.replace("\n\n", "\n"),                      # no blank line before signatures
    lambda s: s.replace("13\n", "013\n"),                   # a leading zero
    lambda s: s.replace("\u2014 ", "- "),                   # not an em dash
    lambda s: s.replace("13\n", "13\r\n"),                  # a control character
    lambda s: s[:-1],                                       # no final newline
])
def test_malformed_notes_are_refused(mangle):
    signer = Signer(generate_keypair()[0])
    signed = note.sign_checkpoint(note.Checkpoint("log.example/x", 13, LEAVES[0]), signer)
    with pytest.raises(SignatureError):
        note.open_checkpoint(mangle(signed), "log.example/x", [signer.public_raw])


@pytest.mark.parametrize("origin", ["", "has space", "a+b", "{json", "tab\there"])
def test_an_origin_must_be_a_key_name(origin):
    with pytest.raises(ValueError):
        note.check_name(origin)


def test_the_migration_builds_the_tree_of_an_existing_feed(app, client, database_url):
    """Down to 0005 (no tree) and up again: the backfilled nodes are those publish wrote."""
    from federation.migrate import downgrade, upgrade
    from federation.models import FeedEntry, MerkleNode
    from tests.factories import case_payload, random_signal

    for count in (3, 5, 1, 4):
        client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(count)]))
    engine = app.extensions["federation.db"].engine

    def nodes():
        with engine.connect() as conn:
            return conn.execute(select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash)
                                .order_by(MerkleNode.level, MerkleNode.idx)).all()
    written = nodes()
    assert len(written) == 13 // 2 + 13 // 4 + 13 // 8  # every complete subtree above the leaves
    engine.dispose()
    try:
        downgrade(database_url, "0005_drop_redundant_feed_index")
    finally:
        upgrade(database_url)
    assert nodes() == written
    with engine.connect() as conn:
        leaves = [bytes(h) for h in conn.execute(
            select(FeedEntry.leaf_hash).order_by(FeedEntry.seq)).scalars()]
    root = client.get("/v1/log/checkpoint").get_data(as_text=True).split("\n")[2]
    assert len(leaves) == 13 and base64.b64decode(root) == ref.mth(leaves)


def test_the_documented_test_vectors_hold():
    """docs/log.md's worked example, recomputed by the reference and by our code."""
    import hashlib
    import json
    import re
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    doc = (Path(__file__).resolve().parents[2] / "docs" / "log.md").read_text()
    seed = hashlib.sha256(b"federation log test vector").digest()
    assert seed.hex() in doc
    signer = Signer(seed)
    bodies = re.findall(r"^(\{.*\})\n  ([0-9a-f]{64})$", doc, flags=re.MULTILINE)
    assert len(bodies) == 5
    leaves = []
    for body, leaf in bodies:
        assert ref.entry_leaf(json.loads(body)) == bytes.fromhex(leaf) == merkle.leaf_hash(body.encode())
        leaves.append(bytes.fromhex(leaf))
    b64 = lambda h: base64.b64encode(h).decode()  # noqa: E731
    root = merkle.fold(merkle.append([], 0, leaves)[0])
    assert root == ref.mth(leaves) and b64(root) in doc and b64(ref.mth(leaves[:3])) in doc
    assert json.dumps([b64(h) for h in ref.path(2, leaves)]) in doc
    assert json.dumps([b64(h) for h in ref.proof(3, leaves)]) in doc
    assert note.vkey("federation.example/log", signer.public_raw) in doc
    assert b64(Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()) in doc
    signed = note.sign_checkpoint(note.Checkpoint("federation.example/log", 5, root), signer)
    assert "```\n" + signed + "```" in doc
    vkey = note.vkey("federation.example/log", signer.public_raw)
    assert ref.open_checkpoint(signed, vkey)[1:] == (5, root)
