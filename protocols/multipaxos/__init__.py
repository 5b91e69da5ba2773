"""Multi-Paxos: a stable leader runs phase 1 once per ballot, then pipelined, batched phase 2.

Papers and the parts of them implemented here:

- Lamport, "Paxos Made Simple" (ACM SIGACT News 2001): §2.2-2.3 the acceptor's
  rules and what it must remember across a restart; §3 the multi-decree case:
  one leader, phase 1 once for all instances above its log, no-ops for the
  gaps a new leader finds, several instances in flight.
- van Renesse & Altinbuken, "Paxos Made Moderately Complex" (ACM CSUR 2015):
  §3 replicas, leaders (scouts for phase 1, commanders for phase 2 per slot)
  and acceptors; leader ballots ``(round, leader id)``; decisions broadcast to
  every replica, executed in slot order; §4 (leader failure detection and
  preemption).
- Chandra, Griesemer & Redstone, "Paxos Made Live" (PODC'07): §4-5 a master
  that keeps its role with heartbeats, a replica that catches up by asking for
  the decided log, disk writes before replies.

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x240-0x26F)
- :mod:`.params` -- :class:`MultiPaxosParams`
- :mod:`.acceptor` -- promise and accept rules
- :mod:`.durability` -- what is persisted and the write-ahead rule
- :mod:`.replica` -- election, phase 1/2, learners, catch-up, recovery

Deviations, and why:

- Ballots are one integer ``round * n + id`` (the same order as the pair).
- Ballot 0 is replica 0's without phase 1 (no lower ballot exists); every
  other ballot runs phase 1.
- Failure detection is by heartbeats with randomized timeouts (Paxos Made Live
  uses master leases; here no read is served locally, every command goes
  through the log, so leases are not needed for safety and are not
  implemented).
- Learners persist decisions (not required by Paxos) so a restarted replica
  does not execute a slot twice; there are no snapshots or log truncation,
  so catch-up resends decided slots and the disk grows with the log.
- A preempted leader drops the commands it had queued or in flight; the
  clients' retries bring them to the new leader (the session table of
  :class:`~bftlab.protocols.cft.KvMachine` executes a command decided twice once).
- Only the leader replies to clients; other replicas answer Redirect.
"""

from __future__ import annotations

from bftlab.api import CRASH, NodeContext, ProtocolSpec
from bftlab.protocols.cft import CftClient
from bftlab.protocols.cft.machine import final_state

from .messages import MESSAGE_TYPES
from .params import MultiPaxosParams
from .replica import MultiPaxosReplica, make_replica


def make_client(ctx: NodeContext) -> CftClient:
    """The shared crash-fault client with this protocol's retry timeout."""
    params = ctx.params if ctx.params is not None else MultiPaxosParams()
    return CftClient(ctx, params.client_retry_s)


PROTOCOL = ProtocolSpec(
    name="multipaxos",
    params=MultiPaxosParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="Multi-Paxos: stable leader, phase 1 once per ballot, pipelined batched phase 2, catch-up",
    fault_model=CRASH,
    oracles=("smr", "linearizability"),
    durable=True,
    final_state=final_state,
)

__all__ = ["PROTOCOL", "MultiPaxosParams", "MultiPaxosReplica", "make_client", "make_replica"]
