"""A resource manager (RM): one participant shard, the ballot-0 proposer of its own Paxos instance.

Theory of operation
-------------------
Gray & Lamport §4.2: an RM that receives Prepare decides its vote and sends it
as the **ballot-0 Phase 2a** message of its own instance straight to all 2F+1
acceptors (value Prepared or Aborted; with ``thrifty``, the paper's saving,
first only to the F+1 from its coordinator on), not to the coordinator; the acceptors'
Phase 2b go to the coordinator named in the Phase 2a. The vote is the RM's
only proposal in ballot 0, so it is forced to disk first (a restarted RM that
proposed Prepared must not propose Aborted in the same ballot, and must keep
its locks): :mod:`.durability` holds the Phase 2a and the ``Voted`` event until
the vote is synced. A no vote is a unilateral abort: the RM knows the outcome
at once (``Decided`` abort).

A prepared RM is **uncertain** until a :class:`~.messages.Decision` arrives
(from the coordinator, or any acceptor that learned it). While uncertain it
resends its Phase 2a every ``rm_retry_s`` flagged as a retry: an acceptor that
knows the outcome answers it, and acceptors that do not start the takeover of
a silent coordinator. A Prepare for a transaction it already voted on makes it
repeat the same Phase 2a (for the new coordinator), or answer with the outcome
if it knows it, so duplicates and client retries through another coordinator
never make it vote twice.

Recovery: the store is rebuilt from the vote and outcome records
(:meth:`~bftlab.protocols.txn.ShardStore.restore`); transactions voted yes with
no outcome are uncertain again (locked) and the retries start at once.
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
    Voted,
)
from bftlab.protocols.txn import ShardStore

from . import durability
from .durability import Txn, WriteAhead
from .messages import Decision, Phase2a, Prepare
from .params import PaxosCommitParams


class ResourceManager:
    """Participant ``node_id`` (shard ``node_id``)."""

    def __init__(self, ctx: NodeContext, params: PaxosCommitParams) -> None:
        self.node_id = ctx.node_id
        self.p = params
        self.acceptors = tuple(range(params.shards, params.shards + params.acceptors))
        self.store = ShardStore(ctx.node_id, ctx.rng, params.no_vote_probability)
        self.votes: dict[Txn, tuple[bool, tuple[int, ...]]] = {}  # durable (or being made durable) votes
        self.leader: dict[Txn, int] = {}  # the coordinator whose Prepare we answered last
        self.seq = 0
        self.counters: dict[str, int] = {}
        self.wal = WriteAhead()
        self._out: list[Any] = []
        self._forced = False

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    # ---------------------------------------------------------------- entry
    def step(self, now: float, inp: Any) -> list[Any]:
        self._out, self._forced = [], False
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
        elif t is Start:
            self._on_start(dict(inp.recovered))
        return self.wal.filter(self._out, self._forced)

    def _on_receive(self, sender: int, m: Any) -> None:
        if sender not in self.acceptors:
            return self._count("drop.bad_sender")
        if type(m) is Prepare:
            self._on_prepare(sender, m)
        elif type(m) is Decision:
            self._on_decision((m.client, m.ts), m.commit)
        else:
            self._count("drop.unexpected_type")

    # ---------------------------------------------------------------- voting
    def _on_prepare(self, sender: int, m: Prepare) -> None:
        txn = (m.client, m.ts)
        if self.node_id not in m.participants or any(s not in m.participants for s, _, _ in m.writes):
            return self._count("drop.malformed")
        self.leader[txn] = sender
        known = self.store.decided(txn)
        if known is not None and (txn not in self.votes or self.votes[txn][0]):
            # Outcome known (committed, or aborted after a yes vote or without a vote): tell the coordinator.
            self._out.append(Send(sender, Decision(m.client, m.ts, known)))
            return
        if txn in self.votes:  # voted already: the same ballot-0 proposal again, for this coordinator
            self._count("rm.revote")
            return self._send_2a(txn, retry=False, everyone=True)
        mine = self.store.mine(m.writes)
        yes = self.store.prepare(txn, mine)
        blob = ShardStore.prepared_record(txn, mine) if yes else b""
        self.votes[txn] = (yes, m.participants)
        self._out.append(durability.vote_record(self._next_seq(), txn, yes, m.participants, blob))
        self._forced = True
        self._out.append(Observe(Voted(self.node_id, m.client, m.ts, yes)))
        if not yes:
            self._out.append(Observe(Decided(self.node_id, m.client, m.ts, False)))
        self._send_2a(txn, retry=False)

    def _send_2a(self, txn: Txn, retry: bool, everyone: bool = False) -> None:
        yes, parts = self.votes[txn]
        leader = self.leader.get(txn, self.acceptors[0])
        to = self.acceptors
        if self.p.thrifty and not (retry or everyone):  # F+1 from the coordinator on: a majority if none is down
            first = self.acceptors.index(leader) if leader in self.acceptors else 0
            to = tuple(self.acceptors[(first + i) % len(self.acceptors)] for i in range(self.p.acceptor_faults + 1))
        self._out.append(Broadcast(to, Phase2a(txn[0], txn[1], self.node_id, 0, yes, parts, leader, retry)))
        if yes and txn in self.store.prepared:
            self._out.append(SetTimer(("rm", txn), self.p.rm_retry_s))

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq - 1

    # -------------------------------------------------------------- outcomes
    def _on_decision(self, txn: Txn, commit: bool) -> None:
        if self.store.decided(txn) is not None:
            if self.store.decided(txn) != commit:
                self._count("drop.contradicting_decision")  # never happens unless the protocol is broken
            return
        if txn in self.store.prepared:
            self.store.commit(txn) if commit else self.store.abort(txn)
            self._out.append(durability.outcome_record(self._next_seq(), txn, commit))  # not forced (see module)
            self._out.append(CancelTimer(("rm", txn)))
        elif commit:
            return self._count("drop.commit_without_prepare")  # cannot be: commit needs our durable yes vote
        else:
            self.store.abort(txn)  # aborted before we voted (our Prepare was lost or late): never vote yes now
        self._out.append(Observe(Decided(self.node_id, txn[0], txn[1], commit)))

    def _on_timer(self, name: Any) -> None:
        if type(name) is tuple and len(name) == 2 and name[0] == "rm":
            txn = name[1]
            if txn in self.store.prepared and txn in self.votes:
                self._count("rm.retries")
                self._send_2a(txn, retry=True)

    # -------------------------------------------------------------- recovery
    def _on_start(self, recovered: dict[str, bytes]) -> None:
        if not recovered:
            return
        disk = durability.load_rm(recovered)
        self.seq = disk.next_seq
        prepared = []
        for txn, yes, parts, blob in disk.votes:
            self.votes[txn] = (yes, parts)
            if yes:
                prepared.append(blob)
            else:
                self.store.aborted.add(txn)
        self.store.restore(prepared, dict(disk.outcomes))
        for txn in sorted(self.store.prepared):  # uncertain again: ask at once
            self._send_2a(txn, retry=True)
        self._out.append(Observe(Recovered(self.node_id)))
