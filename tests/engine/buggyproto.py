"""Echo ordering: a small leader-based Byzantine replication protocol for fuzzer tests, with a planted bug.

Theory of operation (n = 3f+1 replicas, replica 0 the fixed leader, no view change):

- a client broadcasts REQ(client, ts, op) to every replica; a replica keeps a
  request only from the client it names (the link says who sent it);
- the leader gives each new request digest the next sequence number and
  broadcasts ORDER(seq, op_digest);
- a replica accepts the first ORDER for a seq from the leader and broadcasts
  VOTE(seq, op_digest); later ORDERs for that seq are dropped;
- a (seq, digest) with 2f+1 votes from distinct replicas is decided; slots are
  executed in order once the request with that digest is known, a request
  already executed in an earlier slot becoming a null entry;
- a client accepts a result that f+1 distinct replicas replied, and re-broadcasts
  its request until it does; the leader answers a repeated request by
  re-sending its ORDER, a replica answers a repeated ORDER by re-sending its
  VOTE and a repeated request it executed by re-sending the REPLY, so lost
  messages are made good once the network heals.

Two quorums of 2f+1 share a correct replica, which votes once per seq, so two
correct replicas never decide different digests for one seq: a Byzantine
leader that equivocates only stalls the slot (there is no view change, so
liveness needs a correct leader). Requests come from their clients, so a
leader cannot make correct replicas execute an operation nobody issued.

The planted bug (:data:`BUGGY`, :class:`SlotCountingReplica`): votes are
counted per seq without checking that their digest matches, and a replica
executes the ORDER it holds. A leader that sends one ORDER to some followers
and a conflicting one (same seq, another digest) to the others then gets both
executed at that seq: an agreement violation. It takes a mutated or
equivocated message to show; a leader that only omits, delays or replays its
messages, a partition, or a crash does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.api import (
    Accepted,
    Broadcast,
    Executed,
    ExecutedEntry,
    Issued,
    NodeContext,
    Observe,
    ProtocolSpec,
    Receive,
    Send,
    SetTimer,
    Submit,
    TimerFired,
    observed_digest,
)
from bftlab.core import wire
from bftlab.core.wire import message

LEADER = 0


@message(0x7D01)
@dataclass(frozen=True, slots=True)
class Req:
    client: int
    ts: int
    op: bytes


@message(0x7D02)
@dataclass(frozen=True, slots=True)
class Order:
    seq: int
    op_digest: bytes


@message(0x7D03)
@dataclass(frozen=True, slots=True)
class Vote:
    seq: int
    op_digest: bytes


@message(0x7D04)
@dataclass(frozen=True, slots=True)
class Reply:
    ts: int
    result: bytes


@dataclass(frozen=True)
class EchoParams:
    retry_s: float = 1.0
    """A client re-broadcasts its request after this long without f+1 replies."""


def result_of(op: bytes) -> bytes:
    return b"ok:" + op


class EchoReplica:
    """A correct replica (see the module docstring)."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.quorum = 2 * ctx.f + 1
        self.requests: dict[bytes, Req] = {}
        self.orders: dict[int, bytes] = {}
        self.votes: dict[tuple[int, bytes], set[int]] = {}
        self.decided: dict[int, bytes] = {}
        self.next_exec = 0
        self.done: set[tuple[int, int]] = set()
        self.replied: dict[tuple[int, int], Reply] = {}
        self.next_seq = 0  # leader only
        self.seq_of: dict[bytes, int] = {}  # leader only: the seq it gave each request digest
        self.counters: dict[str, int] = {}

    def _drop(self, reason: str) -> list:
        self.counters[reason] = self.counters.get(reason, 0) + 1
        return []

    def step(self, now: float, inp):
        if type(inp) is not Receive:
            return []
        m, sender = inp.msg, inp.sender
        t = type(m)
        if t is Req:
            return self._on_request(sender, m)
        if t is Order:
            return self._on_order(sender, m)
        if t is Vote:
            return self._on_vote(sender, m) if sender in self.ctx.replicas else self._drop("drop.vote_not_replica")
        return self._drop("drop.unexpected")

    def _on_request(self, sender: int, m: Req) -> list:
        if sender != m.client or sender not in self.ctx.clients:
            return self._drop("drop.request_not_from_client")
        d = self.ctx.crypto.digest(wire.encode(m))
        self.requests[d] = m
        out: list = []
        reply = self.replied.get((m.client, m.ts))
        if reply is not None:
            out.append(Send(m.client, reply))
        if self.node_id == LEADER:
            seq = self.seq_of.get(d)
            if seq is None:
                seq = self.seq_of[d] = self.next_seq
                self.next_seq += 1
            out.append(Broadcast(self.ctx.replicas, Order(seq, d)))
        return out + self._advance()

    def _on_order(self, sender: int, m: Order) -> list:
        if sender != LEADER:
            return self._drop("drop.order_not_from_leader")
        held = self.orders.get(m.seq)
        if held == m.op_digest:  # a repeat: our vote may have been lost
            return [Broadcast(self.ctx.replicas, Vote(m.seq, m.op_digest))]
        if held is not None or m.seq < 0:
            return self._drop("drop.second_order")
        self.orders[m.seq] = m.op_digest
        return [Broadcast(self.ctx.replicas, Vote(m.seq, m.op_digest))] + self._advance()

    def _on_vote(self, sender: int, m: Vote) -> list:
        voters = self.votes.setdefault(self._slot(m), set())
        voters.add(sender)
        if len(voters) >= self.quorum and m.seq not in self.decided:
            self.decided[m.seq] = m.op_digest
        return self._advance()

    def _slot(self, m: Vote) -> tuple[int, bytes]:
        """Votes count towards one (seq, digest): a quorum is a quorum for one value."""
        return (m.seq, m.op_digest)

    def _decision(self, seq: int) -> bytes | None:
        return self.decided.get(seq)

    def _advance(self) -> list:
        out: list = []
        while True:
            d = self._decision(self.next_exec)
            req = self.requests.get(d) if d is not None else None
            if req is None:
                return out
            key = (req.client, req.ts)
            entries: tuple[ExecutedEntry, ...] = ()
            if key not in self.done:
                self.done.add(key)
                res = result_of(req.op)
                entries = (ExecutedEntry(req.client, req.ts, observed_digest(req.op), observed_digest(res)),)
                reply = self.replied[key] = Reply(req.ts, res)
                out.append(Send(req.client, reply))
            out.append(Observe(Executed(self.node_id, self.next_exec, 0, entries)))
            self.next_exec += 1


