"""The feed as a verifiable log: an RFC 9162 Merkle tree, checkpoints, proofs.

Leaf i is the feed entry with seq i + 1, its hash SHA-256(0x00 || the entry's signed
canonical bytes), stored with the entry. The tree size is the feed head. Each complete
perfect subtree above the leaves is one `merkle_nodes` row, written by `extend` in the
transaction that appends the entries completing it, under the feed head lock; rows are
never changed. A root or a proof of any size is then a fold of O(log n) stored nodes
(federation/crypto/merkle.py). See docs/log.md.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from federation import signing_keys
from federation.crypto import merkle, note
from federation.crypto.keys import KeyStatus
from federation.errors import FederationError, InvalidInput
from federation.models import SigningKey

DEFAULT_ORIGIN = "federation.example/log"


class LogSizeAhead(FederationError):
    # 409, like checkpoint_ahead: well formed, but the log is not that large (yet).
    status = 409
    code = "log_size_ahead"
    title = "The log is not that large; ask for a size at most the current checkpoint's"


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
    return size, text


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
