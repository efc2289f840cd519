"""The feed as a verifiable log: an RFC 9162 Merkle tree, checkpoints, proofs.

Leaf i is the feed entry with seq i + 1, its hash SHA-256(0x00 || the entry's signed
canonical bytes), stored with the entry. The tree size is the feed head. Each complete
perfect subtree above the leaves is one `merkle_nodes` row, written by `extend` in the
transaction that appends the entries completing it, under the feed head lock; rows are
never changed. A root or a proof of any size is then a fold of O(log n) stored nodes
(federation/crypto/merkle.py). See docs/log.md.
"""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from federation import idempotency, signing_keys
from federation.crypto import merkle, note
from federation.crypto.keys import KeyStatus
from federation.db import dialect_insert
from federation.errors import FederationError, InvalidInput
from federation.idempotency import IdempotencyPolicy
from federation.models import Cosignature, MemberStatus, Partner, ReceiptKey, SigningKey, table, utcnow

DEFAULT_ORIGIN = "federation.example/log"


class LogSizeAhead(FederationError):
    # 409, like checkpoint_ahead: well formed, but the log is not that large (yet).
    status = 409
    code = "log_size_ahead"
    title = "The log is not that large; ask for a size at most the current checkpoint's"


class InvalidCosignature(InvalidInput):
    code = "invalid_cosignature"
    title = "The cosignature is malformed, not by your registered key, or not of this log's checkpoint"


class InvalidLogRange(InvalidInput):
    code = "invalid_log_range"
    title = "The sizes or the seq do not make a range a proof exists for"


@dataclass(frozen=True)
class LogPolicy:
    """The log's identity: the checkpoint origin line, also its note key name."""

    origin: str = DEFAULT_ORIGIN

    def __post_init__(self) -> None:
        note.check_name(self.origin)


def extend(session: Session, first_seq: int, leaves: Sequence[bytes]) -> None:
    """Add the leaves of entries first_seq.. to the tree: store every subtree they complete.

    In the caller's transaction, which holds the feed head lock and has just appended
    these entries (federation.feed.publish).
    """
    size = first_seq - 1
    shape = merkle.perfect_subtrees(0, size)
    stored = _nodes(session, shape)
    _, made = merkle.append([stored[node] for node in shape], size, leaves)
    rows = [(level, index, digest) for level, index, digest in made if level]
    if rows:
        connection = session.connection()
        mark = _mark(connection)
        connection.exec_driver_sql(
            f"INSERT INTO merkle_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})", rows)  # noqa: S608


def root(session: Session, size: int) -> bytes:
    """MTH of the first `size` leaves (size at most the head)."""
    return merkle.range_hash(0, size, _nodes(session, merkle.perfect_subtrees(0, size)))


def checkpoint(session: Session, policy: LogPolicy, signers: signing_keys.Signers) -> tuple[int, str]:
    """The head's checkpoint as a signed note, signed by the active feed-signing key."""
    size = _head(session)
    kid = session.scalar(select(SigningKey.kid).where(SigningKey.status == KeyStatus.ACTIVE)
                         .order_by(SigningKey.not_before.desc()).limit(1))
    signer = signers.for_kid(session, kid)
    text = note.sign_checkpoint(note.Checkpoint(policy.origin, size, root(session, size)), signer)
    return size, text + "".join(_cosignatures(session, size))


# --- cosignatures (c2sp.org/tlog-cosignature): platforms witness the log -----------------

MAX_COSIGNATURES = note.MAX_SIGNATURES - 1  # a note holds 16 signatures: ours and 15 more
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


