"""A Multi-Paxos replica: proposer (leader), acceptor and learner in one node.

Theory of operation
-------------------
Roles follow van Renesse & Altinbuken ("Paxos Made Moderately Complex", §3):
every replica runs an acceptor (:mod:`.acceptor`), a learner that executes
decided slots in order on the shared :class:`~bftlab.protocols.cft.KvMachine`,
and a leader that is active only while its ballot is the highest one a
majority promised.

* **Election.** Ballot 0 belongs to replica 0, which leads from a first boot
  without phase 1 (no acceptor can have accepted anything below ballot 0). A
  follower that hears nothing from the leader (no Heartbeat, Accept or Decide)
  for ``election_timeout_s`` plus a random share of it becomes a candidate:
  its "scout" broadcasts Prepare(b, first) with a ballot b above every one it
  saw, ``first`` being its lowest undecided slot. A majority of Promises makes
  it the leader of b; a Nack or a higher ballot makes it step down.
* **Phase 1 once per ballot** (Paxos Made Simple §3). On election the leader
  re-proposes, for every slot from ``first`` up to the highest one reported,
  the value accepted under the highest ballot, and a no-op where nothing was
  accepted, so that gaps left by the old leader fill and later slots execute.
* **Phase 2, pipelined and batched.** Up to ``window`` slots are in flight at
  once, each carrying up to ``batch_max`` queued client commands; the leader
  decides a slot once a majority (counting its own durable acceptance) sent
  Accepted, then broadcasts Decide to the learners and, after executing the
  slot, replies to the client: client -> leader -> acceptors -> leader ->
  client is four one-way delays, and the leader knows the decision after two.
* **Learners and catch-up.** A learner persists each decision, executes in
  slot order and emits ``Executed``. A Heartbeat tells it how far the log is
  decided; if it lags it asks the leader with CatchUp for the decided slots
  (a restarted replica asks everyone at once).
* **Recovery.** A restarted replica reads its promise, its accepted values and
  its decisions back from disk (:mod:`.durability`), replays the decided
  prefix into the KV machine without re-executing it in anyone's sight
  (``StateTransferred``) and rejoins as a follower.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Executed,
    NodeContext,
    Observe,
    Persist,
    Receive,
    Recovered,
    Send,
    SetTimer,
    Start,
    StateTransferred,
    Synced,
    TimerFired,
    ViewChanged,
)
from bftlab.errors import InvariantError
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine, Redirect
from bftlab.protocols.cft.messages import NO_LEADER

from . import durability
from .acceptor import Acceptor
from .messages import (
    PAXOS_MESSAGES,
    Accept,
    Accepted,
    CatchUp,
    Cmds,
    Decide,
    Decisions,
    Heartbeat,
    Nack,
    Prepare,
    Promise,
    Slot,
    well_formed,
)
from .params import MultiPaxosParams

ELECTION_TIMER = "election"
HEARTBEAT_TIMER = "heartbeat"
FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


class Proposal:
    """A slot this leader proposed in its ballot and that is not decided yet (a "commander")."""

    __slots__ = ("cmds", "votes", "sent_at")

    def __init__(self, cmds: Cmds, sent_at: float) -> None:
        self.cmds = cmds
        self.votes: set[int] = set()
        self.sent_at = sent_at


class MultiPaxosReplica:
    """One replica; see the module docstring."""

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.replicas = tuple(ctx.replicas)
        self.others = tuple(r for r in self.replicas if r != self.node_id)
        self.majority = self.n // 2 + 1
        self.params: MultiPaxosParams = ctx.params if ctx.params is not None else MultiPaxosParams()
        self.rng = ctx.rng
        self.counters: dict[str, int] = {}
        self.writes = durability.WriteAhead()
        self.acceptor = Acceptor()
        # learner
        self.machine = KvMachine()
        self.decided: dict[int, tuple[int, Cmds]] = {}
        self.executed = 0
        self.last_catchup = -1.0
        # leader
        self.view = 0  # the highest ballot we know a leader (or candidate) for
        self.role = FOLLOWER
        self.ballot = -1  # our own ballot while candidate or leader
        self.first = 1  # first slot our phase 1 covers
        self.promises: dict[int, tuple[Slot, ...]] = {}
        self.proposals: dict[int, Proposal] = {}
        self.next_slot = 1
        self.queue: deque[ClientRequest] = deque()
        self.queued: dict[int, int] = {}  # client -> highest ts queued or proposed in our ballot
        self.now = 0.0
        self._out: list[Any] = []

    # ------------------------------------------------------------------ entry
    def step(self, now: float, inp: Any) -> list[Any]:
        """Consume one input (see :mod:`bftlab.api`); malformed messages are dropped and counted."""
        self.now = now
        if type(inp) is Synced:
            return self.writes.synced(inp.token)
        self._out = []
        if type(inp) is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._drop("drop.exception")
        elif type(inp) is TimerFired:
            self._on_timer(inp.name)
        elif type(inp) is Start:
            self._on_start(inp.recovered)
        return self.writes.filter(self._out)

    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _promise_records(self, ballot: int) -> list[Persist]:
        """What makes a promise of ``ballot`` survive a crash (the planted bug leaves it out)."""
        return [durability.promise_record(ballot)]

    @property
    def leader_hint(self) -> int:
        """Where a Redirect sends the client (never to ourselves unless we lead)."""
        if self.role == LEADER:
            return self.node_id
        hint = self.view % self.n  # whoever led or tried to lead the highest ballot we know of
        return hint if self.role == FOLLOWER and hint != self.node_id else NO_LEADER

    # ------------------------------------------------------------------ boot
    def _on_start(self, recovered: Any) -> None:
        if not recovered:
            self._out.append(Persist(durability.BOOT, b""))
            self._out.append(Observe(ViewChanged(self.node_id, 0)))
            if self.node_id == 0:  # ballot 0 is ours: no lower ballot exists, so phase 1 is void
                self.role, self.ballot = LEADER, 0
                self._out.append(SetTimer(HEARTBEAT_TIMER, self.params.heartbeat_s))
            else:
                self._arm_election()
            return
        try:
            st = durability.load(dict(recovered))
        except ValueError as exc:
            raise InvariantError(f"multipaxos replica {self.node_id}: {exc}") from None
        # An accepted (b, v) implies a promise of b: a lost promise record cannot lower the promise below it.
        promised = max([st.promised, *(b for b, _ in st.accepted.values())])
        self.acceptor = Acceptor(promised, st.accepted)
        self.decided = dict(st.decided)
        while self.executed + 1 in self.decided:  # executed (and answered) in a previous life: rebuild only
            for req in self.decided[self.executed + 1][1]:
                self.machine.apply(req.client, req.ts, req.op, self.now)
            self.executed += 1
        if self.executed:
            self._out.append(Observe(StateTransferred(self.node_id, self.executed)))
        self.view = promised
        self._out.append(Observe(ViewChanged(self.node_id, promised)))
        self._out.append(Observe(Recovered(self.node_id)))  # a full member again: it may vote at once
        self._arm_election()
        self._out.append(Broadcast(self.others, CatchUp(self.node_id, self.executed + 1)))

    # ------------------------------------------------------------------ timers
    def _arm_election(self) -> None:
        t = self.params.election_timeout_s
        self._out.append(SetTimer(ELECTION_TIMER, t * (1.0 + self.rng.random())))

    def _on_timer(self, name: Any) -> None:
        if name == ELECTION_TIMER and self.role != LEADER:
            self._run_phase1()
        elif name == HEARTBEAT_TIMER and self.role == LEADER:
            self._out.append(Broadcast(self.others, Heartbeat(self.ballot, self.executed)))
            for slot, p in sorted(self.proposals.items()):  # lost Accepts or Accepteds: ask again
                if self.now - p.sent_at >= self.params.accept_retry_s:
                    p.sent_at = self.now
                    missing = tuple(r for r in self.others if r not in p.votes)
                    self._out.append(Broadcast(missing, Accept(self.ballot, slot, p.cmds)))
            self._out.append(SetTimer(HEARTBEAT_TIMER, self.params.heartbeat_s))

    def _adopt(self, ballot: int) -> None:
        """We learned of a leader (or candidate) of ``ballot``; step down if it beats ours."""
        if ballot > self.view:
            self.view = ballot
            self._out.append(Observe(ViewChanged(self.node_id, ballot)))
        if self.role != FOLLOWER and ballot > self.ballot:
            self._step_down()

    def _step_down(self) -> None:
        if self.role == LEADER:
            self._out.append(CancelTimer(HEARTBEAT_TIMER))
        self.role = FOLLOWER
        self.promises.clear()
        self.proposals.clear()
        self.queue.clear()
        self.queued.clear()
        self._arm_election()

    # ------------------------------------------------------------------ phase 1 (the scout)
    def _run_phase1(self) -> None:
        top = max(self.view, self.acceptor.promised, self.ballot)
        b = (top // self.n + 1) * self.n + self.node_id
        self.role, self.ballot, self.first = CANDIDATE, b, self.executed + 1
        self.proposals.clear()
        self.acceptor.prepare(b)
        self._out += self._promise_records(b)
        self.promises = {self.node_id: self.acceptor.accepted_from(self.first)}
        self._adopt(b)
        self._out.append(Broadcast(self.others, Prepare(b, self.first)))
        self._arm_election()  # no majority by then: try a higher ballot
        self._maybe_elected()

    def _on_promise(self, sender: int, m: Promise) -> None:
        if self.role != CANDIDATE or m.ballot != self.ballot or m.replica != sender:
            return
        self.promises[sender] = m.accepted
        self._maybe_elected()

    def _maybe_elected(self) -> None:
        if len(self.promises) < self.majority:
            return
        best: dict[int, tuple[int, Cmds]] = {}
        for accepted in self.promises.values():
            for s in accepted:
                if s.slot >= self.first and (s.slot not in best or s.ballot > best[s.slot][0]):
                    best[s.slot] = (s.ballot, s.cmds)
        self.role, self.promises = LEADER, {}
        self._out.append(CancelTimer(ELECTION_TIMER))
        self._out.append(Broadcast(self.others, Heartbeat(self.ballot, self.executed)))
        self._out.append(SetTimer(HEARTBEAT_TIMER, self.params.heartbeat_s))
        top = max([self.executed, *best, *self.decided])
        for slot in range(self.first, top + 1):
            if slot not in self.decided:  # the highest-ballot value, or a no-op to fill the gap
                self._propose(slot, best[slot][1] if slot in best else ())
        self.next_slot = top + 1
        self._propose_more()

    # ------------------------------------------------------------------ phase 2 (commanders)
    def _propose_more(self) -> None:
        while self.role == LEADER and self.queue and len(self.proposals) < self.params.window:
            batch: list[ClientRequest] = []
            while self.queue and len(batch) < self.params.batch_max:
                batch.append(self.queue.popleft())
            self._propose(self.next_slot, tuple(batch))
            self.next_slot += 1

    def _propose(self, slot: int, cmds: Cmds) -> None:
        p = self.proposals[slot] = Proposal(cmds, self.now)
        if self.acceptor.accept(self.ballot, slot, cmds):  # our own acceptance, durable before anyone hears
            self._out.append(durability.accepted_record(slot, self.ballot, cmds))
            p.votes.add(self.node_id)
        self._out.append(Broadcast(self.others, Accept(self.ballot, slot, cmds)))
        self._maybe_decided(slot)

    def _on_accepted(self, sender: int, m: Accepted) -> None:
        if self.role != LEADER or m.ballot != self.ballot or m.replica != sender:
            return
        p = self.proposals.get(m.slot)
        if p is not None:
            p.votes.add(sender)
            self._maybe_decided(m.slot)

    def _maybe_decided(self, slot: int) -> None:
        p = self.proposals[slot]
        if len(p.votes) < self.majority:
            return
        del self.proposals[slot]
        self._out.append(Broadcast(self.others, Decide(slot, self.ballot, p.cmds)))
        self._learn(slot, self.ballot, p.cmds)
        self._propose_more()

    # ------------------------------------------------------------------ learner
    def _learn(self, slot: int, ballot: int, cmds: Cmds) -> None:
        if slot <= self.executed or slot in self.decided:
            return
        self.decided[slot] = (ballot, cmds)
        self._out.append(durability.decision_record(slot, ballot, cmds))
        while self.executed + 1 in self.decided:
            s = self.executed + 1
            b, batch = self.decided[s]
            entries = []
            for req in batch:
                result, entry = self.machine.apply(req.client, req.ts, req.op, self.now)
                if entry is not None:
                    entries.append(entry)
                if result is not None and self.role == LEADER:
                    self._reply(req, result)
            self.executed = s
            self._out.append(Observe(Executed(self.node_id, s, b, tuple(entries))))

    def _reply(self, req: ClientRequest, result: bytes) -> None:
        self._out.append(Send(req.client, ClientReply(req.client, req.ts, result, self.node_id, self.node_id)))

    # ------------------------------------------------------------------ messages
    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is ClientRequest:
            if not (type(m.client) is int and type(m.ts) is int and type(m.op) is bytes) or m.client != sender:
                return self._drop("drop.malformed")
            return self._on_request(m)
        if not well_formed(m):
            return self._drop("drop.malformed" if t in PAXOS_MESSAGES else "drop.unexpected_type")
        if sender not in self.others:
            return self._drop("drop.bad_sender")
        handler = _HANDLERS.get(t)
        if handler is None:
            return self._drop("drop.unexpected_type")
        handler(self, sender, m)

    def _on_request(self, m: ClientRequest) -> None:
        if self.role != LEADER:
            if self.role == CANDIDATE and len(self.queue) < 4 * self.params.batch_max * self.params.window:
                self.queue.append(m)  # we may lead in a moment; lost otherwise (the client retries)
                self.queued[m.client] = max(m.ts, self.queued.get(m.client, -1))
                return None
            self._out.append(Send(m.client, Redirect(m.client, m.ts, self.node_id, self.leader_hint)))
            return None
        done = self.machine.answered(m.client, m.ts)
        if done is not None:  # executed already: the cached result, at once
            return self._reply(m, done)
        last = self.machine.sessions.get(m.client)
        if (last is not None and m.ts <= last[0]) or self.queued.get(m.client, -1) >= m.ts:
            return self._drop("drop.old_request")
        self.queue.append(m)
        self.queued[m.client] = m.ts
        self._propose_more()

    def _on_prepare(self, sender: int, m: Prepare) -> None:
        if m.ballot % self.n != sender or m.first < 1:
            return self._drop("drop.bad_ballot")
        before = self.acceptor.promised
        if not self.acceptor.prepare(m.ballot):
            self._out.append(Send(sender, Nack(self.acceptor.promised, self.node_id)))
            return None
        if m.ballot > before:
            self._out += self._promise_records(m.ballot)
        self._adopt(m.ballot)
        if self.role == FOLLOWER:
            self._arm_election()  # a candidate is trying: give it time
        self._out.append(Send(sender, Promise(m.ballot, self.node_id, self.acceptor.accepted_from(m.first))))

    def _on_accept(self, sender: int, m: Accept) -> None:
        if m.ballot % self.n != sender or m.slot < 1:
            return self._drop("drop.bad_ballot")
        if not self.acceptor.accept(m.ballot, m.slot, m.cmds):
            self._out.append(Send(sender, Nack(self.acceptor.promised, self.node_id)))
            return None
        self._out.append(durability.accepted_record(m.slot, m.ballot, m.cmds))
        self._adopt(m.ballot)
        if self.role == FOLLOWER:
            self._arm_election()
        self._out.append(Send(sender, Accepted(m.ballot, m.slot, self.node_id)))

    def _on_nack(self, sender: int, m: Nack) -> None:
        if m.replica == sender and self.role != FOLLOWER and m.ballot > self.ballot:
            self._adopt(m.ballot)

    def _on_decide(self, sender: int, m: Decide) -> None:
        if m.slot < 1:
            return self._drop("drop.bad_slot")
        if m.ballot == self.view and self.role == FOLLOWER:
            self._arm_election()
        self._learn(m.slot, m.ballot, m.cmds)

    def _on_heartbeat(self, sender: int, m: Heartbeat) -> None:
        if m.ballot % self.n != sender:
            return self._drop("drop.bad_ballot")
        if m.ballot < self.acceptor.promised:  # a deposed leader: tell it
            self._out.append(Send(sender, Nack(self.acceptor.promised, self.node_id)))
            return None
        self._adopt(m.ballot)
        if self.role == FOLLOWER:
            self._arm_election()
        if m.decided > self.executed and self.now - self.last_catchup >= self.params.heartbeat_s:
            self.last_catchup = self.now
            self._out.append(Send(sender, CatchUp(self.node_id, self.executed + 1)))

    def _on_catchup(self, sender: int, m: CatchUp) -> None:
        if m.replica != sender or m.first < 1:
            return self._drop("drop.bad_sender")
        top = m.first + self.params.catchup_max
        slots = tuple(Slot(s, b, c) for s, (b, c) in sorted(self.decided.items()) if m.first <= s < top)
        if slots:
            self._out.append(Send(sender, Decisions(self.node_id, slots)))

    def _on_decisions(self, sender: int, m: Decisions) -> None:
        if m.replica != sender:
            return self._drop("drop.bad_sender")
        for s in m.slots[: self.params.catchup_max]:
            if s.slot >= 1:
                self._learn(s.slot, s.ballot, s.cmds)
        if len(m.slots) >= self.params.catchup_max:  # more may follow
            self._out.append(Send(sender, CatchUp(self.node_id, self.executed + 1)))


_HANDLERS: dict[type, Any] = {
    Prepare: MultiPaxosReplica._on_prepare,
    Promise: MultiPaxosReplica._on_promise,
    Accept: MultiPaxosReplica._on_accept,
    Accepted: MultiPaxosReplica._on_accepted,
    Nack: MultiPaxosReplica._on_nack,
    Decide: MultiPaxosReplica._on_decide,
    Heartbeat: MultiPaxosReplica._on_heartbeat,
    CatchUp: MultiPaxosReplica._on_catchup,
    Decisions: MultiPaxosReplica._on_decisions,
}


def make_replica(ctx: NodeContext) -> MultiPaxosReplica:
    """The replica factory of :data:`~bftlab.protocols.multipaxos.PROTOCOL`."""
    return MultiPaxosReplica(ctx)
