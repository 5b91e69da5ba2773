"""What the crash-fault replication protocols share: the client, its messages, and the replicated KV machine.

Raft, Multi-Paxos, Viewstamped Replication and ZAB differ in how replicas agree
on a log, not in what a client sees. Every one of them runs this client and
executes committed commands on :class:`~.machine.KvMachine`, so a sweep that
compares them compares only their agreement protocols.

* :mod:`.messages`: ``ClientRequest``/``ClientReply``/``Redirect`` (wire codes 0x200-0x20F).
* :mod:`.client`: one outstanding request; it goes to the replica the client
  believes leads, follows redirects, and on a timeout asks every replica
  again with the **same** ``(client, ts)``: that pair is the request's
  idempotency key.
* :mod:`.machine`: the key-value store plus a session table (client -> last
  timestamp and result, as in Raft's thesis §6.3 and VR Revisited's client
  table), so a retried command that is committed twice executes once.
"""

from __future__ import annotations

from .client import CftClient
from .machine import KvMachine
from .messages import MESSAGE_TYPES, ClientReply, ClientRequest, Redirect

__all__ = ["MESSAGE_TYPES", "CftClient", "ClientReply", "ClientRequest", "KvMachine", "Redirect"]
