"""RFC 9162 section 2.1 Merkle trees over the feed: roots, proofs, and their verification.

Pure functions, bytes in and bytes out. The tree is never held whole: a tree of any size
is described by the roots of its *perfect* subtrees, addressed as ``(level, index)``: the
subtree of ``2**level`` leaves starting at leaf ``index * 2**level``. Level 0 is a leaf
hash. Every hash the RFC's recursive definitions need (MTH of a range) is a right fold of
the perfect subtrees that range splits into, so a root or a proof needs O(log n) stored
nodes, and appending needs only the perfect subtrees of the tree before it (its frontier).

The server computes with these (federation/tlog.py) and the partner kit verifies with
them; tests check both against a separate implementation of the RFC's definitions.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from federation.crypto.canonical import leaf_hash
from federation.crypto.errors import CryptoError

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256 of nothing

Node = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # leaves [start, end)

__all__ = ["EMPTY_ROOT", "ProofError", "leaf_hash", "node_hash"]


class ProofError(CryptoError):
    """A proof does not verify, or a root does not match the leaves."""


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees that leaves [start, end) split into, left to right.

    For the ranges RFC 9162's definitions use (start aligned to the subtree it begins),
    their sizes decrease, and MTH of the range is their right fold.
    """
    nodes = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of perfect subtree roots into the root of their range (EMPTY_ROOT if none)."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH of leaves [start, end), from a mapping that holds its perfect subtrees."""
    return fold([nodes[node] for node in perfect_subtrees(start, end)])


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs make the audit path PATH(index, D[size]), in proof order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:  # walk down, then reverse: the proof lists the path bottom-up
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose MTHs make PROOF(first, D[second]) (RFC 9162 2.1.4.1), in order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    return ranges[::-1]


def needed_nodes(ranges: Iterable[Range]) -> set[Node]:
    return {node for start, end in ranges for node in perfect_subtrees(start, end)}


def append(frontier: Sequence[bytes], size: int, leaves: Sequence[bytes]
           ) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Extend a tree of `size` leaves, given as its frontier (the roots of
    perfect_subtrees(0, size), left to right), by `leaves` (leaf hashes).

    Returns the new frontier and every subtree completed on the way, as
    (level, index, hash), leaves included (level 0).
    """
    shape = perfect_subtrees(0, size)
    if len(shape) != len(frontier):
        raise ValueError(f"a tree of size {size} has {len(shape)} frontier nodes, not {len(frontier)}")
    stack = [(level, index, digest) for (level, index), digest in zip(shape, frontier, strict=True)]
    made: list[tuple[int, int, bytes]] = []
    for offset, leaf in enumerate(leaves):
        node = (0, size + offset, leaf)
        made.append(node)
        while stack and stack[-1][0] == node[0]:
            left = stack.pop()
            node = (node[0] + 1, node[1] >> 1, node_hash(left[2], node[2]))
            made.append(node)
        stack.append(node)
    return [digest for _, _, digest in stack], made


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ---------------------------------------

def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` is leaf `index` of the tree of `size` with `root`. Raises ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in _hashes(proof):
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with this root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check that the tree of `second` leaves with `second_root` extends the tree of
    `first` leaves with `first_root`. Raises ProofError."""
    path = _hashes(proof)
    if first == 0 and 0 <= second and not path and first_root == EMPTY_ROOT:
        return  # the empty tree is a prefix of every tree
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        if path or first_root != second_root:
            raise ProofError(f"two different roots for size {first}")
        return
    if not path:
        raise ProofError("consistency proof is empty")
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root or sr != second_root:
        raise ProofError(f"the tree of size {second} does not extend the tree of size {first}")


def _hashes(proof: Sequence[bytes]) -> list[bytes]:
    path = list(proof)
    if any(not isinstance(h, bytes) or len(h) != HASH_BYTES for h in path):
        raise ProofError("a proof element is not a 32-byte hash")
    return path
