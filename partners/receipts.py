"""The platform's side of deletion receipts and cosigning (docs/log.md): a key registered
with the federation; a signed receipt for every delete the kit applied, naming the tree
size of the signed checkpoint it had verified; a cosignature of that checkpoint."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

from federation.crypto import note
from federation.crypto import receipt as receipt_format
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.signing import Signer, generate_keypair
from partners.client import FederationClient
from partners.store import LocalStore

BATCH = 1000


def cosign(client: FederationClient, store: LocalStore) -> int | None:
    """Cosign the checkpoint the store holds, which sync verified and found consistent
    with the one before it (c2sp.org/tlog-cosignature); return its size, or None without
    a receipt key. The federation adds the cosignature to the checkpoint it serves."""
    made = signer(store)
    held = store.log_checkpoint()
    if made is None or held is None:
        return None
    key, name = made
    checkpoint = note.parse_checkpoint(note.parse(held[1])[0])
    if checkpoint.size == 0:
        return None
    line = note.cosign(checkpoint, name, key, int(time.time()))
    client.post("/v1/log/cosignatures", {"tree_size": checkpoint.size, "cosignature": line.rstrip("\n")},
                idempotency_key="cosig-" + hashlib.sha256(line.encode()).hexdigest())
    return checkpoint.size


def signer(store: LocalStore) -> tuple[Signer, str] | None:
    """This platform's receipt signer and witness name, if it made a receipt key."""
    held = store.receipt_key()
    return (Signer(b64u_decode(held[0])), held[1]) if held else None


def register_key(client: FederationClient, store: LocalStore) -> dict[str, str]:
    """Make a receipt key (once) and register it with the federation (again: a no-op)."""
    held = store.receipt_key()
    private = b64u_decode(held[0]) if held else generate_keypair()[0]
    public = Signer(private).public_raw
    registered = client.post("/v1/receipt-keys", {"public_key": b64u_encode(public)},
                             idempotency_key="rk-" + hashlib.sha256(public).hexdigest())
    store.set_receipt_key(b64u_encode(private), registered["witness_name"])
    return registered


def send_receipts(client: FederationClient, store: LocalStore) -> int:
    """Sign and send a receipt for each applied delete not yet receipted; return how many.

    `tree_size` is the size of the signed checkpoint the store holds, which the kit verified
    and which covers every entry it applied.
    """
    made = signer(store)
    held = store.log_checkpoint()
    if made is None or held is None:
        return 0
    key, _ = made
    checkpoint = note.parse_checkpoint(note.parse(held[1])[0])
    sent = 0
    while True:
        pending = store.unreceipted_deletes(BATCH)
        if not pending:
            return sent
        batch = [receipt_format.sign(receipt_format.statement(
            log=checkpoint.origin, record_id=record_id, seq=seq, tree_size=checkpoint.size,
            deleted_at=dt.datetime.fromisoformat(applied_at)), key) for seq, record_id, applied_at in pending]
        digest = hashlib.sha256(json.dumps(batch, sort_keys=True).encode()).hexdigest()
        client.post("/v1/receipts", {"receipts": batch}, idempotency_key=f"rcpt-{digest}")
        store.mark_receipted([seq for seq, _, _ in pending],
                             dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        sent += len(pending)
