"""The partner kit against the log: it follows checkpoints, and refuses, before applying
anything, a page whose leaves do not produce the signed root, a rewritten history, a
shrinking checkpoint, a split view and a checkpoint signed by a key it does not know."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from federation import signing_keys
from federation.crypto.signing import Signer, generate_keypair
from partners.client import FederationClient
from partners.store import LocalStore
from partners.sync import LogError, SyncError, sync
from tests import log_reference as ref
from tests.factories import add_partner, case_payload, random_signal, read_feed, rewrite_history


@pytest.fixture
def kit(app, live_server, tmp_path):
    token = add_partner(app, scopes="feed:read")

    def run(*, checkpoint: str | None = None, store: str = "store.db", **options):
        client = FederationClient(live_server, token)
        if checkpoint is not None:  # a federation showing this checkpoint instead
            client.checkpoint = lambda: checkpoint  # type: ignore[method-assign]
        try:
            with LocalStore(tmp_path / store) as local:
                try:
                    return sync(client, local, workers=1, **options)
                finally:
                    run.checkpoint = local.checkpoint
                    run.held = local.log_checkpoint()
        finally:
            client.close()
    run.token = token
    run.store_path = lambda name: tmp_path / name
    return run


def report(client, count: int) -> None:
    assert client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(count)])
                       ).status_code == 201


def engine(app):
    return app.extensions["federation.db"].engine


def active_signer(app) -> Signer:
    with Session(engine(app)) as session:
        kid = next(k.kid for k in signing_keys.list_keys(session) if k.status == "active")
        return signing_keys.Signers(app.config["KEK_BYTES"]).for_kid(session, kid)


def forged(app, size: int, root: bytes, signer: Signer | None = None) -> str:
    """A checkpoint of our choosing, signed with the federation's real key (or `signer`)."""
    signer = signer or active_signer(app)
    return ref.sign_checkpoint("federation.example/log", size, root, signer.public_raw, signer.sign)


def test_the_kit_follows_the_log_and_keeps_its_checkpoint(app, client, kit):
    from tests.factories import rotate_signing_key as rotate

    report(client, 5)
    assert kit().applied == 5 and kit.held is not None and kit.held[1].splitlines()[1] == "5"
    report(client, 3)
    rotate(app)  # the next checkpoint is signed by a key the kit must learn
    report(client, 2)
    result = kit(limit=3, trust_new_keys=True)  # pages end inside the tree: consistency proofs
    assert result.applied == 5 and kit.checkpoint == 10
    entries = read_feed(client, kit.token)
    assert kit.held[1].splitlines()[2] == __import__("base64").b64encode(
        ref.mth([ref.entry_leaf(e) for e in entries])).decode()
    assert kit().applied == 0  # nothing new: the same checkpoint again is fine



def alter_stored_entry(app, seq: int) -> bytes:
    """Change an entry's stored bytes after signing (the tree keeps the old leaf); returns
    the bytes it had."""
    with engine(app).begin() as conn:
        body = conn.execute(text("SELECT body FROM feed_entries WHERE seq = :s"), {"s": seq}).scalar_one()
        altered = json.loads(body) | {"value": "0" * 32}
        conn.execute(text("UPDATE feed_entries SET body = :b WHERE seq = :s"),
                     {"b": json.dumps(altered, sort_keys=True, separators=(",", ":")).encode(), "s": seq})
    return body

@pytest.mark.parametrize("signatures", [True, False], ids=["with-signatures", "log-only"])
def test_a_page_whose_entry_was_altered_after_signing(app, client, kit, signatures):
    report(client, 4)
    alter_stored_entry(app, 3)
    with pytest.raises(SyncError) as error:
        kit(limit=2, verify_signatures=signatures)
    assert error.value.seq == 3
    assert ("does not verify" if signatures else "signed tree of size 4") in str(error.value)
    assert kit.checkpoint == 2  # the first page applied, the altered one not at all


def test_an_entry_removed_from_the_middle_is_refused(app, client, kit):
    report(client, 6)
    assert kit().applied == 6
    rewrite_history(app, drop_seq=3)
    report(client, 2)  # the rewritten log grows past what the kit holds: 7 > 6
    with pytest.raises(LogError) as error:
        kit()
    assert error.value.size == 7 and "does not extend the one we hold, of size 6" in str(error.value)
    assert kit.checkpoint == 6 and kit.held[1].splitlines()[1] == "6"
    # A kit that never saw the first history cannot tell: it follows the rewritten one.
    assert kit(store="fresh.db").applied == 7


