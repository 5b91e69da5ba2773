"""Three-phase commit (Skeen) with the termination protocol of Bernstein, Hadzilacos & Goodman.

Papers and the parts of them implemented here:

- Skeen, "Nonblocking Commit Protocols" (SIGMOD 1981): the nonblocking
  theorem (no state may be adjacent to both commit and abort, and no
  noncommittable state adjacent to commit), hence the *committable* (prepared
  to commit) state and the extra PreCommit/ACK round over 2PC.
- Bernstein, Hadzilacos & Goodman, *Concurrency Control and Recovery in
  Database Systems* (Addison-Wesley 1987), §7.5 "The Three-Phase Commit
  Protocol": the timeout actions, the election of a backup coordinator, the
  termination rule TR1-TR4 (aborted -> abort; committed -> commit; all
  uncertain -> abort; some committable -> PreCommit the uncertain, then
  commit), and recovery (a restarted process in doubt asks; it takes no part
  in termination; total failure blocks).
- Gray & Lamport, "Consensus on Transaction Commit" (TODS 2006), §4 for the
  cost comparison: 3PC is 2PC plus one round (2N messages, 2 message delays).

Roles: replicas ``0 .. shards-1`` are participants, replica ``shards`` is the
coordinator (``n = shards + 1``).

Layout: :mod:`.messages` (codes 0x330-0x34F), :mod:`.params`,
:mod:`.participant` (voting, termination, recovery), :mod:`.coordinator`; the
forced-write helper is two-phase commit's (:mod:`bftlab.protocols.twopc.log`).

Fault model: ``crash-recovery``, n >= f + 1. Safety holds under any number of
crashes and restarts *provided timeouts detect failures exactly* (the
synchronous model 3PC is designed for; with the default timeouts that means
one-way delays well under the timeouts). Liveness: a transaction terminates as
long as one of its participants stays up through it (BHG §7.5); if all fail it
waits for one that knows. Under network partitions 3PC is **not** safe: each
side deems the other failed and may decide the other way. That is a property
of the protocol, shown by tests/threepc/test_threepc_partition.py.

Deviations, and why:

- Election is by epochs over the participants in id order instead of an
  explicit election protocol: epoch k's backup is the k-th participant; a
  participant that hears nothing from epoch k's backup moves to epoch k+1. With
  exact failure detection this elects the lowest live participant, as in BHG.
- Backups commit in TR4 only once *every* uncertain participant acknowledged
  the PreCommit; a missing ACK leaves the decision to the next epoch (BHG let
  the backup treat it as failed). The original coordinator does commit on an
  ACK timeout, as BHG's coordinator does.
- The coordinator forces a begin record before CanCommit, so that after a
  restart it knows every attempt it started, never runs an attempt id twice and
  asks instead of deciding.
- Participants' decision records and no votes are unforced: a restarted
  participant that lost one is in doubt and asks.
- There are no ACKs of DoCommit (3PC needs none); the coordinator never forgets
  an outcome (a retried attempt id is answered, never run twice).
"""

from __future__ import annotations

from bftlab.api import ProtocolSpec
from bftlab.protocols.twopc import CRASH_RECOVERY
from bftlab.protocols.txn import MESSAGE_TYPES as TXN_MESSAGES
from bftlab.protocols.txn.layout import OneCoordinator

from .coordinator import Coordinator
from .messages import MESSAGE_TYPES
from .params import ThreePcParams
from .participant import Participant

LAYOUT = OneCoordinator("three-phase commit", ThreePcParams, Participant, Coordinator)
make_replica = LAYOUT.make_replica
make_client = LAYOUT.make_client
final_state = LAYOUT.final_state
check_spec = LAYOUT.check_spec


PROTOCOL = ProtocolSpec(
    name="threepc",
    params=ThreePcParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=TXN_MESSAGES + MESSAGE_TYPES,
    description="Three-phase commit: CanCommit, PreCommit, DoCommit; termination protocol TR1-TR4",
    fault_model=CRASH_RECOVERY,
    oracles=("atomicity",),
    check_spec=check_spec,
    durable=True,
    final_state=final_state,
)

__all__ = ["PROTOCOL", "Coordinator", "Participant", "ThreePcParams", "check_spec", "final_state", "make_client",
           "make_replica"]
