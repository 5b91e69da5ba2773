"""The gossip client: one outstanding request, answered by whichever replica it asks.

Theory of operation
-------------------
Structured like the crash-fault client (:mod:`bftlab.protocols.cft.client`)
but leader-less: a client sends each request to its *home* replica (client
``i`` uses replica ``i mod n``, as clients attach to a nearby site) and the
replica answers at once from its local store. When no answer arrives within
``client_retry_s`` (the replica crashed, or a message was lost) the client asks
the next replica in id order and makes it its home. A retried write may be
applied at two replicas with two timestamps; both carry the same value (or are
both deletes), so last-writer-wins leaves the same result.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from bftlab.api import (
    Accepted,
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

from .messages import GossipReply, GossipRequest

RETRY_TIMER = "retry"


class GossipClient:
    """A closed-loop client of the gossip store."""

    __slots__ = ("node_id", "replicas", "retry_s", "home", "ops", "outstanding", "last_ts", "now", "counters", "_out")

    def __init__(self, ctx: NodeContext, retry_s: float) -> None:
        if not retry_s > 0:
            raise ConfigError(f"client retry timeout must be > 0, got {retry_s!r}")
        self.node_id = ctx.node_id
        self.replicas = tuple(ctx.replicas)
        self.retry_s = retry_s
        self.home = (ctx.node_id - len(self.replicas)) % len(self.replicas)  # an index into replicas
        self.ops: deque[bytes] = deque()
        self.outstanding: GossipRequest | None = None
        self.last_ts = ctx.incarnation_us
        self.now = 0.0
        self.counters: dict[str, int] = {}
        self._out: list[Any] = []

    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            m = inp.msg
            req = self.outstanding
            if type(m) is GossipReply and req is not None and m.ts == req.ts and m.client == self.node_id \
                    and m.replica == inp.sender and type(m.result) is bytes:
                self.outstanding = None
                out.append(Observe(Accepted(self.node_id, req.ts, observed_digest(m.result))))
                out.append(CancelTimer(RETRY_TIMER))
                self._send_next()
            else:
                self.counters["drop.stale_reply"] = self.counters.get("drop.stale_reply", 0) + 1
        elif t is Submit:
            if type(inp.op) is not bytes:
                raise ConfigError(f"client: Submit.op must be bytes, got {type(inp.op).__name__}")
            self.ops.append(inp.op)
            if self.outstanding is None:
                self._send_next()
        elif t is TimerFired:
            if inp.name == RETRY_TIMER and self.outstanding is not None:
                self.counters["client.retries"] = self.counters.get("client.retries", 0) + 1
                self.home = (self.home + 1) % len(self.replicas)
                self._resend()
        elif t is Start and self.outstanding is not None:  # reboot with retained memory: timers were lost
            self._resend()
        return out

    def _resend(self) -> None:
        assert self.outstanding is not None
        self._out.append(Send(self.replicas[self.home], self.outstanding))
        self._out.append(SetTimer(RETRY_TIMER, self.retry_s))

    def _send_next(self) -> None:
        if not self.ops:
            return
        op = self.ops.popleft()
        ts = max(self.last_ts + 1, int(self.now * 1_000_000))
        self.last_ts = ts
        self.outstanding = GossipRequest(self.node_id, ts, op)
        self._out.append(Observe(Issued(self.node_id, ts, observed_digest(op))))
        self._resend()
