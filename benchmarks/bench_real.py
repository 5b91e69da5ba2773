"""A protocol on the real transport (PBFT unless --protocol): replica processes over loopback TCP, closed-loop clients.

    python -m benchmarks.bench_real                 # n=4 and n=7, 30 s each, plus a low-load latency run
    python -m benchmarks.bench_real --duration 10 --n 4
    python -m benchmarks.bench_real --n 4 --clients 1 4 32 --repeat 3 --no-low-load   # latency vs load
    python -m benchmarks.bench_real --protocol raft --n 3 --clients 1 4 32 --no-low-load

With ``--repeat K`` each configuration runs K times and the medians are
reported (each run's figures are kept too): on a shared machine a single run
says little.

For each configuration: committed requests per second, latency p50/p99 (from
the clients' view), and CPU per process (seconds of CPU over the workload's
wall time; a process's start-up, about half a second of imports, is included,
so short runs overstate it) and messages per ``send`` (how well the transport
coalesces). Results go to ``benchmarks/results/real.json``
with the machine description, its load average and the disk's fsync latency
(median of 50, in the temporary folder the cluster's logs go to) at the start:
on a shared machine other processes take CPU and disk time from the cluster,
which the figures show. PBFT syncs its log several times in sequence per
request, so its low-load latency cannot fall below a few fsyncs.

``--storage-sync page-cache`` runs with ``transport.storage_sync: page-cache``:
Syncs do not wait for the disk (the records survive a process crash, not a
power loss), which shows what the fsyncs cost; report such figures separately.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from benchmarks.common import write
from bftlab.specs.spec import spec_from_dict
from bftlab.transport.cluster import run_real


def bench_spec(n: int, clients: int, duration_s: float, batch: int, client_processes: int,
               storage_sync: str = "fsync", protocol: str = "pbft") -> Any:
    transport: dict[str, Any] = {"kind": "real", "client_processes": client_processes}
    if storage_sync != "fsync":  # only when asked: the default spec stays the one earlier results were measured with
        transport["storage_sync"] = storage_sync
    return spec_from_dict({
        "name": f"bench-real-{protocol}-n{n}",
        # PBFT's batch size is the knob its throughput figures name; other protocols run with their defaults
        "protocol": {"name": protocol, "params": {"batch_size_max": batch} if protocol == "pbft" else {}},
        "n": n,
        "crypto": "ideal",
        "workload": {"clients": clients, "mode": "closed", "requests": 0, "duration_s": duration_s},
        "transport": transport,
        "stop": {"time_limit_s": duration_s + 60},
    })


def fsync_probe(samples: int = 50) -> dict[str, float]:
    """Median and p90 of ``samples`` fsyncs of a 256-byte append, in ms, where the cluster keeps its logs.

    The durable protocols pay several fsyncs in sequence per request, so this
    sets their latency floor; on a shared disk it moves from run to run.
    """
    times = []
    with tempfile.TemporaryDirectory(prefix="bftlab-fsync-") as d, open(os.path.join(d, "probe"), "ab") as fh:
        for _ in range(samples):
            fh.write(bytes(256))
            fh.flush()
            t0 = time.perf_counter()
            os.fsync(fh.fileno())
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"median": round(times[len(times) // 2] * 1e3, 3), "p90": round(times[int(len(times) * 0.9)] * 1e3, 3)}


def one(n: int, clients: int, duration_s: float, batch: int, client_processes: int,
        storage_sync: str = "fsync", protocol: str = "pbft") -> dict[str, Any]:
    load = os.getloadavg()[0]
    fsync_ms = fsync_probe()
    rep = run_real(bench_spec(n, clients, duration_s, batch, client_processes, storage_sync, protocol))
    m, run = rep["metrics"], rep["run"]
    span = run["workload_wall_s"]
    cpu = {p["name"]: round(p["cpu_s"] / span, 3) for p in run["processes"] if p["cpu_s"] is not None}
    replica_cpu = [v for k, v in cpu.items() if k.startswith("replica")]
    writes = sum(p.get("writes") or 0 for p in run["processes"])
    sent = sum(p.get("messages_sent") or 0 for p in run["processes"])
    out = {
        "protocol": protocol, "n": n, "clients": clients, "batch_size_max": batch if protocol == "pbft" else None,
        "duration_s": duration_s, "storage_sync": storage_sync,
        "committed": m["committed"], "committed_per_s": round(m["throughput_rps"], 1),
        "latency_ms": {k: round(m["latency_s"][k] * 1e3, 3) for k in ("p50", "p99", "mean")},
        "cpu_per_replica_median": statistics.median(replica_cpu) if replica_cpu else None,
        "cpu_by_process": cpu, "safety_ok": rep["safety"]["ok"], "liveness_ok": rep["liveness"]["ok"],
        "messages_per_write": round(sent / writes, 2) if writes else None,
        "dropped": m["dropped"], "loadavg_1m_at_start": round(load, 2), "fsync_ms_at_start": fsync_ms,
    }
    print(f"{protocol} n={n} clients={clients} batch={out['batch_size_max']}: "
          f"{out['committed_per_s']:,.0f} committed/s, "
          f"p50 {out['latency_ms']['p50']:.2f} ms, p99 {out['latency_ms']['p99']:.2f} ms, "
          f"replica CPU {out['cpu_per_replica_median']}, {out['messages_per_write']} messages per write "
          f"(load at start {load:.1f}, fsync median {fsync_ms['median']:.2f} ms, storage_sync {storage_sync})",
          flush=True)
    return out


def repeated(n: int, clients: int, duration_s: float, batch: int, client_processes: int,
             repeat: int, storage_sync: str = "fsync", protocol: str = "pbft") -> dict[str, Any]:
    """``repeat`` runs of one configuration: the medians of their figures, and every run."""
    procs = max(1, min(client_processes, clients))  # a client process without clients would have nothing to do
    runs = [one(n, clients, duration_s, batch, procs, storage_sync, protocol) for _ in range(repeat)]
    if repeat == 1:
        return runs[0]
    med = dict(runs[0])
    med["committed_per_s"] = statistics.median(r["committed_per_s"] for r in runs)
    med["latency_ms"] = {k: statistics.median(r["latency_ms"][k] for r in runs) for k in ("p50", "p99", "mean")}
    med["safety_ok"] = all(r["safety_ok"] for r in runs)
    med["liveness_ok"] = all(r["liveness_ok"] for r in runs)
    med["fsync_ms_at_start"] = {k: statistics.median(r["fsync_ms_at_start"][k] for r in runs)
                                for k in ("median", "p90")}
    med["runs"] = runs
    print(f"n={n} clients={clients}, median of {repeat}: {med['committed_per_s']:,.0f} committed/s, "
          f"p50 {med['latency_ms']['p50']:.2f} ms, p99 {med['latency_ms']['p99']:.2f} ms", flush=True)
    return med


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds of workload per run")
    p.add_argument("--n", type=int, action="append", help="replica counts (default: 4 and 7)")
    p.add_argument("--clients", type=int, nargs="+", default=[512],
                   help="closed-loop client counts, one run each (default 512: enough to keep batches full)")
    p.add_argument("--protocol", default="pbft", help="registered protocol name (default pbft)")
    p.add_argument("--batch", type=int, default=128, help="PBFT's batch_size_max (default 128)")
    p.add_argument("--client-processes", type=int, default=2, help="processes hosting the clients (default 2)")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration; medians are reported (default 1)")
    p.add_argument("--no-low-load", dest="low_load", action="store_false",
                   help="skip the extra low-load run (n=4, one client)")
    p.add_argument("--storage-sync", choices=("fsync", "page-cache"), default="fsync",
                   help="transport.storage_sync: fsync (default, durable) or page-cache (opt-in: Syncs do not wait "
                        "for the disk, so a power loss can lose acknowledged requests; report it as such)")
    args = p.parse_args()
    runs = [repeated(n, c, args.duration, args.batch, args.client_processes, args.repeat, args.storage_sync,
                     args.protocol) for n in (args.n or [4, 7]) for c in args.clients]
    low = None
    if args.low_load:  # low load: one client, one request at a time
        low = repeated((args.n or [4])[0], 1, min(args.duration, 10.0), args.batch, 1, args.repeat,
                       args.storage_sync, args.protocol)
    name = "real" if args.protocol == "pbft" else f"real-{args.protocol}"
    path = write(name, {"command": "python -m benchmarks.bench_real " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if v is not None and k not in ("n", "low_load")),
        "throughput": runs, "low_load": low})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
