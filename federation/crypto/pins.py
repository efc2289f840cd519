"""PIN and reference secrets: generation, slow peppered hashing, keyed digests.

A PIN is short (8 digits, ~27 bits), so no hash cost alone can stop an offline guesser.
Two layers do: a server-side pepper (HMAC key kept out of the database), without which a
stolen database is useless, and Argon2id, which makes each guess cost memory and time if
the pepper leaks too. Online guessing is stopped by the per-case lockout in the service.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from nacl.bindings import crypto_pwhash_ALG_ARGON2ID13, crypto_pwhash_str_alg, crypto_pwhash_str_verify
from nacl.exceptions import InvalidkeyError

from federation.crypto.encoding import b64u_decode

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


def hash_pin(pin: str, pepper: bytes, *, memory_kib: int, passes: int) -> str:
    """The PIN's Argon2id hash as a standard PHC string (`$argon2id$v=19$m=...,t=...,p=1$...`),
    over HMAC-SHA256(pepper, PIN), with a fresh random salt. libsodium computes it."""
    return crypto_pwhash_str_alg(_peppered(pin, pepper), passes, memory_kib * 1024,
                                 crypto_pwhash_ALG_ARGON2ID13).decode()


def is_current(stored: str, memory_kib: int, passes: int) -> bool:
    """True when the stored hash was made as `hash_pin` makes one with these settings."""
    return stored.startswith(f"$argon2id$v=19$m={memory_kib},t={passes},p=1$")


def verify_pin(pin: str, stored: str, pepper: bytes) -> bool:
    """True when pin matches the stored hash; the comparison takes constant time.

    Hashes stored before Argon2id (`scrypt$n$r$p$salt$hash`) still verify.
    """
    peppered = _peppered(pin, pepper)
    if stored.startswith("$argon2id$"):
        try:
            return crypto_pwhash_str_verify(stored.encode(), peppered)
        except InvalidkeyError:
            return False
    scheme, n, r, p, salt, expected = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown PIN hash scheme {scheme!r}")
    digest = hashlib.scrypt(peppered, salt=b64u_decode(salt), n=int(n), r=int(r), p=int(p),
                            maxmem=256 * int(n) * int(r) + 2**20, dklen=32)
    return hmac.compare_digest(digest, b64u_decode(expected))


def _peppered(pin: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, pin.encode(), hashlib.sha256).digest()
