"""The gossip replica: a sans-IO node that serves clients locally and spreads updates epidemically.

Theory of operation
-------------------
A client's put or delete is applied at once to the local
:class:`~bftlab.protocols.gossip.store.Store` with a fresh hybrid-logical-clock
timestamp and answered immediately; a get reads the local store. Nothing is
agreed on: replicas converge because every update eventually reaches every
replica and last-writer-wins merging is order-independent (eventual
consistency, Demers et al. 1987, section 0).

Updates spread two ways (``GossipParams.mode``):

* **Rumor mongering** (section 1.4, push). A new update (written locally or
  first learned from a rumor) is *hot*. Every ``rumor_period_s`` a replica with
  hot rumors pushes all of them to one peer chosen uniformly at random. With
  ``feedback`` the peer answers which rumors it already knew, and only those
  contacts count as unnecessary; blind replicas count every contact. With a
  ``counter`` a rumor cools after ``k`` counted contacts, with a coin it cools
  with probability ``1/k`` at each. A superseding write to the same key
  replaces the hot rumor.
* **Anti-entropy** (section 1.3). Every ``anti_entropy_period_s`` (first at a
  random phase, so replicas do not move in lock step) a replica picks a random
  peer and sends its store's Merkle root. If the roots differ the peer answers
  with its keys and timestamps; the initiator then sends the entries that are
  newer at its side (push) and names the keys that are newer at the peer's
  (pull), which the peer sends back. ``push``/``pull``/``push-pull`` choose the
  directions. Anti-entropy repairs whatever rumors missed, so ``mode: both`` is
  the paper's "rumor mongering backed by anti-entropy".

A replica never fails on a peer's message: anything malformed is counted and
dropped. Crashes keep memory (``ProtocolSpec.durable`` is off: Demers et al.
assume a database on stable storage); on a reboot the replica re-arms its
timers. Death certificates live forever unless ``death_certificate_ttl_s`` is
set; then ``dormant_retention`` replicas per key keep them dormant and
reactivate them when an obsolete value shows up (section 2.2). A reactivated
certificate becomes a hot rumor again (when rumors are on) and is in the
store, so anti-entropy spreads it too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bftlab.api import NodeContext, Receive, Send, SetTimer, Start, TimerFired
from bftlab.core import kv

from .messages import Digest, Entries, GossipReply, GossipRequest, Rumor, RumorFeedback, Summary
from .params import GossipParams
from .store import Store, Ts

AE_TIMER = "anti-entropy"
RUMOR_TIMER = "rumor"


class GossipReplica:
    """One replica; ``store`` is its data, ``hot`` its infective rumors (key -> [timestamp, contacts counted])."""

    __slots__ = ("node_id", "params", "rng", "peers", "n", "store", "hot", "counters", "rumor_armed", "_out",
                 "_now_us")

    def __init__(self, ctx: NodeContext, params: GossipParams) -> None:
        self.node_id = ctx.node_id
        self.params = params
        self.rng = ctx.rng
        self.peers = tuple(r for r in ctx.replicas if r != ctx.node_id)
        self.n = len(ctx.replicas)
        self.store = Store(ctx.node_id, int(params.death_certificate_ttl_s * 1_000_000), self._retains)
        self.hot: dict[bytes, list[Any]] = {}
        self.counters: dict[str, int] = {}
        self.rumor_armed = False
        self._out: list[Any] = []
        self._now_us = 0

    def _count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    @property
    def _rumors(self) -> bool:
        return self.params.mode != "anti-entropy"

    @property
    def _anti_entropy(self) -> bool:
        return self.params.mode != "rumor"

    # ------------------------------------------------------------ entry point
    def step(self, now: float, inp: Any) -> list[Any]:
        self._now_us = int(now * 1_000_000)
        out = self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is TimerFired:
            if inp.name == AE_TIMER:
                self._anti_entropy_round()
            elif inp.name == RUMOR_TIMER:
                self._rumor_round()
        elif t is Start:
            # first boot or a reboot (memory kept): timers did not survive the crash
            self.rumor_armed = False
            if self._anti_entropy and self.peers:
                out.append(SetTimer(AE_TIMER, self.rng.uniform(0.0, self.params.anti_entropy_period_s)))
            self._arm_rumors()
        return out

    def _peer(self) -> int:
        return self.peers[self.rng.randrange(len(self.peers))]

    # ------------------------------------------------------------ clients
    def _on_request(self, sender: int, m: GossipRequest) -> None:
        if sender != m.client or type(m.op) is not bytes:
            return self._count("drop.bad_request")
        try:
            kind, key, value = kv.decode_op(m.op)
        except ValueError:
            result = kv.BAD_OP
        else:
            if kind == "get":
                result = kv.get_result(self.store.read(key))
            else:
                ts = self.store.write(key, value if kind == "put" else None, self._now_us)
                self._count("writes")
                self._make_hot(key, ts)
                result = kv.NIL
        self._out.append(Send(sender, GossipReply(m.client, m.ts, result, self.node_id)))
        return None

    # ------------------------------------------------------------ rumor mongering
    def _make_hot(self, key: bytes, ts: Ts) -> None:
        if self._rumors and self.peers:
            self.hot[key] = [ts, 0]
            self._arm_rumors()

    def _arm_rumors(self) -> None:
        if self.hot and not self.rumor_armed:
            self.rumor_armed = True
            self._out.append(SetTimer(RUMOR_TIMER, self.params.rumor_period_s))

    def _rumor_round(self) -> None:
        self.rumor_armed = False
        for key in [k for k in self.hot if k not in self.store.data]:  # an expired death certificate
            del self.hot[key]
        if not self.hot:
            return
        entries = tuple(self.store.entry(k) for k in sorted(self.hot))
        self._out.append(Send(self._peer(), Rumor(entries)))
        self._count("rumor.sent")
        if not self.params.feedback:  # blind: every contact counts
            for key in list(self.hot):
                self._lose_interest(key)
        self._arm_rumors()

    def _lose_interest(self, key: bytes) -> None:
        p = self.params
        if p.counter:
            rec = self.hot[key]
            rec[1] += 1
            if rec[1] >= p.k:
                del self.hot[key]
        elif self.rng.random() < 1.0 / p.k:
            del self.hot[key]

    def _on_rumor(self, sender: int, m: Rumor) -> None:
        known: list[tuple[bytes, Ts]] = []
        for key, value, ts, act in m.entries:  # field types checked by the wire decoder
            if self.store.merge(key, value, ts, self._now_us, act):
                self._count("rumor.new")
                self._make_hot(key, ts)
            else:
                known.append((key, ts))
        self._wake()
        if self.params.feedback and known:
            self._out.append(Send(sender, RumorFeedback(tuple(known))))

    def _on_feedback(self, m: RumorFeedback) -> None:
        for key, ts in m.known:
            rec = self.hot.get(key)
            if rec is not None and rec[0] == tuple(ts):
                self._lose_interest(key)

    # ------------------------------------------------------------ anti-entropy
    def _anti_entropy_round(self) -> None:
        p = self.params
        self._out.append(SetTimer(AE_TIMER, p.anti_entropy_period_s))
        if p.death_certificate_ttl_s > 0:
            self._count("death_certificates.expired",
                        self.store.expire(self._now_us, int(p.dormant_ttl_s * 1_000_000)))
        self._out.append(Send(self._peer(), Digest(self.store.root(), p.anti_entropy)))
        self._count("ae.started")

    def _retains(self, key: bytes) -> bool:
        """Whether this replica is one of the key's ``dormant_retention`` retention replicas (by the key's hash)."""
        r = self.params.dormant_retention
        if r <= 0:
            return False
        first = int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % self.n
        return (self.node_id - first) % self.n < r

    def _wake(self) -> None:
        """Spread the certificates that merges have just reactivated."""
        woken, self.store.reactivated = self.store.reactivated, []
        for key in woken:
            self._count("death_certificates.reactivated")
            self._make_hot(key, self.store.ts_of(key))

    def _on_digest(self, sender: int, m: Digest) -> None:
        if m.root == self.store.root():
            return self._count("ae.in_sync")
        self._out.append(Send(sender, Summary(self.store.summary(), m.style)))
        return None

    def _on_summary(self, sender: int, m: Summary) -> None:
        theirs = {key: tuple(ts) for key, ts in m.pairs}
        store = self.store
        push = m.style in ("push", "push-pull")
        pull = m.style in ("pull", "push-pull")
        mine = tuple(store.entry(k) for k in sorted(store.data) if push and store.ts_of(k) > theirs.get(k, (0, 0, -1)))
        want = tuple(k for k in sorted(theirs) if pull and theirs[k] > store.ts_of(k))
        if mine or want:
            self._out.append(Send(sender, Entries(mine, want)))

    def _on_entries(self, sender: int, m: Entries) -> None:
        for key, value, ts, act in m.entries:  # field types checked by the wire decoder
            if self.store.merge(key, value, ts, self._now_us, act):
                self._count("ae.new")
        self._wake()
        back = tuple(self.store.entry(k) for k in m.want if k in self.store.data)
        if back:
            self._out.append(Send(sender, Entries(back, ())))

    # ------------------------------------------------------------ dispatch
    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is GossipRequest:
            return self._on_request(sender, m)
        if sender not in self.peers:
            return self._count("drop.not_a_peer")
        if t is Rumor:
            return self._on_rumor(sender, m)
        if t is RumorFeedback:
            return self._on_feedback(m)
        if t is Digest:
            return self._on_digest(sender, m)
        if t is Summary:
            return self._on_summary(sender, m)
        if t is Entries:
            return self._on_entries(sender, m)
        return self._count("drop.unexpected_type")

    def final_state(self) -> dict[str, Any]:
        return self.store.final_state()

