"""Epidemic dissemination for replicated databases (Demers, Greene, Hauser, Irish, Larson, Shenker, Sturgis,
Swinehart & Terry, "Epidemic Algorithms for Replicated Database Maintenance", PODC 1987).

Theory of operation. Every replica holds a whole copy of a key-value store;
clients write at any replica and read locally, and the replica answers at
once (eventual consistency: no agreement, no quorum). Updates carry hybrid
logical clock timestamps and the newest one wins (section 0), deletes leave
death certificates (section 2), and updates spread by two epidemics:

* anti-entropy (section 1.3): each replica periodically reconciles its whole
  store with a random peer, push, pull or push-pull, after comparing Merkle
  roots (the paper's "checksum" exchange);
* rumor mongering (section 1.4): new updates are hot and pushed to random
  peers until the pusher loses interest: blind or with feedback, by coin
  (probability 1/k) or by counter (k contacts).

Layout:

* :mod:`~bftlab.protocols.gossip.params`: the spec's ``protocol.params`` (validated);
* :mod:`~bftlab.protocols.gossip.store`: the last-writer-wins store, hybrid logical clocks, death certificates;
* :mod:`~bftlab.protocols.gossip.messages`: wire messages (codes 0x400-0x42F);
* :mod:`~bftlab.protocols.gossip.replica`, :mod:`~bftlab.protocols.gossip.client`: the sans-IO nodes;
* :mod:`~bftlab.protocols.gossip.rounds`: the fast path, epidemics in synchronous rounds on a complete graph
  (Frieze & Grimmett 1985; Pittel 1987; Karp, Schindelhauer, Shenker & Vocking, FOCS 2000);
* :mod:`~bftlab.protocols.gossip.theory`: closed forms and the paper's Tables 1 and 2;
* :mod:`~bftlab.protocols.gossip.run`: both run paths (``ProtocolSpec.run``);
  :mod:`~bftlab.protocols.gossip.figures`: closed forms drawn over sweep results.

Deviations from the paper:

* timestamps are hybrid logical clocks (Kulkarni et al. 2014) with the node id as tie-break, not GMT plus
  site name; they still exceed every timestamp a replica has seen, so a write after a read supersedes it;
* death certificates are kept forever, or dropped after a lifetime counted from an activation time that
  travels with them; dormant certificates (section 2.2) are kept at ``dormant_retention`` replicas chosen by
  the key's hash (the paper picks retention sites at random when the certificate is made), and a retention
  replica also keeps dormant an expired certificate that reaches it late;
* the anti-entropy exchange sends the whole key/timestamp list when the roots differ, not recent-update
  lists or an inverted index by timestamp (section 1.3); spatial distributions (section 3) are not modelled:
  peers are uniform over all replicas;
* message-level rumor mongering is push only; pull rumor mongering and connection limits are not modelled
  (the fast path's ``pull``/``push-pull`` are the anti-entropy epidemics of section 1.3);
* ``counter_resets`` (fast path only) is how we read the paper's counter (k *consecutive* unnecessary
  contacts): it is the reading that reproduces Table 1's residue and traffic;
* crashes keep memory (the paper assumes a database on stable storage), so the protocol is not ``durable``.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import FaultModel, NodeContext, ProtocolSpec, RunOptions

from .client import GossipClient
from .messages import MESSAGE_TYPES
from .params import GossipParams
from .replica import GossipReplica
from .report import SECTION

GOSSIP_FAULTS = FaultModel("crash (any number)", 0, counted=False)
"""Any number of replicas may crash or be cut off: live replicas still answer and converge once connected."""


def _params(ctx: NodeContext) -> GossipParams:
    return ctx.params if ctx.params is not None else GossipParams()


def make_replica(ctx: NodeContext) -> GossipReplica:
    return GossipReplica(ctx, _params(ctx))


def make_client(ctx: NodeContext) -> GossipClient:
    return GossipClient(ctx, _params(ctx).client_retry_s)


def final_state(replica: Any) -> dict[str, Any]:
    """The replica's key -> (value, timestamp) map, in the layout of the convergence oracle."""
    return replica.store.final_state()


def _run(spec: Any, options: RunOptions) -> dict[str, Any]:
    from .run import run

    return run(spec, options)


def _check_spec(spec: Any) -> None:
    from .run import check_spec

    check_spec(spec)


PROTOCOL = ProtocolSpec(
    name="gossip",
    params=GossipParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="Epidemic replicated database: last-writer-wins store, anti-entropy and rumor mongering "
                "(Demers et al. 1987).",
    fault_model=GOSSIP_FAULTS,
    oracles=("convergence",),
    check_spec=_check_spec,
    run=_run,
    report_sections=(SECTION,),
    final_state=final_state,
)

__all__ = ["GOSSIP_FAULTS", "PROTOCOL", "GossipClient", "GossipParams", "GossipReplica", "final_state",
           "make_client", "make_replica"]
