"""bftlab's Raft against PySyncObj, side by side on this machine: committed writes/s and latency at 1, 4, 32 clients.

    python -m benchmarks.bench_pysyncobj                       # n=3, clients 1 4 32, 5 s runs, --repeat 3
    python -m benchmarks.bench_pysyncobj --repeat 1 --duration 3 --clients 1
    python -m benchmarks.bench_pysyncobj --storage-sync page-cache --out pysyncobj-page-cache

Both systems run as 3 OS processes on 127.0.0.1 with their own TCP transport and an on-disk log,
and both are driven by closed-loop clients that issue writes only (bftlab's workload has
``read_fraction`` 0: every operation is a 64-byte put; PySyncObj's clients call a replicated
``put`` of a 48-byte value, about 64 bytes pickled) and count a write when the leader has
committed and applied it. The runs interleave (for each repetition, for each client count:
bftlab, then PySyncObj) so that a change in the machine's load falls on both; medians of the
repetitions are reported, and every run is kept.

Durability is not the same, and the results say so: bftlab (``storage_sync: fsync``) fsyncs its
log before a replica acknowledges an entry; PySyncObj writes each entry into an mmap'd journal
and never msyncs or fsyncs it (see :mod:`benchmarks.pysyncobj_cluster`), so its acknowledged
writes survive a process crash but not a power loss. ``--storage-sync page-cache`` gives bftlab
the same guarantee, for a like-for-like figure; ``--pysyncobj-msync`` makes PySyncObj msync
its journal after each append (a patch, not a PySyncObj option).

PySyncObj runs with ``appendEntriesUseBatch: False`` (append entries sent as each command
arrives): with its default batching, a write waits for the next 100 ms AppendEntries period, so
one client gets about 10 writes/s; ``--pysyncobj-default`` measures that setting instead.
Results: ``benchmarks/results/pysyncobj.json`` (``--out`` to rename), with the machine, its load
average and the fsync latency of the temporary folder both clusters keep their logs in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from typing import Any

from benchmarks.bench_real import fsync_probe, one
from benchmarks.common import write
from benchmarks.pysyncobj_cluster import run_pysyncobj

PYSYNCOBJ_CONF: dict[str, Any] = {"appendEntriesUseBatch": False}


def pysyncobj_one(n: int, clients: int, duration_s: float, conf: dict[str, Any], msync: bool,
                  clients_at: str = "leader") -> dict[str, Any]:
    """One PySyncObj run, with the load average and fsync latency at its start."""
    load = os.getloadavg()[0]
    fsync_ms = fsync_probe()
    with tempfile.TemporaryDirectory(prefix="pysyncobj-bench-") as d:
        out = run_pysyncobj(n, clients, duration_s, d, conf=conf, msync=msync, clients_at=clients_at)
    out.pop("pids")
    out["loadavg_1m_at_start"], out["fsync_ms_at_start"] = round(load, 2), fsync_ms
    print(f"pysyncobj n={n} clients={clients}: {out['committed_per_s']:,.0f} committed/s, "
          f"p50 {out['latency_ms']['p50']:.2f} ms, p99 {out['latency_ms']['p99']:.2f} ms, errors {out['errors']} "
          f"(load at start {load:.1f}, fsync median {fsync_ms['median']:.2f} ms)", flush=True)
    return out


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median committed/s and latency of ``runs`` (one configuration), with the runs themselves."""
    return {"committed_per_s": statistics.median(r["committed_per_s"] for r in runs),
            "latency_ms": {k: statistics.median(r["latency_ms"][k] for r in runs) for k in ("p50", "p99")},
            "loadavg_1m_at_start": statistics.median(r["loadavg_1m_at_start"] for r in runs),
            "fsync_ms_median": statistics.median(r["fsync_ms_at_start"]["median"] for r in runs),
            "runs": runs}


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'clients':>7} | {'bftlab w/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'PySyncObj w/s':>13} {'p50 ms':>7} "
            f"{'p99 ms':>7} | {'ratio':>5} | paired ratios")
    lines = [head, "-" * len(head)]
    for r in rows:
        b, p = r["bftlab"], r["pysyncobj"]
        lines.append(f"{r['clients']:>7} | {b['committed_per_s']:>10,.0f} {b['latency_ms']['p50']:>7.2f} "
                     f"{b['latency_ms']['p99']:>7.2f} | {p['committed_per_s']:>13,.0f} {p['latency_ms']['p50']:>7.2f} "
                     f"{p['latency_ms']['p99']:>7.2f} | {r['ratio']:>5.2f} | "
                     + " ".join(f"{x:.2f}" for x in r["paired_ratios"] if x is not None))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=3, help="replicas / nodes (default 3)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 32], help="closed-loop client counts")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of workload per run (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="runs per configuration and system; medians reported")
    p.add_argument("--client-processes", type=int, default=2, help="bftlab's client processes (default 2)")
    p.add_argument("--storage-sync", choices=("fsync", "page-cache"), default="fsync",
                   help="bftlab's transport.storage_sync (default fsync: durable against power loss)")
    p.add_argument("--pysyncobj-msync", action="store_true", help="patch PySyncObj to msync after each append")
    p.add_argument("--pysyncobj-default", action="store_true",
                   help="PySyncObj's default batching (appendEntriesUseBatch: True) instead of per-command sends")
    p.add_argument("--pysyncobj-clients-at", choices=("leader", "follower"), default="leader",
                   help="the node whose process hosts PySyncObj's client threads (default leader; a follower "
                        "forwards each command to the leader, a client hop each way as bftlab's clients have)")
    p.add_argument("--out", default="pysyncobj", help="results file name in benchmarks/results (default pysyncobj)")
    args = p.parse_args(argv)
    conf = {} if args.pysyncobj_default else dict(PYSYNCOBJ_CONF)
    load_start = os.getloadavg()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for c in args.clients:
            procs = max(1, min(args.client_processes, c))
            runs.setdefault(("bftlab", c), []).append(
                one(args.n, c, args.duration, 128, procs, args.storage_sync, "raft"))
            runs.setdefault(("pysyncobj", c), []).append(
                pysyncobj_one(args.n, c, args.duration, conf, args.pysyncobj_msync, args.pysyncobj_clients_at))
    rows = []
    for c in args.clients:
        b, q = medians(runs[("bftlab", c)]), medians(runs[("pysyncobj", c)])
        # each repetition runs both systems back to back, so its own ratio sees the same machine load
        paired = [round(x["committed_per_s"] / y["committed_per_s"], 3) if y["committed_per_s"] else None
                  for x, y in zip(b["runs"], q["runs"])]
        rows.append({"clients": c, "bftlab": b, "pysyncobj": q,
                     "ratio": round(b["committed_per_s"] / q["committed_per_s"], 3) if q["committed_per_s"] else None,
                     "paired_ratios": paired,
                     "paired_ratio_median": statistics.median(r for r in paired if r is not None) if any(paired)
                     else None})
    print(f"\nn={args.n}, median of {args.repeat}, {args.duration:g} s runs; bftlab storage_sync {args.storage_sync}, "
          f"PySyncObj journal {'msync per append' if args.pysyncobj_msync else 'mmap, no msync/fsync'}; "
          f"ratio = bftlab / PySyncObj committed writes per second (of the medians; paired: per repetition)")
    print(table(rows))
    load_end = os.getloadavg()
    path = write(args.out, {
        "command": "python -m benchmarks.bench_pysyncobj " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else " " + (
                " ".join(map(str, v)) if isinstance(v, list) else str(v)))
            for k, v in vars(args).items() if v is not False),
        "loadavg_at_start": [round(x, 2) for x in load_start], "loadavg_at_end": [round(x, 2) for x in load_end],
        "durability": {
            "bftlab": f"storage_sync {args.storage_sync}: " + (
                "each replica fsyncs its WAL before it acknowledges an entry (survives power loss)"
                if args.storage_sync == "fsync" else "WAL written, not fsynced (survives a process crash only)"),
            "pysyncobj": "msync of the mmap'd journal after each append (patched)" if args.pysyncobj_msync else
                         "journal written into an mmap'd file, never msynced or fsynced; term/vote meta written and "
                         "flushed, not fsynced (survives a process crash, not a power loss)"},
        "workload": {"writes_fraction": 1.0, "bftlab_op_bytes": 64, "pysyncobj_value_bytes": 48, "keys": 1000},
        "pysyncobj_conf": conf, "pysyncobj_clients_at": args.pysyncobj_clients_at, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
