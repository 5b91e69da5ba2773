"""A two-phase commit participant (a resource manager): vote, learn the outcome, survive crashes.

Theory of operation
-------------------
The participant owns one shard (:class:`~bftlab.protocols.txn.ShardStore`).
Presumed abort (Mohan, Lindsay & Obermarck, TODS 1986, §3.1) fixes what it
logs and when:

* **PREPARE.** It votes with :meth:`ShardStore.prepare` (no-wait locks: a
  conflict votes no). A yes vote is sent only after the *prepared record*
  (its writes) is forced to the log; from then on it is **uncertain**: it holds
  the locks and may decide nothing by itself. A no vote is a unilateral abort:
  an unforced record, no waiting (presumed abort forces nothing for aborts).
* **COMMIT.** It installs the writes, forces a commit record and then ACKs
  (the coordinator forgets the transaction once all ACKs are in). **ABORT**:
  it releases the locks and writes an unforced abort record; no ACK.
* **Uncertain too long.** After ``inquire_s`` without an outcome it sends
  :class:`Inquire` to the coordinator, and again every ``inquire_s``. With
  ``cooperative`` it asks the other participants too (Bernstein, Hadzilacos &
  Goodman 1987, §7.4, cooperative termination): one that knows the outcome
  answers it, and one that has not voted yet aborts unilaterally and answers
  abort. If every one it reaches is uncertain too, it stays blocked: that is
  two-phase commit's blocking, measured by the atomicity oracle.
* **Recovery.** On ``Start(recovered)`` it restores its store from its
  prepared and decision records (commits replayed in decision order); each
  prepared transaction without a decision is uncertain again, and it inquires
  at once. A transaction it has no record of was never voted yes on, so it is
  aborted (presumed abort).
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
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
from bftlab.protocols.txn import ShardStore

from . import log
from .messages import Ack, Decision, Inquire, Prepare, Vote, txn_of, writes_of
from .params import TwoPcParams

Txn = tuple[int, int]
PREPARED, DECIDED, MEMBERS = "p", "d", "m"


class Participant:
    """Participant ``node_id`` (its shard number); the coordinator is replica ``shards``."""

    def __init__(self, ctx: NodeContext, params: TwoPcParams, coordinator: int) -> None:
        self.node_id = ctx.node_id
        self.params = params
        self.coordinator = coordinator
        self.store = ShardStore(ctx.node_id, ctx.rng, params.no_vote_probability)
        self.log = log.ForcedLog()
        self.parts: dict[Txn, tuple[int, ...]] = {}  # participants of each attempt we voted on
        self.voting: set[Txn] = set()  # yes votes waiting for their prepared record
        self.seq = 0  # order of decisions, so a restart replays commits in the order they were made
        self.counters: dict[str, int] = {}
        self.now = 0.0
        self._out: list[Any] = []

    def _count(self, k: str) -> None:
        self.counters[k] = self.counters.get(k, 0) + 1

    # ------------------------------------------------------------------ entry
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Synced:
            released = self.log.synced(inp.token)
            for a in released:  # a yes vote is out: the attempt is no longer "voting"
                if type(a) is Send and type(a.msg) is Vote:
                    self.voting.discard((a.msg.client, a.msg.ts))
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
        if kind is Prepare and sender == self.coordinator:
            self._on_prepare(txn, m)
        elif kind is Decision and (sender == self.coordinator or sender in self.parts.get(txn, ())):
            self._learn(txn, m.commit is True)
        elif kind is Inquire and m.node == sender and sender < self.coordinator and sender != self.node_id:
            self._on_inquire(txn, sender)
        else:
            self._count("drop.unexpected")

    # ------------------------------------------------------------------ voting
    def _on_prepare(self, txn: Txn, m: Prepare) -> None:
        writes = writes_of(m.writes)
        if writes is None or txn in self.voting:
            return self._count("drop.prepare")
        self.parts.setdefault(txn, tuple(int(p) for p in m.participants))
        known = self.store.decided(txn)
        if txn in self.store.prepared or known is not None:  # a duplicate: the same answer, nothing new
            yes = txn in self.store.prepared or known is True
            self._out.append(Send(self.coordinator, Vote(txn[0], txn[1], self.node_id, yes)))
            return
        mine = self.store.mine(writes)
        if self.store.prepare(txn, mine):
            self.voting.add(txn)
            vote = Vote(txn[0], txn[1], self.node_id, True)
            then = [Send(self.coordinator, vote), Observe(Voted(self.node_id, txn[0], txn[1], True)),
                    SetTimer(("inquire", txn), self.params.inquire_s)]
            self.log.force(self._out, [(log.key(PREPARED, txn), ShardStore.prepared_record(txn, mine)),
                                       (log.key(MEMBERS, txn), log.ids(self.parts[txn]))], then)
        else:
            self._abort_record(txn)
            self._out += [Send(self.coordinator, Vote(txn[0], txn[1], self.node_id, False)),
                          Observe(Voted(self.node_id, txn[0], txn[1], False)),
                          Observe(Decided(self.node_id, txn[0], txn[1], False))]

    # ------------------------------------------------------------------ outcome
    def _learn(self, txn: Txn, commit: bool) -> None:
        known = self.store.decided(txn)
        if txn in self.voting:  # our yes vote is not out yet: nobody can have decided commit
            if commit:
                return self._count("drop.early_commit")
            self.log.cancel(txn)  # an abort overtook it: the vote never goes out, as if we had not voted
            self.voting.discard(txn)
            self.store.abort(txn)
            return self._abort_record(txn)
        if known is not None:
            if known and commit:  # a duplicate COMMIT: ACK again, the coordinator may have missed ours
                self._out.append(Send(self.coordinator, Ack(txn[0], txn[1], self.node_id)))
            return
        if txn not in self.store.prepared:
            if commit:
                return self._count("drop.commit_unprepared")
            self.store.abort(txn)  # an ABORT before the PREPARE: a late PREPARE then votes no
            return self._abort_record(txn)
        self._out.append(Observe(Decided(self.node_id, txn[0], txn[1], commit)))
        if commit:
            self.seq += 1
            self.store.commit(txn)
            self.log.force(self._out, [(log.key(DECIDED, txn), b"c%d" % self.seq)],
                           [Send(self.coordinator, Ack(txn[0], txn[1], self.node_id))])
        else:
            self.store.abort(txn)
            self._abort_record(txn)

    def _abort_record(self, txn: Txn) -> None:
        self.seq += 1
        self.log.write(self._out, [(log.key(DECIDED, txn), b"a%d" % self.seq)])

    def _on_inquire(self, txn: Txn, sender: int) -> None:
        """Cooperative termination: answer what we know; not having voted yet, abort and say so."""
        known = self.store.decided(txn)
        if known is not None:
            self._out.append(Send(sender, Decision(txn[0], txn[1], known)))
        elif txn not in self.store.prepared and txn not in self.voting:
            self.store.abort(txn)
            self._abort_record(txn)
            self._out += [Observe(Voted(self.node_id, txn[0], txn[1], False)),
                          Observe(Decided(self.node_id, txn[0], txn[1], False)),
                          Send(sender, Decision(txn[0], txn[1], False))]

    def _on_timer(self, name: Any) -> None:
        if type(name) is not tuple or len(name) != 2:
            return
        what, txn = name
        if what == "inquire" and txn in self.store.prepared:
            self._count("participant.inquiries")
            ask = Inquire(txn[0], txn[1], self.node_id)
            self._out.append(Send(self.coordinator, ask))
            if self.params.cooperative:
                self._out += [Send(p, ask) for p in self.parts.get(txn, ()) if p != self.node_id]
            self._out.append(SetTimer(("inquire", txn), self.params.inquire_s))

    # ------------------------------------------------------------------ recovery
    def _recover(self, recovered: Any) -> None:
        if not recovered:
            return
        recs = log.parse(recovered)
        decided = sorted(((int(v[1:]), txn, v[:1] == b"c") for txn, v in recs.get(DECIDED, {}).items()))
        self.seq = decided[-1][0] if decided else 0
        self.store.restore(list(recs.get(PREPARED, {}).values()), {txn: c for _, txn, c in decided})
        self.parts.update({txn: log.parse_ids(v) for txn, v in recs.get(MEMBERS, {}).items()})
        for txn in sorted(self.store.prepared):
            self._out.append(SetTimer(("inquire", txn), 0.0))  # uncertain again: ask at once
        self._out.append(Observe(Recovered(self.node_id)))
