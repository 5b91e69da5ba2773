"""The client of the commit protocols: one transaction at a time, retried until it commits.

Theory of operation
-------------------
The workload hands the client an operation (:class:`~bftlab.api.Submit`); the
client turns it into a transaction (:func:`~.model.make_writes`) and reports
it as one request ``(client, r)`` (:class:`~bftlab.api.Issued`). Each attempt
at it has its own id ``(client, ts)``, with ``ts`` strictly increasing and
above every id an earlier incarnation used (``NodeContext.incarnation_us``);
the first attempt's ``ts`` is ``r``.

* No outcome within ``client_retry_s``: the **same** attempt goes again, to
  the next coordinator in turn. The id is the idempotency key: a coordinator
  that knows the attempt answers with its outcome and never runs it twice.
* Aborted (a lock conflict, a no vote, a failure): a new attempt with a fresh
  id, at once; after ``max_attempts`` the client gives up.
* Committed, or given up: :class:`~bftlab.api.Accepted` for request ``r``,
  with the result ``b"commit"`` or ``b"abort"``; then the next operation.

Request latency therefore includes the retries, as a user would see it; the
atomicity oracle counts the attempts and their aborts.
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

from .messages import TxnOutcome, TxnSubmit
from .model import TxnConfig, make_writes

RETRY_TIMER = "txn-retry"
COMMIT, ABORT = b"commit", b"abort"


class TxnClient:
    """A closed-loop transaction client of ``coordinators`` (tried in turn on timeouts)."""

    __slots__ = ("node_id", "cfg", "coordinators", "counters", "ops", "request", "attempt", "attempts", "turn",
                 "last_ts", "now", "_out")

    def __init__(self, ctx: NodeContext, cfg: TxnConfig, coordinators: tuple[int, ...]) -> None:
        if not coordinators:
            raise ConfigError("a transaction client needs at least one coordinator")
        self.node_id = ctx.node_id
        self.cfg = cfg
        self.coordinators = coordinators
        self.counters: dict[str, int] = {}
        self.ops: deque[bytes] = deque()
        self.request: tuple[int, bytes] | None = None  # (r, op) of the transaction in progress
        self.attempt: TxnSubmit | None = None
        self.attempts = 0
        self.turn = 0
        self.last_ts = ctx.incarnation_us
        self.now = 0.0
        self._out: list[Any] = []

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is Submit:
            if type(inp.op) is not bytes:
                raise ConfigError(f"txn client: Submit.op must be bytes, got {type(inp.op).__name__}")
            self.ops.append(inp.op)
            if self.request is None:
                self._next()
        elif t is TimerFired:
            if inp.name == RETRY_TIMER and self.attempt is not None:
                self._count("client.resends")
                self.turn += 1
                self._send()
        elif t is Start and self.attempt is not None:  # reboot with retained memory: timers were lost
            self._send()
        return out

    def _fresh_ts(self) -> int:
        self.last_ts = max(self.last_ts + 1, int(self.now * 1_000_000))
        return self.last_ts

    def _next(self) -> None:
        if not self.ops:
            return
        op = self.ops.popleft()
        r = self._fresh_ts()
        self.request, self.attempts = (r, op), 0
        self._out.append(Observe(Issued(self.node_id, r, observed_digest(op))))
        self._begin(r)

    def _begin(self, ts: int) -> None:
        assert self.request is not None
        self.attempts += 1
        self.attempt = TxnSubmit(self.node_id, ts, make_writes(self.request[1], self.cfg.shards,
                                                               self.cfg.shards_per_txn))
        self._send()

    def _send(self) -> None:
        assert self.attempt is not None
        self._out.append(Send(self.coordinators[self.turn % len(self.coordinators)], self.attempt))
        self._out.append(SetTimer(RETRY_TIMER, self.cfg.client_retry_s))

    def _on_receive(self, sender: int, m: Any) -> None:
        if type(m) is not TxnOutcome:
            return self._count("drop.unexpected_type")
        if m.replica != sender or sender not in self.coordinators:
            return self._count("drop.bad_sender")
        a = self.attempt
        if a is None or m.client != self.node_id or m.ts != a.ts or type(m.commit) is not bool:
            return self._count("drop.stale_reply")
        assert self.request is not None
        if not m.commit and self.attempts < self.cfg.max_attempts:
            self._count("client.aborted_attempts")
            return self._begin(self._fresh_ts())
        r = self.request[0]
        self.request, self.attempt = None, None
        self._out.append(Observe(Accepted(self.node_id, r, observed_digest(COMMIT if m.commit else ABORT))))
        self._out.append(CancelTimer(RETRY_TIMER))
        self._next()
