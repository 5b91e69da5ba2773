"""PBFT: Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI'99; TOCS'02).

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x100-0x13F) and the authenticated bodies
- :mod:`.params`   -- :class:`PbftParams`, the protocol's spec parameters
- :mod:`.quorum`   -- pure quorum arithmetic
- :mod:`.auth`     -- MAC authenticators vs signatures
- :mod:`.config`   -- :class:`ReplicaConfig`, what every part of a replica knows (ids, keys, quorums)
- :mod:`.log`      -- the message log: pre-prepare / prepare / commit (one vote handler for both phases)
- :mod:`.checkpoint` -- checkpoints, watermarks, garbage collection, state transfer
- :mod:`.viewchange` -- VIEW-CHANGE / NEW-VIEW, the view-change timer and the liveness rules
- :mod:`.durability` -- what is kept on stable storage, and the write-ahead rule for messages
- :mod:`.replica`  -- composes the parts; requests, batching, execution, restart and recovery
- :mod:`.client`   -- the client: one outstanding request, retransmission, f+1 replies
- :mod:`.kvstore`  -- the replicated key-value store

``PROTOCOL`` is the :class:`~bftlab.api.ProtocolSpec` registered under the
``bftlab.protocols`` entry point as ``pbft``.
"""

from __future__ import annotations

from bftlab.api import ProtocolSpec

from .client import PbftClient, make_client
from .kvstore import KvStore, op_del, op_get, op_put
from .messages import MESSAGE_TYPES
from .params import PbftParams
from .replica import PbftReplica, make_replica

PROTOCOL = ProtocolSpec(
    name="pbft",
    params=PbftParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="PBFT (Castro & Liskov): 3-phase agreement with batching, checkpoints, view change, state transfer",
    fuzz_strategies=("equivocating-primary", "censoring-primary", "conflicting-votes", "forged-auth", "stale-replay",
                     "needless-view-change", "slow-primary"),
    durable=True,
)

__all__ = [
    "PROTOCOL",
    "PbftParams",
    "PbftReplica",
    "PbftClient",
    "KvStore",
    "op_put",
    "op_get",
    "op_del",
    "make_replica",
    "make_client",
]
