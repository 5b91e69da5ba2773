"""An acceptor replica: a Paxos acceptor for every instance, and a coordinator for the transactions it runs.

Theory of operation
-------------------
Replica ``shards + j`` is acceptor number ``j`` of 2F+1. Acceptor 0 is the
initial leader (the clients try it first); any acceptor coordinates a
transaction whose ``TxnSubmit`` it receives, or that it takes over.

* **Normal case** (Gray & Lamport §4.2, the five message delays of its cost comparison):
  client -> coordinator ``TxnSubmit``; coordinator -> RMs ``Prepare``; each
  RM -> all acceptors its ballot-0 ``Phase2a``; each acceptor -> coordinator
  ``Phase2b`` (the coordinator's own acceptor answers locally); coordinator ->
  RMs ``Decision`` and -> client ``TxnOutcome``. With ``bundle_2b`` each
  acceptor sends one ``Phase2bBundle`` for all the instances instead, after one
  forced write (:mod:`.bundle`).
* **A silent RM**: after ``abort_after_s`` the coordinator runs Phase 1 of a
  higher ballot for the open instances and proposes Aborted where no value was
  accepted (§4.2, "if the leader ... does not receive ... it ... begins a higher-
  numbered ballot").
* **A failed coordinator** (§4.2, "if the leader fails"): uncertain RMs resend
  their Phase 2a flagged as retries; an acceptor that knows no outcome arms a
  takeover timer of ``abort_after_s`` plus ``takeover_s`` times its distance
  from the coordinator in acceptor order, then runs Phase 1 of its own higher
  ballot for every instance and completes each one (with the accepted value,
  else Aborted). Whoever knows the outcome answers a Phase 1a, a Prepare or a
  retry with it; the one who decided from the chosen values tells the RMs.
* **Self-delivery**: messages a node addresses to itself (its own acceptor's
  Phase 1b/2b, its own coordinator's Phase 1a/2a) are handled within the step,
  so they cost no message and, being in the same step, wait for the same Sync.

Everything an acceptor says follows a forced write (:mod:`.durability`); the
coordinator keeps nothing on disk: after a restart the outcome is recomputed
from the acceptors' chosen values, which cannot change.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Decided,
    NodeContext,
    Observe,
    Receive,
    Recovered,
    Send,
    SetTimer,
    Start,
    Synced,
    TimerFired,
    TxnBegan,
)
from bftlab.protocols.txn import TxnOutcome, TxnSubmit

from . import durability
from .acceptor import AcceptorState
from .bundle import Bundles
from .coordinator import Coord
from .durability import Txn, WriteAhead
from .messages import Decision, Nack, Phase1a, Phase1b, Phase2a, Phase2b, Phase2bBundle, Prepare
from .params import PaxosCommitParams

MAX_LOCAL = 1_000  # self-deliveries per step (a handful in practice)


class AcceptorNode:
    """Acceptor ``node_id - shards`` and coordinator."""

    def __init__(self, ctx: NodeContext, params: PaxosCommitParams) -> None:
        self.node_id = ctx.node_id
        self.p = params
        self.A = params.acceptors
        self.quorum = params.acceptor_faults + 1
        self.index = ctx.node_id - params.shards
        self.acceptors = tuple(range(params.shards, params.shards + self.A))
        self.others = tuple(a for a in self.acceptors if a != self.node_id)
        self.clients = frozenset(ctx.clients)
        self.acc = AcceptorState()
        self.bundles = Bundles()
        self.coords: dict[Txn, Coord] = {}
        self.decided: dict[Txn, bool] = {}
        self.takeovers: set[Txn] = set()  # takeover timers armed
        self.told: set[Txn] = set()  # outcomes we sent to the other acceptors
        self.counters: dict[str, int] = {}
        self.wal = WriteAhead()
        self.now = 0.0
        self._out: list[Any] = []
        self._forced = False
        self._local = 0

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    # ---------------------------------------------------------------- entry
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        self._out, self._forced, self._local = [], False, 0
        t = type(inp)
        if t is Synced:
            return self.wal.synced(inp.token)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Start and inp.recovered:
            self.acc.restore(durability.load_acceptor(dict(inp.recovered)))
            self._out.append(Observe(Recovered(self.node_id)))
        return self.wal.filter(self._out, self._forced)

    def _to(self, dest: int, msg: Any) -> None:
        if dest != self.node_id:
            self._out.append(Send(dest, msg))
            return
        self._local += 1
        if self._local > MAX_LOCAL:
            raise RuntimeError("paxoscommit: runaway self-delivery")
        self._on_receive(self.node_id, msg)

    def _to_acceptors(self, msg: Any) -> None:
        """To every acceptor: ours first, within the step (its forced write then covers the others' sends)."""
        self._to(self.node_id, msg)
        if self.others:
            self._out.append(Broadcast(self.others, msg))

    def _leader_of(self, ballot: int) -> int:
        return self.acceptors[ballot % self.A]

    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is TxnSubmit:
            if sender in self.clients and m.client == sender:
                return self._on_submit(m)
        elif t is Phase2a:
            if (m.ballot == 0 and sender == m.rm < self.p.shards) or (m.ballot > 0 and sender == self._leader_of(
                    m.ballot) and m.leader == sender):
                return self._on_2a(sender, m)
        elif t is Phase2b:
            if sender in self.acceptors:
                return self._on_2b(sender, m)
        elif t is Phase2bBundle:
            if sender in self.acceptors:
                return self._on_2b_bundle(sender, m)
        elif t is Phase1a:
            if m.ballot >= self.A and sender == self._leader_of(m.ballot):
                return self._on_1a(sender, m)
        elif t is Phase1b:
            if sender in self.acceptors:
                return self._on_1b(sender, m)
        elif t is Nack:
            if sender in self.acceptors:
                return self._on_nack(m)
        elif t is Decision:
            if sender in self.acceptors or sender < self.p.shards:
                return self._learn((m.client, m.ts), m.commit, chosen=False)
        else:
            return self._count("drop.unexpected_type")
        self._count("drop.bad_sender")

    # ----------------------------------------------------------- coordinator
    def _on_submit(self, m: TxnSubmit) -> None:
        txn = (m.client, m.ts)
        if txn in self.decided:
            self._out.append(Send(m.client, TxnOutcome(m.client, m.ts, self.decided[txn], self.node_id)))
            return
        parts = tuple(sorted({s for s, _, _ in m.writes}))
        if not parts or parts[-1] >= self.p.shards or parts[0] < 0:
            return self._count("drop.malformed")
        c = self.coords.get(txn)
        if c is not None:  # a duplicate or a client retry: it is running here already
            self._count("coord.duplicate_submit")
            if c.writes is None:
                c.writes = m.writes
            return
        c = self.coords[txn] = Coord(txn, parts, m.writes, self.now)
        self._out.append(Observe(TxnBegan(m.client, m.ts, parts)))
        self._send_prepare(c)

    def _send_prepare(self, c: Coord) -> None:
        if c.writes is not None:
            open_rms = tuple(rm for rm in c.participants if rm not in c.chosen)
            if open_rms:
                self._out.append(Broadcast(open_rms, Prepare(c.txn[0], c.txn[1], c.writes, c.participants)))
        self._out.append(SetTimer(("coord", c.txn), self.p.prepare_retry_s))

    def _coord_for(self, txn: Txn, participants: tuple[int, ...]) -> Coord | None:
        if txn in self.decided or not participants:
            return None
        c = self.coords.get(txn)
        if c is None:
            c = self.coords[txn] = Coord(txn, participants, None, self.now)
            self._out.append(SetTimer(("coord", txn), self.p.prepare_retry_s))
        return c

    def _on_2b(self, sender: int, m: Phase2b) -> None:
        c = self._coord_for((m.client, m.ts), m.participants)
        if c is None:
            return
        c.count_2b(sender, m.rm, m.ballot, m.prepared, self.quorum)
        self._maybe_decide(c)

    def _on_2b_bundle(self, sender: int, m: Phase2bBundle) -> None:
        c = self._coord_for((m.client, m.ts), m.participants)
        if c is None:
            return
        for rm, ballot, prepared in m.votes:
            c.count_2b(sender, rm, ballot, prepared, self.quorum)
        self._maybe_decide(c)

    def _maybe_decide(self, c: Coord) -> None:
        commit = c.outcome()
        if commit is not None:
            self._learn(c.txn, commit)

    def _learn(self, txn: Txn, commit: bool, chosen: bool = True) -> None:
        """The outcome is known: decide. From the chosen values, tell the RMs and the client; learned from someone
        who knew it (who told the RMs already, and answers their retries), tell only a client that asked us."""
        if txn in self.decided:
            if self.decided[txn] != commit:
                self._count("drop.contradicting_decision")
            return
        self.decided[txn] = commit
        self._out.append(Observe(Decided(self.node_id, txn[0], txn[1], commit)))
        self._out += [CancelTimer(("coord", txn)), CancelTimer(("takeover", txn))]
        self.takeovers.discard(txn)
        if txn in self.bundles.pending:
            self._out.append(CancelTimer(("bundle", txn)))
        self.bundles.forget(txn)
        c = self.coords.pop(txn, None)
        if c is None:
            return
        if chosen:
            self._out.append(Broadcast(c.participants, Decision(txn[0], txn[1], commit)))
            if c.ballot > 0 or self.now - c.started >= self.p.rm_retry_s:
                self._tell_acceptors(txn)
        if chosen or c.writes is not None:
            self._out.append(Send(txn[0], TxnOutcome(txn[0], txn[1], commit, self.node_id)))

    def _tell_acceptors(self, txn: Txn) -> None:
        """Slow path: RMs may have retried, arming takeovers at the other acceptors; spare them the work (once)."""
        if self.others and txn not in self.told:
            self.told.add(txn)
            self._out.append(Broadcast(self.others, Decision(txn[0], txn[1], self.decided[txn])))

    def _start_ballot(self, c: Coord) -> None:
        """Phase 1 of a ballot of ours above every ballot seen for the transaction (our acceptor promises first)."""
        seen = max(c.ballot, self.acc.txns[c.txn].mbal if c.txn in self.acc.txns else 0)
        c.ballot = (seen // self.A + 1) * self.A + self.index
        c.phase, c.promises = "p1", {}
        self._count("coord.ballots")
        self._out.append(SetTimer(("coord", c.txn), self.p.prepare_retry_s))
        self._to_acceptors(Phase1a(c.txn[0], c.txn[1], c.ballot, c.participants))

    def _on_1b(self, sender: int, m: Phase1b) -> None:
        txn = (m.client, m.ts)
        c = self.coords.get(txn)
        if c is None or c.phase != "p1" or m.ballot != c.ballot:
            return
        c.promises[sender] = m.accepted
        if len(c.promises) < self.quorum:
            return
        c.phase = "p2"
        self._send_2a(c)

    def _send_2a(self, c: Coord) -> None:
        for rm, value in sorted(c.proposals().items()):
            if c.txn in self.decided:
                return
            self._to_acceptors(Phase2a(c.txn[0], c.txn[1], rm, c.ballot, value, c.participants, self.node_id, False))

    def _on_nack(self, m: Nack) -> None:
        c = self.coords.get((m.client, m.ts))
        if c is None or m.ballot <= c.ballot or c.phase not in ("p1", "p2"):
            return
        c.ballot, c.phase = m.ballot, "wait"  # a higher ballot's coordinator is at work: let it finish
        rank = (self.index - m.ballot % self.A) % self.A
        self._out.append(SetTimer(("coord", c.txn), self.p.abort_after_s + self.p.takeover_s * rank))

    def _on_timer(self, name: Any) -> None:
        if type(name) is not tuple or len(name) != 2:
            return
        kind, txn = name
        if txn in self.decided:
            return
        if kind == "bundle":  # a vote is missing: report what we have, then go one instance at a time
            if txn in self.bundles.pending:
                self._count("acc.bundle_timeouts")
                self.bundles.unbundled.add(txn)
                self._flush(txn)
            return
        if kind == "takeover":
            self.takeovers.discard(txn)
            c = self.coords.get(txn)
            if c is not None and c.phase != "wait":
                return  # we coordinate it already
            st = self.acc.txns.get(txn)
            c = c or self._coord_for(txn, st.participants if st is not None else ())
            if c is not None:
                self._count("coord.takeovers")
                self._start_ballot(c)
            return
        c = self.coords.get(txn)
        if kind != "coord" or c is None:
            return
        if c.phase == "fast" and self.now - c.started < self.p.abort_after_s:
            self._count("coord.prepare_resends")
            self._send_prepare(c)
        elif c.phase in ("fast", "wait"):
            self._start_ballot(c)
        else:  # p1 or p2 not complete: messages lost or acceptors down; ask again
            self._out.append(SetTimer(("coord", c.txn), self.p.prepare_retry_s))
            if c.phase == "p1":
                self._out.append(Broadcast(self.others, Phase1a(txn[0], txn[1], c.ballot, c.participants)))
            else:
                for rm, value in sorted(c.proposals().items()):
                    self._out.append(Broadcast(self.others, Phase2a(txn[0], txn[1], rm, c.ballot, value,
                                                                    c.participants, self.node_id, False)))

    # -------------------------------------------------------------- acceptor
    def _persist(self, txn: Txn) -> None:
        self._out.append(self.acc.record(txn))
        self._forced = True

    def _flush(self, txn: Txn) -> None:
        """Write the transaction's pending acceptances (one forced write) and report them, one bundle per
        coordinator; the WriteAhead holds the bundles until the write is durable."""
        held = self.bundles.take(txn)
        if not held:
            return
        self._out.append(CancelTimer(("bundle", txn)))
        self._persist(txn)
        st = self.acc.txns[txn]
        for leader, rms in held.items():
            votes = tuple((rm, *st.accepted[rm]) for rm in rms)
            self._to(leader, Phase2bBundle(txn[0], txn[1], votes, st.participants))

    def _on_1a(self, sender: int, m: Phase1a) -> None:
        txn = (m.client, m.ts)
        if txn in self.decided:
            return self._to(sender, Decision(m.client, m.ts, self.decided[txn]))
        self._flush(txn)  # a pending acceptance is reported below: it must be written first
        promised, st = self.acc.phase1a(txn, m.ballot, m.participants)
        if not promised:
            return self._to(sender, Nack(m.client, m.ts, st.mbal))
        self._persist(txn)
        accepted = tuple((rm, vbal, value) for rm, (vbal, value) in sorted(st.accepted.items()))
        self._to(sender, Phase1b(m.client, m.ts, m.ballot, accepted))

    def _on_2a(self, sender: int, m: Phase2a) -> None:
        txn = (m.client, m.ts)
        if txn in self.decided and m.ballot == 0:
            if m.retry:
                self._tell_acceptors(txn)  # they saw the retry too and may be about to take over
            return self._to(sender, Decision(m.client, m.ts, self.decided[txn]))
        if m.rm not in m.participants:
            return self._count("drop.malformed")
        bundling = self.p.bundle_2b and self.bundles.bundling(txn, m.ballot, m.retry)
        if not bundling:
            self._flush(txn)  # what we answer below must not overtake (or leave unwritten) a held acceptance
        res, st = self.acc.phase2a(txn, m.rm, m.ballot, m.prepared, m.participants)
        target = m.leader if m.ballot == 0 else sender
        held = res == "again" and self.bundles.holds(txn, m.rm)  # a duplicate of a held vote
        if bundling and target in self.acceptors and (res == "accepted" or held):
            return self._hold(txn, m.rm, target, m.prepared)
        if res == "accepted":
            self._persist(txn)
        if res in ("accepted", "again"):
            if target in self.acceptors:
                self._to(target, Phase2b(m.client, m.ts, m.rm, m.ballot, m.prepared, st.participants))
        elif res == "nack":
            if m.ballot > 0:
                self._to(sender, Nack(m.client, m.ts, st.mbal))
        else:
            self._count("drop.conflicting_2a")
        if m.retry and txn not in self.decided:
            self._arm_takeover(txn, m.leader)

    def _hold(self, txn: Txn, rm: int, leader: int, prepared: bool) -> None:
        """A ballot-0 acceptance joins the transaction's bundle; flush once every instance has a value (or at
        once for an Aborted vote, which decides the transaction alone)."""
        if self.bundles.add(txn, rm, leader):
            self._out.append(SetTimer(("bundle", txn), self.p.bundle_wait_s))
        st = self.acc.txns[txn]
        if not prepared or all(r in st.accepted for r in st.participants):
            self._flush(txn)

    def _arm_takeover(self, txn: Txn, leader: int) -> None:
        """An RM is still uncertain: if its coordinator stays silent, finish the transaction ourselves."""
        if txn in self.takeovers:
            return
        rank = (self.index - (leader - self.p.shards)) % self.A or self.A  # the coordinator itself: last
        self.takeovers.add(txn)
        self._out.append(SetTimer(("takeover", txn), self.p.abort_after_s + self.p.takeover_s * rank))
