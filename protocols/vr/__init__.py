"""Viewstamped Replication Revisited (Liskov & Cowling, MIT-CSAIL-TR-2012-021, 2012).

Layout (each module opens with its theory of operation):

- :mod:`.messages`   -- wire messages (codes 0x270-0x29F)
- :mod:`.params`     -- :class:`VrParams`, the protocol's spec parameters
- :mod:`.base`       -- status and timer names, and the state the parts share
- :mod:`.replica`    -- normal operation (§4.1), execution, state transfer (§5.2)
- :mod:`.viewchange` -- the view change (§4.2)
- :mod:`.recovery`   -- the recovery protocol for replicas without disk (§4.3)

Clients, their messages and the replicated KV store with its client table are
the shared ones of :mod:`bftlab.protocols.cft`.

Where this deviates from the paper, and why:

- **The "booted" marker.** The paper's replicas keep nothing on disk; a
  restarted replica just knows it is recovering. Our storage seam says
  ``Start.recovered`` is empty on a first boot, so a replica persists one
  record at its first boot and acts only once it is synced; finding it means
  "I restarted: run §4.3". No protocol state is ever persisted.
- **Recovery waits for a settled view.** The primary answers RECOVERY only once
  it has committed the log it started its view with, so a recovering replica
  never adopts a commit-number below what it executed before crashing (see
  :mod:`.recovery`).
- **State transfer keeps execution per op.** There are no checkpoints or log
  compaction (§5.1 is not implemented): logs are whole, so a lagging replica
  fetches the missing suffix and executes it op by op, and only recovery
  reports a state jump (:class:`~bftlab.api.StateTransferred`).
- **Joining a running view.** A replica in view-change status that hears a
  PREPARE or COMMIT from the primary of the view it is changing to does what
  §5.2 says for a later view (cut the log to the commit-number, fetch the rest)
  instead of starting yet another view change.
- **Retransmission.** The primary resends PREPAREs a backup left unacknowledged
  for a commit interval; a view change that times out moves on to the next view
  with a growing timeout. No batching (§5.3's optimisations are not
  implemented) and reads go through the log (no leases).
"""

from __future__ import annotations

from bftlab.api import CRASH, NodeContext, ProtocolSpec
from bftlab.protocols.cft import MESSAGE_TYPES as CFT_MESSAGE_TYPES
from bftlab.protocols.cft import CftClient
from bftlab.protocols.cft.machine import final_state

from .messages import MESSAGE_TYPES
from .params import VrParams
from .replica import VrReplica, make_replica


def make_client(ctx: NodeContext) -> CftClient:
    return CftClient(ctx, ctx.params.client_retry_s)


PROTOCOL = ProtocolSpec(
    name="vr",
    params=VrParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES + CFT_MESSAGE_TYPES,
    description="Viewstamped Replication Revisited (Liskov & Cowling 2012): primary-backup with view change, "
                "diskless recovery and state transfer",
    fault_model=CRASH,
    oracles=("smr", "linearizability"),
    durable=True,
    final_state=final_state,
)

__all__ = ["PROTOCOL", "VrParams", "VrReplica", "make_client", "make_replica"]
