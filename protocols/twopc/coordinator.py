"""The two-phase commit coordinator (transaction manager) with presumed abort.

Theory of operation
-------------------
Gray & Lamport ("Consensus on Transaction Commit", TODS 2006, §3) and
Mohan, Lindsay & Obermarck (R*, TODS 1986, §3.1, presumed abort):

* **Begin.** A client's :class:`~bftlab.protocols.txn.TxnSubmit` names an
  attempt ``(client, ts)``. An attempt the coordinator knows the outcome of is
  answered with it (the id is the idempotency key: never a second run); one
  in progress is left to finish; a new one is started: ``TxnBegan``, an
  *unforced* begin record (only so that a restarted coordinator can tell the
  participants at once, see below), and PREPARE to each participant.
* **Votes.** A no vote, or missing votes after ``vote_timeout_s``, decides
  **abort**: presumed abort forces nothing, the ABORT goes to the participants
  and the answer to the client at once, and no ACKs are expected. All yes
  decides **commit**: the commit record is *forced*; only when it is durable
  does the decision exist (``Decided``), COMMIT go out and the client get its
  answer. COMMIT is resent every ``resend_s`` to participants that have not
  ACKed; when all have, an unforced end record lets the coordinator forget.
* **Inquiries.** An uncertain participant's :class:`Inquire` gets the outcome;
  an attempt the coordinator has no record of was never committed (the commit
  record is forced before any COMMIT), so the answer is **abort**: that is the
  presumption.
* **Recovery.** A commit record without an end record: COMMIT again to all
  until they ACK. A begin record with no commit record: abort, and tell the
  participants (they would otherwise learn it only when they inquire).
  Participants in doubt therefore wait for the coordinator's recovery: the
  blocking of two-phase commit.
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

from . import log
from .messages import Ack, Decision, Inquire, Prepare, Vote, txn_of, writes_of
from .params import TwoPcParams

Txn = tuple[int, int]
BEGIN, COMMIT, ABORT, END = "b", "c", "a", "e"


class Attempt:
    """A transaction attempt whose votes are being collected."""

    __slots__ = ("participants", "votes", "deciding")

    def __init__(self, participants: tuple[int, ...]) -> None:
        self.participants = participants
        self.votes: dict[int, bool] = {}
        self.deciding = False  # the commit record is being forced


class Coordinator:
    """The coordinator, replica ``shards``; participants are replicas ``0 .. shards-1``."""

    def __init__(self, ctx: NodeContext, params: TwoPcParams) -> None:
        self.node_id = ctx.node_id
        self.params = params
        self.shards = params.shards
        self.log = log.ForcedLog()
        self.active: dict[Txn, Attempt] = {}
        self.outcomes: dict[Txn, bool] = {}
        self.members: dict[Txn, tuple[int, ...]] = {}
        self.unacked: dict[Txn, set[int]] = {}  # committed attempts still waiting for ACKs
        self.counters: dict[str, int] = {}
        self.now = 0.0
        self._out: list[Any] = []

    def _count(self, k: str) -> None:
        self.counters[k] = self.counters.get(k, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Synced:
            released = self.log.synced(inp.token)
            for a in released:  # the commit record is durable: the decision exists now
                if type(a) is Observe and type(a.event) is Decided:
                    self._committed((a.event.client, a.event.ts))
            out += released
        elif t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Start:
            self._recover(inp.recovered)
        return out

    def _on_receive(self, sender: int, m: Any) -> None:
        txn = txn_of(m)
        if txn is None:
            return self._count("drop.malformed")
        kind = type(m)
        if kind is TxnSubmit and sender == m.client:
            self._on_submit(txn, m)
        elif kind is Vote and sender == m.node and type(m.yes) is bool:
            self._on_vote(txn, sender, m.yes)
        elif kind is Ack and sender == m.node:
            left = self.unacked.get(txn)
            if left is not None:
                left.discard(sender)
                if not left:
                    del self.unacked[txn]
                    self._out.append(CancelTimer(("resend", txn)))
                    self.log.write(self._out, [(log.key(END, txn), b"")])
        elif kind is Inquire and sender == m.node and 0 <= sender < self.shards:
            self._on_inquire(txn, sender)
        else:
            self._count("drop.unexpected")

    # ------------------------------------------------------------------ phase 1
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
        self.active[txn] = Attempt(parts)
        self.members[txn] = parts
        self._out.append(Observe(TxnBegan(txn[0], txn[1], parts)))
        self.log.write(self._out, [(log.key(BEGIN, txn), log.ids(parts))])
        self._out.append(Broadcast(parts, Prepare(txn[0], txn[1], writes, parts)))
        self._out.append(SetTimer(("votes", txn), self.params.vote_timeout_s))

    def _on_vote(self, txn: Txn, node: int, yes: bool) -> None:
        a = self.active.get(txn)
        if a is None:
            known = self.outcomes.get(txn)
            if known is False and yes:  # a late yes after an abort: tell it now rather than at its inquiry
                self._out.append(Send(node, Decision(txn[0], txn[1], False)))
            elif known is True and node in self.unacked.get(txn, ()):
                self._out.append(Send(node, Decision(txn[0], txn[1], True)))
            return
        if node not in a.participants or a.deciding:
            return
        a.votes.setdefault(node, yes)
        if not yes:
            return self._abort(txn, a.participants, f"no from {node}")
        if len(a.votes) == len(a.participants):
            a.deciding = True
            self._out.append(CancelTimer(("votes", txn)))
            then: list[Any] = [Observe(Decided(self.node_id, txn[0], txn[1], True)),
                               Broadcast(a.participants, Decision(txn[0], txn[1], True)),
                               Send(txn[0], TxnOutcome(txn[0], txn[1], True, self.node_id)),
                               SetTimer(("resend", txn), self.params.resend_s)]
            self.log.force(self._out, [(log.key(COMMIT, txn), log.ids(a.participants))], then)

    # ------------------------------------------------------------------ phase 2
    def _committed(self, txn: Txn) -> None:
        a = self.active.pop(txn, None)
        self.outcomes[txn] = True
        self.unacked[txn] = set(a.participants if a is not None else self.members.get(txn, ()))

    def _abort(self, txn: Txn, parts: tuple[int, ...], why: str) -> None:
        """Presumed abort: nothing forced, nothing to acknowledge."""
        a = self.active.pop(txn, None)
        self.outcomes[txn] = False
        self._count("coordinator.aborts")
        tell = tuple(p for p in parts if a is None or a.votes.get(p, True))  # a no voter knows already
        self.log.write(self._out, [(log.key(ABORT, txn), why.encode())])
        self._out += [CancelTimer(("votes", txn)), Observe(Decided(self.node_id, txn[0], txn[1], False)),
                      Send(txn[0], TxnOutcome(txn[0], txn[1], False, self.node_id))]
        if tell:
            self._out.append(Broadcast(tell, Decision(txn[0], txn[1], False)))

    def _on_inquire(self, txn: Txn, node: int) -> None:
        self._count("coordinator.inquiries")
        if txn in self.outcomes:
            self._out.append(Send(node, Decision(txn[0], txn[1], self.outcomes[txn])))
        elif txn not in self.active:  # no record: never committed (presumed abort)
            self.outcomes[txn] = False
            self.log.write(self._out, [(log.key(ABORT, txn), b"presumed")])
            self._out += [Observe(Decided(self.node_id, txn[0], txn[1], False)),
                          Send(node, Decision(txn[0], txn[1], False))]

    def _on_timer(self, name: Any) -> None:
        if type(name) is not tuple or len(name) != 2:
            return
        what, txn = name
        if what == "votes":
            a = self.active.get(txn)
            if a is not None and not a.deciding:
                self._abort(txn, a.participants, "vote timeout")
        elif what == "resend" and txn in self.unacked:
            self._count("coordinator.resends")
            self._out.append(Broadcast(tuple(sorted(self.unacked[txn])), Decision(txn[0], txn[1], True)))
            self._out.append(SetTimer(("resend", txn), self.params.resend_s))

    # ------------------------------------------------------------------ recovery
    def _recover(self, recovered: Any) -> None:
        if not recovered:
            return
        recs = log.parse(recovered)
        for txn in recs.get(ABORT, {}):
            self.outcomes[txn] = False
        for txn, v in sorted(recs.get(COMMIT, {}).items()):
            self.outcomes[txn] = True
            self.members[txn] = log.parse_ids(v)
            if txn not in recs.get(END, {}):
                self.unacked[txn] = set(self.members[txn])
                self._out += [Broadcast(self.members[txn], Decision(txn[0], txn[1], True)),
                              SetTimer(("resend", txn), self.params.resend_s)]
        for txn, v in sorted(recs.get(BEGIN, {}).items()):
            if txn not in self.outcomes:  # begun, never committed: abort (presumed abort)
                self.members[txn] = log.parse_ids(v)
                self._abort(txn, self.members[txn], "coordinator restart")
        self._out.append(Observe(Recovered(self.node_id)))