def test_a_checkpoint_whose_size_shrinks_is_refused(app, client, kit):
    report(client, 6)
    assert kit().applied == 6
    rewrite_history(app, drop_seq=2)
    with pytest.raises(LogError) as error:
        kit()
    assert error.value.size == 5 and "shrank" in str(error.value)
    assert kit.checkpoint == 6


def test_two_checkpoints_of_the_same_size_with_different_roots(app, client, kit):
    report(client, 4)
    assert kit().applied == 4
    leaves = [ref.entry_leaf(e) for e in read_feed(client, kit.token)]
    other = forged(app, 4, ref.mth([*leaves[:3], ref.sha256(b"\x00another")]))
    with pytest.raises(LogError) as error:
        kit(checkpoint=other)
    assert error.value.size == 4 and "split view" in str(error.value)
    # And a larger one whose root is not an extension of the one held.
    report(client, 1)
    with pytest.raises(LogError) as error:
        kit(checkpoint=forged(app, 5, ref.mth([*leaves[:3], ref.sha256(b"\x00x"), ref.sha256(b"\x00y")])))
    assert error.value.size == 5 and "does not extend" in str(error.value)


def test_a_checkpoint_signed_by_an_unknown_key(app, client, kit):
    report(client, 2)
    leaves = [ref.entry_leaf(e) for e in read_feed(client, kit.token)]
    stranger = Signer(generate_keypair()[0])
    with pytest.raises(LogError) as error:
        kit(checkpoint=forged(app, 2, ref.mth(leaves), stranger))
    assert error.value.size == 2 and "signed by no key" in str(error.value)
    assert kit.checkpoint == 0 and kit.held is None


def test_a_checkpoint_the_feed_does_not_reach(app, client, kit):
    report(client, 2)
    leaves = [ref.entry_leaf(e) for e in read_feed(client, kit.token)]
    with pytest.raises(LogError) as error:  # signed, but the server serves only 2 entries
        kit(checkpoint=forged(app, 3, ref.mth([*leaves, ref.sha256(b"\x00z")])))
    assert error.value.size == 3 and kit.checkpoint == 0


def test_a_store_filled_by_an_older_kit_gets_its_tree_rebuilt_and_checked(app, client, kit):
    report(client, 5)
    assert kit(verify_log=False).applied == 5 and kit.held is None  # as an older kit left it
    report(client, 2)
    assert kit(limit=2).applied == 2 and kit.checkpoint == 7
    with LocalStore(kit.store_path("store.db")) as local:
        frontier = local.log_frontier()
    leaves = [ref.entry_leaf(e) for e in read_feed(client, kit.token)]
    assert frontier == [ref.mth(leaves[:4]), ref.mth(leaves[4:6]), leaves[6]]


def test_log_only_trusts_the_federations_database_for_the_signature(app, client, kit):
    """What `verify_signatures=False` gives up (docs/partner-kit.md): an entry whose
    signature was replaced where the federation stores it (someone who can write its
    database but holds no signing key; the leaf and the tree are unchanged, so the
    checkpoint the server signs covers it) is refused by the default sync, applied by a
    log-only one."""
    report(client, 3)
    with engine(app).begin() as conn:
        conn.execute(text("UPDATE feed_entries SET signature = :s WHERE seq = 2"), {"s": "A" * 86})
    with pytest.raises(SyncError) as error:
        kit(store="default.db")
    assert error.value.seq == 2 and "does not verify" in str(error.value)
    assert kit.checkpoint == 0
    assert kit(store="log-only.db", verify_signatures=False).applied == 3


def test_full_pages_are_checked_and_applied_in_batches(app, client, kit, monkeypatch):
    """A first sync checks consecutive full pages against the tree together and applies
    them in one transaction: an altered entry in the batch's second page leaves the whole
    batch unapplied (nothing from it), and the pages before the batch stay applied."""
    import partners.sync as syncing

    monkeypatch.setattr(syncing, "_BATCH_FROM", 2)
    monkeypatch.setattr(syncing, "_BATCH", 4)
    report(client, 10)
    body = alter_stored_entry(app, 7)
    with pytest.raises(LogError) as error:
        kit(limit=2, verify_signatures=False)
    assert error.value.seq == 7
    assert kit.checkpoint == 4  # seqs 1-4, one batch of two pages; 5-8 not at all
    with engine(app).begin() as conn:
        conn.execute(text("UPDATE feed_entries SET body = :b WHERE seq = 7"), {"b": body})
    result = kit(limit=2, verify_signatures=False)
    assert result.applied == 6 and kit.checkpoint == 10
