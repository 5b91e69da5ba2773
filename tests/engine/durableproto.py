"""A tiny durable protocol for the storage seam: one counter replica that persists each increment.

Clients send ``Incr``; replica 0 (the only one that counts) bumps its counter,
persists it with ``Persist``, asks for a ``Sync`` and acknowledges only once
``Synced`` arrives: "a node that votes before persisting is a bug". The
variant ``EagerCounter`` acknowledges at once (the planted bug): under
``storage.faults: lose-unsynced`` a crash right after its ack loses an
acknowledged increment.

Besides the usual ``Issued``/``Accepted``, the replica observes two test-only
events, so a checker can judge durability from the history alone:
``Acked(node, count)`` when it acknowledges, ``Recovered(node, count)`` when it
boots from what it persisted. :func:`lost_acks` is that checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import (
    CRASH,
    Accepted,
    Issued,
    NodeContext,
    Observe,
    Persist,
    ProtocolSpec,
    Receive,
    Send,
    SetTimer,
    Start,
    Submit,
    Sync,
    Synced,
    TimerFired,
    observed_digest,
)
from bftlab.core.wire import message


@message(0x7C01)
@dataclass(frozen=True, slots=True)
class Incr:
    client: int
    ts: int


@message(0x7C02)
@dataclass(frozen=True, slots=True)
class Ack:
    ts: int
    count: int


@dataclass(frozen=True, slots=True)
class Acked:
    node: int
    count: int


@dataclass(frozen=True, slots=True)
class Recovered:
    node: int
    count: int


@dataclass(frozen=True)
class CounterParams:
    retry_s: float = 0.05


class Counter:
    """Replica 0 counts; the others only boot (they make n >= 2f+1 possible for crash tests)."""

    eager = False

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id
        self.count = 0
        self.last: dict[int, tuple[int, int]] = {}  # client -> (ts, count it got), durable or not
        self.syncing: set[tuple[int, int]] = set()  # (client, ts) whose ack waits for Synced
        self.boots = 0

    def step(self, now: float, inp: Any) -> list:
        if isinstance(inp, Start):
            self.boots += 1
            self.count = int.from_bytes(inp.recovered.get("count", b""), "big")
            self.last = {int(k[7:]): _pair(v) for k, v in sorted(inp.recovered.items()) if k.startswith("client/")}
            # Every boot reports what it came back with (a first boot, or a reboot that recovered nothing: 0).
            return [Observe(Recovered(self.node_id, self.count))] if self.node_id == 0 else []
        if isinstance(inp, Receive) and isinstance(inp.msg, Incr) and self.node_id == 0:
            return self._incr(inp.msg)
        if isinstance(inp, Synced):
            client, ts, count = inp.token
            self.syncing.discard((client, ts))
            return self._ack(client, ts, count)
        return []

    def _incr(self, m: Incr) -> list:
        done = self.last.get(m.client)
        if done is not None and m.ts <= done[0]:  # a retry: answer it again once it is durable
            durable = m.ts == done[0] and (m.client, m.ts) not in self.syncing
            return [Send(m.client, Ack(done[0], done[1]))] if durable else []
        self.count += 1
        self.last[m.client] = (m.ts, self.count)
        writes = [Persist("count", self.count.to_bytes(8, "big")),
                  Persist(f"client/{m.client}", _unpair(m.ts, self.count))]
        if self.eager:  # the planted bug: acknowledge before the write is durable
            return [*writes, Sync(None), *self._ack(m.client, m.ts, self.count)]
        self.syncing.add((m.client, m.ts))
        return [*writes, Sync((m.client, m.ts, self.count))]

    def _ack(self, client: int, ts: int, count: int) -> list:
        return [Observe(Acked(self.node_id, count)), Send(client, Ack(ts, count))]


class EagerCounter(Counter):
    eager = True

    def step(self, now: float, inp: Any) -> list:
        if isinstance(inp, Synced) and inp.token is None:
            return []
        return super().step(now, inp)


class CounterClient:
    """Closed loop: one Incr outstanding, retried until acknowledged."""

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id
        self.retry_s = ctx.params.retry_s
        self.ts = 0
        self.waiting = False

    def step(self, now: float, inp: Any) -> list:
        if isinstance(inp, Submit):
            self.ts += 1
            self.waiting = True
            return [Observe(Issued(self.node_id, self.ts, observed_digest(inp.op))), *self._send()]
        if isinstance(inp, TimerFired) and self.waiting:
            return self._send()
        if isinstance(inp, Receive) and isinstance(inp.msg, Ack) and self.waiting and inp.msg.ts == self.ts:
            self.waiting = False
            return [Observe(Accepted(self.node_id, self.ts, observed_digest(inp.msg.count.to_bytes(8, "big"))))]
        return []

    def _send(self) -> list:
        return [Send(0, Incr(self.node_id, self.ts)), SetTimer("retry", self.retry_s)]


def _pair(v: bytes) -> tuple[int, int]:
    return int.from_bytes(v[:8], "big"), int.from_bytes(v[8:], "big")


def _unpair(ts: int, count: int) -> bytes:
    return ts.to_bytes(8, "big") + count.to_bytes(8, "big")


def lost_acks(history: list[tuple[int, Any]]) -> list[tuple[int, int, int]]:
    """``(time_ns, acknowledged count, recovered count)`` for each reboot that forgot an acknowledged increment."""
    acked: dict[int, int] = {}
    lost = []
    for t, ev in history:
        if type(ev) is Acked:
            acked[ev.node] = max(acked.get(ev.node, 0), ev.count)
        elif type(ev) is Recovered and ev.count < acked.get(ev.node, 0):
            lost.append((t, acked[ev.node], ev.count))
    return lost


COUNTER = ProtocolSpec("durable-counter", CounterParams, Counter, CounterClient, (Incr, Ack),
                       fault_model=CRASH, oracles=(), durable=True)
EAGER = ProtocolSpec("durable-counter-eager", CounterParams, EagerCounter, CounterClient, (Incr, Ack),
                     fault_model=CRASH, oracles=(), durable=True)
