"""Transactions over a sharded key-value store, and the parameters the commit protocols share.

A workload operation ``put(key, value)`` (or ``get``/``del``, see
:mod:`bftlab.core.kv`) becomes a transaction that writes ``key`` at ``k``
participant shards: the key's home shard and the ``k-1`` that follow it. Two
transactions conflict exactly when they write the same key, so contention is
set by the workload's key space and skew (``workload.keys``,
``workload.key_skew``), and ``k`` is the number of shards per transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bftlab.core.kv import decode_op
from bftlab.errors import ConfigError

Write = tuple[int, bytes, bytes]
"""(shard, key, value); an empty value with a ``del`` operation deletes (here: writes empty bytes)."""


@dataclass(frozen=True)
class TxnConfig:
    """Parameters every commit protocol has (they embed these fields in their own params)."""

    shards: int = 3
    """Participant shards: replicas 0 .. shards-1 are the participants (resource managers)."""
    shards_per_txn: int = 2
    """k: how many shards each transaction writes, 1 .. shards."""
    no_vote_probability: float = 0.0
    """Chance that a participant votes no although it could commit (a failed integrity check, say), in [0, 1]."""
    client_retry_s: float = 0.5
    """A client resends an unanswered attempt (same id) after this long."""
    max_attempts: int = 5
    """Attempts per transaction before the client gives up on it (each abort retries with a fresh id)."""

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ConfigError(f"shards must be >= 1, got {self.shards}")
        if not 1 <= self.shards_per_txn <= self.shards:
            raise ConfigError(f"shards_per_txn must be in 1 .. shards ({self.shards}), got {self.shards_per_txn}")
        if not 0.0 <= self.no_vote_probability <= 1.0:
            raise ConfigError(f"no_vote_probability must be in [0, 1], got {self.no_vote_probability}")
        if not self.client_retry_s > 0:
            raise ConfigError(f"client_retry_s must be > 0, got {self.client_retry_s}")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")


def shard_of(key: bytes, shards: int) -> int:
    """The home shard of ``key``: a hash, so it is the same on every machine and run."""
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % shards


def make_writes(op: bytes, shards: int, k: int) -> tuple[Write, ...]:
    """The writes of the transaction made from workload operation ``op`` (a garbage op writes key b"")."""
    try:
        _kind, key, value = decode_op(op)
    except ValueError:
        key, value = b"", b""
    home = shard_of(key, shards)
    return tuple(((home + i) % shards, key, value) for i in range(k))
