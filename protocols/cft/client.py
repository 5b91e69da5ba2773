"""The client of the crash-fault protocols.

Theory of operation
-------------------
One request is outstanding; the workload's further operations wait in a FIFO
queue. A request carries ``(client, ts)`` with ``ts`` strictly increasing per
client and above every timestamp an earlier incarnation used (it starts from
``NodeContext.incarnation_us``), so replicas never mistake a new request for an
old one after the client restarts.

The request goes to the replica the client believes leads (replica 0 at
first). A :class:`~.messages.Redirect` naming another leader sends it there at
once (at most 2n times per request, so stale hints cannot bounce it forever);
a timeout (``retry_s``) sends it to every replica. Retries reuse the same
``ts``: with the session table of :mod:`.machine` a command committed twice
executes once. Replicas fail only by crashing, so the first
:class:`~.messages.ClientReply` for the outstanding ``ts`` is the result.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from bftlab.api import (
    Accepted,
    Broadcast,
    CancelTimer,
    Issued,
    NodeContext,
    Observe,
    Receive,
    Send,
    SetTimer,
    Start,
    Submit,
    TimerFired,
    observed_digest,
)
from bftlab.errors import ConfigError

from .messages import ClientReply, ClientRequest, Redirect

RETRY_TIMER = "retry"


class CftClient:
    """A closed-loop client; ``retry_s`` is the protocol's client retry timeout."""

    __slots__ = ("node_id", "replicas", "retry_s", "counters", "leader", "ops", "outstanding", "last_ts", "now",
                 "hops", "_out")

    def __init__(self, ctx: NodeContext, retry_s: float) -> None:
        if not retry_s > 0:
            raise ConfigError(f"client retry timeout must be > 0, got {retry_s!r}")
        self.node_id = ctx.node_id
        self.replicas = tuple(ctx.replicas)
        self.retry_s = retry_s
        self.counters: dict[str, int] = {}
        self.leader = self.replicas[0]
        self.ops: deque[bytes] = deque()
        self.outstanding: ClientRequest | None = None
        self.last_ts = ctx.incarnation_us
        self.now = 0.0
        self.hops = 0  # redirects followed for the outstanding request: stale hints must not ping-pong forever
        self._out: list[Any] = []

    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._drop("drop.exception")
        elif t is Submit:
            if type(inp.op) is not bytes:
                raise ConfigError(f"client: Submit.op must be bytes, got {type(inp.op).__name__}")
            self.ops.append(inp.op)
            if self.outstanding is None:
                self._send_next()
        elif t is TimerFired:
            if inp.name == RETRY_TIMER and self.outstanding is not None:
                self.counters["client.retries"] = self.counters.get("client.retries", 0) + 1
                out.append(Broadcast(self.replicas, self.outstanding))
                out.append(SetTimer(RETRY_TIMER, self.retry_s))
        elif t is Start and self.outstanding is not None:  # reboot with retained memory: timers were lost
            out.append(Broadcast(self.replicas, self.outstanding))
            out.append(SetTimer(RETRY_TIMER, self.retry_s))
        return out

    def _send_next(self) -> None:
        if not self.ops:
            return
        op = self.ops.popleft()
        ts = max(self.last_ts + 1, int(self.now * 1_000_000))
        self.last_ts = ts
        req = ClientRequest(self.node_id, ts, op)
        self.outstanding = req
        self.hops = 0
        self._out.append(Observe(Issued(self.node_id, ts, observed_digest(op))))
        self._out.append(Send(self.leader, req))
        self._out.append(SetTimer(RETRY_TIMER, self.retry_s))

    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is not ClientReply and t is not Redirect:
            return self._drop("drop.unexpected_type")
        req = self.outstanding
        if req is None or m.ts != req.ts or m.client != self.node_id:
            return self._drop("drop.stale_reply")
        if m.replica != sender or sender not in self.replicas:
            return self._drop("drop.bad_sender")
        if t is Redirect:
            if m.leader in self.replicas and m.leader != self.leader and self.hops < 2 * len(self.replicas):
                self.hops += 1
                self.leader = m.leader
                self._out.append(Send(m.leader, req))
            return None
        if type(m.result) is not bytes:
            return self._drop("drop.malformed")
        if m.leader in self.replicas:
            self.leader = m.leader
        self.outstanding = None
        self._out.append(Observe(Accepted(self.node_id, req.ts, observed_digest(m.result))))
        self._out.append(CancelTimer(RETRY_TIMER))
        self._send_next()
