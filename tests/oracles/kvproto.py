"""A small sequencer over the shared key-value service, and a variant with a planted stale-read bug.

Replica 0 orders every request; each replica executes orders in sequence with
:func:`bftlab.core.kv.apply` and replies; a client accepts f+1 matching replies.

``EARLY_ACK`` plants a classic bug: the leader acknowledges a put as soon as it
receives it and orders writes in batches a few milliseconds later, while reads
are ordered at once. A read that starts after a put was acknowledged can then
be ordered before it and return the old value. Every replica still executes the
same log, with the same results the clients accept (agreement and client
consistency hold while the writes catch up), but the history clients saw is not
linearizable.
"""

from __future__ import annotations

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
    observed_digest,
)
from bftlab.core import kv
from bftlab.core.wire import message


@message(0x7F11)
@dataclass(frozen=True, slots=True)
class KReq:
    client: int
    ts: int
    op: bytes


@message(0x7F12)
@dataclass(frozen=True, slots=True)
class KOrder:
    seq: int
    client: int
    ts: int
    op: bytes


@message(0x7F13)
@dataclass(frozen=True, slots=True)
class KRep:
    ts: int
    result: bytes
    replica: int
    final: bool


@dataclass(frozen=True)
class KvParams:
    retry_s: float = 0.5
    write_batch_s: float = 0.02
    """EARLY_ACK only: how long the leader holds acknowledged writes before ordering them."""


class KvReplica:
    early_ack = False

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.data: dict[bytes, bytes] = {}
        self.next_seq = 0
        self.ordered: set[tuple[int, int]] = set()
        self.held: list[KReq] = []
        self.log: dict[int, KOrder] = {}
        self.executed = 0

    def step(self, now: float, inp):
        out: list = []
        if type(inp) is TimerFired and inp.name == "flush":
            for req in self.held:
                out += self._order(req)
            self.held = []
            return out
        if type(inp) is not Receive:
            return out
        m = inp.msg
        if type(m) is KReq and self.node_id == 0 and (m.client, m.ts) not in self.ordered:
            if self.early_ack and kv.decode_op(m.op)[0] == "put":
                if all(r.ts != m.ts or r.client != m.client for r in self.held):
                    self.held.append(m)
                    out.append(Send(m.client, KRep(m.ts, kv.NIL, self.node_id, True)))  # acknowledged, not ordered
                    if len(self.held) == 1:
                        out.append(SetTimer("flush", self.ctx.params.write_batch_s))
                return out
            out += self._order(m)
        elif type(m) is KOrder:
            self.log[m.seq] = m
            while self.executed in self.log:
                o = self.log.pop(self.executed)
                result = kv.apply(self.data, o.op)
                entry = ExecutedEntry(o.client, o.ts, observed_digest(o.op), observed_digest(result))
                out.append(Observe(Executed(self.node_id, o.seq, 0, (entry,))))
                out.append(Send(o.client, KRep(o.ts, result, self.node_id, False)))
                self.executed += 1
        return out

    def _order(self, m: KReq) -> list:
        self.ordered.add((m.client, m.ts))
        order = KOrder(self.next_seq, m.client, m.ts, m.op)
        self.next_seq += 1
        return [Broadcast(self.ctx.replicas, order)]


class EarlyAckReplica(KvReplica):
    early_ack = True


class KvClient:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.node_id = ctx.node_id
        self.queue: list[bytes] = []
        self.ts = 0
        self.current: KReq | None = None
        self.votes: dict[bytes, set[int]] = {}

    def step(self, now: float, inp):
        out: list = []
        t = type(inp)
        if t is Submit:
            self.queue.append(inp.op)
            if self.current is None:
                out += self._next()
        elif t is Receive and type(inp.msg) is KRep and self.current is not None and inp.msg.ts == self.current.ts:
            rep = inp.msg
            voters = self.votes.setdefault(rep.result, set())
            voters.add(rep.replica)
            if rep.final or len(voters) == self.ctx.f + 1:
                out.append(Observe(Accepted(self.node_id, rep.ts, observed_digest(rep.result))))
                self.current = None
                out += self._next()
        elif t is TimerFired and self.current is not None and inp.name == ("retry", self.current.ts):
            out += [Send(0, self.current), SetTimer(inp.name, self.ctx.params.retry_s)]
        return out

    def _next(self) -> list:
        if not self.queue:
            return []
        op = self.queue.pop(0)
        self.ts += 1
        self.current = KReq(self.node_id, self.ts, op)
        self.votes = {}
        return [Observe(Issued(self.node_id, self.ts, observed_digest(op))), Send(0, self.current),
                SetTimer(("retry", self.ts), self.ctx.params.retry_s)]


_TYPES = (KReq, KOrder, KRep)
KV = ProtocolSpec("kv-sequencer", KvParams, KvReplica, KvClient, _TYPES, fault_model=CRASH,
                  oracles=("smr", "linearizability"))
def _early_ack_node(ctx: NodeContext) -> KvReplica:
    return (EarlyAckReplica if ctx.node_id == 0 else KvReplica)(ctx)


EARLY_ACK = ProtocolSpec("kv-early-ack", KvParams, _early_ack_node, KvClient, _TYPES, fault_model=CRASH,
                         oracles=("smr", "linearizability"))
