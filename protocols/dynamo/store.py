"""A node's local storage: the keys it is home for, the hints it keeps for others, and Merkle summaries.

Theory of operation
-------------------
``data`` holds the sibling sets of the keys whose top-N preference list
includes this node; ``hints`` holds, per intended owner, versions this node
accepted in a sloppy quorum on that owner's behalf (kept apart from its own
data, as Dynamo's separate local database of hinted replicas, §4.6). Every
merge goes through :func:`~.versions.reconcile`, so the state of a key is the
join of everything the node ever received for it, and ``changed_at`` records
when that join last grew (the convergence oracle reads it).

Anti-entropy (§4.7): for a peer, the keys both nodes are home for are split into
``buckets`` by ring position; a bucket's leaf is its keys with the digests of
their sibling sets, and the tree over the leaves is built with
:mod:`bftlab.crypto.merkle` (domain-separated, so no two leaf lists share a
root). Both nodes compute the same partition, so equal roots mean equal data;
otherwise the differing leaves name the buckets to exchange. Dynamo keeps one
tree per key range; here the range is "the keys these two nodes share", which
is the union of the ranges they replicate together.
"""

from __future__ import annotations

from bftlab.crypto import merkle

from .messages import KeyVersions, Version
from .ring import Ring, position
from .versions import reconcile, state_digest


class Store:
    __slots__ = ("node", "ring", "n_copies", "lww", "buckets", "data", "hints", "changed_at")

    def __init__(self, node: int, ring: Ring, n_copies: int, lww: bool, buckets: int) -> None:
        self.node = node
        self.ring = ring
        self.n_copies = n_copies
        self.lww = lww
        self.buckets = buckets
        self.data: dict[bytes, tuple[Version, ...]] = {}
        self.hints: dict[int, dict[bytes, tuple[Version, ...]]] = {}
        self.changed_at: dict[bytes, float] = {}

    def home(self, key: bytes) -> tuple[int, ...]:
        return self.ring.preference(key)[:self.n_copies]

    def is_home(self, key: bytes) -> bool:
        return self.node in self.home(key)

    def merge(self, now: float, key: bytes, versions: tuple[Version, ...], hint: int = -1) -> bool:
        """Fold ``versions`` into the key's state (or into the hints for ``hint``); True if it changed."""
        if hint >= 0 and hint != self.node and not self.is_home(key):
            table = self.hints.setdefault(hint, {})
            old = table.get(key, ())
            new = reconcile(old + versions, self.lww)
            table[key] = new
            return new != old
        if not self.is_home(key):  # a repair or handoff that is not ours: keep it for the first owner
            return self.merge(now, key, versions, self.home(key)[0])
        old = self.data.get(key, ())
        new = reconcile(old + versions, self.lww)
        if new == old:
            return False
        self.data[key] = new
        self.changed_at[key] = now
        return True

    def read(self, key: bytes) -> tuple[Version, ...]:
        """What this node knows of ``key``: its own copy joined with any hints it holds for it."""
        vs = self.data.get(key, ())
        for table in self.hints.values():
            if key in table:
                vs = vs + table[key]
        return reconcile(vs, self.lww)

    # ------------------------------------------------------------ anti-entropy
    def bucket(self, key: bytes) -> int:
        return position(key) % self.buckets

    def shared(self, peer: int) -> dict[bytes, tuple[Version, ...]]:
        """The keys this node holds for which ``peer`` is home too."""
        return {k: v for k, v in self.data.items() if peer in self.home(k)}

    def summary(self, peer: int) -> tuple[bytes, tuple[bytes, ...]]:
        """(root, leaf hashes) of the Merkle tree over the keys shared with ``peer``."""
        per: list[list[bytes]] = [[] for _ in range(self.buckets)]
        for key, vs in sorted(self.shared(peer).items()):
            per[self.bucket(key)].append(len(key).to_bytes(2, "big") + key + state_digest(vs))
        items = [b"".join(chunks) for chunks in per]
        tree = merkle.build(items)
        return tree.root, tuple(merkle.leaf_hash(item) for item in items)

    def items_in(self, peer: int, buckets: tuple[int, ...]) -> tuple[KeyVersions, ...]:
        wanted = set(buckets)
        return tuple(KeyVersions(k, v) for k, v in sorted(self.shared(peer).items()) if self.bucket(k) in wanted)

    def final_state(self) -> dict[str, object]:
        """Plain data for ``FinalState``: the keys the convergence oracle reads, plus each sibling's
        ``[value digest, vector clock, HLC stamp]`` under ``"versions"``."""
        from .versions import value_digest

        return {
            "store": {k.hex(): sorted(value_digest(v) for v in vs) for k, vs in sorted(self.data.items())},
            "versions": {k.hex(): [[value_digest(v), [list(e) for e in v.clock], list(v.stamp)] for v in vs]
                         for k, vs in sorted(self.data.items())},
            "replicas_of": {k.hex(): list(self.home(k)) for k in sorted(self.data)},
            "hinted": sorted({k.hex() for table in self.hints.values() for k in table}),
            "changed_at_s": {k.hex(): round(t, 6) for k, t in sorted(self.changed_at.items())},
            "siblings": sum(1 for vs in self.data.values() if len(vs) > 1),
        }
