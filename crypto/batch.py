"""Signature batching: one signature over a Merkle root authenticates many messages.

A signer with several messages to send builds a separated-scheme Merkle tree
(:mod:`bftlab.crypto.merkle`) over them, signs the root once, and gives each message an
opaque *batched signature*: the root signature plus the message's inclusion
proof. A verifier checks the proof and the root signature, then remembers every
tree node the check proved (per signer); the next message of the same batch is
accepted as soon as its path reaches a remembered node, which is usually after
one or two hashes. (The proof's length is always checked; sibling bytes above a
node that is already proven are not re-hashed, so such a signature is only
non-malleable on its first verification.) So a batch of ``B`` messages costs one signature check plus
about two hashes per message, instead of ``B`` signature checks.

Batching is the signer's policy: protocols sign and verify single messages, and
may hand several at once to :func:`sign_all`. Plain and batched signatures are
domain-separated (a plain signature covers ``0x00 || data``, a root signature
``0x01 || root``), so neither can be passed off as the other.

Wire format of a batched signature::

    0xB7 | root signature (64) | index (u32 BE) | count (u32 BE) | siblings (32 each)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Generic, TypeVar

from bftlab.crypto import merkle
from bftlab.crypto.merkle import leaf_hash, node_hash
from bftlab.errors import UsageError

SIG_BYTES = 64
TAG = 0xB7
HEADER_BYTES = 1 + SIG_BYTES + 8
PLAIN_CONTEXT = b"\x00"
ROOT_CONTEXT = b"\x01"

CACHE_ENTRIES = 1 << 16
"""Proven tree nodes a verifier remembers (oldest forgotten first)."""


def sign_batch(sign_raw: Callable[[bytes], bytes], datas: Sequence[bytes]) -> list[bytes]:
    """Batched signatures for ``datas``; ``sign_raw`` signs bytes with the signer's key."""
    if len(datas) >= 1 << 32:
        raise UsageError(f"a batch holds fewer than 2**32 messages, got {len(datas)}")
    tree = merkle.build(datas)
    head = bytes([TAG]) + sign_raw(ROOT_CONTEXT + tree.root)
    out = []
    for i in range(len(datas)):
        p = tree.proof(i)
        out.append(head + struct.pack(">II", i, p.count) + b"".join(p.siblings))
    return out


@lru_cache(maxsize=1 << 16)  # one entry per (index, count): a batch's messages share count
def _proof_length(index: int, count: int) -> int:
    """Number of siblings on the path of leaf ``index`` in a separated tree of ``count`` leaves."""
    n = 0
    while count > 1:
        if index ^ 1 < count:
            n += 1
        index >>= 1
        count = (count + 1) >> 1
    return n


def is_batched(sig: bytes) -> bool:
    return len(sig) >= HEADER_BYTES and sig[0] == TAG and (len(sig) - HEADER_BYTES) % 32 == 0


Signer = TypeVar("Signer", bound=Hashable)
"""Whatever names a signer to ``verify_raw`` (a node id, a public key)."""


class BatchVerifier(Generic[Signer]):
    """Verifies plain and batched signatures, remembering proven tree nodes per signer.

    ``verify_raw(signer, data, sig)`` checks one raw signature. ``sig_checks``
    and ``hashes`` count the work done (for cost accounting).
    """

    __slots__ = ("_verify_raw", "_proven", "_capacity", "sig_checks", "hashes")

    def __init__(self, verify_raw: Callable[[Signer, bytes, bytes], bool], capacity: int = CACHE_ENTRIES) -> None:
        self._verify_raw = verify_raw
        self._proven: dict[tuple[Signer, bytes], None] = {}
        self._capacity = capacity
        self.sig_checks = 0
        self.hashes = 0

    def verify(self, signer: Signer, data: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (plain or batched) is ``signer``'s signature on ``data``."""
        if len(sig) == SIG_BYTES:
            self.sig_checks += 1
            return self._verify_raw(signer, PLAIN_CONTEXT + data, sig)
        if not is_batched(sig):
            return False
        index, count = struct.unpack_from(">II", sig, 1 + SIG_BYTES)
        if index >= count or len(sig) != HEADER_BYTES + 32 * _proof_length(index, count):
            return False  # checked first: a cache hit below must not accept trailing bytes
        proven = self._proven
        h = leaf_hash(data)
        self.hashes += 1
        if (signer, h) in proven:
            return True
        learned = [h]
        pos = HEADER_BYTES
        end = len(sig)
        hit = False
        while count > 1:
            if index ^ 1 < count:
                if pos + 32 > end:
                    return False
                sib = sig[pos : pos + 32]
                pos += 32
                h = node_hash(sib, h) if index & 1 else node_hash(h, sib)
                self.hashes += 1
                learned.append(sib)
                if (signer, h) in proven:
                    hit = True
                    break
                learned.append(h)
            index >>= 1
            count = (count + 1) >> 1
        if not hit:
            if pos != end:
                return False
            self.sig_checks += 1
            if not self._verify_raw(signer, ROOT_CONTEXT + h, sig[1 : 1 + SIG_BYTES]):
                return False
        self._remember(signer, learned)
        return True

    def _remember(self, signer: Signer, nodes: list[bytes]) -> None:
        proven = self._proven
        for h in nodes:
            proven[(signer, h)] = None
        excess = len(proven) - self._capacity
        if excess > 0:
            for key in list(proven)[:excess]:
                del proven[key]


def sign_all(crypto: Any, datas: Sequence[bytes]) -> list[bytes]:
    """Sign several messages at once: batched if ``crypto`` supports it, else one by one.

    Works with any :class:`bftlab.api.NodeCrypto`; each result verifies with
    ``crypto.verify`` like a plain signature.
    """
    many = getattr(crypto, "sign_all", None)
    if many is not None:
        return list(many(datas))
    return [crypto.sign(d) for d in datas]


def verify_parallel(
    verify_raw: Callable[[bytes, bytes, bytes], bool],
    items: Sequence[tuple[bytes, bytes, bytes]],
    threads: int = 2,
    chunk: int = 64,
) -> list[bool]:
    """Check independent ``(public_key, data, sig)`` items on ``threads`` threads.

    Worth it because libsodium, called through cffi, runs without the GIL.
    """
    def run(lo: int) -> list[bool]:
        return [verify_raw(pk, d, s) for pk, d, s in items[lo : lo + chunk]]

    if threads <= 1 or len(items) <= chunk:
        return [ok for lo in range(0, len(items), chunk) for ok in run(lo)]
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(run, range(0, len(items), chunk))
        return [ok for part in parts for ok in part]
