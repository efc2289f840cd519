"""Deletion receipts: a platform's signed statement that it deleted a record the log told
it to delete (docs/log.md, "Deletion receipts").

    {"deleted_at": "2026-12-03T17:40:00Z", "log": "federation.example/log",
     "record_id": "r_...", "seq": 42, "tree_size": 57,
     "type": "federation/deletion-receipt/v1", "kid": "...", "sig": "..."}

Signed like a feed entry: Ed25519 over the RFC 8785 JSON of the object without `kid` and
`sig`, the signature in base64url; `kid` is the RFC 7638 thumbprint of the platform's
receipt key. `seq` is the delete entry's seq, `tree_size` the size of the signed tree the
platform had verified when it applied it (at least `seq`).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from federation.crypto.canonical import canonical_json
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.errors import SignatureError
from federation.crypto.signing import Signer, verify

RECEIPT_TYPE = "federation/deletion-receipt/v1"
FIELDS = frozenset({"type", "log", "record_id", "seq", "tree_size", "deleted_at"})
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class ReceiptError(SignatureError):
    """The receipt is malformed or its signature does not verify."""


def statement(*, log: str, record_id: str, seq: int, tree_size: int, deleted_at: dt.datetime) -> dict[str, Any]:
    """The fields a platform signs for one applied delete."""
    return {"type": RECEIPT_TYPE, "log": log, "record_id": record_id, "seq": seq, "tree_size": tree_size,
            "deleted_at": deleted_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def sign(fields: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The receipt: the fields, the key's kid and the signature."""
    check(fields)
    return {**fields, "kid": signer.kid, "sig": b64u_encode(signer.sign(canonical_json(dict(fields))))}


def signing_bytes(receipt: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the RFC 8785 JSON of the fields (no kid, no sig)."""
    return canonical_json({k: v for k, v in receipt.items() if k not in ("kid", "sig")})


def check(fields: Mapping[str, Any]) -> None:
    """Raise ReceiptError unless the fields are exactly a receipt's, well formed."""
    if set(fields) - {"kid", "sig"} != FIELDS:
        raise ReceiptError(f"a receipt has exactly the fields {', '.join(sorted(FIELDS))}, kid and sig")
    if fields["type"] != RECEIPT_TYPE:
        raise ReceiptError(f"type must be {RECEIPT_TYPE}")
    for name in ("seq", "tree_size"):
        value = fields[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
            raise ReceiptError(f"{name} must be a positive integer")
    if fields["tree_size"] < fields["seq"]:
        raise ReceiptError("tree_size is smaller than seq: that tree does not hold the delete")
    if not isinstance(fields["record_id"], str) or not _RECORD_ID.fullmatch(fields["record_id"]):
        raise ReceiptError("record_id is not a record id")
    if not isinstance(fields["log"], str) or not fields["log"]:
        raise ReceiptError("log must name the log's origin")
    if not isinstance(fields["deleted_at"], str) or not _INSTANT.fullmatch(fields["deleted_at"]):
        raise ReceiptError("deleted_at must be a UTC instant like 2026-12-03T17:40:00Z")


def deleted_at(receipt: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.strptime(receipt["deleted_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def verify_receipt(receipt: Mapping[str, Any], public_raw: bytes) -> None:
    """Check a receipt's form and its signature by `public_raw`. Raises ReceiptError."""
    check(receipt)
    try:
        signature = b64u_decode(receipt["sig"]) if isinstance(receipt.get("sig"), str) else b""
        verify(public_raw, signing_bytes(receipt), signature)
    except (SignatureError, ValueError):
        raise ReceiptError(f"the receipt for seq {receipt['seq']} is not signed by key {receipt.get('kid')}") \
            from None
