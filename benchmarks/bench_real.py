"""PBFT on the real transport: replica processes over loopback TCP, closed-loop clients, batching on.

    python -m benchmarks.bench_real                 # n=4 and n=7, 30 s each, plus a low-load latency run
    python -m benchmarks.bench_real --duration 10 --n 4

For each configuration: committed requests per second, latency p50/p99 (from
the clients' view), and CPU per process (seconds of CPU over the workload's
wall time; a process's start-up, about half a second of imports, is included,
so short runs overstate it) and messages per ``send`` (how well the transport
coalesces). Results go to ``benchmarks/results/real.json``
with the machine description and its load average at the start: on a shared
machine other processes take CPU from the cluster, which the figures show.
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from benchmarks.common import write
from bftlab.specs.spec import spec_from_dict
from bftlab.transport.cluster import run_real


def bench_spec(n: int, clients: int, duration_s: float, batch: int, client_processes: int) -> Any:
    return spec_from_dict({
        "name": f"bench-real-n{n}",
        "protocol": {"name": "pbft", "params": {"batch_size_max": batch}},
        "n": n,
        "crypto": "ideal",
        "workload": {"clients": clients, "mode": "closed", "requests": 0, "duration_s": duration_s},
        "transport": {"kind": "real", "client_processes": client_processes},
        "stop": {"time_limit_s": duration_s + 60},
    })


def one(n: int, clients: int, duration_s: float, batch: int, client_processes: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    rep = run_real(bench_spec(n, clients, duration_s, batch, client_processes))
    m, run = rep["metrics"], rep["run"]
    span = run["workload_wall_s"]
    cpu = {p["name"]: round(p["cpu_s"] / span, 3) for p in run["processes"] if p["cpu_s"] is not None}
    replica_cpu = [v for k, v in cpu.items() if k.startswith("replica")]
    writes = sum(p.get("writes") or 0 for p in run["processes"])
    sent = sum(p.get("messages_sent") or 0 for p in run["processes"])
    out = {
        "n": n, "clients": clients, "batch_size_max": batch, "duration_s": duration_s,
        "committed": m["committed"], "committed_per_s": round(m["throughput_rps"], 1),
        "latency_ms": {k: round(m["latency_s"][k] * 1e3, 3) for k in ("p50", "p99", "mean")},
        "cpu_per_replica_median": statistics.median(replica_cpu) if replica_cpu else None,
        "cpu_by_process": cpu, "safety_ok": rep["safety"]["ok"], "liveness_ok": rep["liveness"]["ok"],
        "messages_per_write": round(sent / writes, 2) if writes else None,
        "dropped": m["dropped"], "loadavg_1m_at_start": round(load, 2),
    }
    print(f"n={n} clients={clients} batch={batch}: {out['committed_per_s']:,.0f} committed/s, "
          f"p50 {out['latency_ms']['p50']:.2f} ms, p99 {out['latency_ms']['p99']:.2f} ms, "
          f"replica CPU {out['cpu_per_replica_median']}, {out['messages_per_write']} messages per write "
          f"(load at start {load:.1f})", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds of workload per run")
    p.add_argument("--n", type=int, action="append", help="replica counts (default: 4 and 7)")
    p.add_argument("--clients", type=int, default=512,
                   help="closed-loop clients for the throughput runs (default 512: enough to keep batches full)")
    p.add_argument("--batch", type=int, default=128, help="batch_size_max (default 128)")
    p.add_argument("--client-processes", type=int, default=2, help="processes hosting the clients (default 2)")
    args = p.parse_args()
    runs = [one(n, args.clients, args.duration, args.batch, args.client_processes) for n in (args.n or [4, 7])]
    low = one(4, 1, min(args.duration, 10.0), args.batch, 1)  # low load: one client, one request at a time
    path = write("real", {"command": "python -m benchmarks.bench_real " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "n"),
        "throughput": runs, "low_load": low})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
