"""Paxos Commit: atomic commitment as one Paxos consensus per participant, with 2F+1 acceptors.

Paper: Jim Gray and Leslie Lamport, "Consensus on Transaction Commit", ACM
TODS 31(1):133-160, 2006. Implemented:

- §2 the transaction-commit problem (TC: every RM commits or every RM aborts;
  commit only if every RM is prepared);
- §3.2 Paxos (ballots, Phase 1a/1b, Phase 2a/2b, a value chosen by a majority
  of acceptors in one ballot);
- §4.1-4.2 Paxos Commit: one instance per RM whose value is Prepared or
  Aborted; the RM itself sends the ballot-0 Phase 2a (the fast path that saves
  the leader's Phase 1 and 2a); the leader (here: the coordinator) commits iff
  every instance chose Prepared; a leader that hears nothing from an RM, and
  an acceptor that takes over from a failed leader, run a higher ballot and
  propose Aborted where no value was accepted;
- the paper's normal-case cost comparison: 5 message delays with the client's
  request, forced writes by the N RMs and the acceptors, none by the leader;
  with ``thrifty`` and ``bundle_2b`` the paper's layout, whose messages and
  forced writes tests/txn/test_commit_costs.py checks against its formulas.

Layout (each module opens with its theory of operation):

- :mod:`.messages` -- wire messages (codes 0x350-0x37F)
- :mod:`.params` -- :class:`PaxosCommitParams` (the shared ``TxnConfig`` plus F and timeouts)
- :mod:`.durability` -- forced writes and the write-ahead rule
- :mod:`.rm` -- the resource managers (replicas ``0 .. shards-1``)
- :mod:`.acceptor` -- the acceptor's rules
- :mod:`.bundle` -- ``bundle_2b``: one Phase 2b and one forced write per acceptor and transaction
- :mod:`.coordinator` -- a coordinator's per-transaction state
- :mod:`.node` -- an acceptor replica (``shards .. shards+2F``), acceptor and coordinator

Deviations, and why:

- **Separate acceptors, the leader on one of them.** The acceptors are
  replicas of their own (so their crashes and the RMs' are independent
  faults), and acceptor 0 (replica ``shards``) is the initial leader, which
  the client's request reaches first (the client's ``TxnSubmit`` plays the
  paper's BeginCommit, and the leader sends Prepare to all N RMs: two messages
  more than the paper's count, docs/protocols/commit-costs.md). The leader and
  its acceptor share the node, as in the paper's count: their exchange is
  local, the acceptor's forced write is not.
- **Every RM sends its Phase 2a to all 2F+1 acceptors** by default; the paper's
  saving (F+1 only) is the ``thrifty`` parameter. **Each acceptor sends one
  Phase 2b per instance** by default (bundling the N instances means waiting
  for the last vote); ``bundle_2b`` sends one per transaction, as the paper
  counts. Phase 2b go to the coordinator only (not the "Faster Paxos Commit"
  variant that also sends them to the RMs).
- **Ballots per transaction.** A coordinator's Phase 1 covers all the
  transaction's instances at once with one ballot, and an acceptor keeps one
  promise per transaction; plain Paxos per instance is the special case.
- **Leader election** is not a separate protocol: any acceptor coordinates a
  transaction a client sends it, and an acceptor takes over a transaction when
  an uncertain RM keeps asking and the coordinator stays silent, after a delay
  that grows with its distance from that coordinator (so usually one does).
- **The coordinator keeps no log**; a restarted coordinator recomputes
  outcomes from the acceptors. RMs log their outcomes without forcing them.

Fault model: see :data:`PROTOCOL` and the docs. Safety (the atomicity oracle)
holds under any number of crash-recoveries and any message loss, duplication,
delay or partition; progress needs F+1 acceptors that can talk to each other
and to the RMs.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import FaultModel, NodeContext, ProtocolSpec
from bftlab.protocols.txn import TxnClient
from bftlab.specs.schema import FieldError

from .messages import MESSAGE_TYPES
from .node import AcceptorNode
from .params import PaxosCommitParams
from .rm import ResourceManager

CRASH_RECOVERY = FaultModel("crash-recovery", 1)
"""n >= f+1: safety holds however many replicas crash and recover (everything an acceptor or RM said is on its
disk first); f only bounds the replicas down at once. The liveness bound, at most F of the 2F+1 acceptors down at
once, is not expressible as a FaultModel (f counts every replica) and is checked by :func:`check_spec`."""


def _params(ctx: NodeContext) -> PaxosCommitParams:
    return ctx.params if ctx.params is not None else PaxosCommitParams()


def make_replica(ctx: NodeContext) -> ResourceManager | AcceptorNode:
    """Replicas ``0 .. shards-1`` are RMs, the rest acceptors."""
    p = _params(ctx)
    return ResourceManager(ctx, p) if ctx.node_id < p.shards else AcceptorNode(ctx, p)


def make_client(ctx: NodeContext) -> TxnClient:
    """The shared transaction client; it tries acceptor 0 (the initial leader) first, then the others in turn."""
    p = _params(ctx)
    return TxnClient(ctx, p, tuple(range(p.shards, p.shards + p.acceptors)))


def final_state(node: Any) -> dict[str, Any]:
    """An RM's store (applied and uncertain transactions); nothing for an acceptor."""
    if isinstance(node, ResourceManager):
        return node.store.final_state()
    return {"applied": [], "uncertain": []}


def check_spec(spec: Any) -> None:
    """n = shards + 2F + 1, and at most F acceptors crashed at once (unless ``allow_exceeding_f``)."""
    p: PaxosCommitParams = spec.protocol.params
    want = p.shards + p.acceptors
    if spec.n != want:
        raise FieldError("n", f"Paxos Commit with shards={p.shards} participants and acceptor_faults="
                              f"{p.acceptor_faults} (2F+1={p.acceptors} acceptors) needs n = shards + 2F + 1 = {want}, "
                              f"got {spec.n}.")
    if spec.allow_exceeding_f:
        return
    events = []
    for i, fault in enumerate(spec.faults):
        if fault.node >= p.shards:
            events.append((fault.crash_at_s, 1, i, fault.node))
            if fault.recover_at_s is not None:
                events.append((fault.recover_at_s, -1, i, fault.node))
    down: set[int] = set()
    for _t, delta, i, node in sorted(events):  # a restart sorts before a crash at the same instant
        if delta < 0:
            down.discard(node)
            continue
        down.add(node)
        if len(down) > p.acceptor_faults:
            raise FieldError(f"faults[{i}]", f"acceptors {sorted(down)} are down at once, more than acceptor_faults="
                                             f"{p.acceptor_faults}; progress needs a majority of the {p.acceptors} "
                                             f"acceptors (set allow_exceeding_f: true to run this deliberately).")


PROTOCOL = ProtocolSpec(
    name="paxoscommit",
    params=PaxosCommitParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="Paxos Commit (Gray & Lamport 2006): one Paxos instance per participant, 2F+1 acceptors",
    fault_model=CRASH_RECOVERY,
    oracles=("atomicity",),
    check_spec=check_spec,
    durable=True,
    final_state=final_state,
)

__all__ = ["CRASH_RECOVERY", "PROTOCOL", "AcceptorNode", "PaxosCommitParams", "ResourceManager", "check_spec",
           "final_state", "make_client", "make_replica"]
