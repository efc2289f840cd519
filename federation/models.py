"""SQLAlchemy 2 typed models. The schema itself changes only through Alembic migrations."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from federation.crypto.keys import KeyStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL; SQLite only auto-increments a column typed INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")



class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every dialect (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use federation.models.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


int_pk = Annotated[int, mapped_column(BigId, primary_key=True)]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
created_timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow)]
digest = Annotated[bytes, mapped_column(LargeBinary(32))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- the values a status column may hold: compare with these, never with bare strings ---

class CaseState(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class CaseSource(StrEnum):
    PERSON = "person"
    PLATFORM = "platform"


class FeedOp(StrEnum):
    ADD = "add"
    DELETE = "delete"


class MemberStatus(StrEnum):
    """A partner's or an organisation's standing."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class CaseworkerStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Verdict(StrEnum):
    """What a platform reports about a signal, in the order the person's status lists them."""

    MATCH_PENDING_REVIEW = "match_pending_review"
    BLOCKED = "blocked"
    NOT_BLOCKED = "not_blocked"
    DELETED = "deleted"


class Withheld(StrEnum):
    """Why a signal is kept out of the feed although a case reports it (docs/list-hygiene.md).
    `disputed` and `flood` wait for an operator's review; `denied` is on the deny list."""

    DISPUTED = "disputed"
    FLOOD = "flood"
    DENIED = "denied"


def table(model: type[Base]) -> Table:
    """A mapped class's Core table, for plain Core statements on hot paths (a statement
    built from mapped attributes takes the ORM's slower bulk path)."""
    return cast(Table, model.__table__)


def one_of(column: str, values: type[StrEnum] | tuple[str, ...]) -> str:
    """A CHECK constraint's text: `column IN ('a', 'b')`, from an enum's values."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Case(Base):
    """One report by one person (or one platform). Holds no image, no name, no contact."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(one_of("status", CaseState), name="status"),
        CheckConstraint(one_of("source", CaseSource), name="source"),
        # Only held cases, in the order they are published: nearly always empty, so every
        # report's "is anything held?" costs one look at an empty index, even before
        # the table's statistics exist (a plain index on a column that is nearly all
        # NULL would lose to a table scan then).
        Index("ix_cases_held_at", "held_at", "id", postgresql_where=text("held_at IS NOT NULL"),
              sqlite_where=text("held_at IS NOT NULL")),
    )

    id: Mapped[int_pk]
    # HMAC of the reference under the pepper: lookups work, a stolen table reveals none.
    reference_digest: Mapped[digest] = mapped_column(unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CaseState.ACTIVE)
    source: Mapped[str] = mapped_column(String(16), default=CaseSource.PERSON)
    consent_version: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[created_timestamp]
    withdrawn_at: Mapped[timestamp | None]
    # Wrong PINs on `pin_failures_day` (UTC), from every network together; at the daily
    # cap the case is refused to everyone until `locked_until` (the next UTC midnight),
    # and `lockouts` counts the days that happened. Per-network counts are not stored
    # here: they would need an address (federation/case_access.py).
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    pin_failures_day: Mapped[dt.date | None] = mapped_column(Date)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[timestamp | None]
    # Set while a person's report waits for the feed's budget (federation/cases.py):
    # stored and answerable, its new hashes not yet published. Published oldest first.
    held_at: Mapped[timestamp | None]
    # The platform that reported a `platform` case (POST /v1/signals, StopNCII SubmitHashes).
    # Such a case has no usable reference or PIN: see federation/platform_cases.py.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))

    links: Mapped[list[CaseSignal]] = relationship(back_populates="case")


