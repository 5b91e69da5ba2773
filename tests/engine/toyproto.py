"""A tiny crash-fault 'sequencer' protocol used to test the engine on its own.

Replica 0 orders requests and broadcasts them; every replica executes in
order and replies; a client accepts f+1 matching replies. It is *not* BFT:
``LyingReplica`` (a variant) executes a different operation, which is how the
checker tests make it fail on purpose.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bftlab.api import (
    CRASH,
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
)
from bftlab.core.wire import message


@message(0x7F01)
@dataclass(frozen=True, slots=True)
class Req:
    client: int
    ts: int
    op: bytes


@message(0x7F02)
@dataclass(frozen=True, slots=True)
class Order:
    seq: int
    client: int
    ts: int
    op: bytes


@message(0x7F03)
@dataclass(frozen=True, slots=True)
class Rep:
    ts: int
    result: bytes
    replica: int


@dataclass(frozen=True)
class ToyParams:
    retry_s: float = 0.5


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


class ToyReplica:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.next_seq = 0
        self.seen: dict[tuple[int, int], int] = {}
        self.pending: dict[int, Order] = {}
        self.executed = 0
        self.done: set[tuple[int, int]] = set()
        self.counters: dict[str, int] = {}

    def result_of(self, op: bytes) -> bytes:
        return op[::-1]

    def step(self, now: float, inp):
        if type(inp) is not Receive:
            return []
        m = inp.msg
        out = []
        if type(m) is Req and self.node_id == 0:
            key = (m.client, m.ts)
            if key not in self.seen:
                self.seen[key] = self.next_seq
                out.append(Broadcast(self.ctx.replicas, Order(self.next_seq, m.client, m.ts, m.op)))
                self.next_seq += 1
        elif type(m) is Order:
            self.pending[m.seq] = m
            while self.executed in self.pending:
                o = self.pending.pop(self.executed)
                res = self.result_of(o.op)
                entries = ()
                if (o.client, o.ts) not in self.done:
                    self.done.add((o.client, o.ts))
                    entries = (ExecutedEntry(o.client, o.ts, _h(o.op), _h(res)),)
                out.append(Observe(Executed(self.node_id, o.seq, 0, entries)))
                out.append(Send(o.client, Rep(o.ts, res, self.node_id)))
                self.executed += 1
        else:
            self.counters["drop.unexpected"] = self.counters.get("drop.unexpected", 0) + 1
        return out


class LyingReplica(ToyReplica):
    def result_of(self, op: bytes) -> bytes:
        return b"lie" + op


class ToyClient:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.queue: list[bytes] = []
        self.ts = 0
        self.current: Req | None = None
        self.replies: dict[bytes, set[int]] = {}

    def step(self, now: float, inp):
        out = []
        t = type(inp)
        if t is Submit:
            self.queue.append(inp.op)
            if self.current is None:
                out += self._next()
        elif t is Receive and type(inp.msg) is Rep and self.current and inp.msg.ts == self.current.ts:
            voters = self.replies.setdefault(inp.msg.result, set())
            voters.add(inp.msg.replica)
            if len(voters) == self.ctx.f + 1:
                out.append(Observe(Accepted(self.node_id, self.current.ts, _h(inp.msg.result))))
                self.current = None
                out += self._next()
        elif t is TimerFired and self.current is not None and inp.name == ("retry", self.current.ts):
            out.append(Broadcast(self.ctx.replicas, self.current))
            out.append(SetTimer(inp.name, self.ctx.params.retry_s))
        return out

    def _next(self):
        if not self.queue:
            return []
        op = self.queue.pop(0)
        self.ts += 1
        self.current = Req(self.node_id, self.ts, op)
        self.replies = {}
        return [Observe(Issued(self.node_id, self.ts, _h(op))), Send(0, self.current),
                SetTimer(("retry", self.ts), self.ctx.params.retry_s)]


TOY = ProtocolSpec("toy", ToyParams, ToyReplica, ToyClient, (Req, Order, Rep), fault_model=CRASH)
LYING = ProtocolSpec("toy-lying", ToyParams, lambda ctx: (LyingReplica if ctx.node_id == 1 else ToyReplica)(ctx),
                     ToyClient, (Req, Order, Rep))
