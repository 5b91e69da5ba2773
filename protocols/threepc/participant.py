"""A three-phase commit participant, with the termination protocol that makes 3PC nonblocking.

Theory of operation
-------------------
Skeen ("Nonblocking Commit Protocols", SIGMOD 1981) adds a *committable* state
between a yes vote and commit, so that no participant can commit while another
is still uncertain. Bernstein, Hadzilacos & Goodman (1987, §7.5) give the
timeouts and the termination protocol implemented here:

* **CanCommit.** As in 2PC: vote with the store; a yes vote goes out only after
  the prepared record is forced; a no vote is a unilateral abort.
* **PreCommit** (from the coordinator, epoch 0, or a backup of epoch k): the
  participant becomes *committable* and acknowledges. **Decision**: commit or
  abort, from anyone; it is final.
* **Timeout** (``timeout_s`` uncertain or committable without word from the
  coordinator): the coordinator is deemed failed and the participants elect a
  backup coordinator. Election is by epochs: the backup of epoch k is the k-th
  participant of the transaction in id order (wrapping around), so epoch 1's is
  the lowest one; a participant that hears nothing from epoch k's backup within
  ``term_timeout_s`` moves to epoch k+1. In effect the lowest-numbered live
  participant leads, as in BHG's election. A participant that has joined epoch
  k ignores PreCommits of lower epochs.
* **Termination rule** (BHG §7.5, TR1-TR4), applied by the backup to the states
  it collected (its own included; silent participants are deemed failed after
  ``collect_timeout_s``): TR1 some *aborted* -> abort; TR2 some *committed* ->
  commit; TR3 all *uncertain* -> abort; TR4 some *committable*, none committed
  -> send PreCommit to the uncertain ones, and commit once they all acknowledge.
  The backup sends the decision to every participant and to the coordinator.
* **Recovery.** A participant that restarts with a prepared record and no
  decision is *in doubt* and, as BHG prescribe, takes no part in the
  termination protocol of that transaction (its pre-crash state, uncertain or
  committable, is lost, so a report from it could mislead a backup): it asks
  everyone (:class:`DecisionReq`) every ``timeout_s`` until someone who knows
  answers. If every participant fails, the transaction blocks until one that
  knows the outcome is back (BHG's total failure).

3PC is nonblocking only when timeouts detect failures exactly: a network
partition makes each side deem the other failed, and the sides may decide
differently (tests/threepc/test_threepc_partition.py shows it).
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
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
    Voted,
)
from bftlab.protocols.twopc import log
from bftlab.protocols.twopc.messages import txn_of, writes_of
from bftlab.protocols.txn import ShardStore

from .messages import (
    ABORTED,
    COMMITTABLE,
    COMMITTED,
    UNCERTAIN,
    CanCommit,
    Decision,
    DecisionReq,
    PreAck,
    PreCommit,
    StateReply,
    StateReq,
    Vote,
)
from .params import ThreePcParams

Txn = tuple[int, int]
PREPARED, DECIDED, MEMBERS = "p", "d", "m"


class Participant:
    """Participant ``node_id``; the coordinator is replica ``shards``."""

    def __init__(self, ctx: NodeContext, params: ThreePcParams, coordinator: int) -> None:
        self.node_id = ctx.node_id
        self.params = params
        self.coordinator = coordinator
        self.store = ShardStore(ctx.node_id, ctx.rng, params.no_vote_probability)
        self.log = log.ForcedLog()
        self.parts: dict[Txn, tuple[int, ...]] = {}
        self.voting: set[Txn] = set()
        self.committable: set[Txn] = set()
        self.epoch: dict[Txn, int] = {}
        self.doubt: set[Txn] = set()  # prepared before a restart: no part in termination
        self.collect: dict[Txn, tuple[int, dict[int, int]]] = {}  # backup: epoch, states collected
        self.tr4: dict[Txn, tuple[int, set[int]]] = {}  # backup in TR4: epoch, PreAcks still missing
        self.seq = 0
        self.counters: dict[str, int] = {}
        self._out: list[Any] = []

    def _count(self, k: str) -> None:
        self.counters[k] = self.counters.get(k, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        out = self._out = []
        t = type(inp)
        if t is Synced:
            released = self.log.synced(inp.token)
            for a in released:
                if type(a) is Send and type(a.msg) is Vote:
                    self.voting.discard((a.msg.client, a.msg.ts))
            out += released
        elif t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is TimerFired:
            if type(inp.name) is tuple and len(inp.name) == 2:
                self._on_timer(*inp.name)
        elif t is Start:
            self._recover(inp.recovered)
        return out

    # ------------------------------------------------------------------ helpers
    def state(self, txn: Txn) -> int:
        known = self.store.decided(txn)
        if known is not None:
            return COMMITTED if known else ABORTED
        if txn in self.committable:
            return COMMITTABLE
        return UNCERTAIN if txn in self.store.prepared else ABORTED

    def backup(self, txn: Txn, epoch: int) -> int:
        """The backup coordinator of ``epoch`` >= 1: the participants in id order, lowest first, wrapping."""
        parts = self.parts.get(txn) or (self.node_id,)
        return parts[(epoch - 1) % len(parts)]

    def _undecided(self, txn: Txn) -> bool:
        return txn in self.store.prepared

    # ------------------------------------------------------------------ messages
    def _on_receive(self, sender: int, m: Any) -> None:
        txn = txn_of(m)
        if txn is None:
            return self._count("drop.malformed")
        kind = type(m)
        if kind is CanCommit and sender == self.coordinator:
            self._on_cancommit(txn, m)
        elif kind is Decision and type(m.commit) is bool and sender <= self.coordinator:
            if (txn in self.collect or txn in self.tr4) and self._undecided(txn):
                self._final(txn, m.commit)  # a backup told the outcome (TR1/TR2) passes it on to everyone
            else:
                self._learn(txn, m.commit)
        elif kind is PreCommit and type(m.epoch) is int:
            self._on_precommit(txn, sender, m.epoch)
        elif kind is StateReq and sender == m.node and type(m.epoch) is int and m.epoch >= 1:
            self._on_state_req(txn, sender, m.epoch)
        elif kind is StateReply and sender == m.node:
            self._on_state_reply(txn, sender, m.epoch, m.state)
        elif kind is PreAck and sender == m.node:
            wait = self.tr4.get(txn)
            if wait is not None and wait[0] == m.epoch:
                wait[1].discard(sender)
                if not wait[1]:
                    self._final(txn, True)
        elif kind is DecisionReq and sender == m.node and sender <= self.coordinator:
            self._on_decision_req(txn, sender)
        else:
            self._count("drop.unexpected")

    def _on_cancommit(self, txn: Txn, m: CanCommit) -> None:
        writes = writes_of(m.writes)
        if writes is None or txn in self.voting:
            return self._count("drop.cancommit")
        self.parts.setdefault(txn, tuple(sorted(int(p) for p in m.participants)))
        known = self.store.decided(txn)
        if txn in self.store.prepared or known is not None:  # a duplicate: the same vote again
            yes = txn in self.store.prepared or known is True
            self._out.append(Send(self.coordinator, Vote(txn[0], txn[1], self.node_id, yes)))
            return
        mine = self.store.mine(writes)
        if self.store.prepare(txn, mine):
            self.voting.add(txn)
            then = [Send(self.coordinator, Vote(txn[0], txn[1], self.node_id, True)),
                    Observe(Voted(self.node_id, txn[0], txn[1], True)),
                    SetTimer(("wait", txn), self.params.timeout_s)]
            self.log.force(self._out, [(log.key(PREPARED, txn), ShardStore.prepared_record(txn, mine)),
                                       (log.key(MEMBERS, txn), log.ids(self.parts[txn]))], then)
        else:
            self._abort_alone(txn)
            self._out.append(Send(self.coordinator, Vote(txn[0], txn[1], self.node_id, False)))

    def _abort_alone(self, txn: Txn) -> None:
        """A unilateral abort before voting yes (a no vote): nothing forced."""
        self.store.abort(txn)
        self._record(txn, False)
        self._out += [Observe(Voted(self.node_id, txn[0], txn[1], False)),
                      Observe(Decided(self.node_id, txn[0], txn[1], False))]

    def _record(self, txn: Txn, commit: bool) -> None:
        self.seq += 1
        self.log.write(self._out, [(log.key(DECIDED, txn), (b"c%d" if commit else b"a%d") % self.seq)])

    def _on_precommit(self, txn: Txn, sender: int, epoch: int) -> None:
        if not self._undecided(txn) or txn in self.doubt or epoch < self.epoch.get(txn, 0):
            return self._count("drop.precommit")
        if (epoch == 0 and sender != self.coordinator) or (epoch > 0 and sender != self.backup(txn, epoch)):
            return self._count("drop.precommit_sender")
        self.epoch[txn] = epoch
        self.committable.add(txn)
        self._out.append(Send(sender, PreAck(txn[0], txn[1], self.node_id, epoch)))
        wait = self.params.timeout_s if epoch == 0 else self.params.term_timeout_s
        self._out.append(SetTimer(("wait", txn), wait))

    def _learn(self, txn: Txn, commit: bool) -> None:
        known = self.store.decided(txn)
        if known is not None:
            if known != commit:
                self._count("decision.conflicting")  # only when timeouts misjudged failures (a partition)
            return
        if txn in self.voting:  # our yes vote is not out yet: nobody can have decided commit
            if commit:
                return self._count("drop.decision_unprepared")
            self.log.cancel(txn)  # an abort overtook it: the vote never goes out, as if we had not voted
            self.voting.discard(txn)
            self.store.abort(txn)
            return self._record(txn, False)
        if txn not in self.store.prepared:
            if commit:
                return self._count("drop.decision_unprepared")
            self.store.abort(txn)  # an abort before the CanCommit: a late one then votes no
            return self._record(txn, False)
        self._out.append(Observe(Decided(self.node_id, txn[0], txn[1], commit)))
        (self.store.commit if commit else self.store.abort)(txn)
        self._record(txn, commit)
        self.committable.discard(txn)
        self.doubt.discard(txn)
        self.collect.pop(txn, None)
        self.tr4.pop(txn, None)
        self._out += [CancelTimer(("wait", txn)), CancelTimer(("collect", txn)), CancelTimer(("ask", txn))]

    # ------------------------------------------------------------------ termination
    def _on_timer(self, what: Any, txn: Any) -> None:
        if what == "wait" and self._undecided(txn) and txn not in self.doubt:
            self._next_epoch(txn)
        elif what == "collect" and txn in self.collect:
            epoch, states = self.collect.pop(txn)
            self._terminate(txn, epoch, states)
        elif what == "ask" and self._undecided(txn):
            ask = DecisionReq(txn[0], txn[1], self.node_id)
            self._out += [Send(p, ask) for p in (*self.parts.get(txn, ()), self.coordinator) if p != self.node_id]
            self._out.append(SetTimer(("ask", txn), self.params.timeout_s))

    def _next_epoch(self, txn: Txn) -> None:
        """The coordinator (or the last backup) is deemed failed: elect the next backup."""
        epoch = self.epoch.get(txn, 0) + 1
        self.epoch[txn] = epoch
        self.collect.pop(txn, None)
        self.tr4.pop(txn, None)
        self._count("participant.termination_epochs")
        self._out.append(SetTimer(("wait", txn), self.params.term_timeout_s))
        if self.backup(txn, epoch) != self.node_id:
            return
        self.collect[txn] = (epoch, {self.node_id: self.state(txn)})
        others = [p for p in self.parts.get(txn, ()) if p != self.node_id]
        if not others:
            return self._terminate(txn, epoch, self.collect.pop(txn)[1])
        req = StateReq(txn[0], txn[1], self.node_id, epoch)
        self._out += [Send(p, req) for p in others]
        self._out.append(SetTimer(("collect", txn), self.params.collect_timeout_s))

    def _on_state_req(self, txn: Txn, sender: int, epoch: int) -> None:
        known = self.store.decided(txn)
        if known is not None:
            self._out.append(Send(sender, Decision(txn[0], txn[1], known)))
            return
        if txn in self.doubt or txn in self.voting or epoch < self.epoch.get(txn, 0):
            return self._count("drop.state_req")
        if txn not in self.store.prepared:  # never voted: abort unilaterally, and say so
            self._abort_alone(txn)
            self._out.append(Send(sender, Decision(txn[0], txn[1], False)))
            return
        if sender != self.backup(txn, epoch):
            return self._count("drop.state_req_sender")
        if epoch > self.epoch.get(txn, 0):
            self.collect.pop(txn, None)
            self.tr4.pop(txn, None)
        self.epoch[txn] = epoch
        self._out.append(Send(sender, StateReply(txn[0], txn[1], self.node_id, epoch, self.state(txn))))
        self._out.append(SetTimer(("wait", txn), self.params.term_timeout_s))

    def _on_state_reply(self, txn: Txn, sender: int, epoch: Any, state: Any) -> None:
        got = self.collect.get(txn)
        if got is None or got[0] != epoch or state not in (ABORTED, UNCERTAIN, COMMITTABLE, COMMITTED):
            return
        got[1][sender] = state
        if len(got[1]) == len(self.parts.get(txn, ())):
            del self.collect[txn]
            self._out.append(CancelTimer(("collect", txn)))
            self._terminate(txn, epoch, got[1])

    def _terminate(self, txn: Txn, epoch: int, states: dict[int, int]) -> None:
        """BHG §7.5's termination rule TR1-TR4 over the states reported (silent participants deemed failed)."""
        seen = set(states.values())
        if ABORTED in seen:  # TR1
            return self._final(txn, False)
        if COMMITTED in seen:  # TR2
            return self._final(txn, True)
        if COMMITTABLE not in seen:  # TR3: all uncertain
            return self._final(txn, False)
        uncertain = {p for p, s in states.items() if s == UNCERTAIN and p != self.node_id}  # TR4
        self.committable.add(txn)
        if not uncertain:
            return self._final(txn, True)
        self.tr4[txn] = (epoch, uncertain)
        self._out += [Send(p, PreCommit(txn[0], txn[1], epoch)) for p in sorted(uncertain)]

    def _final(self, txn: Txn, commit: bool) -> None:
        """The backup decides: learn it and tell every participant and the coordinator."""
        self._count("participant.terminations")
        self._learn(txn, commit)
        d = Decision(txn[0], txn[1], commit)
        self._out += [Send(p, d) for p in (*self.parts.get(txn, ()), self.coordinator) if p != self.node_id]

    def _on_decision_req(self, txn: Txn, sender: int) -> None:
        known = self.store.decided(txn)
        if known is not None:
            self._out.append(Send(sender, Decision(txn[0], txn[1], known)))
        elif txn not in self.store.prepared and txn not in self.voting:
            self._abort_alone(txn)  # never voted yes: the transaction cannot commit
            self._out.append(Send(sender, Decision(txn[0], txn[1], False)))

    # ------------------------------------------------------------------ recovery
    def _recover(self, recovered: Any) -> None:
        if not recovered:
            return
        recs = log.parse(recovered)
        decided = sorted((int(v[1:]), txn, v[:1] == b"c") for txn, v in recs.get(DECIDED, {}).items())
        self.seq = decided[-1][0] if decided else 0
        self.store.restore(list(recs.get(PREPARED, {}).values()), {txn: c for _, txn, c in decided})
        self.parts.update({txn: log.parse_ids(v) for txn, v in recs.get(MEMBERS, {}).items()})
        for txn in sorted(self.store.prepared):
            self.doubt.add(txn)
            self._out.append(SetTimer(("ask", txn), 0.0))
        self._out.append(Observe(Recovered(self.node_id)))
