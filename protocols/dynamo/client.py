"""Dynamo's client: one request outstanding, a coordinator chosen by routing, contexts kept per key.

Theory of operation
-------------------
The structure is the crash-fault client's (:mod:`bftlab.protocols.cft.client`):
a FIFO of the workload's operations, one outstanding request named
``(client, ts)`` with ``ts`` above every earlier incarnation's, retries with
the same ``ts``. What differs is where a request goes. The client computes the
ring itself (a partition-aware client library, §4.5) and asks, by ``routing``:
the key's first replica (``preference``), a random node (``any``), or the first
node outside the key's preference list (``proxy``, a coordinator that stores
nothing). A timeout or a failed quorum (``ok`` False) sends the same request
to the next node of the key's preference list; a node that timed out is
skipped for ``client_suspect_s`` (unless every node would be), so a client cut
off from part of the ring stops waiting on it.

The client remembers, per key, the clocks of the last versions it saw (from a
get's siblings or a put's new version): the *context* its next put carries,
so a write after a read supersedes every sibling the read returned (semantic
reconciliation, §4.4). With ``read_delay_ms`` it waits that long after each
completed write before its next operation (the probe lag of the PBS experiment).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

import msgpack

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
from bftlab.core import kv
from bftlab.errors import ConfigError

from .messages import ClientReply, ClientRequest, Clock
from .params import DynamoParams
from .ring import Ring
from .versions import merge_clocks

QUORUM_TAG = "dynamo/quorum"
RETRY_TIMER = "retry"


def quorum_op(op: bytes, r: int = 0, w: int = 0) -> bytes:
    """``op`` with its own read/write quorum (0: the params' R or W), for ``Submit``.

    The history oracles decode only plain :mod:`bftlab.core.kv` operations, so
    they cannot pair requests submitted this way (they count them as unpaired).
    """
    return msgpack.packb([QUORUM_TAG, r, w, op], use_bin_type=True)


def _unwrap(op: bytes) -> tuple[bytes, int, int]:
    """(operation, r, w) of a :func:`quorum_op`, or ``(op, 0, 0)`` for a plain operation."""
    try:
        items = msgpack.unpackb(op, raw=False)
    except Exception:
        return op, 0, 0
    if (isinstance(items, list) and len(items) == 4 and items[0] == QUORUM_TAG and type(items[1]) is int
            and type(items[2]) is int and isinstance(items[3], bytes)):
        return items[3], max(0, items[1]), max(0, items[2])
    return op, 0, 0
THINK_TIMER = "think"


class DynamoClient:
    """A closed-loop client of the store."""

    def __init__(self, ctx: NodeContext) -> None:
        p = ctx.params if isinstance(ctx.params, DynamoParams) else DynamoParams()
        self.p = p
        self.node_id = ctx.node_id
        self.replicas = tuple(ctx.replicas)
        self.rng = ctx.rng
        self.ring = Ring(self.replicas, p.vnodes)
        self.ops: deque[bytes] = deque()
        self.outstanding: ClientRequest | None = None
        self.key = b""
        self.kind = ""
        self.attempt = 0
        self.thinking = False
        self.last_ts = ctx.incarnation_us
        self.contexts: dict[bytes, Clock] = {}
        self.asked = -1
        self.avoid_until: dict[int, float] = {}  # coordinators that timed out, until when they are avoided
        self.counters: dict[str, int] = {}
        self.now = 0.0
        self._out: list[Any] = []

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self.count("drop.exception")
        elif t is Submit:
            if type(inp.op) is not bytes:
                raise ConfigError(f"client: Submit.op must be bytes, got {type(inp.op).__name__}")
            self.ops.append(inp.op)
            if self.outstanding is None and not self.thinking:
                self._send_next()
        elif t is TimerFired:
            if inp.name == RETRY_TIMER and self.outstanding is not None:
                self.count("client.retries")
                if self.p.client_suspect_s > 0:
                    self.avoid_until[self.asked] = self.now + self.p.client_suspect_s
                self.attempt += 1
                self._send()
            elif inp.name == THINK_TIMER:
                self.thinking = False
                self._send_next()
        elif t is Start:
            self.thinking = False
            if self.outstanding is not None:
                self._send()
            else:
                self._send_next()
        return out

    def coordinator(self, key: bytes, attempt: int) -> int:
        """The node asked on the ``attempt``-th try for ``key`` (0 = first)."""
        pref = self.ring.preference(key)
        n = self.p.replicas_per_key
        if self.p.routing == "proxy":
            order = pref[n:] + pref[:n]
        elif self.p.routing == "any" and attempt == 0:
            return self.rng.choice([r for r in self.replicas if not self._avoided(r)] or self.replicas)
        else:
            order = pref
        for i in range(len(order)):
            if not self._avoided(node := order[(attempt + i) % len(order)]):
                return node
        return order[attempt % len(order)]

    def _avoided(self, node: int) -> bool:
        return self.avoid_until.get(node, -1.0) > self.now

    def _send_next(self) -> None:
        if not self.ops:
            return
        submitted = self.ops.popleft()
        op, r, w = _unwrap(submitted)
        try:
            self.kind, self.key, _ = kv.decode_op(op)
        except ValueError:
            self.kind, self.key = "bad", b""
        ts = max(self.last_ts + 1, int(self.now * 1_000_000))
        self.last_ts = ts
        context = self.contexts.get(self.key, ()) if self.kind in ("put", "del") else ()
        self.outstanding = ClientRequest(self.node_id, ts, op, r, w, context)
        self.attempt = 0
        self._out.append(Observe(Issued(self.node_id, ts, observed_digest(submitted))))
        self._send()

    def _send(self) -> None:
        assert self.outstanding is not None
        self.asked = self.coordinator(self.key, self.attempt)
        self._out.append(Send(self.asked, self.outstanding))
        self._out.append(SetTimer(RETRY_TIMER, self.p.client_timeout_s))

    def _on_receive(self, sender: int, m: Any) -> None:
        if type(m) is not ClientReply:
            return self.count("drop.unexpected_type")
        req = self.outstanding
        if req is None or m.ts != req.ts or m.client != self.node_id:
            return self.count("drop.stale_reply")
        if m.replica != sender or sender not in self.replicas or type(m.result) is not bytes:
            return self.count("drop.bad_sender")
        if not m.ok:
            if m.versions and self.kind in ("put", "del"):
                context = merge_clocks([req.context, *(v.clock for v in m.versions)])
                self.outstanding = dataclasses.replace(req, context=context)
            self.attempt += 1
            return self._send()
        self.avoid_until.pop(sender, None)
        if len(m.versions) > 1:
            self.count("client.siblings_seen")
        if m.versions:
            self.contexts[self.key] = merge_clocks(v.clock for v in m.versions)
        self.outstanding = None
        self._out.append(Observe(Accepted(self.node_id, req.ts, observed_digest(m.result))))
        self._out.append(CancelTimer(RETRY_TIMER))
        if self.kind in ("put", "del") and self.p.read_delay_ms > 0:
            self.thinking = True
            self._out.append(SetTimer(THINK_TIMER, self.p.read_delay_ms / 1000.0))
        else:
            self._send_next()


def make_client(ctx: NodeContext) -> DynamoClient:
    return DynamoClient(ctx)
