"""PoW scale: wall time, peak memory and simulated blocks per second of the fast engine.

Cases (honest Bitcoin-like network: 600 s blocks, 8 connections, inv/getdata
relay, lognormal latency, 20 Mbit/s links, empty blocks so that the relay, not
the Merkle hashing, is measured): 1,000 nodes x 1,000 blocks, 10,000 nodes x
100 blocks, and the target 10,000 nodes x 1,000 blocks (< 2 minutes on one core).
Each case runs in a fresh process (peak RSS is per process) ``--repeats`` times;
the median is reported. Topology construction is included in the wall time.

    python -m benchmarks.bench_pow [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from benchmarks.common import write

CASES = [(1_000, 1_000), (10_000, 100), (10_000, 1_000)]


def one(n: int, blocks: int) -> dict:
    """Run one case in this process; return its measurements."""
    from bftlab.specs.spec import spec_from_dict
    from bftlab.protocols.pow.run import build_engine, resolve_params

    # the relay kernel compiles (or loads from its cache) on first use: warm it up outside the timing
    warm = spec_from_dict({"name": "warm", "n": 20, "protocol": {"name": "pow", "params": {"blocks": 5}}})
    build_engine(warm, resolve_params(warm)).run()
    spec = spec_from_dict({
        "name": "bench-pow", "seed": 1, "n": n,
        "network": {"latency_model": "lognormal", "latency_ms": 100, "lognormal_sigma": 0.6, "bandwidth_mbps": 20},
        "protocol": {"name": "pow", "params": {"blocks": blocks, "degree": 8, "relay": "inv"}},
    })
    t0 = time.perf_counter()
    engine = build_engine(spec, resolve_params(spec))
    t1 = time.perf_counter()
    out = engine.run()
    t2 = time.perf_counter()
    return {"n": n, "blocks": blocks, "wall_s": t2 - t0, "topology_s": t1 - t0, "engine_s": t2 - t1,
            "blocks_per_s": blocks / (t2 - t0), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sim_days": out.end_ns / 86400e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the two small cases, once")
    ap.add_argument("--case", nargs=2, type=int, metavar=("N", "BLOCKS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(one(*args.case)))
        return
    cases = CASES[:2] if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    results = []
    for n, blocks in cases:
        runs = []
        for _ in range(repeats):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_pow", "--case", str(n), str(blocks)],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "topology_s", "engine_s", "blocks_per_s",
                                                                   "peak_rss_mb")}
        row = {"n": n, "blocks": blocks, "repeats": repeats, **{k: round(v, 3) for k, v in med.items()},
               "sim_days": round(runs[0]["sim_days"], 2)}
        results.append(row)
        print(f"{n:>6} nodes x {blocks:>5} blocks: wall {row['wall_s']:.2f} s (topology {row['topology_s']:.2f} s), "
              f"{row['blocks_per_s']:.0f} blocks/s, peak RSS {row['peak_rss_mb']:.0f} MB, "
              f"{row['sim_days']:.1f} simulated days")
    path = write("pow", {"cases": results})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
