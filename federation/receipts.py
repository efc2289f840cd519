"""Deletion receipts and the withdrawal proof (docs/log.md, docs/verify-withdrawal.md).

A platform registers an Ed25519 receipt key. After its kit applies a `delete` from the
feed, it signs a receipt (federation/crypto/receipt.py) naming the record, the delete's
seq and the tree size it had verified, and sends it here; we verify it against the keys
*that platform* registered and against the log (there must be a delete of that record at
that seq), and keep it, once per platform and delete. The person's status shows, per
platform, whether every delete of their case has a receipt, and the withdrawal proof
gathers the deletes' inclusion proofs, the checkpoint and the receipts in one document.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation import idempotency, signing_keys, tlog
from federation.case_access import PinPolicy, authenticate
from federation.crypto import note
from federation.crypto import receipt as receipt_format
from federation.crypto.errors import CryptoError
from federation.crypto.signing import key_id
from federation.db import dialect_insert
from federation.errors import Conflict, InvalidInput
from federation.idempotency import IdempotencyPolicy
from federation.models import (
    Case,
    CaseSignal,
    DeletionReceipt,
    FeedEntry,
    FeedOp,
    MemberStatus,
    Partner,
    ReceiptKey,
    SigningKey,
    table,
    utcnow,
)

MAX_RECEIPTS = 1000
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
PROOF_TYPE = "federation/withdrawal-proof/v1"


class InvalidReceipt(InvalidInput):
    code = "invalid_receipt"
    title = "A receipt is malformed, for another log, or its signature does not verify"


class UnknownReceiptKey(InvalidInput):
    code = "unknown_receipt_key"
    title = "A receipt is signed by a key this platform has not registered"


class NoSuchDelete(InvalidInput):
    code = "no_such_delete"
    title = "The log has no delete of this record at this seq"


class ReceiptKeyTaken(Conflict):
    code = "receipt_key_taken"
    title = "This public key is registered to another platform"


def register_key(session: Session, idempotency_policy: IdempotencyPolicy, partner_id: int, public_raw: bytes,
                 *, idempotency_key: str | None = None) -> dict[str, str]:
    """Register a platform's receipt (and cosigning) key; registering it again is a no-op.
    Returns {"kid", "witness_name", "witness_vkey"}.

    Raises InvalidInput (not an Ed25519 public key) or ReceiptKeyTaken.
    """
    try:
        kid = key_id(public_raw)
    except CryptoError:
        raise InvalidInput("public_key is not an Ed25519 public key (32 bytes, base64url)",
                           code="invalid_public_key") from None

    def write() -> dict[str, str]:
        owner = session.scalar(select(ReceiptKey.partner_id).where(ReceiptKey.kid == kid))
        if owner is None:
            session.add(ReceiptKey(kid=kid, partner_id=partner_id, public_key=public_raw))
        elif owner != partner_id:
            raise ReceiptKeyTaken("this key is registered to another platform")
        name = session.execute(select(Partner.name).where(Partner.id == partner_id)).scalar_one()
        return {"kid": kid, "witness_name": name, "witness_vkey": note.cosignature_vkey(name, public_raw)}

    session.rollback()
    return idempotency.write_once(session, idempotency_policy, scope=f"receipt-keys:{partner_id}",
                                  key=idempotency_key, request=kid, write=write,
                                  codec=idempotency.PLAIN_JSON)[0]


def record_receipts(session: Session, idempotency_policy: IdempotencyPolicy, origin: str, partner_id: int,
                    receipts: list[dict[str, Any]], *, idempotency_key: str | None = None,
                    now: dt.datetime | None = None) -> tuple[dict, bool]:
    """Verify and keep a batch of receipts from one platform; return (body, replayed).

    The body is {"results": [{"status": "recorded" | "already_recorded"}], "recorded": n,
    "already_recorded": n}. Nothing of the batch is kept if any receipt is refused:
    InvalidInput (batch size, repeated seq), InvalidReceipt, UnknownReceiptKey, NoSuchDelete,
    each naming the receipt's index.
    """
    if not 1 <= len(receipts) <= MAX_RECEIPTS:
        raise InvalidInput(f"a batch holds 1 to {MAX_RECEIPTS} receipts, got {len(receipts)}", code="batch_size")
    session.rollback()
    keys = {kid: public for kid, public in session.execute(
        select(ReceiptKey.kid, ReceiptKey.public_key).where(ReceiptKey.partner_id == partner_id))}
    seqs = {r["seq"] for r in receipts if isinstance(r.get("seq"), int) and not isinstance(r["seq"], bool)}
    deletes = {seq: record_id for seq, record_id in session.execute(select(FeedEntry.seq, FeedEntry.record_id)
               .where(FeedEntry.seq.in_(seqs), FeedEntry.op == FeedOp.DELETE))} if seqs else {}
    session.rollback()
    latest = (now or utcnow()) + MAX_CLOCK_SKEW
    seen: dict[int, int] = {}
    for index, item in enumerate(receipts):
        where = f"receipts[{index}]"
        try:
            receipt_format.check(item)
        except receipt_format.ReceiptError as error:
            raise InvalidReceipt(f"{where}: {error}", indexes=[index]) from None
        if item["log"] != origin:
            raise InvalidReceipt(f"{where} is for the log {item['log']!r}, not this one ({origin!r})",
                                 indexes=[index])
        public = keys.get(item["kid"]) if isinstance(item["kid"], str) else None
        if public is None:
            raise UnknownReceiptKey(f"{where} is signed by a key you have not registered "
                                    "(federation-partner receipt-key)", indexes=[index])
        try:
            receipt_format.verify_receipt(item, public)
        except receipt_format.ReceiptError as error:
            raise InvalidReceipt(f"{where}: {error}", indexes=[index]) from None
        if deletes.get(item["seq"]) != item["record_id"]:
            raise NoSuchDelete(f"{where}: the log has no delete of this record at seq {item['seq']}",
                               indexes=[index])
        if receipt_format.deleted_at(item) > latest:
            raise InvalidReceipt(f"{where}: deleted_at is in the future", indexes=[index])
        earlier = seen.setdefault(item["seq"], index)
        if earlier != index:
            raise InvalidInput(f"receipts[{earlier}] and {where} are for the same delete",
                               code="duplicate_item", indexes=[earlier, index])
    return idempotency.write_once(
        session, idempotency_policy, scope=f"receipts:{partner_id}", key=idempotency_key,
        request=[receipt_format.signing_bytes(r).decode() + r["sig"] for r in receipts],
        write=lambda: _store(session, partner_id, receipts), codec=idempotency.PLAIN_JSON)


def _store(session: Session, partner_id: int, receipts: list[dict[str, Any]]) -> dict:
    """Insert checked receipts in the caller's transaction: each (platform, delete) once."""
    rows = sorted(({"partner_id": partner_id, "seq": r["seq"], "kid": r["kid"], "tree_size": r["tree_size"],
                    "deleted_at": receipt_format.deleted_at(r), "body": receipt_format.signing_bytes(r),
                    "signature": r["sig"], "received_at": utcnow()} for r in receipts), key=lambda r: r["seq"])
    receipts_table = table(DeletionReceipt)
    statement = dialect_insert(session, receipts_table).on_conflict_do_nothing().returning(receipts_table.c.seq)
    inserted = set(session.scalars(statement, rows))
    results = [{"status": "recorded" if r["seq"] in inserted else "already_recorded"} for r in receipts]
    return {"results": results, "recorded": len(inserted), "already_recorded": len(receipts) - len(inserted)}


