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
resurrect the key. Certificates may be dropped after a lifetime (``ttl_us``)
counted from their activation time, which travels with them (the delete's
time, or the time a dormant copy was woken), so all replicas drop a
certificate together and an expired one that arrives late is ignored; a
replica that has missed the delete for longer than that can then bring the
value back. Dormant certificates (section 2.2) bound that
risk: a *retention* replica of the key (``retains(key)``) keeps an expired
certificate aside, out of the store and its digests, for a second lifetime;
when an older value for the key reaches it, the certificate is reactivated
(back in the store with its original timestamp and a fresh activation time)
and spreads again, cancelling the resurrection.

:meth:`Store.root` is a Merkle root (``bftlab.crypto.merkle``, separated
hashing) over the sorted entries: two replicas compare it before anything
else, so an anti-entropy exchange between replicas that already agree costs
one small message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from bftlab.crypto import merkle

Ts = tuple[int, int, int]
"""A hybrid logical clock timestamp ``(l, c, node)``; compared lexicographically."""
Entry = tuple[bytes, bytes | None, Ts, int]
"""``(key, value or None for a death certificate, timestamp, activation time in microseconds)``: what
anti-entropy and rumors carry. The activation time (0 for values) starts a certificate's lifetime; it
travels with it, so every replica drops a certificate at the same time."""

ZERO: Ts = (0, 0, -1)


class Store:
    """One replica's store and clock; ``node`` breaks timestamp ties."""

    __slots__ = ("node", "ttl_us", "retains", "data", "changed_us", "activated_us", "dormant", "reactivated", "l",
                 "c", "_root")

    def __init__(self, node: int, ttl_us: int = 0, retains: Callable[[bytes], bool] | None = None) -> None:
        self.node = node
        self.ttl_us = ttl_us  # death certificates' lifetime (0: forever)
        self.retains = retains  # whether this replica keeps a key's expired certificates dormant
        self.data: dict[bytes, tuple[bytes | None, Ts]] = {}
        self.changed_us: dict[bytes, int] = {}  # when this replica's entry for the key last changed
        self.activated_us: dict[bytes, int] = {}  # death certificates in the store: when their lifetime began
        self.dormant: dict[bytes, tuple[Ts, int]] = {}  # expired certificates kept aside: key -> (ts, dormant since)
        self.reactivated: list[bytes] = []  # certificates woken by merges since the owner last looked
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
        self._set(key, value, ts, now_us, now_us)
        return ts

    def _set(self, key: bytes, value: bytes | None, ts: Ts, now_us: int, act: int) -> None:
        self.data[key] = (value, ts)
        self.changed_us[key] = now_us
        if value is None:
            self.activated_us[key] = act
        else:
            self.activated_us.pop(key, None)
        self.dormant.pop(key, None)
        self._root = None

    def merge(self, key: bytes, value: bytes | None, ts: Ts, now_us: int, act: int = 0) -> bool:
        """Keep ``(value, ts)`` for ``key`` if it is newer than what is held; True when it was.

        ``act`` is a certificate's activation time: one whose lifetime is over is ignored, and a copy of a
        held certificate with a later activation (a woken one) extends its lifetime.
        """
        self._witness(ts)
        if value is None and self.ttl_us and act + self.ttl_us < now_us:
            return self._late_certificate(key, ts, now_us)
        held = self.data.get(key)
        if held is not None and held[1] >= ts:
            if held[1] == ts and value is None and act > self.activated_us.get(key, act):
                self.activated_us[key] = act
            return False
        sleeping = self.dormant.get(key)
        if value is not None and sleeping is not None and sleeping[0] >= ts:
            # an obsolete value met a dormant certificate: wake it (original timestamp, new lifetime)
            self._set(key, None, sleeping[0], now_us, now_us)
            self.reactivated.append(key)
            return False
        self._set(key, value, ts, now_us, act)
        return True

    def _late_certificate(self, key: bytes, ts: Ts, now_us: int) -> bool:
        """An expired certificate arrived: ignored, but a retention replica keeps it dormant, or wakes it at once
        when it holds an older value of the key."""
        if self.retains is None or not self.retains(key):
            return False
        held = self.data.get(key)
        if held is not None:
            if held[1] >= ts:
                return False
            self._set(key, None, ts, now_us, now_us)
            self.reactivated.append(key)
            return True
        sleeping = self.dormant.get(key)
        if sleeping is None or sleeping[0] < ts:
            self.dormant[key] = (ts, now_us)
        return False

    def read(self, key: bytes) -> bytes | None:
        held = self.data.get(key)
        return None if held is None else held[0]

    def ts_of(self, key: bytes) -> Ts:
        held = self.data.get(key)
        return ZERO if held is None else held[1]

    def entry(self, key: bytes) -> Entry:
        value, ts = self.data[key]
        return (key, value, ts, self.activated_us.get(key, 0) if value is None else 0)

    def expire(self, now_us: int, dormant_ttl_us: int = 0) -> int:
        """Drop death certificates activated more than the lifetime ago; returns how many.

        Those of keys this replica ``retains`` become dormant; dormant ones are discarded after
        ``dormant_ttl_us`` (0: kept forever).
        """
        if not self.ttl_us:
            return 0
        old = [k for k, t in self.activated_us.items() if t + self.ttl_us < now_us]
        for k in old:
            _, ts = self.data.pop(k)
            del self.activated_us[k]
            self.changed_us[k] = now_us
            if self.retains is not None and self.retains(k):
                self.dormant[k] = (ts, now_us)
        if old:
            self._root = None
        if dormant_ttl_us > 0:
            for k in [k for k, (_, since) in self.dormant.items() if since + dormant_ttl_us < now_us]:
                del self.dormant[k]
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
