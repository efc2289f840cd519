"""An independent verifier of the log for tests, written from RFC 9162 (section 2.1) and
C2SP (signed-note, tlog-checkpoint). It deliberately imports nothing of the service's or
the kit's Merkle, note or canonical-JSON code: the tests check those against this.

Entries here are what the feed serves (ASCII only), so their RFC 8785 bytes are simply
`json.dumps` with sorted keys and no spaces.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def entry_leaf(entry: dict) -> bytes:
    signed = {k: v for k, v in entry.items() if k not in ("kid", "sig")}
    body = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode("ascii")
    return sha256(b"\x00" + body)


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of leaf hashes (RFC 9162 2.1.1), straight from the recursive definition."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 2.1.3.1)."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 2.1.4.1)."""
    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = _k(n)
        if m <= k:
            return [*subproof(m, d[:k], b), mth(d[k:])]
        return [*subproof(m - k, d[k:], False), mth(d[:k])]
    return subproof(m, leaves, True)


def inclusion_ok(leaf_index: int, tree_size: int, leaf: bytes, inclusion_path: list[bytes],
                 root: bytes) -> bool:
    """RFC 9162 2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn // 2, sn // 2
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and r == root


def consistency_ok(first: int, second: int, first_hash: bytes, second_hash: bytes,
                   consistency_path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, step by step (first < second)."""
    if not consistency_path:
        return False
    if first & (first - 1) == 0:
        consistency_path = [first_hash, *consistency_path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = consistency_path[0]
    for c in consistency_path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn // 2, sn // 2
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn // 2, sn // 2
    return fr == first_hash and sr == second_hash and sn == 0


# --- C2SP signed notes and checkpoints -------------------------------------------------

def key_id(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + b"\x01" + public)[:4]


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 public key) of a verifier key, checked."""
    name, hex_id, material = vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01 and len(raw) == 33
    assert bytes.fromhex(hex_id) == key_id(name, raw[1:])
    return name, bytes.fromhex(hex_id), raw[1:]


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint signed by `vkey`; AssertionError otherwise."""
    name, kid, public = parse_vkey(vkey)
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    verified = False
    for line in signatures.splitlines():
        dash, signer, encoded = line.split(" ")
        assert dash == "\u2014"
        blob = base64.b64decode(encoded)
        if signer == name and blob[:4] == kid:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
            except InvalidSignature:
                raise AssertionError("the checkpoint's signature does not verify") from None
            verified = True
    assert verified, "no signature by this key"
    origin, size, root, *extensions = text.split("\n")
    assert origin == name and extensions == [""]
    assert size == str(int(size))
    return origin, int(size), base64.b64decode(root, validate=True)


def sign_checkpoint(origin: str, size: int, root: bytes, public: bytes,
                    sign: Callable[[bytes], bytes]) -> str:
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    blob = key_id(origin, public) + sign(text.encode())
    return f"{text}\n\u2014 {origin} {base64.b64encode(blob).decode()}\n"


# --- C2SP tlog-cosignature (cosignature/v1) ---------------------------------------------

def cosignature_key_id(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + b"\x04" + public)[:4]


def cosignatures(note: str, name: str, public: bytes) -> list[int]:
    """The timestamps of the valid cosignature/v1 lines by (name, public) on a checkpoint
    note; AssertionError if a line under that key id does not verify."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    found = []
    for line in signatures.splitlines():
        _, signer, encoded = line.split(" ")
        blob = base64.b64decode(encoded)
        if signer != name or blob[:4] != cosignature_key_id(name, public):
            continue
        assert len(blob) == 4 + 8 + 64
        timestamp = int.from_bytes(blob[4:12], "big")
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[12:], message)
        except InvalidSignature:
            raise AssertionError(f"the cosignature by {name} does not verify") from None
        found.append(timestamp)
    return found


def cosign(text: str, name: str, public: bytes, sign: Callable[[bytes], bytes], timestamp: int) -> str:
    """A cosignature/v1 line over checkpoint `text` (origin, size, root lines)."""
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
    blob = cosignature_key_id(name, public) + timestamp.to_bytes(8, "big") + sign(message)
    return f"\u2014 {name} {base64.b64encode(blob).decode()}"
