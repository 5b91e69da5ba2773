"""Merkle trees: roots, inclusion proofs and their verification, in two conventions.

``BITCOIN``: leaves are transaction ids (already hashes, internal byte order),
a node is the double SHA-256 of its two children, and an odd level duplicates
its last node. Needed to check real PoW blocks, but malleable: the leaf lists
``[a, b, c]`` and ``[a, b, c, c]`` have the same root (CVE-2012-2459).

``SEPARATED`` (everything else): a leaf is ``SHA-256(0x00 || data)``, a node is
``SHA-256(0x01 || left || right)``, and an odd level promotes its last node
unchanged. Leaves and nodes can never be confused and nothing is duplicated, so
a root commits to exactly one leaf list. A proof carries the leaf index and the
leaf count, which fix the path's shape; it authenticates the item and its index
(a different count that gives the same path shape also verifies, so a count
that matters must be signed with the root).

Large levels are hashed with the numba batch kernel (imported only when a level
has at least ``KERNEL_MIN`` nodes, so small trees never import numba).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bftlab.errors import UsageError

BITCOIN = "bitcoin"
SEPARATED = "separated"
SCHEMES = (BITCOIN, SEPARATED)

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

KERNEL_MIN = 512
"""Levels with at least this many hashes use the batch kernel; below, hashlib is faster."""

_sha = hashlib.sha256


@dataclass(frozen=True, slots=True)
class Proof:
    """Inclusion proof: the leaf's ``index``, the tree's ``count`` of leaves, and sibling hashes bottom-up."""

    index: int
    count: int
    siblings: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Tree:
    """All levels of a tree, leaf hashes first; ``levels[-1]`` holds only the root."""

    scheme: str
    levels: tuple[np.ndarray, ...]

    @property
    def root(self) -> bytes:
        return self.levels[-1][0].tobytes()

    @property
    def count(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> Proof:
        """The inclusion proof of leaf ``index``."""
        if not 0 <= index < self.count:
            raise IndexError(f"leaf index {index} out of range for {self.count} leaves")
        siblings = []
        i = index
        for level in self.levels[:-1]:
            j = i ^ 1
            if j < len(level):
                siblings.append(level[j].tobytes())
            elif self.scheme == BITCOIN:
                siblings.append(level[i].tobytes())
            i >>= 1
        return Proof(index, self.count, tuple(siblings))


def leaf_hash(data: bytes) -> bytes:
    """Leaf hash of the separated scheme."""
    return _sha(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Inner node hash of the separated scheme."""
    return _sha(NODE_PREFIX + left + right).digest()


def bitcoin_node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(_sha(left + right).digest()).digest()


def _leaf_level(items: Sequence[bytes], scheme: str) -> np.ndarray:
    if scheme == BITCOIN:
        if any(len(x) != 32 for x in items):
            raise UsageError("bitcoin leaves must be 32-byte transaction ids")
        return np.frombuffer(b"".join(items), np.uint8).reshape(len(items), 32)
    prefixed = [LEAF_PREFIX + x for x in items]
    if len(items) >= KERNEL_MIN:
        from bftlab.crypto.sha256_kernel import sha256_many

        digests = sha256_many(prefixed)
    else:
        digests = [_sha(x).digest() for x in prefixed]
    return np.frombuffer(b"".join(digests), np.uint8).reshape(len(items), 32)


def _parent_level(level: np.ndarray, scheme: str) -> np.ndarray:
    k = len(level)
    if scheme == BITCOIN:
        if k % 2:
            level = np.concatenate([level, level[-1:]])
        pairs = level.reshape(-1, 64)
    else:
        pairs = np.concatenate([np.ones((k // 2, 1), np.uint8), level[: k - k % 2].reshape(-1, 64)], axis=1)
    double = scheme == BITCOIN
    if len(pairs) >= KERNEL_MIN:
        from bftlab.crypto.sha256_kernel import sha256_batch

        parents = sha256_batch(pairs, double=double)
    else:
        raw = pairs.tobytes()
        w = pairs.shape[1]
        if double:
            out = [_sha(_sha(raw[i : i + w]).digest()).digest() for i in range(0, len(raw), w)]
        else:
            out = [_sha(raw[i : i + w]).digest() for i in range(0, len(raw), w)]
        parents = np.frombuffer(b"".join(out), np.uint8).reshape(-1, 32)
    if scheme == SEPARATED and k % 2:
        parents = np.concatenate([parents, level[-1:]])
    return parents


def build(items: Sequence[bytes], scheme: str = SEPARATED) -> Tree:
    """Build the tree over ``items``: raw leaf data (separated) or txids (bitcoin)."""
    if scheme not in SCHEMES:
        raise UsageError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if not items:
        raise UsageError("a Merkle tree needs at least one leaf")
    levels = [_leaf_level(items, scheme)]
    while len(levels[-1]) > 1:
        levels.append(_parent_level(levels[-1], scheme))
    return Tree(scheme, tuple(levels))


def root(items: Sequence[bytes], scheme: str = SEPARATED) -> bytes:
    """Merkle root of ``items`` (see :func:`build`)."""
    return build(items, scheme).root


def path_shape(index: int, count: int) -> list[bool]:
    """For the separated scheme: per level, ``True`` where the node has a sibling, bottom-up."""
    shape = []
    while count > 1:
        shape.append((index ^ 1) < count)
        index >>= 1
        count = (count + 1) // 2
    return shape


def verify(item: bytes, proof: Proof, root_hash: bytes, scheme: str = SEPARATED) -> bool:
    """Whether ``item`` is leaf ``proof.index`` of a tree with ``proof.count`` leaves and root ``root_hash``."""
    if not 0 <= proof.index < proof.count:
        return False
    i = proof.index
    if scheme == BITCOIN:
        h = item
        if len(proof.siblings) != (proof.count - 1).bit_length():
            return False
        for sib in proof.siblings:
            h = bitcoin_node_hash(sib, h) if i & 1 else bitcoin_node_hash(h, sib)
            i >>= 1
        return h == root_hash
    shape = path_shape(i, proof.count)
    if len(proof.siblings) != sum(shape):
        return False
    h = leaf_hash(item)
    sibs = iter(proof.siblings)
    for has_sibling in shape:
        if has_sibling:
            sib = next(sibs)
            h = node_hash(sib, h) if i & 1 else node_hash(h, sib)
        i >>= 1
    return h == root_hash
