"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, and tlog checkpoints in them
(c2sp.org/tlog-checkpoint).

    federation.example/log          <- origin
    42                              <- tree size
    <base64 of the RFC 9162 root>   <- root hash
                                    <- blank line
    — federation.example/log <base64(4-byte key id || 64-byte Ed25519 signature)>

The key name is the origin. The key id is SHA-256(name || 0x0A || 0x01 || public key)[:4].
A verifier key ("vkey") is ``name+hex(key id)+base64(0x01 || public key)``.
Base64 here is standard, padded (RFC 4648 section 4), unlike the feed's base64url.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from federation.crypto.errors import SignatureError, UnknownKeyError
from federation.crypto.signing import KEY_BYTES, SIGNATURE_BYTES, Signer, verify

ED25519 = 0x01
MAX_SIGNATURES = 16
_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


class NoteError(SignatureError):
    """The note is malformed, or no signature by a known key verifies."""


def check_name(name: str) -> str:
    """A key name / origin: non-empty, no Unicode spaces, no '+', no control characters.

    We also refuse a leading '{': the same Ed25519 key signs feed entries, which are
    canonical JSON objects, and this keeps a note's bytes from ever being one.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not name.isprintable() \
            or name.startswith("{"):
        raise ValueError(f"{name!r} is not a valid note key name")
    return name


def key_id(name: str, public_raw: bytes) -> bytes:
    """The 4-byte note key id of an Ed25519 key under this name."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_raw).digest()[:4]


def vkey(name: str, public_raw: bytes) -> str:
    """The verifier key string of an Ed25519 key under this name."""
    return f"{check_name(name)}+{key_id(name, public_raw).hex()}+" \
           f"{base64.b64encode(bytes([ED25519]) + public_raw).decode()}"