class Signal(Base):
    """One hash, shared by every case that reported it. `active` while any such case is."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("type", "value"),
        CheckConstraint("type IN ('pdq', 'phash', 'md5', 'sha256', 'vpdq')", name="type"),
        CheckConstraint("quality IS NULL OR (quality BETWEEN 0 AND 100)", name="quality"),
        CheckConstraint("withheld IS NULL OR " + one_of("withheld", Withheld), name="withheld"),
        # The review queue and the person's "paused" line read only withheld signals:
        # nearly none, so a partial index keeps those reads off the whole table.
        Index("ix_signals_withheld", "withheld", postgresql_where=text("withheld IS NOT NULL"),
              sqlite_where=text("withheld IS NOT NULL")),
    )

    id: Mapped[int_pk]
    type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column(SmallInteger)
    active: Mapped[bool] = mapped_column(default=False)
    # The record id the feed's `add` carried; the matching `delete` carries it again,
    # so a partner may key its store by record id or by (type, value) alike.
    active_record_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[created_timestamp]
    # vpdq only: the canonical frames (federation.vpdq), whose SHA-256 is `value`.
    frames: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Set while the signal is kept out of the feed (Withheld); never active meanwhile.
    withheld: Mapped[str | None] = mapped_column(String(16))
    withheld_at: Mapped[timestamp | None]
    # When an operator last restored it: disputes and matches before this were reviewed.
    restored_at: Mapped[timestamp | None]


class CaseSignal(Base):
    """A case reported a signal. `record_id` is the opaque id partners see for the pair."""

    __tablename__ = "case_signals"
    __table_args__ = (UniqueConstraint("case_id", "signal_id"), Index(None, "signal_id"))

    id: Mapped[int_pk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"))
    record_id: Mapped[str] = mapped_column(String(40), unique=True)

    case: Mapped[Case] = relationship(back_populates="links")
    signal: Mapped[Signal] = relationship()


class AuditEvent(Base):
    """Append-only security log. Holds no secret, no reference, no hash."""

    __tablename__ = "audit_events"

    id: Mapped[int_pk]
    at: Mapped[created_timestamp]
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(String(200))


class IdempotencyRecord(Base):
    """The outcome of a write, replayed when the same Idempotency-Key comes again.

    `response` holds the body to replay. For case creation it is sealed under a key
    derived from the Idempotency-Key itself (see federation/idempotency.py), so only the
    client that holds the key can have it opened.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key_digest"),)

    id: Mapped[int_pk]
    scope: Mapped[str] = mapped_column(String(80))
    key_digest: Mapped[digest]
    request_digest: Mapped[digest]
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[created_timestamp]


class FeedHead(Base):
    """A single row: the last feed sequence number handed out, and the writers' lock."""

    __tablename__ = "feed_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The token bucket bounding how fast people's reports grow the feed, changed only
    # under this row's lock: whole entries left, and when they were last topped up
    # (both null: a full bucket).
    person_tokens: Mapped[int | None] = mapped_column(BigInteger)
    person_tokens_at: Mapped[timestamp | None]


