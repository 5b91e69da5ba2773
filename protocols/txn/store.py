"""A participant's shard: key-value data, no-wait locks, prepared writes, and what it tells the oracle.

Theory of operation
-------------------
:meth:`ShardStore.prepare` is the participant's vote. It votes **no** when a
key the transaction writes is locked by another prepared transaction (no-wait
locking: a conflict aborts rather than waits, so there is no deadlock) or,
with the configured probability, for no reason the protocol can see; otherwise
it locks the keys, keeps the writes aside and votes **yes**: from then on it
is *uncertain* and must keep the locks until it learns the outcome.
:meth:`commit` installs the writes and releases the locks; :meth:`abort` only
releases them. Both are idempotent, so a decision delivered twice is harmless.

The store knows nothing of logs or messages: a protocol persists the prepared
writes and the decisions it must survive a crash with (:meth:`prepared_record`
and :meth:`restore` help), and reports votes and decisions as history events.
:meth:`final_state` is what :class:`~bftlab.api.FinalState` carries for the
atomicity oracle.
"""

from __future__ import annotations

import random
from typing import Any

import msgpack

Txn = tuple[int, int]


class ShardStore:
    """One participant's data and locks; deterministic given its random stream."""

    __slots__ = ("shard", "data", "locks", "prepared", "applied", "aborted", "rng", "no_vote_probability")

    def __init__(self, shard: int, rng: random.Random, no_vote_probability: float = 0.0) -> None:
        self.shard = shard
        self.data: dict[bytes, bytes] = {}
        self.locks: dict[bytes, Txn] = {}
        self.prepared: dict[Txn, tuple[tuple[bytes, bytes], ...]] = {}  # voted yes, outcome unknown
        self.applied: dict[Txn, None] = {}  # committed here, in commit order
        self.aborted: set[Txn] = set()
        self.rng = rng
        self.no_vote_probability = no_vote_probability

    def mine(self, writes: tuple[tuple[int, bytes, bytes], ...]) -> tuple[tuple[bytes, bytes], ...]:
        """The ``(key, value)`` writes of a transaction that fall on this shard."""
        return tuple((k, v) for s, k, v in writes if s == self.shard)

    def decided(self, txn: Txn) -> bool | None:
        """True/False if this shard knows the outcome of ``txn``, else None."""
        if txn in self.applied:
            return True
        return False if txn in self.aborted else None

    def prepare(self, txn: Txn, writes: tuple[tuple[bytes, bytes], ...]) -> bool:
        """Vote on ``txn``: True (locked and uncertain) or False. Asked again, it answers the same."""
        if txn in self.prepared:
            return True
        if self.decided(txn) is not None:
            return self.decided(txn) is True
        conflict = any(self.locks.get(k, txn) != txn for k, _ in writes)
        if conflict or (self.no_vote_probability and self.rng.random() < self.no_vote_probability):
            self.aborted.add(txn)  # a no vote is a unilateral abort: asked again, the answer stays no
            return False
        for k, _ in writes:
            self.locks[k] = txn
        self.prepared[txn] = writes
        return True

    def commit(self, txn: Txn) -> None:
        """Install ``txn``'s writes (it must have been prepared here) and release its locks."""
        writes = self.prepared.pop(txn, None)
        if writes is None:
            if txn not in self.applied:
                raise ValueError(f"shard {self.shard}: commit of {txn}, which was never prepared here")
            return
        for k, v in writes:
            self.data[k] = v
            if self.locks.get(k) == txn:
                del self.locks[k]
        self.applied[txn] = None

    def abort(self, txn: Txn) -> None:
        """Forget ``txn``'s writes and release its locks (nothing if it was never prepared)."""
        writes = self.prepared.pop(txn, ())
        for k, _ in writes:
            if self.locks.get(k) == txn:
                del self.locks[k]
        if txn not in self.applied:
            self.aborted.add(txn)

    # ------------------------------------------------------------ durability
    @staticmethod
    def prepared_record(txn: Txn, writes: tuple[tuple[bytes, bytes], ...]) -> bytes:
        """Bytes to persist before voting yes: enough to be prepared again after a crash."""
        return msgpack.packb([list(txn), [list(w) for w in writes]], use_bin_type=True)

    def restore(self, prepared: list[bytes], outcomes: dict[Txn, bool]) -> None:
        """Rebuild from persisted prepare records and decisions, replaying commits in the order given.

        ``outcomes`` must be ordered as the decisions were made (a dict keeps
        insertion order); prepared transactions without an outcome stay
        prepared and locked: the participant is uncertain about them again.
        """
        for blob in prepared:
            (c, ts), writes = msgpack.unpackb(blob, raw=False, use_list=True)
            txn = (int(c), int(ts))
            self.prepared[txn] = tuple((bytes(k), bytes(v)) for k, v in writes)
            for k, _ in self.prepared[txn]:
                self.locks[k] = txn
        for txn, commit in outcomes.items():
            if commit and txn in self.prepared:
                self.commit(txn)
            elif not commit:
                self.abort(txn)

    def final_state(self) -> dict[str, Any]:
        """For :class:`~bftlab.api.FinalState`: committed and still-uncertain transactions, and the data."""
        return {"applied": [list(t) for t in self.applied], "uncertain": [list(t) for t in sorted(self.prepared)],
                "keys": len(self.data)}
