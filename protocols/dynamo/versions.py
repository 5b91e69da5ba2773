"""Versions: vector clocks and siblings (Dynamo §4.4), or last-writer-wins by hybrid logical clock.

Theory of operation
-------------------
A key holds a set of *siblings*: versions no one of which supersedes another.
In ``vector`` mode a version ``a`` supersedes ``b`` when ``a``'s clock
descends from ``b``'s (every counter at least as large, and the clocks
differ); :func:`reconcile` keeps the versions no other one descends from
(syntactic reconciliation, §4.4), so concurrent writes survive side by side
until a client writes with a context covering them all (semantic
reconciliation). Merging is a join (commutative, associative, idempotent),
so replicas that exchange versions in any order end with the same set.

A coordinator names a new version by incrementing its own entry above both the
context and a per-node counter that grows with every write it coordinates, so
two writes never carry the same clock even when a coordinator holds no copy
of the key (a dotted version vector's "dot").

In ``lww`` mode each version carries a hybrid logical clock stamp
(Kulkarni, Demirbas et al., "Logical Physical Clocks", OPODIS 2014): the
physical time in microseconds of the node's (possibly skewed) clock, a logical
counter that breaks ties and keeps causality when clocks lag, and the node id.
The store keeps the single version with the largest stamp.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

from .messages import Clock, Stamp, Version

TOMBSTONE = "tombstone"


def merge_clocks(clocks: Iterable[Clock]) -> Clock:
    """The pointwise maximum."""
    top: dict[int, int] = {}
    for clock in clocks:
        for node, counter in clock:
            if counter > top.get(node, 0):
                top[node] = counter
    return tuple(sorted(top.items()))


def descends(a: Clock, b: Clock) -> bool:
    """``a`` >= ``b`` pointwise (a version with clock ``a`` has seen ``b``)."""
    da = dict(a)
    return all(da.get(node, 0) >= c for node, c in b)


def bump(context: Clock, node: int, counter: int) -> Clock:
    """``context`` with ``node``'s entry set to ``counter`` (which the caller made larger than it was)."""
    d = dict(context)
    d[node] = counter
    return tuple(sorted(d.items()))


def reconcile(versions: Iterable[Version], lww: bool) -> tuple[Version, ...]:
    """The siblings left of ``versions``: the maximal ones by clock (vector), or the latest stamp (lww)."""
    vs = set(versions)
    if not vs:
        return ()
    if lww:
        return (max(vs, key=lambda v: (v.stamp, v.deleted, v.value)),)
    by_clock: dict[Clock, Version] = {}
    for v in vs:  # equal clocks name one write; keep one copy, deterministically
        old = by_clock.get(v.clock)
        if old is None or (v.stamp, v.value) > (old.stamp, old.value):
            by_clock[v.clock] = v
    kept = [v for v in by_clock.values()
            if not any(o.clock != v.clock and descends(o.clock, v.clock) for o in by_clock.values())]
    return tuple(sorted(kept, key=lambda v: (v.clock, v.stamp)))


def chosen(versions: tuple[Version, ...]) -> Version | None:
    """The sibling a client shows as the value: the latest stamp (the application's merge of siblings)."""
    return max(versions, key=lambda v: (v.stamp, v.deleted, v.value)) if versions else None


def value_digest(v: Version) -> str:
    """What the convergence oracle compares: the value's SHA-256 (hex), or ``"tombstone"``."""
    return TOMBSTONE if v.deleted else sha256(v.value).hexdigest()


def state_digest(versions: tuple[Version, ...]) -> bytes:
    """A digest of a key's whole sibling set (Merkle leaves)."""
    h = sha256()
    for v in sorted(versions, key=lambda v: (v.clock, v.stamp, v.deleted, v.value)):
        h.update(repr((v.clock, v.stamp, v.deleted)).encode())
        h.update(sha256(v.value).digest())
    return h.digest()


class Hlc:
    """A hybrid logical clock; ``skew_us`` offsets this node's physical clock."""

    __slots__ = ("node", "skew_us", "l", "c")

    def __init__(self, node: int, skew_us: int = 0) -> None:
        self.node = node
        self.skew_us = skew_us
        self.l = 0
        self.c = 0

    def _pt(self, now: float) -> int:
        return max(0, int(now * 1_000_000) + self.skew_us)

    def tick(self, now: float) -> Stamp:
        """A stamp for a local event (a write this node coordinates)."""
        pt = self._pt(now)
        if pt > self.l:
            self.l, self.c = pt, 0
        else:
            self.c += 1
        return (self.l, self.c, self.node)

    def observe(self, now: float, stamp: Stamp) -> None:
        """Merge a stamp received in a message, so later local stamps exceed it."""
        pt = self._pt(now)
        l_new = max(self.l, stamp[0], pt)
        if l_new == self.l and l_new == stamp[0]:
            self.c = max(self.c, stamp[1]) + 1
        elif l_new == self.l:
            self.c += 1
        elif l_new == stamp[0]:
            self.c = stamp[1] + 1
        else:
            self.c = 0
        self.l = l_new
