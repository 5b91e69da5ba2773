"""ZAB: ZooKeeper's atomic broadcast, for crash-recovery primary-backup replication.

After Junqueira, Reed & Serafini, "Zab: High-performance broadcast for
primary-backup systems", DSN'11 (§III properties, §IV the protocol: IV-A
discovery, IV-B synchronisation, IV-C broadcast; §V the implementation, Fast
Leader Election), and Medeiros, "ZooKeeper's atomic broadcast protocol: Theory
and practice", 2012 (§3 phases, §4 the implementation, §4.1 FLE).

Layout (each module opens with its theory of operation):

- :mod:`.messages`   -- wire messages (codes 0x2A0-0x2CF), zxids, sync modes
- :mod:`.params`     -- :class:`ZabParams`, the spec parameters
- :mod:`.election`   -- Fast Leader Election (Phase 0)
- :mod:`.leader`     -- the leader's discovery, synchronisation and broadcast
- :mod:`.follower`   -- the follower's discovery, synchronisation and broadcast
- :mod:`.durability` -- acceptedEpoch, currentEpoch, the history; the write-ahead rule
- :mod:`.replica`    -- roles, execution on the shared KV machine, the client door
- :mod:`.client`     -- the shared crash-fault client

Deviations from the papers, and why:

* Histories are indexed by position as well as by zxid, and the index is the
  ``seq`` of ``Executed``; zxids still order and identify transactions.
* The leader logs a proposal before it sends it (ZooKeeper sends and logs in
  parallel): every message of a step waits for the step's Sync (one rule,
  :mod:`.durability`); with a zero-latency disk the pattern is the paper's.
* The executed index is persisted too (the paper keeps only h, acceptedEpoch
  and currentEpoch), so that a restarted replica does not execute an index
  twice in the history the oracles judge.
* Links may lose, duplicate and reorder messages here (the paper assumes FIFO
  TCP channels): a follower that sees a gap, or PINGs announcing entries it
  lacks, starts discovery again with its leader (ZooKeeper's reconnect), and
  PONG repeats its durable length (a lost ACK).
* SNAP sends the whole history rather than a state snapshot: there is no log
  compaction yet (docs/storage.md).
* ACKEPOCH says whether it counts (``fresh``): a follower that accepted the
  same epoch number from another replica is synced but not counted, so two
  prospective leaders that computed one e' cannot both establish it. The
  papers' follower acts on an e' above or below its acceptedEpoch; ZooKeeper
  answers an equal one with an ACKEPOCH of epoch -1, which this mirrors.
* ACKEPOCH carries the follower's history only when it is more recent than the
  leader's (NEWEPOCH carries the leader's currentEpoch and lastZxid), instead
  of always, as in the paper's Phase 1.
* Followers do not relay client requests: they answer ``Redirect`` with the
  leader they follow, and the client goes there.
* No observers, no dynamic membership, no session/ephemeral-node semantics.

``PROTOCOL`` is the :class:`~bftlab.api.ProtocolSpec` (name ``zab``).
"""

from __future__ import annotations

from bftlab.api import CRASH, ProtocolSpec
from bftlab.protocols.cft import MESSAGE_TYPES as CFT_MESSAGES
from bftlab.protocols.cft.machine import final_state

from .client import make_client
from .messages import MESSAGE_TYPES
from .params import ZabParams
from .replica import ZabReplica, make_replica

PROTOCOL = ProtocolSpec(
    name="zab",
    params=ZabParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES + CFT_MESSAGES,
    description="ZAB (Junqueira et al., DSN'11): FLE, discovery, sync (DIFF/TRUNC/SNAP) and primary-order broadcast",
    fault_model=CRASH,
    oracles=("smr", "linearizability"),
    durable=True,
    final_state=final_state,
)

__all__ = ["PROTOCOL", "ZabParams", "ZabReplica", "make_client", "make_replica"]
