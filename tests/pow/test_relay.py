"""The relay kernel against the message-level engine, on small networks.

Both follow the same rules; they differ by design in one place only: the
kernel does not queue a node's CPU, nor (``bandwidth_model: uplink``) its
uplink, between two *different* blocks (the events engine does). So for blocks
whose propagation does not overlap another block's, arrival times must agree
to within the per-message base CPU costs (microseconds). When blocks overlap,
CPU contention alone can only make the events engine later (``per_link``);
a shared uplink can also change which announcer a node hears first, so an
overlapping block may arrive earlier or later there, and is only checked to
reach every node.
"""

from __future__ import annotations

import numpy as np
import pytest

from bftlab.core import seeds
from bftlab.protocols.pow import relay, topology
from bftlab.protocols.pow.engine import INV_BYTES
from bftlab.protocols.pow.eventsim import EventRun
from bftlab.protocols.pow.run import resolve_params
from tests.pow.helpers import pow_spec

TOL_NS = 50_000  # 50 us: a few base CPU costs (4 us each) along a path


def _network() -> dict:
    return {"latency_model": "uniform", "latency_ms": 50, "jitter_ms": 40, "bandwidth_mbps": 10}


@pytest.mark.parametrize("bandwidth_model", ["uplink", "per_link"])
@pytest.mark.parametrize("mode", ["inv", "push"])
def test_kernel_matches_message_level_relay(mode: str, bandwidth_model: str) -> None:
    uplink = bandwidth_model == "uplink"
    params = {"engine": "events", "blocks": 25, "block_interval_s": 60.0, "tx_rate_tps": 50, "degree": 4,
              "relay": mode, "retarget_interval": 0, "bandwidth_model": bandwidth_model}
    spec = pow_spec(params, n=40, seed=5, network=_network())
    ev_run = EventRun(spec, resolve_params(spec))
    ev_run.run()
    cpu, ns_per_byte = spec.cpu, 8000 / spec.network.bandwidth_mbps
    kernel: dict[bytes, np.ndarray] = {}
    windows = []
    for f in ev_run.found:
        val = (int(cpu.base_us * 1e3) + int(f.size_bytes * cpu.per_byte_ns)
               + int(f.tx_count * (cpu.verify_us * 1e3 + cpu.hash_s(64) * 1e9)))
        arr = relay.propagate(ev_run.topo, [(f.node, f.time_ns)], kernel.get(f.parent), val,
                              int(f.size_bytes * ns_per_byte), mode == "inv",
                              int(cpu.base_us * 1e3) + int(INV_BYTES * cpu.per_byte_ns), int(INV_BYTES * ns_per_byte),
                              np.zeros(spec.n, dtype=bool), uplink)
        kernel[f.block] = arr
        windows.append((f.time_ns, int(arr.max())))
    exact = 0
    for i, f in enumerate(ev_run.found):
        arr, ev = kernel[f.block], ev_run.arrival_array(f.block)
        assert (arr < relay.INF).all() and (ev < relay.INF).all()
        if not uplink:
            assert (arr <= ev + TOL_NS).all()  # CPU contention can only delay the events engine
        lo, hi = windows[i]
        alone = all(h2 < lo or l2 > hi for j, (l2, h2) in enumerate(windows) if j != i)
        if alone:
            exact += 1
            assert np.abs(arr - ev).max() <= TOL_NS, f"block {i}"
    assert exact >= len(ev_run.found) // 2


def test_parent_constraint_orphans_wait() -> None:
    # A line 0 - 1 - 2 - 3, 10 ms links. A big parent (10 ms to send per hop) leaves node 0 at t=0; node 1
    # mines a tiny child at 25 ms, which overtakes the parent: nodes 2 and 3 hold it until the parent is there.
    spec = pow_spec({"topology": "edges", "edges": [[0, 1], [1, 2], [2, 3]], "relay": "push"}, n=4,
                    network={"latency_model": "constant", "latency_ms": 10, "bandwidth_mbps": 0})
    topo = topology.build(resolve_params(spec), 4, spec.network, seeds.rng(1, "t"), seeds.rng(1, "l"))
    ms = 1_000_000
    no_relay = np.zeros(4, dtype=bool)
    parent = relay.propagate(topo, [(0, 0)], None, 0, 10 * ms, False, 0, 0, no_relay)
    assert parent.tolist() == [0, 20 * ms, 40 * ms, 60 * ms]
    child = relay.propagate(topo, [(1, 25 * ms)], parent, 0, 0, False, 0, 0, no_relay)
    assert child.tolist() == [35 * ms, 25 * ms, 40 * ms, 60 * ms]


def _star(k: int, relay_mode: str, bandwidth_model: str, bandwidth_mbps: float) -> dict:
    """Node 0, the only miner, linked to k leaves (10 ms each way); one full block."""
    params = {"topology": "edges", "edges": [[0, v] for v in range(1, k + 1)], "relay": relay_mode,
              "bandwidth_model": bandwidth_model, "hash_shares": [1.0], "blocks": 1, "tx_rate_tps": 100,
              "max_block_size_bytes": 1_000_080, "retarget_interval": 0, "engine": "events"}
    return pow_spec(params, n=k + 1, network={"latency_model": "constant", "latency_ms": 10,
                                              "bandwidth_mbps": bandwidth_mbps})


@pytest.mark.parametrize("relay_mode", ["push", "inv"])
@pytest.mark.parametrize("bandwidth_model", ["uplink", "per_link"])
def test_a_node_serving_k_peers_shares_its_uplink(relay_mode: str, bandwidth_model: str) -> None:
    # One block of S bytes from node 0 to k = 8 peers at B = 8 Mbit/s (S/B = 1 s for a full block). With the
    # uplink shared, the peers get it one transfer after another, the last about k * S / B after the block was
    # found; with a link each, all about S / B after. Both engines, the kernel fed the events run's block.
    k, mbps = 8, 8.0
    spec = _star(k, relay_mode, bandwidth_model, mbps)
    ev_run = EventRun(spec, resolve_params(spec))
    ev_run.run()
    f = ev_run.found[0]
    assert f.node == 0 and f.size_bytes > 900_000  # mined after enough transactions to nearly fill it
    transfer_s = f.size_bytes * 8 / (mbps * 1e6)
    cpu = spec.cpu
    inv_ns = int(INV_BYTES * 8000 / mbps)
    val = (int(cpu.base_us * 1e3) + int(f.size_bytes * cpu.per_byte_ns)
           + int(f.tx_count * (cpu.verify_us * 1e3 + cpu.hash_s(64) * 1e9)))
    kernel = relay.propagate(ev_run.topo, [(0, f.time_ns)], None, val, int(f.size_bytes * 8000 / mbps),
                             relay_mode == "inv", int(cpu.base_us * 1e3) + int(INV_BYTES * cpu.per_byte_ns), inv_ns,
                             np.zeros(k + 1, dtype=bool), bandwidth_model == "uplink")
    for arr in (ev_run.arrival_array(f.block), kernel):
        delays = np.sort(arr[1:] - f.time_ns) / 1e9
        fixed = delays[0] - transfer_s  # latency (and the inv/getdata round trip) plus validation
        assert 0.01 <= fixed < 0.2, delays
        if bandwidth_model == "uplink":
            assert delays[-1] - fixed == pytest.approx(k * transfer_s, rel=0.01), delays  # 8 s, not 1 s
            assert np.diff(delays) == pytest.approx([transfer_s] * (k - 1), rel=0.01)  # one transfer apart
        else:
            assert delays[-1] - fixed == pytest.approx(transfer_s, rel=0.01), delays