# --- what the person sees ------------------------------------------------------------

@dataclass(frozen=True)
class PlatformDeletion:
    """One platform's confirmation of a withdrawn case's deletes."""

    platform: str  # the partner's display name
    confirmed: bool  # a signed receipt for every delete of the case
    receipts: int
    deletes: int
    deleted_at: dt.datetime | None  # the latest of the receipts' deleted_at, once confirmed


def case_deletes(session: Session, case_id: int) -> list[tuple[int, str]]:
    """(seq, record id) of the delete entries the case's withdrawal led to, in seq order.

    For each of the case's hashes, the first delete at or after the withdrawal: a hash
    another active case still held is deleted later, when that one is withdrawn.
    """
    withdrawn_at = session.scalar(select(Case.withdrawn_at).where(Case.id == case_id))
    if withdrawn_at is None:
        return []
    first = (select(func.min(FeedEntry.seq).label("seq"))
             .join(CaseSignal, CaseSignal.signal_id == FeedEntry.signal_id)
             .where(CaseSignal.case_id == case_id, FeedEntry.op == FeedOp.DELETE,
                    FeedEntry.created_at >= withdrawn_at)
             .group_by(FeedEntry.signal_id).subquery())
    return [(seq, record_id) for seq, record_id in session.execute(
        select(FeedEntry.seq, FeedEntry.record_id).where(FeedEntry.seq.in_(select(first.c.seq)))
        .order_by(FeedEntry.seq))]


