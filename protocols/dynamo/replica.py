"""A Dynamo node: storage replica for its keys, coordinator for any client request, anti-entropy peer.

Theory of operation
-------------------
*Coordination* (§4.5). A node that receives a :class:`ClientRequest` coordinates
it. For a put (or delete) it names a new version (a clock above the client's
context and its own copy, an HLC stamp; :mod:`.versions`) and sends it to the
key's *targets*: the first N nodes of the preference list it does not suspect,
each substitute carrying as a hint the home node it stands in for (a sloppy
quorum, §4.6). It answers the client after W acknowledgements (its own store
counts when it is a target). A get asks the targets and answers after R
replies with the reconciliation of what they sent: one version, or siblings.

*Failure detection.* A node that has not answered a request within
``ack_timeout_s`` is suspected: the request goes on to the next node of the
preference list (the substitute takes the hint of the node it replaces), and
later requests skip it at once. Any message from a suspected node clears the
suspicion, as Dynamo's local, gossip-free failure detector (§4.8.3).
With ``sloppy: false`` requests go only to the N home nodes; a write or read
that cannot reach its quorum is reported to the client as failed (``ok`` False)
after the timeout and the client tries another coordinator.

*Read repair* (§5). After answering, a get waits up to ``read_repair_wait_s``
for the remaining replies, then sends the reconciled state to every replier
whose copy lacked part of it.

*Hinted handoff* (§4.6). Every ``handoff_interval_s`` a node holding hints sends
them to their owners; an owner acknowledges a batch, and the holder drops the
hints that did not change since it sent them.

*Anti-entropy* (§4.7). Every ``anti_entropy_interval_s`` a node picks a random
peer it shares keys with and sends the root and leaves of its Merkle tree over
those keys (:mod:`.store`). The peer answers with its keys in the differing
buckets and asks for the sender's; both merge what they receive.

Memory is kept across a crash (the protocol is not ``durable``), so a restart
only loses timers and in-flight requests; see the package's deviations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bftlab.api import NodeContext, Receive, Send, SetTimer, Start, TimerFired
from bftlab.core import kv

from .messages import (
    NO_HINT,
    ClientReply,
    ClientRequest,
    Handoff,
    HandoffAck,
    KeyVersions,
    MerkleDiff,
    MerkleSummary,
    Read,
    ReadReply,
    Repair,
    Replicate,
    ReplicateAck,
    Version,
)
from .params import DynamoParams
from .ring import Ring
from .store import Store
from .versions import Hlc, bump, chosen, merge_clocks, reconcile

AE_TIMER = "anti-entropy"
HANDOFF_TIMER = "handoff"


@dataclass
class Pending:
    """A request this node coordinates."""

    client: int
    ts: int
    kind: str
    key: bytes
    need: int
    targets: dict[int, int]  # node -> the home node it stands for (itself when home)
    tried: set[int]
    version: Version | None = None
    replies: dict[int, tuple[Version, ...]] = field(default_factory=dict)
    answered: bool = False


class DynamoReplica:
    """One storage node; deterministic given its context (its rng picks anti-entropy peers)."""

    def __init__(self, ctx: NodeContext) -> None:
        p = ctx.params if isinstance(ctx.params, DynamoParams) else DynamoParams()
        self.p = p
        self.node_id = ctx.node_id
        self.replicas = tuple(ctx.replicas)
        self.rng = ctx.rng
        self.ring = Ring(self.replicas, p.vnodes)
        self.store = Store(ctx.node_id, self.ring, p.replicas_per_key, p.mode == "lww", p.merkle_buckets)
        skew = int(self.rng.uniform(-p.clock_skew_ms, p.clock_skew_ms) * 1000) if p.clock_skew_ms else 0
        self.hlc = Hlc(ctx.node_id, skew)
        self.counter = 0  # the "dot" counter: every write this node coordinates gets a fresh value
        self.suspects: set[int] = set()
        self.pending: dict[int, Pending] = {}
        self.next_req = 0
        self.sessions: dict[int, tuple[int, ClientReply | None]] = {}
        self.batches: dict[int, tuple[int, dict[bytes, tuple[Version, ...]]]] = {}
        self.counters: dict[str, int] = {}
        self.repairing = p.read_repair and not p.skip_repair
        self.exchanging = p.anti_entropy and not p.skip_repair
        self.handing_off = not p.skip_repair
        self.now = 0.0
        self._out: list[Any] = []

    def count(self, name: str, k: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + k

    # ------------------------------------------------------------ dispatch
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            self.suspects.discard(inp.sender)
            try:
                self._on_message(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self.count("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Start:
            self.pending.clear()  # timers died with the crash; clients retry
            if self.exchanging:
                out.append(SetTimer(AE_TIMER, self.p.anti_entropy_interval_s * (0.5 + self.rng.random())))
            if self.handing_off:
                out.append(SetTimer(HANDOFF_TIMER, self.p.handoff_interval_s))
        return out

    def _on_message(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is ClientRequest:
            if sender != m.client and sender not in self.replicas:
                return self.count("drop.bad_sender")
            self._coordinate(m.client, m, forwarded=sender != m.client)
        elif sender not in self.replicas:
            self.count("drop.bad_sender")
        elif t is Replicate:
            self._observe_stamps(m.versions)
            self._merge(m.key, m.versions, m.hint)
            self._out.append(Send(sender, ReplicateAck(m.req, self.node_id)))
        elif t is ReplicateAck:
            self._on_ack(sender, m.req)
        elif t is Read:
            self._out.append(Send(sender, ReadReply(m.req, self.node_id, self.store.read(m.key))))
        elif t is ReadReply:
            self._on_read_reply(sender, m)
        elif t is Repair:
            self._observe_stamps(m.versions)
            if self._merge(m.key, m.versions, NO_HINT):
                self.count("read_repair.applied")
        elif t is MerkleSummary:
            self._on_summary(sender, m)
        elif t is MerkleDiff:
            self._on_diff(sender, m)
        elif t is Handoff:
            for item in m.items:
                self._observe_stamps(item.versions)
                if self._merge(item.key, item.versions, NO_HINT):
                    self.count("handoff.applied")
            self._out.append(Send(sender, HandoffAck(m.batch)))
        elif t is HandoffAck:
            self._on_handoff_ack(sender, m.batch)
        else:
            self.count("drop.unexpected_type")

    def _merge(self, key: bytes, versions: tuple[Version, ...], hint: int) -> bool:
        return self.store.merge(self.now, key, versions, hint)

    def _observe_stamps(self, versions: tuple[Version, ...]) -> None:
        for v in versions:
            self.hlc.observe(self.now, v.stamp)

    # ------------------------------------------------------------ coordination
    def _targets(self, key: bytes, exclude: set[int]) -> list[tuple[int, int]]:
        """Up to N (node, stands-for) pairs: home nodes not suspected, substitutes for the others."""
        pref = self.ring.preference(key)
        n = self.p.replicas_per_key
        home = pref[:n]
        if not self.p.sloppy:
            return [(h, h) for h in home if h not in exclude]
        down = [h for h in home if h in self.suspects or h in exclude]
        out = [(h, h) for h in home if h not in down]
        spares = [s for s in pref[n:] if s not in self.suspects and s not in exclude]
        out += list(zip(spares, down, strict=False))
        return out

    def _coordinate(self, client: int, m: ClientRequest, forwarded: bool) -> None:
        if self.p.routing == "any" and not forwarded:
            # §4.5: a node outside the key's top N forwards the request to the first healthy one of them
            try:
                key = kv.decode_op(m.op)[1]
            except ValueError:
                key = b""
            home = [h for h in self.store.home(key) if h not in self.suspects]
            if key and self.node_id not in self.store.home(key) and home:
                self.count("forwarded")
                self._out.append(Send(home[0], m))
                return
        last = self.sessions.get(client)
        if last is not None and m.ts <= last[0]:
            if m.ts == last[0] and last[1] is not None:
                self._out.append(Send(client, last[1]))
            return
        self.sessions[client] = (m.ts, None)
        try:
            kind, key, value = kv.decode_op(m.op)
        except ValueError:
            return self._answer_now(client, m.ts, kv.BAD_OP, ())
        req = self.next_req = self.next_req + 1
        if kind == "get":
            need = m.r if 0 < m.r <= self.p.replicas_per_key else self.p.r
            pend = Pending(client, m.ts, kind, key, need, {}, set())
        else:
            need = m.w if 0 < m.w <= self.p.replicas_per_key else self.p.w
            local = self.store.read(key)
            context = merge_clocks([m.context, *(v.clock for v in local)])
            self.counter = max(self.counter, dict(context).get(self.node_id, 0)) + 1
            version = Version(value, kind == "del", bump(context, self.node_id, self.counter), self.hlc.tick(self.now))
            pend = Pending(client, m.ts, kind, key, need, {}, set(), version)
        self.pending[req] = pend
        self._fan_out(req, pend, self._targets(key, set()))
        self._out.append(SetTimer(("req", req), self.p.ack_timeout_s))

    def _fan_out(self, req: int, pend: Pending, targets: list[tuple[int, int]]) -> None:
        for node, stands in targets:
            if node in pend.tried:
                continue
            pend.tried.add(node)
            pend.targets[node] = stands
            hint = NO_HINT if node == stands else stands
            if hint != NO_HINT:
                self.count("sloppy.hinted_" + ("write" if pend.version is not None else "read"))
            if node == self.node_id:  # the coordinator is one of the targets: no message to itself
                if pend.version is not None:
                    self._merge(pend.key, (pend.version,), hint)
                    self._on_ack(node, req)
                else:
                    self._on_read_reply(node, ReadReply(req, node, self.store.read(pend.key)))
            elif pend.version is not None:
                self._out.append(Send(node, Replicate(req, pend.key, (pend.version,), hint)))
            else:
                self._out.append(Send(node, Read(req, pend.key)))

    def _on_ack(self, sender: int, req: int) -> None:
        pend = self.pending.get(req)
        if pend is None or sender not in pend.targets or sender in pend.replies:
            return
        pend.replies[sender] = ()
        if not pend.answered and len(pend.replies) >= pend.need:
            assert pend.version is not None
            self._answer(pend, kv.NIL, (pend.version,))
        if len(pend.replies) == len(pend.targets) and pend.answered:
            del self.pending[req]

    def _on_read_reply(self, sender: int, m: ReadReply) -> None:
        pend = self.pending.get(m.req)
        if pend is None or sender not in pend.targets or sender in pend.replies:
            return
        self._observe_stamps(m.versions)
        pend.replies[sender] = m.versions
        if not pend.answered and len(pend.replies) >= pend.need:
            merged = reconcile([v for vs in pend.replies.values() for v in vs], self.p.mode == "lww")
            if len(merged) > 1:
                self.count("siblings.surfaced")
            top = chosen(merged)
            value = None if top is None or top.deleted else top.value
            self._answer(pend, kv.get_result(value), merged)
            self._out.append(SetTimer(("req", m.req), self.p.read_repair_wait_s))
        if pend.answered and len(pend.replies) == len(pend.targets):
            self._finish_read(m.req)

    def _answer(self, pend: Pending, result: bytes, versions: tuple[Version, ...]) -> None:
        pend.answered = True
        self._answer_now(pend.client, pend.ts, result, versions)

    def _answer_now(self, client: int, ts: int, result: bytes, versions: tuple[Version, ...], ok: bool = True) -> None:
        reply = ClientReply(client, ts, ok, result, versions, self.node_id)
        if ok:
            self.sessions[client] = (ts, reply)
        elif self.sessions.get(client, (None,))[0] == ts:
            del self.sessions[client]  # a failed attempt may be retried here
        self._out.append(Send(client, reply))

    def _finish_read(self, req: int) -> None:
        pend = self.pending.pop(req)
        if not self.repairing or not pend.replies:
            return
        merged = reconcile([v for vs in pend.replies.values() for v in vs], self.p.mode == "lww")
        for node, vs in sorted(pend.replies.items()):
            if set(vs) != set(merged):
                self.count("read_repair.sent")
                if node == self.node_id:
                    self._merge(pend.key, merged, NO_HINT)
                else:
                    self._out.append(Send(node, Repair(pend.key, merged)))

    def _on_request_timer(self, req: int) -> None:
        pend = self.pending.get(req)
        if pend is None:
            return
        if pend.answered and pend.version is None:  # the read-repair wait is over
            return self._finish_read(req)
        silent = [node for node in pend.targets if node not in pend.replies]
        self.suspects.update(s for s in silent if s != self.node_id)
        # a substitute for a silent node stands for the home node the silent one stood for
        spares = [x for x in self.ring.preference(pend.key)
                  if x not in pend.tried and x not in self.suspects] if self.p.sloppy else []
        repl = list(zip(spares, [pend.targets[s] for s in silent], strict=False))
        if repl:
            self._fan_out(req, pend, repl)
            self._out.append(SetTimer(("req", req), self.p.ack_timeout_s))
            return
        if not pend.answered:
            self.count("quorum.failed")
            # the version goes back with the failure: the client's retry names it in its context, so the retry's
            # version supersedes the copies this attempt left behind instead of standing beside them
            self._answer_now(pend.client, pend.ts, kv.NIL, () if pend.version is None else (pend.version,), ok=False)
        del self.pending[req]

    # ------------------------------------------------------------ timers
    def _on_timer(self, name: Any) -> None:
        if isinstance(name, tuple) and name[0] == "req":
            self._on_request_timer(name[1])
        elif name == AE_TIMER:
            self._start_exchange()
            self._out.append(SetTimer(AE_TIMER, self.p.anti_entropy_interval_s * (0.5 + self.rng.random())))
        elif name == HANDOFF_TIMER:
            self._hand_off()
            self._out.append(SetTimer(HANDOFF_TIMER, self.p.handoff_interval_s))

    # ------------------------------------------------------------ anti-entropy
    def _start_exchange(self) -> None:
        peers = [r for r in self.replicas if r != self.node_id]
        if not peers:
            return
        peer = self.rng.choice(peers)
        root, leaves = self.store.summary(peer)
        self.count("anti_entropy.rounds")
        self._out.append(Send(peer, MerkleSummary(root, leaves)))

    def _on_summary(self, sender: int, m: MerkleSummary) -> None:
        root, leaves = self.store.summary(sender)
        if root == m.root:
            return
        if len(m.leaves) != len(leaves):
            return self.count("drop.malformed")
        differ = tuple(i for i, (a, b) in enumerate(zip(leaves, m.leaves, strict=True)) if a != b)
        self.count("anti_entropy.differ")
        self._out.append(Send(sender, MerkleDiff(differ, self.store.items_in(sender, differ), True)))

    def _on_diff(self, sender: int, m: MerkleDiff) -> None:
        for item in m.items:
            self._observe_stamps(item.versions)
            if self.store.is_home(item.key) and sender in self.store.home(item.key):
                if self._merge(item.key, item.versions, NO_HINT):
                    self.count("anti_entropy.repaired")
        if m.reply:
            buckets = tuple(b for b in m.buckets if 0 <= b < self.p.merkle_buckets)
            self._out.append(Send(sender, MerkleDiff(buckets, self.store.items_in(sender, buckets), False)))

    # ------------------------------------------------------------ hinted handoff
    def _hand_off(self) -> None:
        for owner, table in sorted(self.store.hints.items()):
            if not table or owner in self.suspects:
                continue
            for old in [b for b, (o, _) in self.batches.items() if o == owner]:
                del self.batches[old]  # one batch in flight per owner: an unanswered one is superseded
            self.next_req += 1
            sent = dict(table)
            self.batches[self.next_req] = (owner, sent)
            self.count("handoff.sent", len(sent))
            items = tuple(KeyVersions(k, v) for k, v in sorted(sent.items()))
            self._out.append(Send(owner, Handoff(self.next_req, items)))
        for owner in [o for o, t in self.store.hints.items() if not t]:
            del self.store.hints[owner]

    def _on_handoff_ack(self, sender: int, batch: int) -> None:
        entry = self.batches.pop(batch, None)
        if entry is None or entry[0] != sender:
            return
        table = self.store.hints.get(sender, {})
        for key, versions in entry[1].items():
            if table.get(key) == versions:
                del table[key]


def make_replica(ctx: NodeContext) -> DynamoReplica:
    return DynamoReplica(ctx)