class SigningKey(Base):
    """An Ed25519 feed-signing key. The private half is sealed under the KEK at rest."""

    __tablename__ = "signing_keys"
    __table_args__ = (CheckConstraint(one_of("status", KeyStatus), name="status"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[timestamp]
    not_after: Mapped[timestamp | None]
    created_at: Mapped[created_timestamp]
    # Set when revoked: the last feed entry it signed (published in the JWKS as last_seq;
    # verifiers refuse anything it signs after that seq, see federation/crypto/keys.py).
    last_seq: Mapped[int | None] = mapped_column(BigInteger)


class FeedEntry(Base):
    """One change to the active set, as signed. `body` is the canonical JSON that was
    signed, kept so serving never re-serialises; `leaf_hash` is its RFC 9162 leaf."""

    __tablename__ = "feed_entries"
    __table_args__ = (
        CheckConstraint(one_of("op", FeedOp), name="op"),
        # "Is there a later entry for this signal?" in one index probe: StopNCII's
        # FetchHashes serves only each signal's latest entry (federation/stopncii.py).
        # It also serves every lookup by signal_id alone, so there is no index for that.
        Index("ix_feed_entries_signal_id_seq", "signal_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op: Mapped[str] = mapped_column(String(8))
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"))
    record_id: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[str] = mapped_column(String(100))  # base64url, served as is
    kid: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[created_timestamp]


class MerkleNode(Base):
    """The root of a complete perfect subtree of the feed's Merkle tree (RFC 9162): the
    2**level leaves from leaf idx * 2**level (leaf i is the entry with seq i + 1). Written
    in the transaction that completes it (federation/tlog.py); never changed. Level 0,
    the leaves, is `feed_entries.leaf_hash` and is not repeated here."""

    __tablename__ = "merkle_nodes"
    __table_args__ = (CheckConstraint("level >= 1 AND level < 64", name="level"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Partner(Base):
    """A member platform. Its token is stored only as a SHA-256 digest."""

    __tablename__ = "partners"
    __table_args__ = (CheckConstraint(one_of("status", MemberStatus), name="status"),)

    id: Mapped[int_pk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    token_digest: Mapped[digest] = mapped_column(unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, as in OAuth
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[created_timestamp]
    # A second credential for the StopNCII-compatible endpoints, whose clients send two
    # headers instead of a bearer token (federation/stopncii.py). Digests only, like the token.
    stopncii_subscription_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    stopncii_function_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


VERDICTS = tuple(Verdict)
_VERDICT_CHECK = one_of("verdict", Verdict)


class FeedbackEvent(Base):
    """Every report a partner made about a signal, as received (the history).

    Unique per (partner, signal, verdict, occurred_at): the same report sent again, with
    or without an Idempotency-Key, is recorded once. `note` is the partner's free text,
    length-capped, for operators only: never logged, never shown to the person.
    """

    __tablename__ = "feedback_events"
    __table_args__ = (
        UniqueConstraint("partner_id", "signal_id", "verdict", "occurred_at"),
        CheckConstraint(_VERDICT_CHECK, name="verdict"),
        CheckConstraint("count >= 1", name="count"),
        Index(None, "signal_id"),
    )

    id: Mapped[int_pk]
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"))
    verdict: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[timestamp]
    count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[created_timestamp]


class FeedbackLatest(Base):
    """The latest verdict of each partner on each signal, with how often it was reported.

    `count` adds up the counts of reports of this same verdict; a newer report (by
    occurred_at) of another verdict replaces the row. The person's status reads this.
    """

    __tablename__ = "feedback_latest"
    __table_args__ = (
        CheckConstraint(_VERDICT_CHECK, name="verdict"),
        CheckConstraint("count >= 1", name="count"),
        Index(None, "signal_id"),
    )

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"),
                                            primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(24))
    count: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[timestamp]  # occurred_at of the first report of this verdict
    occurred_at: Mapped[timestamp]  # of the newest report of this verdict
    updated_at: Mapped[created_timestamp]


# --- safety organisations: credentials, referrals, caseworker sessions ------------------

class Organisation(Base):
    """A helpline, shelter or legal service that refers people. Its token is a digest only."""

    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint(one_of("status", MemberStatus), name="status"),)

    id: Mapped[int_pk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    token_digest: Mapped[digest] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[created_timestamp]


class Caseworker(Base):
    """One person at an organisation, with a credential of their own that can be revoked."""

    __tablename__ = "caseworkers"
    __table_args__ = (
        UniqueConstraint("organisation_id", "name"),
        CheckConstraint(one_of("status", CaseworkerStatus), name="status"),
    )

    id: Mapped[int_pk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_digest: Mapped[digest] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[created_timestamp]
    revoked_at: Mapped[timestamp | None]

    organisation: Mapped[Organisation] = relationship()


class Referral(Base):
    """A single-use code an organisation hands to a person, and what became of it.

    The code itself is stored only as a keyed digest (like a case reference): the
    database cannot give it back. `public_id` names the referral to its organisation.
    `shared` is the person's consent to let the organisation follow the case; they can
    take it back at any time (`sharing_stopped_at`).
    """

    __tablename__ = "referrals"
    __table_args__ = (Index(None, "organisation_id"),)

    id: Mapped[int_pk]
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    # Emptied by `federation maintenance` once the code can no longer be used (expired or
    # spent): the row stays for the organisation's counts, the code's digest does not.
    code_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    caseworker_id: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="SET NULL"))
    created_at: Mapped[created_timestamp]
    expires_at: Mapped[timestamp]
    used_at: Mapped[timestamp | None]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), unique=True)
    shared: Mapped[bool] = mapped_column(default=False)
    sharing_stopped_at: Mapped[timestamp | None]

    organisation: Mapped[Organisation] = relationship()
    caseworker: Mapped[Caseworker | None] = relationship()


class CaseworkerSession(Base):
    """A signed-in caseworker in the portal. The cookie holds a random id; this table
    holds its digest, so a copied table signs nobody in. Expires when idle."""

    __tablename__ = "caseworker_sessions"

    id: Mapped[int_pk]
    session_digest: Mapped[digest] = mapped_column(unique=True)
    caseworker_id: Mapped[int] = mapped_column(ForeignKey("caseworkers.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_timestamp]
    last_seen_at: Mapped[timestamp]

    caseworker: Mapped[Caseworker] = relationship()


class DeniedSignal(Base):
    """A known-benign hash (HMA's "negative bank"): refused on entry, never in the feed."""

    __tablename__ = "denied_signals"
    __table_args__ = (
        UniqueConstraint("type", "value"),
        CheckConstraint("type IN ('pdq', 'phash', 'md5', 'sha256')", name="type"),
    )

    id: Mapped[int_pk]
    type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(40))  # "operator" or "review"
    added_at: Mapped[created_timestamp]


# --- support services shown to people (issue 17) ------------------------------------------

class SupportService(Base):
    """A helpline or support service the portal shows to people, by language and country.

    `languages` and `countries` are space-separated codes (portal language codes such as
    `es` or `pt-br`; ISO 3166 alpha-2 such as `SE`); no countries means it serves anyone.
    Listed by operators with `federation support`; nothing here is about a person.
    """

    __tablename__ = "support_services"

    id: Mapped[int_pk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    languages: Mapped[str] = mapped_column(String(200))
    countries: Mapped[str] = mapped_column(String(400), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    web: Mapped[str | None] = mapped_column(String(300))
    hours: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[created_timestamp]
# --- the verifiable log: platforms' receipt keys, deletion receipts, cosignatures -------

class ReceiptKey(Base):
    """A platform's Ed25519 key for signing deletion receipts and cosigning checkpoints
    (docs/log.md). `kid` is the RFC 7638 thumbprint of the public key."""

    __tablename__ = "receipt_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[created_timestamp]


class DeletionReceipt(Base):
    """A platform's signed statement that it applied the delete entry `seq`
    (federation/crypto/receipt.py). `body` is the canonical JSON it signed; one per
    platform per delete."""

    __tablename__ = "deletion_receipts"
    __table_args__ = (UniqueConstraint("partner_id", "seq"), Index(None, "seq"))

    id: Mapped[int_pk]
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(ForeignKey("feed_entries.seq"))
    kid: Mapped[str] = mapped_column(ForeignKey("receipt_keys.kid"))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[timestamp]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[str] = mapped_column(String(100))  # base64url, as sent
    received_at: Mapped[created_timestamp]


class Cosignature(Base):
    """A platform's C2SP tlog-cosignature of the checkpoint of `tree_size` (with `root`),
    made after it verified that checkpoint and its consistency with the one it held."""

    __tablename__ = "cosignatures"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    kid: Mapped[str] = mapped_column(ForeignKey("receipt_keys.kid"))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # seconds since the epoch, as signed
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[created_timestamp]