class SlotCountingReplica(EchoReplica):
    """The planted bug: any 2f+1 votes for a seq decide it, whatever digest each vote carries,
    and the replica executes the ORDER it holds for that seq."""

    def _slot(self, m: Vote) -> tuple[int, bytes]:
        return (m.seq, b"")

    def _decision(self, seq: int) -> bytes | None:
        return self.orders.get(seq) if seq in self.decided else None


class EchoClient:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.queue: list[bytes] = []
        self.ts = 0
        self.current: Req | None = None
        self.replies: dict[bytes, set[int]] = {}

    def step(self, now: float, inp):
        t = type(inp)
        if t is Submit:
            self.queue.append(inp.op)
            return self._next() if self.current is None else []
        cur = self.current
        if cur is None:
            return []
        if t is Receive and type(inp.msg) is Reply and inp.msg.ts == cur.ts and inp.sender in self.ctx.replicas:
            voters = self.replies.setdefault(inp.msg.result, set())
            voters.add(inp.sender)
            if len(voters) == self.ctx.f + 1:
                self.current = None
                return [Observe(Accepted(self.node_id, cur.ts, observed_digest(inp.msg.result)))] + self._next()
        elif t is TimerFired and inp.name == ("retry", cur.ts):
            return [Broadcast(self.ctx.replicas, cur), SetTimer(inp.name, self.ctx.params.retry_s)]
        return []

    def _next(self) -> list:
        if not self.queue:
            return []
        op = self.queue.pop(0)
        self.ts += 1
        self.current = Req(self.node_id, self.ts, op)
        self.replies = {}
        return [Observe(Issued(self.node_id, self.ts, observed_digest(op))), Broadcast(self.ctx.replicas, self.current),
                SetTimer(("retry", self.ts), self.ctx.params.retry_s)]


MESSAGES = (Req, Order, Vote, Reply)
CORRECT = ProtocolSpec("echo", EchoParams, EchoReplica, EchoClient, MESSAGES,
                       description="echo ordering (fixed leader, 2f+1 matching votes)")
BUGGY = ProtocolSpec("echo-slot-counting", EchoParams, SlotCountingReplica, EchoClient, MESSAGES,
                     description="echo ordering that counts votes per seq, not per (seq, digest) (broken on purpose)")
PROTOCOL = BUGGY
