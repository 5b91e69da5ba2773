"""Consistent hashing with virtual nodes, and preference lists (Dynamo §4.2-4.3).

Theory of operation
-------------------
Every node owns ``vnodes`` tokens: positions on a 64-bit ring, the first 8 bytes
of SHA-256 of ``"dynamo-token:<node>:<i>"``, so every node computes the same ring
with no coordination. A key's position is the first 8 bytes of SHA-256 of the
key. Its *preference list* is the sequence of distinct physical nodes met
walking clockwise from that position; the first ``N`` are the key's replicas
(its home), and the rest are the substitutes a sloppy quorum falls back to in
order (§4.6). Tokens spread each node's share of keys over the ring, so a
node's failure spreads its load over many others (§4.2).
"""

from __future__ import annotations

import bisect
from hashlib import sha256


def position(data: bytes) -> int:
    """A point on the 64-bit ring."""
    return int.from_bytes(sha256(data).digest()[:8], "big")


class Ring:
    """The token ring of ``nodes``; preference lists are cached per key (the ring never changes in a run)."""

    __slots__ = ("tokens", "owners", "n_nodes", "_cache")

    def __init__(self, nodes: tuple[int, ...], vnodes: int) -> None:
        pairs = sorted((position(b"dynamo-token:%d:%d" % (node, i)), node) for node in nodes for i in range(vnodes))
        self.tokens = [t for t, _ in pairs]
        self.owners = [o for _, o in pairs]
        self.n_nodes = len(set(nodes))
        self._cache: dict[bytes, tuple[int, ...]] = {}

    def preference(self, key: bytes) -> tuple[int, ...]:
        """Every node, in the order the key's writes try them: its N replicas first, then the substitutes."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        start = bisect.bisect_right(self.tokens, position(key))
        out: list[int] = []
        seen: set[int] = set()
        for i in range(len(self.tokens)):
            owner = self.owners[(start + i) % len(self.tokens)]
            if owner not in seen:
                seen.add(owner)
                out.append(owner)
                if len(out) == self.n_nodes:
                    break
        pref = self._cache[key] = tuple(out)
        return pref
