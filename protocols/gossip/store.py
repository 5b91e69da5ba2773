"""A last-writer-wins key-value store with hybrid logical clocks and death certificates.

Theory of operation
-------------------
Every value carries the timestamp of the write that made it; a replica keeps,
per key, the entry with the largest timestamp it has seen, so any two replicas
that have seen the same set of writes hold the same store whatever the order
they saw them in (Demers et al. 1987, section 0: "the most recent value").
Timestamps are hybrid logical clocks (Kulkarni, Demirbas et al., OPODIS 2014):
``(l, c, node)`` with ``l`` the largest physical time (microseconds of the
runtime's clock, never a host clock) seen so far, ``c`` a counter that orders
events within one ``l``, and the writing replica's id as the final tie-break.
They stay close to real time, never go backwards, and exceed the timestamp of
every write the replica has already seen, so a write made after reading a
value supersedes it.

A delete writes a *death certificate*: an entry with no value (section 2). It
overrides older values like any write, so an old copy arriving later cannot
resurrect the key. Certificates may be dropped after a lifetime (``ttl_us``);
a replica that has missed the delete for longer than that can then bring the
value back, which is why Demers et al. keep dormant certificates (not done
here: the lifetime is either infinite or the trade-off is deliberate).

:meth:`Store.root` is a Merkle root (``bftlab.crypto.merkle``, separated
hashing) over the sorted entries: two replicas compare it before anything
else, so an anti-entropy exchange between replicas that already agree costs
one small message.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bftlab.crypto import merkle

Ts = tuple[int, int, int]
"""A hybrid logical clock timestamp ``(l, c, node)``; compared lexicographically."""
Entry = tuple[bytes, bytes | None, Ts]
"""``(key, value or None for a death certificate, timestamp)``: what anti-entropy and rumors carry."""

ZERO: Ts = (0, 0, -1)


class Store:
    """One replica's store and clock; ``node`` breaks timestamp ties."""

    __slots__ = ("node", "data", "changed_us", "l", "c", "_root")

    def __init__(self, node: int) -> None:
        self.node = node
        self.data: dict[bytes, tuple[bytes | None, Ts]] = {}
        self.changed_us: dict[bytes, int] = {}  # when this replica's entry for the key last changed
        self.l = 0
        self.c = 0
        self._root: bytes | None = None

    # ------------------------------------------------------------ clock
    def tick(self, now_us: int) -> Ts:
        """A timestamp for a local write: above every timestamp seen so far."""
        if now_us > self.l:
            self.l, self.c = now_us, 0
        else:
            self.c += 1
        return (self.l, self.c, self.node)

    def _witness(self, ts: Ts) -> None:
        """Advance the clock past a timestamp received from a peer."""
        if ts[0] > self.l:
            self.l, self.c = ts[0], ts[1]
        elif ts[0] == self.l and ts[1] > self.c:
            self.c = ts[1]

    # ------------------------------------------------------------ data
    def write(self, key: bytes, value: bytes | None, now_us: int) -> Ts:
        """A local put (or, with None, a delete's death certificate); returns its timestamp."""
        ts = self.tick(now_us)
        self.data[key] = (value, ts)
        self.changed_us[key] = now_us
        self._root = None
        return ts

    def merge(self, key: bytes, value: bytes | None, ts: Ts, now_us: int) -> bool:
        """Keep ``(value, ts)`` for ``key`` if it is newer than what is held; True when it was."""
        self._witness(ts)
        held = self.data.get(key)
        if held is not None and held[1] >= ts:
            return False
        self.data[key] = (value, ts)
        self.changed_us[key] = now_us
        self._root = None
        return True

    def read(self, key: bytes) -> bytes | None:
        held = self.data.get(key)
        return None if held is None else held[0]

    def ts_of(self, key: bytes) -> Ts:
        held = self.data.get(key)
        return ZERO if held is None else held[1]

    def entry(self, key: bytes) -> Entry:
        value, ts = self.data[key]
        return (key, value, ts)

    def expire(self, now_us: int, ttl_us: int) -> int:
        """Drop death certificates written more than ``ttl_us`` ago; returns how many."""
        old = [k for k, (v, ts) in self.data.items() if v is None and ts[0] + ttl_us < now_us]
        for k in old:
            del self.data[k]
            self.changed_us[k] = now_us
        if old:
            self._root = None
        return len(old)

    # ------------------------------------------------------------ digests
    def summary(self) -> tuple[tuple[bytes, Ts], ...]:
        """Every key with its timestamp, sorted: what a peer needs to tell which entries differ."""
        return tuple((k, self.data[k][1]) for k in sorted(self.data))

    def root(self) -> bytes:
        """Merkle root over the sorted entries (cached until the store changes)."""
        if self._root is None:
            items = [_leaf(k, v, ts) for k, (v, ts) in sorted(self.data.items())]
            self._root = merkle.root(items) if items else b"\0" * 32
        return self._root

    def final_state(self) -> dict[str, Any]:
        """What the replica holds, as plain data for a convergence check.

        ``entries``: key hex -> [value hex or None (a death certificate), [l, c, node]];
        ``store``: key hex -> [one digest], the layout :mod:`bftlab.oracles.convergence` reads, where a digest is
        the value's SHA-256 hex (or ``tombstone``) with ``@l.c.node``, so replicas agree only on the same write;
        ``changed_at_s``: key hex -> when this replica's entry last changed (expired certificates included).
        """
        items = sorted(self.data.items())
        return {
            "entries": {k.hex(): [None if v is None else v.hex(), list(ts)] for k, (v, ts) in items},
            "store": {k.hex(): [_digest(v, ts)] for k, (v, ts) in items},
            "changed_at_s": {k.hex(): t / 1e6 for k, t in sorted(self.changed_us.items())},
        }


def _digest(value: bytes | None, ts: Ts) -> str:
    body = "tombstone" if value is None else hashlib.sha256(value).hexdigest()
    return f"{body}@{ts[0]}.{ts[1]}.{ts[2]}"


def _leaf(key: bytes, value: bytes | None, ts: Ts) -> bytes:
    # length-prefixed, so that no two different entries encode alike
    v = b"\xff" if value is None else b"\x00" + value
    return (len(key).to_bytes(4, "big") + key + v + ts[0].to_bytes(8, "big", signed=True)
            + ts[1].to_bytes(8, "big", signed=True) + ts[2].to_bytes(8, "big", signed=True))
