"""Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm", USENIX ATC'14; Ongaro,
"Consensus: Bridging Theory and Practice", PhD thesis, Stanford 2014).

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x210-0x23F): Figure 2's RPCs, InstallSnapshot, TimeoutNow
- :mod:`.params`   -- :class:`RaftParams`, the protocol's spec parameters
- :mod:`.log`      -- the log in memory and what is persisted (Figure 2's persistent state, §7's snapshot)
- :mod:`.core`     -- Figure 2's state, the follower windows, the configuration in effect, shared plumbing
- :mod:`.replica`  -- roles, elections with pre-vote and check-quorum (§5.2, thesis §9.6), replication with
  pipelining and batching, fast backtracking (§5.3), the current-term commit rule (§5.4.2), application
- :mod:`.features` -- snapshots and InstallSnapshot (§7), ReadIndex (thesis §6.4), leadership transfer (§3.10),
  single-server membership changes (thesis §4.1)
- :mod:`.wellformed` -- field-type guard for received messages

Clients, their messages and the replicated KV machine are the shared ones of
:mod:`bftlab.protocols.cft`. ``PROTOCOL`` is the :class:`~bftlab.api.ProtocolSpec`.

Deviations from the papers, and why:

- The applied index is persisted with term and vote (as etcd's HardState.Commit). Figure 2 keeps it volatile
  and re-applies the log after a restart; the history oracles must never see a replica execute an index twice,
  so a restarted replica replays up to it silently and reports the jump (``StateTransferred``).
- Client replies and ``Executed`` wait for the Sync of that applied index.
- AppendEntries and RequestVote responses carry a ``probe`` round number (ReadIndex's "heartbeat"
  acknowledgement, as etcd's read context), and rejections carry the rejected ``prev_index`` in ``match`` so
  the leader can ignore stale rejections under pipelining.
- Snapshots travel in one InstallSnapshot message (no chunking: the KV states here are small).
- Reads served by ReadIndex produce no ``Executed`` event (they are not in the log); see docs/protocols/raft.md.
"""

from __future__ import annotations

from bftlab.api import CRASH, NodeContext, ProtocolSpec
from bftlab.protocols.cft import MESSAGE_TYPES as CFT_MESSAGES
from bftlab.protocols.cft import CftClient
from bftlab.protocols.cft.machine import final_state

from .messages import MESSAGE_TYPES
from .params import RaftParams
from .replica import RaftReplica, make_replica


def make_client(ctx: NodeContext) -> CftClient:
    p = ctx.params if isinstance(ctx.params, RaftParams) else RaftParams()
    return CftClient(ctx, p.client_retry_timeout_s)


PROTOCOL = ProtocolSpec(
    name="raft",
    params=RaftParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES + CFT_MESSAGES,
    description="Raft (Ongaro & Ousterhout): leader election with pre-vote and check-quorum, log replication, "
                "snapshots, ReadIndex, leadership transfer",
    fault_model=CRASH,
    oracles=("smr", "linearizability"),
    durable=True,
    final_state=final_state,
    fuzz_events=("LeaderElected", "FirstCommit"),
)

__all__ = ["PROTOCOL", "RaftParams", "RaftReplica", "make_client", "make_replica"]
