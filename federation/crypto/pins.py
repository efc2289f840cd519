"""PIN and reference secrets: generation, slow peppered hashing, keyed digests.

A PIN is short (8 digits, ~27 bits), so no hash cost alone can stop an offline guesser.
Two layers do: a server-side pepper (HMAC key kept out of the database), without which a
stolen database is useless, and scrypt, which makes each guess cost memory and time if
the pepper leaks too. Online guessing is stopped by the per-case lockout in the service.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from nacl.bindings import crypto_pwhash_scryptsalsa208sha256_ll as scrypt

from federation.crypto.encoding import b64u_decode, b64u_encode

# Crockford's base32: no I, L, O or U, so a reference read aloud or typed is unambiguous.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_GROUPS = 3
REFERENCE_GROUP_LENGTH = 4  # 12 symbols x 5 bits = 60 bits
PIN_DIGITS = 8

_TYPO_MAP = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


def new_reference() -> str:
    """A fresh case reference such as `7KQ2-M9XD-4RTW` (60 bits from the CSPRNG)."""
    symbols = "".join(secrets.choice(REFERENCE_ALPHABET)
                      for _ in range(REFERENCE_GROUPS * REFERENCE_GROUP_LENGTH))
    return "-".join(symbols[i:i + REFERENCE_GROUP_LENGTH]
                    for i in range(0, len(symbols), REFERENCE_GROUP_LENGTH))


def normalise_reference(text: str) -> str | None:
    """The canonical form of a typed reference, or None if it cannot be one.

    Case, spaces and dashes are ignored and look-alike letters are read as digits, the
    way Crockford's base32 decodes, so a person's typing slip still finds their case.
    """
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_TYPO_MAP)
    size = REFERENCE_GROUPS * REFERENCE_GROUP_LENGTH
    if len(cleaned) != size or any(ch not in REFERENCE_ALPHABET for ch in cleaned):
        return None
    return "-".join(cleaned[i:i + REFERENCE_GROUP_LENGTH] for i in range(0, size, REFERENCE_GROUP_LENGTH))


def new_pin() -> str:
    """A fresh PIN of PIN_DIGITS decimal digits from the CSPRNG."""
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def keyed_digest(pepper: bytes, purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of value under the pepper, separated by purpose; for lookups by secret."""
    return hmac.new(pepper, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()


def hash_pin(pin: str, pepper: bytes, *, n: int, r: int, p: int) -> str:
    """A self-describing `scrypt$n$r$p$salt$hash` string for the PIN."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(pin, pepper, salt, n, r, p)
    return f"scrypt${n}${r}${p}${b64u_encode(salt)}${b64u_encode(digest)}"


def verify_pin(pin: str, stored: str, pepper: bytes) -> bool:
    """True when pin matches the stored hash; the comparison takes constant time."""
    scheme, n, r, p, salt, expected = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown PIN hash scheme {scheme!r}")
    digest = _scrypt(pin, pepper, b64u_decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(digest, b64u_decode(expected))


def _scrypt(pin: str, pepper: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # libsodium's scrypt (RFC 7914, the same output as hashlib.scrypt) runs a PIN hash in
    # about 3/4 of OpenSSL's time here: the work an attacker must do per guess is set by
    # n, r and p, so a faster implementation is capacity for us and costs no security.
    peppered = hmac.new(pepper, pin.encode(), hashlib.sha256).digest()
    return scrypt(peppered, salt, n, r, p, dklen=32, maxmem=256 * n * r + 2**20)
