"""The fast PoW engine: mining events and attackers event by event, honest relay by kernel.

Mining. Miner ``i`` finds blocks at rate ``s_i / (block_interval_s * D)``
where ``D`` is the difficulty of the block it would mine next. All miners
together form one Poisson process; it is sampled by thinning, exactly: draw
candidate times at the bound rate ``1 / (block_interval_s * D_min)`` (``D_min``
the smallest next-difficulty of any block so far), pick the miner by hash
share, and keep the candidate with probability ``D_min / D``. Draws come from
the run's ``pow/mining`` stream.

Views. In realistic mode node ``v``'s tip at time ``t`` is, among the blocks
ready at ``v`` by ``t``, the one with the most cumulative work, ties to the
earliest ready (first seen), then the lower id. Arrival arrays come from
:func:`bftlab.protocols.pow.relay.propagate`; a block's array is kept while it is
still in flight and folded into per-node tip arrays once every node has it.
In idealised mode every published block is everywhere at once; in a tie of
an honest and an attacker block an honest miner picks the attacker's with
probability ``gamma`` (Eyal & Sirer's model).

An attacker (:class:`~bftlab.protocols.pow.strategies.Attacker`, from the spec's
``adversary`` section) gives the engine a miner strategy that reacts to events:
its own blocks and the moment a public block reaches its node.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
from dataclasses import dataclass, field

import numpy as np

from bftlab.core.kernel import NS
from bftlab.protocols.pow import relay
from bftlab.protocols.pow.chain import Chain, TxStream, block_content
from bftlab.protocols.pow.strategies import Attacker

_SEEN, _SETTLE, _MINE = 0, 1, 2  # order of simultaneous events: arrivals before mining
INV_BYTES = 40
"""Modelled size of an inv or getdata message (type, count, 32-byte hash)."""


@dataclass
class Outcome:
    """What a run produced, for the metrics."""

    chain: Chain
    txs: TxStream
    end_ns: int
    shares: np.ndarray
    prop50_s: list[float] = field(default_factory=list)
    prop90_s: list[float] = field(default_factory=list)
    msgs: dict[str, int] = field(default_factory=dict)
    bytes_total: int = 0
    attack: dict = field(default_factory=dict)
    digest: str = ""
    candidates: int = 0


class Engine:
    """One fast run; build, then :meth:`run`."""

    def __init__(self, params, n: int, shares: np.ndarray, topo, cpu, bandwidth_mbps: float,
                 mining_rng: random.Random, tx_rng: np.random.Generator, attacker: Attacker | None = None) -> None:
        self.p = params
        self.n = n
        self.shares = shares
        self.topo = topo
        self.ideal = params.mode == "idealised"
        self.chain = Chain(params.initial_interval_factor)
        self.txs = TxStream(tx_rng, params.tx_rate_tps)
        self.rng = mining_rng
        self.miners = [i for i in range(n) if shares[i] > 0]
        self.cum = list(np.cumsum([shares[i] for i in self.miners]))
        self.d_min = params.initial_interval_factor
        self.heap: list[tuple[int, int, int, int]] = []
        self.seq = 0
        self.digest = hashlib.blake2b(digest_size=32)
        self.out = Outcome(self.chain, self.txs, 0, shares)
        self.ns_per_byte = 8_000.0 / bandwidth_mbps if bandwidth_mbps > 0 else 0.0
        self.base_ns = int(cpu.base_us * 1e3)
        self.cpu = cpu
        self.ctrl_ns = self.base_ns + int(INV_BYTES * cpu.per_byte_ns)
        self.inv_ns = int(INV_BYTES * self.ns_per_byte)
        self.attacker = attacker
        self.gamma = attacker.gamma if attacker is not None else 0.0
        self.strategy = None
        if attacker is not None:
            self.strategy = attacker.miner_strategy(self.chain, float(shares[attacker.node]))
        self.att = attacker.node if attacker is not None and self.strategy is not None else -1  # -1: none
        # realistic-mode views
        self.pending: list[tuple[int, np.ndarray]] = []
        self.arrays: dict[int, np.ndarray] = {}  # in-flight blocks' ready times
        self.tip_id = np.zeros(n, dtype=np.int64)
        self.tip_cw = np.zeros(n)
        self.tip_t = np.zeros(n, dtype=np.int64)
        self.no_relay = np.zeros(n, dtype=np.bool_)
        if self.att >= 0:
            self.no_relay[self.att] = True  # an attacker does not help competing blocks along
        self.degree = np.diff(topo.indptr) if topo is not None else None
        # idealised-mode view: published blocks of maximal work, in publication order
        self.best: list[int] = [0]

    # ------------------------------------------------------------ events
    def _at(self, t: int, kind: int, arg: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, arg))

    def _next_candidate(self, now: int) -> None:
        rate = 1.0 / (self.p.block_interval_s * self.d_min)
        self._at(now + int(self.rng.expovariate(rate) * NS), _MINE, 0)

    def run(self) -> Outcome:
        p = self.p
        limit = int(p.max_time_s * NS) if p.max_time_s else 1 << 62
        mining = bool(self.miners)
        if mining:
            self._next_candidate(0)
        now = 0
        while self.heap:
            t, kind, _, arg = heapq.heappop(self.heap)
            if kind == _MINE:
                if not mining:
                    continue
                if t > limit:
                    mining = False
                    continue
                now = t
                self._mine(t)
                if len(self.chain) - 1 >= p.blocks:
                    mining = False
                else:
                    self._next_candidate(t)
            else:
                now = max(now, t)
                if kind == _SEEN:
                    assert self.strategy is not None  # _SEEN events exist only for a withholding miner
                    self._publish(self.strategy.on_public_block(arg, t), t)
                else:
                    self._settle(arg, t)
        self.out.end_ns = now
        self.out.digest = self.digest.hexdigest()
        if self.strategy is not None:
            self.out.attack = self.strategy.summary()
        return self.out

    # ------------------------------------------------------------ mining
    def _mine(self, t: int) -> None:
        self.out.candidates += 1
        i = bisect.bisect_right(self.cum, self.rng.random() * self.cum[-1])
        v = self.miners[min(i, len(self.miners) - 1)]
        ch = self.chain
        if v == self.att:
            assert self.strategy is not None  # self.att is -1 without one
            parent = self.strategy.mining_parent()
        elif self.ideal:
            parent = self._ideal_tip()
        else:
            parent = self._tip_of(v, t)
        d = ch.next_difficulty(parent, self.p.retarget_interval, self.p.block_interval_s)
        if d > self.d_min and self.rng.random() * d >= self.d_min:
            return  # thinning: this miner's true rate is lower than the bound
        start, count, size = block_content(ch, parent, t, self.txs, self.p)
        b = ch.add(parent, v, t, d, start, count, size, self.rng.getrandbits(32), v == self.att,
                   self.p.retarget_interval)
        nd = ch.next_difficulty(b, self.p.retarget_interval, self.p.block_interval_s)
        self.d_min = min(self.d_min, nd)
        if v == self.att:
            assert self.strategy is not None
            self._publish(self.strategy.on_own_block(b, t), t)
        else:
            self._publish([b], t, source=v)

    def _ideal_tip(self) -> int:
        best = self.best
        if len(best) > 1 and self.gamma > 0:
            ours = [b for b in best if self.chain.by_attacker[b]]
            if ours and self.rng.random() < self.gamma:
                return ours[0]
        return best[0]

    def _tip_of(self, v: int, t: int) -> int:
        b, cw, tt = int(self.tip_id[v]), float(self.tip_cw[v]), int(self.tip_t[v])
        cum = self.chain.cumwork
        for pb, arr in self.pending:
            a = int(arr[v])
            if a <= t:
                c = cum[pb]
                if c > cw or (c == cw and (a < tt or (a == tt and pb < b))):
                    b, cw, tt = pb, c, a
        return b

    # ------------------------------------------------------------ relay
    def _publish(self, blocks: list[int], t: int, source: int = -1) -> None:
        ch = self.chain
        for b in blocks:
            ch.published_ns[b] = t
            self.digest.update(ch.hash[b])
            self.digest.update(t.to_bytes(8, "little"))
            if self.ideal:
                self._ideal_publish(b)
                continue
            src = source if source >= 0 else self.att
            arr = self._propagate(b, src, t)
            self.digest.update(arr.tobytes())
            self.arrays[b] = arr
            self.pending.append((b, arr))
            finite = arr[arr < relay.INF]
            self._at(int(finite.max()), _SETTLE, b)
            if self.att >= 0 and src != self.att and arr[self.att] < relay.INF:
                self._at(int(arr[self.att]), _SEEN, b)
            if src != self.att:
                self._record_propagation(arr, t)
        if self.ideal and self.strategy is not None and source >= 0:
            for b in blocks:
                self._publish(self.strategy.on_public_block(b, t), t)

    def _ideal_publish(self, b: int) -> None:
        cw = self.chain.cumwork
        top = cw[self.best[0]]
        if cw[b] > top:
            self.best = [b]
        elif cw[b] == top:
            self.best.append(b)

    def _propagate(self, b: int, src: int, t: int) -> np.ndarray:
        ch, cpu = self.chain, self.cpu
        count, size = ch.tx_count[b], ch.size[b]
        val = self.base_ns + int(size * cpu.per_byte_ns) + int(count * (cpu.verify_us * 1e3 + cpu.hash_s(64) * NS))
        arr = relay.propagate(self.topo, [(src, t)], self.arrays.get(ch.parent[b]), val,
                              int(size * self.ns_per_byte), self.p.relay == "inv", self.ctrl_ns, self.inv_ns,
                              self.no_relay, self.p.bandwidth_model == "uplink")
        reached = arr < relay.INF
        k = int(reached.sum())
        assert self.degree is not None  # realistic mode: the topology's degrees
        deg = int(self.degree[reached].sum())
        m = self.out.msgs
        if self.p.relay == "inv":
            m["Inv"] = m.get("Inv", 0) + deg - (k - 1)
            m["GetData"] = m.get("GetData", 0) + k - 1
            self.out.bytes_total += (deg - (k - 1) + k - 1) * INV_BYTES
        else:
            m["Block"] = m.get("Block", 0) + deg - (k - 1)
            self.out.bytes_total += (deg - (k - 1)) * size
        if self.p.relay == "inv":
            m["Block"] = m.get("Block", 0) + k - 1
            self.out.bytes_total += (k - 1) * size
        return arr

    def _record_propagation(self, arr: np.ndarray, t: int) -> None:
        record_propagation(self.out, arr, t)

    def _settle(self, b: int, t: int) -> None:
        """Every node that will get ``b`` has it: fold it into the per-node tips."""
        arr = self.arrays.pop(b)
        self.pending = [(pb, a) for pb, a in self.pending if pb != b]
        c = self.chain.cumwork[b]
        better = (arr < relay.INF) & ((c > self.tip_cw) | ((c == self.tip_cw) & (
            (arr < self.tip_t) | ((arr == self.tip_t) & (b < self.tip_id)))))
        self.tip_id[better] = b
        self.tip_cw[better] = c
        self.tip_t[better] = arr[better]


def record_propagation(out: Outcome, arr: np.ndarray, t: int) -> None:
    """Append the times (s) a block published at ``t`` took to be ready at 50% and 90% of nodes."""
    n = arr.shape[0]
    if n < 2:
        return
    rel = arr - t
    k50, k90 = max(0, -(-n // 2) - 1), max(0, -(-9 * n // 10) - 1)
    part = np.partition(rel, [k50, k90])
    for k, dst in ((k50, out.prop50_s), (k90, out.prop90_s)):
        dst.append(float(part[k]) / NS if part[k] < relay.INF - t else float("inf"))
