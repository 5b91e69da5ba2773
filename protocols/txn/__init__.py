"""What the atomic-commitment protocols share: transactions, the client, and a participant's store.

Two-phase commit, three-phase commit and Paxos Commit differ in how the
outcome of a transaction is decided, not in what a transaction is, what a
client sees or what a participant (a resource manager, Gray & Lamport's RM)
does with its data. Every one of them runs these pieces:

* :mod:`.model`: a transaction made from a workload operation (the same key
  written at ``k`` of the ``shards`` participant shards), the shard of a key,
  and :class:`~.model.TxnConfig`, the parameters the protocols share;
* :mod:`.messages`: ``TxnSubmit``/``TxnOutcome`` between client and
  coordinator (wire codes 0x300-0x30F);
* :mod:`.client`: one transaction at a time; an unanswered attempt is resent
  with the **same** ``(client, ts)`` (its idempotency key); an aborted one is
  retried as a new attempt with a fresh ``ts``, so a retry never applies twice;
* :mod:`.store`: a participant's key-value shard with no-wait locking (a
  conflict votes no), prepared writes, and the state the atomicity oracle reads
  at the end (``final_state``).

Codes of the protocols: 2PC 0x310-0x32F, 3PC 0x330-0x34F, Paxos Commit 0x350-0x37F.
"""

from __future__ import annotations

from .client import TxnClient
from .messages import MESSAGE_TYPES, TxnOutcome, TxnSubmit
from .model import TxnConfig, Write, make_writes, shard_of
from .store import ShardStore

__all__ = ["MESSAGE_TYPES", "ShardStore", "TxnClient", "TxnConfig", "TxnOutcome", "TxnSubmit", "Write",
           "make_writes", "shard_of"]
