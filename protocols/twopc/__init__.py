"""Two-phase commit with presumed abort: a coordinator and ``shards`` participants.

Papers and the parts of them implemented here:

- Gray & Lamport, "Consensus on Transaction Commit" (ACM TODS 31(1), 2006):
  §3 the protocol (PREPARE, Prepared/Aborted votes, COMMIT/ABORT), §4 its cost
  (3N+1 messages with a separate transaction manager, 3N-1 when it is one of the
  RMs; four message delays including the client's request).
- Mohan, Lindsay & Obermarck, "Transaction Management in the R* Distributed
  Database Management System" (ACM TODS 11(4), 1986): §2 forced log writes and
  recovery, §3.1 presumed abort (no forced write and no ACK for an abort; a
  coordinator with no record of a transaction answers "abort").
- Bernstein, Hadzilacos & Goodman, *Concurrency Control and Recovery in
  Database Systems* (1987), §7.3-7.4: the uncertainty period, timeouts, and the
  cooperative termination protocol (optional here, ``cooperative: true``).

Roles: replicas ``0 .. shards-1`` are the participants (one
:class:`~bftlab.protocols.txn.ShardStore` each), replica ``shards`` is the
coordinator, so ``n = shards + 1``; clients are
:class:`~bftlab.protocols.txn.TxnClient`.

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x310-0x32F)
- :mod:`.params` -- :class:`TwoPcParams`
- :mod:`.log` -- forced and unforced log writes through the storage seam
- :mod:`.participant`, :mod:`.coordinator`
- :mod:`.figures` -- the blocking figure's closed form (a plot hook)

Fault model: ``crash-recovery`` with one replica per fault (n >= f + 1): safety
holds under any number of crashes and restarts of any replicas (everything a
decision depends on is forced to the log first); liveness does not: a
participant that voted yes blocks until the coordinator is back (or, with
cooperative termination, until a participant that knows the outcome answers).

Deviations, and why:

- The coordinator writes an *unforced* begin record before PREPARE (R*'s
  presumed abort writes none). Nothing waits for it; it only lets a restarted
  coordinator send ABORT to the participants at once instead of waiting for
  their inquiries, so the uncertainty measured after a coordinator crash is the
  outage plus a round trip, not plus an inquiry period. If it is lost, the
  presumption answers the inquiries as in R*.
- A no vote is logged unforced (R* logs nothing): a restarted participant then
  answers a duplicated PREPARE with the same no. A no vote lost in a crash may
  be followed by a yes to a duplicate PREPARE after the restart; the attempt
  still aborts (the coordinator decided on the no), and the atomicity oracle
  allows it (it flags only a yes taken back).
- The participants of an attempt are logged with its prepared record, for
  cooperative termination after a restart.
- The coordinator keeps every outcome (it never forgets an attempt id) so that
  a client's retry with the same id is answered, never run twice; the end
  record only stops the COMMIT resends.
"""

from __future__ import annotations

from bftlab.api import FaultModel, ProtocolSpec
from bftlab.protocols.txn import MESSAGE_TYPES as TXN_MESSAGES
from bftlab.protocols.txn.layout import OneCoordinator

from .coordinator import Coordinator
from .messages import MESSAGE_TYPES
from .params import TwoPcParams
from .participant import Participant

CRASH_RECOVERY = FaultModel("crash-recovery", 1)
"""Any number of replicas may crash and restart from their logs: n >= f + 1 (safety only; see above)."""


LAYOUT = OneCoordinator("two-phase commit", TwoPcParams, Participant, Coordinator)
make_replica = LAYOUT.make_replica
make_client = LAYOUT.make_client
final_state = LAYOUT.final_state
check_spec = LAYOUT.check_spec


PROTOCOL = ProtocolSpec(
    name="twopc",
    params=TwoPcParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=TXN_MESSAGES + MESSAGE_TYPES,
    description="Two-phase commit with presumed abort: forced prepare and commit records, inquiries, recovery",
    fault_model=CRASH_RECOVERY,
    oracles=("atomicity",),
    check_spec=check_spec,
    durable=True,
    final_state=final_state,
)

__all__ = ["CRASH_RECOVERY", "PROTOCOL", "Coordinator", "Participant", "TwoPcParams", "check_spec", "final_state",
           "make_client", "make_replica"]