def parse_vkey(text: str) -> tuple[str, bytes]:
    """(name, public key) of an Ed25519 vkey; raises ValueError if it is malformed or its id is wrong."""
    try:
        name, hex_id, material = text.split("+", 2)  # base64 may hold "+"; a name may not
        raw = base64.b64decode(material, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("not a vkey: name+hex(key id)+base64(type || key)") from None
    check_name(name)
    if len(raw) != 1 + KEY_BYTES or raw[0] != ED25519:
        raise ValueError("vkey is not an Ed25519 key")
    if hex_id != key_id(name, raw[1:]).hex():
        raise ValueError("vkey's key id does not match its name and key")
    return name, raw[1:]


def sign(text: str, name: str, signer: Signer) -> str:
    """The signed note: `text` (ending in a newline), a blank line, one signature line."""
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    _check_text(text)
    signature = signer.sign(text.encode())
    blob = key_id(check_name(name), signer.public_raw) + signature
    return f"{text}\n{_DASH}{name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def parse(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines. Raises NoteError if malformed."""
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteError("note does not end with a newline")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, lines = note[:split + 1], note[split + 2:].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note must have 1 to {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("a signature line does not start with an em dash")
        name, _, encoded = line[len(_DASH):].partition(" ")
        try:
            check_name(name)
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("a signature line is malformed") from None
        if len(blob) < 5 or base64.b64encode(blob).decode() != encoded:
            raise NoteError("a signature line is malformed")
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    return text, signatures


def open_note(note: str, keys: Iterable[tuple[str, bytes]]) -> tuple[str, list[tuple[str, bytes]]]:
    """Verify a signed note against trusted (name, Ed25519 public key) pairs.

    Signatures by keys not in `keys` are ignored (they may be a witness's). A signature by
    a known key that fails rejects the note. Returns the text and the keys that signed it.
    Raises NoteError (malformed or bad signature) or UnknownKeyError (no known key signed).
    """
    text, signatures = parse(note)
    known = {(name, key_id(name, public)): (name, public) for name, public in keys}
    signed_by = []
    for sig in signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            continue
        if len(sig.signature) != SIGNATURE_BYTES:
            raise NoteError(f"the signature by {sig.name} is not an Ed25519 signature")
        try:
            verify(key[1], text.encode(), sig.signature)
        except SignatureError:
            raise NoteError(f"the signature by {sig.name} ({sig.key_id.hex()}) does not verify") from None
        signed_by.append(key)
    if not signed_by:
        ids = ", ".join(f"{s.name} {s.key_id.hex()}" for s in signatures)
        raise UnknownKeyError(f"the note is signed by no key we know ({ids})")
    return text, signed_by


# --- checkpoints ------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{check_name(self.origin)}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note's (verified) text. Raises NoteError if malformed."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise NoteError("checkpoint text is not origin, size, root hash lines")
    origin, size, root = lines[:3]
    if not _SIZE.fullmatch(size):
        raise NoteError("checkpoint size is not a decimal number without leading zeros")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root is not base64") from None
    if len(digest) != 32 or base64.b64encode(digest).decode() != root:
        raise NoteError("checkpoint root is not a base64 SHA-256 hash")
    return Checkpoint(origin, int(size), digest)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    return sign(checkpoint.text(), checkpoint.origin, signer)


def open_checkpoint(note: str, origin: str, keys: Iterable[bytes]) -> tuple[Checkpoint, list[bytes]]:
    """Verify a signed checkpoint from `origin` by one of the Ed25519 public `keys`.

    Returns the checkpoint and the keys that signed it. Raises NoteError (malformed, bad
    signature, another origin) or UnknownKeyError (signed by none of `keys`).
    """
    text, signed_by = open_note(note, [(origin, key) for key in keys])
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != origin:
        raise NoteError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint, [public for _, public in signed_by]


def _check_text(text: str) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note holds a control character")


# --- cosignatures (c2sp.org/tlog-cosignature) -------------------------------------------
#
# A witness (here: a member platform) that verified a checkpoint, and its consistency with
# the last one it held, adds a signature line of its own:
#     — <witness name> base64(key id || 8-byte big-endian timestamp || Ed25519 signature)
# over "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint's text. The key id is
# SHA-256(name || 0x0A || 0x04 || public key)[:4]: type 0x04 keeps a cosignature from ever
# being taken for the log's own signature (type 0x01) by the same key.

COSIGNATURE_V1 = 0x04


def cosignature_key_id(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public_raw).digest()[:4]


def cosignature_vkey(name: str, public_raw: bytes) -> str:
    """The vkey of a witness's cosignatures: name+hex(key id)+base64(0x04 || public key)."""
    return f"{check_name(name)}+{cosignature_key_id(name, public_raw).hex()}+" \
           f"{base64.b64encode(bytes([COSIGNATURE_V1]) + public_raw).decode()}"


def cosignature_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint.text().encode()


def cosign(checkpoint: Checkpoint, name: str, signer: Signer, timestamp: int) -> str:
    """The cosignature line (with its newline) of `name` for this checkpoint at `timestamp`."""
    if not 0 <= timestamp < 2**63:
        raise ValueError("timestamp out of range")
    signature = signer.sign(cosignature_message(checkpoint, timestamp))
    blob = cosignature_key_id(check_name(name), signer.public_raw) + timestamp.to_bytes(8, "big") + signature
    return f"{_DASH}{name} {base64.b64encode(blob).decode()}\n"


def verify_cosignature(checkpoint: Checkpoint, line: str, name: str, public_raw: bytes) -> int:
    """Check one cosignature line by witness (`name`, `public_raw`); return its timestamp.
    Raises NoteError if it is malformed, by another key, or does not verify."""
    signer_name, _, encoded = line.rstrip("\n").removeprefix(_DASH).partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("the cosignature is not base64") from None
    if not line.startswith(_DASH) or signer_name != name or len(blob) != 4 + 8 + SIGNATURE_BYTES:
        raise NoteError(f"not a cosignature line by {name}")
    if blob[:4] != cosignature_key_id(name, public_raw):
        raise NoteError(f"the cosignature is by another key than {name}'s")
    timestamp = int.from_bytes(blob[4:12], "big")
    try:
        verify(public_raw, cosignature_message(checkpoint, timestamp), blob[12:])
    except SignatureError:
        raise NoteError(f"the cosignature by {name} does not verify") from None
    return timestamp
