"""The message-level engine: honest :class:`~bftlab.protocols.pow.miner.Miner` nodes on the simulator.

Every inv, getdata and block is a simulator event on :class:`bftlab.sim.runtime.SimRuntime`,
with the link model of :mod:`bftlab.protocols.pow.topology` as its router (per-link
latency; bandwidth on the modelled block size, shared by a node's messages
with ``bandwidth_model: uplink``, per link with ``per_link``) and the spec's
CPU costs. It is slower than the fast engine and serves as its reference: both
follow the same relay rules (``tests/pow/test_relay.py`` compares them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bftlab.api import NodeContext, Submit
from bftlab.core import seeds
from bftlab.core.kernel import NS, PRIO_CONTROL, Kernel
from bftlab.protocols.pow import relay, topology
from bftlab.protocols.pow.chain import Chain, TxStream, hash_shares
from bftlab.protocols.pow.engine import INV_BYTES, Outcome, record_propagation
from bftlab.protocols.pow.miner import STOP, BlockFound, BlockMsg, BlockReady, Miner
from bftlab.sim.network import Network
from bftlab.sim.runtime import SimRuntime
from bftlab.specs.registry import load_crypto


class EventRun:
    """Miners wired on a kernel; ``run`` returns an :class:`Outcome` like the fast engine's."""

    def __init__(self, spec: Any, params: Any, topo: Any = None) -> None:
        n = spec.n
        self.n = n
        self.params = params
        self.shares = hash_shares(params, n)
        self.topo = topo or topology.build(params, n, spec.network, seeds.rng(spec.seed, "pow/topology"),
                                           seeds.rng(spec.seed, "network/latency"))
        self.kernel = Kernel()
        net = Network(n, lambda s, d: 0.0, seeds.rng(spec.seed, "network/loss"))
        self.runtime = SimRuntime(self.kernel, net, spec.cpu, self._observe)
        lat = self.topo.edge_latency_ns()
        bw = spec.network.bandwidth_mbps
        ns_per_byte = 8_000.0 / bw if bw > 0 else 0.0

        uplink = params.bandwidth_model == "uplink"
        free = [0] * n  # uplink: when each node's last queued message has left

        def route(src: int, dst: int, msg: Any, data: bytes, t: int) -> list[int]:
            size = msg.size_bytes if type(msg) is BlockMsg else INV_BYTES
            if not uplink:
                return [t + int(size * ns_per_byte) + lat[(src, dst)]]
            start = t if t > free[src] else free[src]  # first come, first served on the sender's uplink
            free[src] = start + int(size * ns_per_byte)
            return [free[src] + lat[(src, dst)]]

        self.runtime.router = route
        self.txs = TxStream(seeds.np_rng(spec.seed, "pow/txs"), params.tx_rate_tps)
        cryptos = load_crypto(spec.crypto)(list(range(n)), seeds.derive(spec.seed, "keys"), spec.cpu)
        self.miners: list[Miner] = []
        for v in range(n):
            ctx = NodeContext(v, n, 0, tuple(range(n)), (), cryptos[v], seeds.rng(spec.seed, f"node/{v}"), params)
            m = Miner(ctx, params, float(self.shares[v]), tuple(int(x) for x in self.topo.neighbours(v)), self.txs,
                      spec.cpu)
            self.miners.append(m)
            self.runtime.add_node(m, meter=cryptos[v].meter)
        self.found: list[BlockFound] = []
        self.ready: dict[bytes, dict[int, int]] = {}

    def _observe(self, t: int, ev: Any) -> None:
        if type(ev) is BlockReady:
            self.ready.setdefault(ev.block, {})[ev.node] = t  # when the step (validation included) finished
        elif type(ev) is BlockFound:
            self.found.append(ev)
            if len(self.found) == self.params.blocks:
                for v in range(self.n):
                    self.kernel.schedule(t, self._stop, v, PRIO_CONTROL)

    def _stop(self, v: int) -> None:
        self.runtime.inject(v, Submit(STOP))

    def run(self) -> Outcome:
        self.runtime.start_all()
        limit = int(self.params.max_time_s * NS) if self.params.max_time_s else None
        self.kernel.run(until_ns=limit)
        return self._outcome()

    def _outcome(self) -> Outcome:
        p = self.params
        chain = Chain(p.initial_interval_factor)
        ids = {chain.hash[0]: 0}
        out = Outcome(chain, self.txs, self.kernel.now, self.shares)
        for f in self.found:
            b = chain.add(ids[f.parent], f.node, f.time_ns, f.difficulty, f.tx_start, f.tx_count, f.size_bytes,
                          f.nonce, False, p.retarget_interval)
            assert chain.hash[b] == f.block, "block ids differ between the miner and the chain record"
            ids[f.block] = b
            chain.published_ns[b] = f.time_ns
            arr = np.full(self.n, relay.INF, dtype=np.int64)
            for v, t in self.ready.get(f.block, {}).items():
                arr[v] = t
            record_propagation(out, arr, f.time_ns)
        rt = self.runtime
        out.msgs = {k.replace("Msg", ""): v for k, v in rt.msgs_by_type.items()}
        out.bytes_total = rt.bytes_total
        out.digest = rt.trace_digest()
        out.candidates = self.kernel.events
        return out

    def arrival_array(self, block: bytes) -> np.ndarray:
        arr = np.full(self.n, relay.INF, dtype=np.int64)
        for v, t in self.ready.get(block, {}).items():
            arr[v] = t
        return arr


def run_events(spec: Any, params: Any) -> Outcome:
    return EventRun(spec, params).run()
