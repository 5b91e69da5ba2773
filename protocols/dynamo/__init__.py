"""Dynamo: an eventually consistent key-value store (DeCandia, Hastorun, Jampani, Kakulapati, Lakshman,
Pilchin, Sivasubramanian, Vosshall & Vogels, "Dynamo: Amazon's Highly Available Key-value Store", SOSP'07).

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x430-0x46F)
- :mod:`.params`   -- :class:`DynamoParams`: N, R, W, sloppy quorums, repair mechanisms, routing, LWW
- :mod:`.ring`     -- consistent hashing with virtual nodes and preference lists (§4.2, §4.3)
- :mod:`.versions` -- vector clocks and siblings (§4.4); last-writer-wins by hybrid logical clocks
  (Kulkarni et al., OPODIS 2014)
- :mod:`.store`    -- a node's data, hints (§4.6) and Merkle summaries for anti-entropy (§4.7)
- :mod:`.replica`  -- coordination with R/W quorums (§4.5), sloppy quorums and hinted handoff (§4.6),
  read repair (§5), anti-entropy (§4.7), a local failure detector (§4.8.3)
- :mod:`.client`   -- the client: routing (§4.5), contexts (§4.4)
- :mod:`.run`      -- the run path: the simulator plus a settling period, and the store's measurements
- :mod:`.theory`   -- the WARS Monte Carlo model of PBS (Bailis et al., VLDB 2012, §5)
- :mod:`.figures`  -- the PBS figure's prediction curves

Judged by the ``convergence`` oracle (the replicas of each key agree once
faults heal) and measured by the ``staleness`` oracle (stale-read rate,
t-visibility). ``linearizability`` can be added by a spec; it is expected to
fail for R + W <= N and under sloppy quorums.

Deviations from the paper, and why:

- Membership is static (the ring never changes in a run), so there is no gossip-based membership or
  token transfer (§4.8); failure detection is local timeouts only.
- A node's memory survives a crash (``durable`` is not declared): Dynamo persists to BDB/MySQL, and the
  question studied here is divergence and repair, not local durability.
- Vector clocks are never truncated (§4.4's size limit), and a new version's own entry also exceeds a per-node
  counter of every write the node coordinated ("dots"), so any node may coordinate without clock collisions.
- A put without a context takes the coordinator's own copy as its context (Riak's behaviour), so blind writes
  through one coordinator replace each other and siblings arise only from truly concurrent writes.
- A get's result (what the history oracles see) is the sibling with the largest HLC stamp; the client keeps
  every sibling's clock as its context, so its next put merges them.
- Anti-entropy builds one Merkle tree per pair of nodes over the keys both replicate, recomputed per exchange,
  instead of one persistent tree per key range; hints are offered to their owner periodically rather than on a
  membership signal.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import CRASH, ProtocolSpec

from .client import DynamoClient, make_client
from .messages import MESSAGE_TYPES
from .params import DynamoParams
from .replica import DynamoReplica, make_replica
from .run import DynamoSection, check_spec, run


def final_state(replica: Any) -> dict[str, Any]:
    """What the convergence oracle reads (see :mod:`bftlab.oracles.convergence`)."""
    return replica.store.final_state()


PROTOCOL = ProtocolSpec(
    name="dynamo",
    params=DynamoParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="Dynamo (DeCandia et al.): consistent hashing, R/W quorums, sloppy quorums with hinted handoff, "
                "read repair, Merkle anti-entropy, vector clocks or LWW",
    fault_model=CRASH,
    oracles=("convergence", "staleness"),
    expected_violations=("linearizability",),  # sloppy quorums and concurrent siblings are not linearizable
    check_spec=check_spec,
    run=run,
    report_sections=(DynamoSection(),),
    final_state=final_state,
)

__all__ = ["PROTOCOL", "DynamoClient", "DynamoParams", "DynamoReplica", "final_state", "make_client", "make_replica"]