def platform_deletions(session: Session, case_id: int) -> tuple[PlatformDeletion, ...]:
    """Per platform that reads the feed, how many of the case's deletes it confirmed."""
    deletes = [seq for seq, _ in case_deletes(session, case_id)]
    if not deletes:
        return ()
    partners = session.execute(select(Partner.id, Partner.display_name).where(
        Partner.status == MemberStatus.ACTIVE, Partner.scopes.contains("feed:read"))
        .order_by(Partner.display_name)).all()
    confirmed = {partner_id: (count, latest) for partner_id, count, latest in session.execute(
        select(DeletionReceipt.partner_id, func.count(), func.max(DeletionReceipt.deleted_at))
        .where(DeletionReceipt.seq.in_(deletes)).group_by(DeletionReceipt.partner_id))}
    result = []
    for partner_id, name in partners:
        count, latest = confirmed.get(partner_id, (0, None))
        done = count == len(deletes)
        result.append(PlatformDeletion(name, done, count, len(deletes), latest if done else None))
    return tuple(result)


def withdrawal_proof(session: Session, pins: PinPolicy, log: tlog.LogPolicy, signers: signing_keys.Signers,
                     reference: str, pin: str, network: str = "unknown") -> dict[str, Any]:
    """The person's withdrawal proof (docs/verify-withdrawal.md). Raises CaseNotFound, LockedOut.

    It holds no image hash: each delete is named by its seq, record id and leaf hash (a
    hash of the signed entry), proven in the signed checkpoint by an inclusion proof.
    """
    case_id = authenticate(session, pins, reference, pin, network)
    size, checkpoint = tlog.checkpoint(session, log, signers)
    deletes = case_deletes(session, case_id)
    leaves = {seq: leaf for seq, leaf in session.execute(
        select(FeedEntry.seq, FeedEntry.leaf_hash).where(FeedEntry.seq.in_([seq for seq, _ in deletes])))}
    public = _checkpoint_key(session, checkpoint, log)
    entries = [{"seq": seq, "record_id": record_id, "leaf_hash": _b64(leaves[seq]),
                "inclusion": [_b64(h) for h in tlog.inclusion(session, seq, size)]}
               for seq, record_id in deletes]
    receipts = []
    for body, kid, signature, display, key in session.execute(
            select(DeletionReceipt.body, DeletionReceipt.kid, DeletionReceipt.signature, Partner.display_name,
                   ReceiptKey.public_key)
            .join(Partner, Partner.id == DeletionReceipt.partner_id)
            .join(ReceiptKey, ReceiptKey.kid == DeletionReceipt.kid)
            .where(DeletionReceipt.seq.in_([seq for seq, _ in deletes]))
            .order_by(Partner.name, DeletionReceipt.seq)):
        receipts.append({"platform": display, "public_key": _b64(key),
                         "receipt": {**json.loads(body), "kid": kid, "sig": signature}})
    session.rollback()
    return {"type": PROOF_TYPE, "checkpoint": checkpoint,
            "log_key": {"name": log.origin, "public_key": _b64(public),
                        "vkey": note.vkey(log.origin, public)},
            "deletes": entries, "receipts": receipts,
            "platforms": [{"platform": d.platform, "confirmed": d.confirmed}
                          for d in platform_deletions(session, case_id)]}


def _checkpoint_key(session: Session, checkpoint: str, log: tlog.LogPolicy) -> bytes:
    """The public feed key that signed the checkpoint (found by its note key id)."""
    signature = note.parse(checkpoint)[1][0]
    for public in session.scalars(select(SigningKey.public_key)):
        if note.key_id(log.origin, public) == signature.key_id:
            return public
    raise RuntimeError("the checkpoint's key is not among the signing keys")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
