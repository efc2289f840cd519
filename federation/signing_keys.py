"""Feed-signing keys: create, rotate, load the active signer, publish the JWKS.

Rotation makes a new active key and retires the old one. A retired key signs nothing
new but stays published, so every entry it signed still verifies (docs/architecture.md, invariant 4).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation import audit
from federation.crypto import keys, signing
from federation.crypto.keys import KeyStatus
from federation.crypto.signing import Signer
from federation.db import lock_feed_head, writes
from federation.errors import Conflict, FederationError, NotFound
from federation.models import FeedEntry, SigningKey, utcnow


class NoActiveKey(FederationError):
    status = 503
    code = "no_signing_key"
    title = "No active signing key; run `federation keys rotate`"


def create_key(session: Session, kek: bytes) -> SigningKey:
    """Make a new active key, retiring any active one, in the caller's write transaction
    (which holds the feed head lock: no entry is being signed while the key changes)."""
    now = utcnow()
    for old in session.scalars(select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE)):
        old.status, old.not_after = KeyStatus.RETIRED, now
    private_raw, public_raw = signing.generate_keypair()
    kid = signing.key_id(public_raw)
    key = SigningKey(kid=kid, public_key=public_raw, status=KeyStatus.ACTIVE, not_before=now,
                     private_sealed=keys.seal_private_key(private_raw, kek, kid))
    session.add(key)
    session.flush()
    return key


@writes
def rotate(session: Session, kek: bytes) -> SigningKey:
    """Make a new active key; the old one is retired but stays published."""
    lock_feed_head(session)
    return create_key(session, kek)


@writes
def ensure_key(session: Session, kek: bytes) -> SigningKey:
    """The active key, created if there is none (first start of the embedded default)."""
    lock_feed_head(session)
    return _active(session) or create_key(session, kek)


class Signers:
    """The signers for new entries, each unsealed once per process, by kid.

    The caller names the kid it read as the active key under the head lock: a rotation
    or a revocation changes which kid is active, so a kept key is never used after it
    stops being the active one.
    """

    def __init__(self, kek: bytes) -> None:
        self._kek = kek
        self._by_kid: dict[str, Signer] = {}

    def for_kid(self, session: Session, kid: str | None) -> Signer:
        """Raises NoActiveKey when kid is None (no active key)."""
        if kid is None:
            raise NoActiveKey()
        signer = self._by_kid.get(kid)
        if signer is None:
            key = session.get_one(SigningKey, kid)
            signer = self._by_kid[kid] = keys.load_signer(key.private_sealed, self._kek, kid)
        return signer


class UnknownKey(NotFound):
    code = "unknown_key"
    title = "No signing key has this kid"


class KeyAlreadyRevoked(Conflict):
    code = "key_already_revoked"
    title = "This key is already revoked"


@dataclass(frozen=True)
class Revoked:
    kid: str
    last_seq: int  # the last entry it signed; what it signs after this is refused
    new_active: str | None  # the key made to replace it, when it was the active one


@writes
def revoke(session: Session, kid: str, kek: bytes, *, reason: str) -> Revoked:
    """Mark a compromised key revoked (docs/operations.md, "A leaked signing key").

    Under the feed head lock, so no entry is being signed meanwhile: the key's last entry
    is recorded and published as `last_seq`, and verifiers refuse anything it signs with
    a later seq. If it was the active key, a new active key replaces it in the same
    transaction (the feed never stands without one). The reason goes to the audit log.
    Raises UnknownKey, KeyAlreadyRevoked.
    """
    lock_feed_head(session)
    key = session.get(SigningKey, kid)
    if key is None:
        raise UnknownKey(f"no signing key {kid!r} (see `federation keys list`)")
    if key.status == KeyStatus.REVOKED:
        raise KeyAlreadyRevoked(f"key {kid} was already revoked")
    was_active = key.status == KeyStatus.ACTIVE
    last_seq = session.scalar(select(func.coalesce(func.max(FeedEntry.seq), 0)).where(FeedEntry.kid == kid))
    key.status, key.not_after, key.last_seq = KeyStatus.REVOKED, key.not_after or utcnow(), last_seq
    session.flush()
    new_active = create_key(session, kek).kid if was_active else None
    audit.record(session, "key_revoked", actor="operator",
                 detail=f"kid={kid} last_seq={last_seq} reason={reason}"[:200])
    return Revoked(kid, int(last_seq or 0), new_active)


def list_keys(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).order_by(SigningKey.not_before)))


def jwks(session: Session) -> dict:
    """The published key set (RFC 7517 / RFC 8037), every key with status and window."""
    return {"keys": [keys.public_jwk(k.kid, k.public_key, k.status, k.not_before, k.not_after, k.last_seq)
                     for k in list_keys(session)]}


def _active(session: Session) -> SigningKey | None:
    return session.scalar(select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE))
