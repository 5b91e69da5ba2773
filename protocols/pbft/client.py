"""PBFT client (TOCS'02 §4.1).

Theory of operation
-------------------
The client keeps one request outstanding; further operations handed to it by
the workload (:class:`~bftlab.api.Submit`) wait in a FIFO queue. A request
<REQUEST, o, t, c> carries a timestamp ``t`` that is strictly increasing per
client (derived from the clock so it keeps increasing across restarts) and an
authenticator for all replicas (or a signature in "sig" mode). It goes to the
primary of the view the client believes current. If no result arrives within
``client_retry_timeout_s`` the client multicasts the same request to all
replicas, again on every expiry. It accepts a result once ``f+1`` distinct
replicas sent matching REPLYs (same timestamp and result): at least one of
them is correct. It learns the current view from replies (the ``f+1``-th
highest view among the matching ones, which a correct replica vouches for).
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

from . import quorum
from .auth import Auth
from .messages import Reply, Request, reply_body, request_body
from .params import PbftParams

RETRY_TIMER = "retry"


class PbftClient:
    __slots__ = (
        "node_id", "n", "f", "replicas", "replica_set", "crypto", "params", "auth", "counters", "q_reply",
        "view", "ops", "outstanding", "replies", "last_ts", "now", "_out",
    )  # fmt: skip

    def __init__(self, ctx: NodeContext) -> None:
        params = ctx.params if ctx.params is not None else PbftParams()
        if not isinstance(params, PbftParams):
            raise ConfigError(f"pbft: params must be PbftParams, got {type(params).__name__}")
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.f = ctx.f
        self.replicas = tuple(ctx.replicas)
        self.replica_set = frozenset(self.replicas)
        self.crypto = ctx.crypto
        self.params = params
        self.auth = Auth(ctx.crypto, params.auth, self.replicas)
        self.counters: dict[str, int] = {}
        self.q_reply = self.reply_quorum()
        self.view = 0
        self.ops: deque[bytes] = deque()
        self.outstanding: Request | None = None
        self.replies: dict[int, Reply] = {}
        self.last_ts = ctx.incarnation_us  # above every timestamp an earlier run of this client used
        self.now = 0.0
        self._out: list[Any] = []

    def reply_quorum(self) -> int:
        return quorum.reply_quorum(self.f)

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
                raise ConfigError(f"pbft client: Submit.op must be bytes, got {type(inp.op).__name__}")
            self.ops.append(inp.op)
            if self.outstanding is None:
                self._send_next()
        elif t is TimerFired:
            if inp.name == RETRY_TIMER and self.outstanding is not None:
                out.append(Broadcast(self.replicas, self.outstanding))
                out.append(SetTimer(RETRY_TIMER, self.params.client_retry_timeout_s))
        elif t is Start:
            if self.outstanding is not None:  # reboot: timers were lost
                out.append(Broadcast(self.replicas, self.outstanding))
                out.append(SetTimer(RETRY_TIMER, self.params.client_retry_timeout_s))
        return out

    def _send_next(self) -> None:
        if not self.ops:
            return
        op = self.ops.popleft()
        ts = max(self.last_ts + 1, int(self.now * 1_000_000))
        self.last_ts = ts
        me = self.node_id
        req = Request(op, ts, me, self.auth.seal(request_body(op, ts, me)))
        self.outstanding = req
        self.replies = {}
        self._out.append(Observe(Issued(me, ts, observed_digest(op))))
        self._out.append(Send(self.replicas[self.view % self.n], req))
        self._out.append(SetTimer(RETRY_TIMER, self.params.client_retry_timeout_s))

    def _on_receive(self, sender: int, m: Any) -> None:
        if type(m) is not Reply:
            return self._drop("drop.unexpected_type")
        req = self.outstanding
        if req is None or m.ts != req.ts or m.client != self.node_id:
            return self._drop("drop.stale_reply")
        if m.replica != sender or sender not in self.replica_set:
            return self._drop("drop.bad_sender")
        if type(m.view) is not int or type(m.result) is not bytes or type(m.auth) is not tuple:
            return self._drop("drop.malformed")
        if not self.auth.check(sender, reply_body(m.view, m.ts, m.client, sender, m.result), m.auth, (self.node_id,)):
            return self._drop("drop.bad_auth")
        self.replies[sender] = m
        matching = [r for r in self.replies.values() if r.result == m.result]
        if len(matching) < self.q_reply:
            return
        views = sorted((r.view for r in matching), reverse=True)
        self.view = max(self.view, views[self.q_reply - 1])
        self.outstanding = None
        self.replies = {}
        self._out.append(Observe(Accepted(self.node_id, req.ts, observed_digest(m.result))))
        self._out.append(CancelTimer(RETRY_TIMER))
        self._send_next()


def make_client(ctx: NodeContext) -> PbftClient:
    return PbftClient(ctx)