def record_cosignature(session: Session, idempotency_policy: IdempotencyPolicy, policy: LogPolicy,
                       partner_id: int, tree_size: int, line: str, *, idempotency_key: str | None = None,
                       now: dt.datetime | None = None) -> dict:
    """Keep a platform's cosignature of the checkpoint of `tree_size` (its newest one per size).

    It must verify under one of the platform's registered keys, named as the platform, over
    this log's own checkpoint of that size. Raises InvalidCosignature or LogSizeAhead.
    """
    session.rollback()
    _check_size(session, tree_size)
    checkpoint = note.Checkpoint(policy.origin, tree_size, root(session, tree_size))
    name = session.execute(select(Partner.name).where(Partner.id == partner_id)).scalar_one()
    keys = session.execute(select(ReceiptKey.kid, ReceiptKey.public_key)
                           .where(ReceiptKey.partner_id == partner_id)).all()
    session.rollback()
    found = None
    for kid, public in keys:
        try:
            found = kid, note.verify_cosignature(checkpoint, line, name, public)
            break
        except note.NoteError as error:
            reason = str(error)
    if found is None:
        raise InvalidCosignature(reason if keys else "register a key first (federation-partner receipt-key)")
    kid, timestamp = found
    if dt.datetime.fromtimestamp(timestamp, dt.UTC) > (now or utcnow()) + MAX_CLOCK_SKEW:
        raise InvalidCosignature("the cosignature's time is in the future")
    signature = base64.b64decode(line.rstrip("\n").rpartition(" ")[2])[12:]
    row = {"partner_id": partner_id, "tree_size": tree_size, "root": checkpoint.root, "kid": kid,
           "timestamp": timestamp, "signature": signature, "received_at": utcnow()}

    def write() -> dict:
        statement = dialect_insert(session, table(Cosignature))
        newer = statement.excluded.timestamp > table(Cosignature).c.timestamp
        session.execute(statement.on_conflict_do_update(
            index_elements=["partner_id", "tree_size"], where=newer,
            set_={name: statement.excluded[name] for name in ("kid", "timestamp", "signature", "received_at")}),
            [row])
        return {"tree_size": tree_size, "witness": name, "timestamp": timestamp}

    return idempotency.write_once(session, idempotency_policy, scope=f"cosignatures:{partner_id}",
                                  key=idempotency_key, request=[tree_size, line], write=write,
                                  codec=idempotency.PLAIN_JSON)[0]


def _cosignatures(session: Session, size: int) -> list[str]:
    """The cosignature lines gathered for the checkpoint of `size`, by active platforms."""
    rows = session.execute(
        select(Partner.name, ReceiptKey.public_key, Cosignature.timestamp, Cosignature.signature)
        .join(Partner, Partner.id == Cosignature.partner_id)
        .join(ReceiptKey, ReceiptKey.kid == Cosignature.kid)
        .where(Cosignature.tree_size == size, Partner.status == MemberStatus.ACTIVE)
        .order_by(Partner.name).limit(MAX_COSIGNATURES)).all()
    return [f"\u2014 {name} " + base64.b64encode(note.cosignature_key_id(name, public) + timestamp.to_bytes(8, "big")
                                                + signature).decode() + "\n"
            for name, public, timestamp, signature in rows]


def inclusion(session: Session, seq: int, size: int) -> list[bytes]:
    """The audit path of the entry `seq` in the tree of `size` leaves (RFC 9162 2.1.3)."""
    if not 1 <= seq <= size:
        raise InvalidLogRange(f"seq {seq} is not in a tree of size {size}")
    _check_size(session, size)
    return _proof(session, merkle.inclusion_ranges(seq - 1, size))


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 2.1.4): empty when first == second."""
    if not 1 <= first <= second:
        raise InvalidLogRange(f"no consistency proof from size {first} to size {second}")
    _check_size(session, second)
    return _proof(session, merkle.consistency_ranges(first, second))


def _check_size(session: Session, size: int) -> None:
    head = _head(session)
    if size > head:
        raise LogSizeAhead(f"size {size} is past the log's size, {head}", head=head)


def _head(session: Session) -> int:
    # federation.feed.head, repeated: feed imports this module to extend the tree.
    return session.execute(text("SELECT last_seq FROM feed_head WHERE id = 1")).scalar_one()


def _proof(session: Session, ranges: list[merkle.Range]) -> list[bytes]:
    nodes = _nodes(session, merkle.needed_nodes(ranges))
    return [merkle.range_hash(start, end, nodes) for start, end in ranges]


def _mark(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _nodes(session: Session, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of these nodes, in one round trip (leaves from feed_entries)."""
    wanted = set(wanted)
    if not wanted:
        return {}
    # Straight to the driver: the statement's shape changes with the nodes wanted, and
    # SQLAlchemy compiling each new shape cost several times the query itself on the
    # append path (bench/log.py). Only placeholders are spliced in; values are bound.
    connection = session.connection()
    mark = _mark(connection)
    inner = [node for node in wanted if node[0]]
    leaves = [index + 1 for level, index in wanted if not level]
    parts, params = [], []
    if inner:
        parts.append("SELECT level, idx, hash FROM merkle_nodes WHERE "  # noqa: S608
                     + " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(inner)))
        params += [value for node in inner for value in node]
    if leaves:
        parts.append("SELECT 0, seq - 1, leaf_hash FROM feed_entries WHERE seq IN ("  # noqa: S608
                     + ", ".join([mark] * len(leaves)) + ")")
        params += leaves
    rows = connection.exec_driver_sql(" UNION ALL ".join(parts), tuple(params))
    found = {(int(level), int(index)): bytes(digest) for level, index, digest in rows}
    missing = wanted - found.keys()
    if missing:  # a bug or a damaged database: never serve a proof we cannot back
        raise FederationError(f"the Merkle tree lacks nodes {sorted(missing)[:4]}")
    return found
