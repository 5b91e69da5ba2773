"""The three-phase commit coordinator.

Theory of operation
-------------------
Skeen (SIGMOD 1981) and Bernstein, Hadzilacos & Goodman (1987, §7.5):

* **Begin.** A new attempt ``(client, ts)``: ``TxnBegan``, a *forced* begin
  record (so that a restarted coordinator knows every attempt it started and
  never runs one twice: 3PC presumes nothing), then CanCommit to the
  participants. A known attempt is answered with its outcome, or left to finish.
* **Votes.** A no vote or a vote timeout (``vote_timeout_s``): abort, sent to
  every participant, unforced. All yes: PreCommit (epoch 0) to all.
* **PreAcks.** All in, or ``ack_timeout_s`` passed (the silent participants are
  deemed failed; they learn the outcome when they recover): force the commit
  record, then DoCommit (:class:`Decision`) to all and the answer to the client.
* **Termination by the participants.** If the coordinator fails, the
  participants decide among themselves (:mod:`.participant`) and send the
  decision here too: the coordinator adopts it and answers the client.
* **Recovery.** A commit or abort record gives the outcome. A begin record
  alone leaves the coordinator *in doubt*: it must not decide (the participants
  may have terminated either way while it was down), so it asks them
  (:class:`DecisionReq`) every ``timeout_s`` until one answers.
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
from bftlab.protocols.twopc import log
from bftlab.protocols.twopc.messages import txn_of, writes_of
from bftlab.protocols.txn import TxnOutcome, TxnSubmit

from .messages import CanCommit, Decision, DecisionReq, PreAck, PreCommit, Vote
from .params import ThreePcParams

Txn = tuple[int, int]
BEGIN, COMMIT, ABORT = "b", "c", "a"
STARTING, VOTING, PRECOMMITTING, DECIDING, IN_DOUBT = range(5)


class Attempt:
    __slots__ = ("participants", "writes", "phase", "votes", "acks")

    def __init__(self, participants: tuple[int, ...], writes: Any, phase: int) -> None:
        self.participants = participants
        self.writes = writes
        self.phase = phase
        self.votes: set[int] = set()
        self.acks: set[int] = set()


class Coordinator:
    """Replica ``shards``; the participants are ``0 .. shards-1``."""

    def __init__(self, ctx: NodeContext, params: ThreePcParams) -> None:
        self.node_id = ctx.node_id
        self.params = params
        self.shards = params.shards
        self.log = log.ForcedLog()
        self.active: dict[Txn, Attempt] = {}
        self.outcomes: dict[Txn, bool] = {}
        self.counters: dict[str, int] = {}
        self._out: list[Any] = []

    def _count(self, k: str) -> None:
        self.counters[k] = self.counters.get(k, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        out = self._out = []
        t = type(inp)
        if t is Synced:
            for a in self.log.synced(inp.token):
                if type(a) is tuple:  # ("begun" | "committed", txn): what the forced record allows next
                    self._released(*a)
                else:
                    out.append(a)
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

    def _on_receive(self, sender: int, m: Any) -> None:
        txn = txn_of(m)
        if txn is None:
            return self._count("drop.malformed")
        kind = type(m)
        a = self.active.get(txn)
        if kind is TxnSubmit and sender == m.client:
            self._on_submit(txn, m)
        elif kind is Vote and sender == m.node and type(m.yes) is bool:
            if a is None or a.phase != VOTING or sender not in a.participants:
                return
            if not m.yes:
                return self._abort(txn, a)
            a.votes.add(sender)
            if len(a.votes) == len(a.participants):
                a.phase = PRECOMMITTING
                self._out += [CancelTimer(("votes", txn)),
                              Broadcast(a.participants, PreCommit(txn[0], txn[1], 0)),
                              SetTimer(("acks", txn), self.params.ack_timeout_s)]
        elif kind is PreAck and sender == m.node and m.epoch == 0:
            if a is not None and a.phase == PRECOMMITTING and sender in a.participants:
                a.acks.add(sender)
                if len(a.acks) == len(a.participants):
                    self._commit(txn, a)
        elif kind is Decision and type(m.commit) is bool and 0 <= sender < self.shards:
            self._adopt(txn, m.commit)
        elif kind is DecisionReq and sender == m.node and 0 <= sender < self.shards:
            if txn in self.outcomes:
                self._out.append(Send(sender, Decision(txn[0], txn[1], self.outcomes[txn])))
        else:
            self._count("drop.unexpected")

    def _on_submit(self, txn: Txn, m: TxnSubmit) -> None:
        if txn in self.outcomes:
            self._count("coordinator.answered_again")
            self._out.append(Send(txn[0], TxnOutcome(txn[0], txn[1], self.outcomes[txn], self.node_id)))
            return
        if txn in self.active:
            return self._count("coordinator.in_progress")
        writes = writes_of(m.writes)
        if not writes or any(not 0 <= s < self.shards for s, _, _ in writes):
            return self._count("drop.bad_writes")
        parts = tuple(sorted({s for s, _, _ in writes}))
        self.active[txn] = Attempt(parts, writes, STARTING)
        self._out.append(Observe(TxnBegan(txn[0], txn[1], parts)))
        self.log.force(self._out, [(log.key(BEGIN, txn), log.ids(parts))], [("begun", txn)])

    def _released(self, what: str, txn: Txn) -> None:
        a = self.active.get(txn)
        if a is None:
            return
        if what == "begun" and a.phase == STARTING:
            a.phase = VOTING
            self._out += [Broadcast(a.participants, CanCommit(txn[0], txn[1], a.writes, a.participants)),
                          SetTimer(("votes", txn), self.params.vote_timeout_s)]
        elif what == "committed" and a.phase == DECIDING:
            del self.active[txn]
            self.outcomes[txn] = True
            self._out += [Observe(Decided(self.node_id, txn[0], txn[1], True)),
                          Broadcast(a.participants, Decision(txn[0], txn[1], True)),
                          Send(txn[0], TxnOutcome(txn[0], txn[1], True, self.node_id))]

    def _commit(self, txn: Txn, a: Attempt) -> None:
        a.phase = DECIDING
        self._out.append(CancelTimer(("acks", txn)))
        self.log.force(self._out, [(log.key(COMMIT, txn), b"")], [("committed", txn)])

    def _abort(self, txn: Txn, a: Attempt) -> None:
        del self.active[txn]
        self.outcomes[txn] = False
        self.log.write(self._out, [(log.key(ABORT, txn), b"")])
        self._out += [CancelTimer(("votes", txn)), Observe(Decided(self.node_id, txn[0], txn[1], False)),
                      Broadcast(a.participants, Decision(txn[0], txn[1], False)),
                      Send(txn[0], TxnOutcome(txn[0], txn[1], False, self.node_id))]

    def _adopt(self, txn: Txn, commit: bool) -> None:
        """A decision reached without us (termination protocol, or an answer to our DecisionReq)."""
        if txn in self.outcomes:
            if self.outcomes[txn] != commit:
                self._count("decision.conflicting")  # only when timeouts misjudged failures (a partition)
            return
        a = self.active.get(txn)
        if a is not None and a.phase in (STARTING, DECIDING):
            return  # our own begin or commit record is being forced; the outcome then follows
        self.active.pop(txn, None)
        self.outcomes[txn] = commit
        self.log.write(self._out, [(log.key(COMMIT if commit else ABORT, txn), b"adopted")])
        self._out += [CancelTimer(("votes", txn)), CancelTimer(("acks", txn)), CancelTimer(("ask", txn)),
                      Observe(Decided(self.node_id, txn[0], txn[1], commit)),
                      Send(txn[0], TxnOutcome(txn[0], txn[1], commit, self.node_id))]

    def _on_timer(self, what: Any, txn: Any) -> None:
        a = self.active.get(txn)
        if a is None:
            return
        if what == "votes" and a.phase == VOTING:
            self._abort(txn, a)
        elif what == "acks" and a.phase == PRECOMMITTING:
            self._count("coordinator.ack_timeouts")
            self._commit(txn, a)  # the silent participants failed; they learn the outcome on recovery
        elif what == "ask" and a.phase == IN_DOUBT:
            ask = DecisionReq(txn[0], txn[1], self.node_id)
            self._out += [Broadcast(a.participants, ask), SetTimer(("ask", txn), self.params.timeout_s)]

    def _recover(self, recovered: Any) -> None:
        if not recovered:
            return
        recs = log.parse(recovered)
        for txn in recs.get(ABORT, {}):
            self.outcomes[txn] = False
        for txn in recs.get(COMMIT, {}):
            self.outcomes[txn] = True
        for txn, v in sorted(recs.get(BEGIN, {}).items()):
            parts = log.parse_ids(v)
            if txn in self.outcomes:  # participants that missed the outcome terminate or ask; nothing to resend
                continue
            self.active[txn] = Attempt(parts, (), IN_DOUBT)
            self._out.append(SetTimer(("ask", txn), 0.0))
        self._out.append(Observe(Recovered(self.node_id)))
