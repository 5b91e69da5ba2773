"""Simulation speed and memory: simulated protocol messages delivered per wall second.

For each n, runs the protocol's quickstart-like spec (closed loop, batching on)
and reports delivered messages per wall-clock second (median of repeats); the
engine's own ceiling at n = 16, or the largest n (nodes that do nothing but
answer each message with one message, over the same network and cost model);
and, in a fresh subprocess per size, the peak resident memory of a long run
against a run four times shorter (memory should be set by the checkpoint
window, not by run length).

    python -m benchmarks.bench_sim [--protocol pbft] [--sizes 4,16,64] [--requests 2000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from benchmarks.common import write
from bftlab.api import Broadcast, Receive, Send, Start
from bftlab.core.costs import CpuCosts
from bftlab.core.kernel import Kernel
from bftlab.core.seeds import rng
from bftlab.core.wire import message
from bftlab.sim import runner
from bftlab.sim.network import Network, latency_sampler
from bftlab.sim.runtime import SimRuntime
from bftlab.specs.spec import spec_from_dict

HOPS = 400  # each of the n(n-1) opening pings bounces this many times


@message(0x7FF0)
@dataclass(frozen=True, slots=True)
class Ping:
    hops: int
    digest: bytes


class _Echo:
    """Answers each Ping with one Ping back until the hops run out: the engine's cost, no protocol's."""

    def __init__(self, node_id: int, peers: tuple[int, ...]) -> None:
        self.node_id = node_id
        self.peers = peers

    def step(self, now: float, inp: object) -> list:
        if type(inp) is Receive:
            m = inp.msg
            return [Send(inp.sender, Ping(m.hops - 1, m.digest))] if m.hops > 1 else []
        if type(inp) is Start:
            return [Broadcast(self.peers, Ping(HOPS, bytes(32)))]
        return []


def engine_ceiling(n: int, repeats: int) -> dict:
    """Delivered messages per wall second when nodes do no work beyond answering each message."""
    rates, delivered = [], 0
    for _ in range(repeats):
        kernel = Kernel()
        net = Network(n, latency_sampler("constant", rng(1, "net"), 5.0), rng(1, "loss"), bandwidth_mbps=1000.0)
        rt = SimRuntime(kernel, net, CpuCosts(), lambda t, e: None)
        ids = tuple(range(n))
        for i in ids:
            rt.add_node(_Echo(i, tuple(j for j in ids if j != i)))
        rt.start_all()
        t0 = time.perf_counter()
        kernel.run()
        wall = time.perf_counter() - t0
        delivered = rt.delivered
        rates.append(delivered / wall)
    return {"n": n, "messages_delivered": delivered, "messages_per_s_median": round(statistics.median(rates))}


def make_spec(protocol: str, n: int, requests: int, clients: int) -> object:
    return spec_from_dict({
        "name": f"bench-n{n}",
        "seed": 1,
        "protocol": {"name": protocol},
        "n": n,
        "network": {"latency_ms": 5.0},
        "workload": {"clients": clients, "requests": requests},
        "stop": {"time_limit_s": 600.0},
    })


def speed(protocol: str, n: int, requests: int, clients: int, repeats: int) -> dict:
    rates, walls, delivered = [], [], 0
    for _ in range(repeats):
        spec = make_spec(protocol, n, requests, clients)
        t0 = time.perf_counter()
        rep = runner.run(spec)
        wall = time.perf_counter() - t0
        delivered = rep["run"]["messages_delivered"]
        rates.append(delivered / wall)
        walls.append(wall)
        if not (rep["safety"]["ok"] and rep["liveness"]["ok"]):
            raise SystemExit(f"n={n}: the benchmark run itself was unsafe or incomplete")
    return {"n": n, "requests": requests, "messages_delivered": delivered,
            "wall_s_median": round(statistics.median(walls), 3),
            "messages_per_s_median": round(statistics.median(rates))}


def peak_rss_mb(protocol: str, n: int, requests: int, clients: int) -> float:
    """Peak RSS of one run in a fresh interpreter (MiB)."""
    code = (
        "import resource, sys\n"
        "from benchmarks.bench_sim import make_spec\n"
        "from bftlab.sim import runner\n"
        f"rep = runner.run(make_spec({protocol!r}, {n}, {requests}, {clients}))\n"
        "assert rep['liveness']['ok'], 'incomplete run'\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="pbft", help="registered protocol name or dotted path (default pbft)")
    ap.add_argument("--sizes", default="4,16,64", help="comma-separated replica counts (default 4,16,64)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per speed run (default 2000)")
    ap.add_argument("--clients", type=int, default=32, help="closed-loop clients (default 32)")
    ap.add_argument("--repeats", type=int, default=3, help="speed repetitions; median reported (default 3)")
    ap.add_argument("--memory-requests", type=int, default=10_000,
                    help="requests of the long memory run at the largest n (default 10000)")
    ap.add_argument("--quick", action="store_true", help="small sizes and runs, for a smoke test")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.quick:
        sizes, args.requests, args.repeats, args.memory_requests = [4, 16], 300, 1, 1000
    rows = []
    for n in sizes:
        row = speed(args.protocol, n, args.requests, args.clients, args.repeats)
        rows.append(row)
        print(f"n={n:3d}: {row['messages_per_s_median']:>9,} simulated messages/s "
              f"({row['messages_delivered']:,} messages, {row['wall_s_median']} s)", flush=True)
    big = max(sizes)
    ceiling = engine_ceiling(16 if 16 in sizes else big, args.repeats)
    print(f"engine ceiling n={ceiling['n']}: {ceiling['messages_per_s_median']:,} messages/s "
          f"(nodes that only answer each message; {ceiling['messages_delivered']:,} messages)", flush=True)
    mem_long = peak_rss_mb(args.protocol, big, args.memory_requests, args.clients)
    mem_short = peak_rss_mb(args.protocol, big, args.memory_requests // 4, args.clients)
    res = {"protocol": args.protocol, "speed": rows, "engine_ceiling": ceiling,
           "memory": {"n": big, "requests_long": args.memory_requests, "peak_rss_mb_long": mem_long,
                      "requests_short": args.memory_requests // 4, "peak_rss_mb_short": mem_short}}
    print(f"peak RSS n={big}: {mem_long} MiB for {args.memory_requests:,} requests, "
          f"{mem_short} MiB for {args.memory_requests // 4:,}")
    path = write(f"sim-{args.protocol.replace(':', '_').replace('.', '_')}", res)
    print(f"-> {path}")
    return res


if __name__ == "__main__":
    main()
