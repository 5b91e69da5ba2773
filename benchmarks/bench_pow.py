"""PoW scale: wall time, peak memory and simulated blocks per second of the fast engine.

Two loads, each named in every printed row and in the JSON:

* ``empty``: an honest Bitcoin-like network (600 s blocks, 8 connections,
  inv/getdata relay, lognormal latency, 20 Mbit/s uplinks) with no
  transactions, so blocks are 80-byte headers and the relay kernel, not the
  Merkle hashing, is measured: 1,000 nodes x 1,000 blocks, 10,000 x 100 and
  the target 10,000 x 1,000 (< 2 minutes on one core);
* ``bitcoin``: ``configs/pow-bitcoin.yaml`` as shipped (3 tx/s of 500-byte
  transactions, so blocks of about 0.9 MB; zipf hash shares over 20 pools) with
  only ``n`` and ``protocol.params.blocks`` changed: 10,000 x 1,000.

Each case runs in a fresh process (peak RSS is per process) ``--repeats`` times;
the median is reported. Topology construction is included in the wall time;
the numba kernel's compilation (or cache load) is not. Wall and CPU (process)
time are both reported, with the load average: on a shared machine the CPU
time moves much less than the wall time.

    python -m benchmarks.bench_pow [--repeats R] [--quick] [--bandwidth-model per_link]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import write

CASES = [("empty", 1_000, 1_000), ("empty", 10_000, 100), ("empty", 10_000, 1_000), ("bitcoin", 10_000, 1_000)]
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pow-bitcoin.yaml"


def _spec(load: str, n: int, blocks: int, bandwidth_model: str):
    from bftlab.specs.spec import load_spec, spec_from_dict

    if load == "bitcoin":
        return load_spec(CONFIG, [f"n={n}", f"protocol.params.blocks={blocks}",
                                  f"protocol.params.bandwidth_model={bandwidth_model}"])
    if load != "empty":
        raise SystemExit(f"bench_pow: unknown load {load!r}; use empty or bitcoin.")
    return spec_from_dict({
        "name": "bench-pow", "seed": 1, "n": n,
        "network": {"latency_model": "lognormal", "latency_ms": 100, "lognormal_sigma": 0.6, "bandwidth_mbps": 20},
        "protocol": {"name": "pow", "params": {"blocks": blocks, "degree": 8, "relay": "inv",
                                               "bandwidth_model": bandwidth_model}},
    })


def one(load: str, n: int, blocks: int, bandwidth_model: str = "uplink") -> dict:
    """Run one case in this process; return its measurements."""
    import numpy as np

    from bftlab.protocols.pow.run import build_engine, resolve_params
    from bftlab.specs.spec import spec_from_dict

    # the relay kernel compiles (or loads from its cache) on first use: warm it up outside the timing
    warm = spec_from_dict({"name": "warm", "n": 20, "protocol": {"name": "pow", "params": {"blocks": 5}}})
    build_engine(warm, resolve_params(warm)).run()
    spec = _spec(load, n, blocks, bandwidth_model)
    params = resolve_params(spec)
    c0, t0 = time.process_time(), time.perf_counter()
    engine = build_engine(spec, params)
    t1 = time.perf_counter()
    out = engine.run()
    c2, t2 = time.process_time(), time.perf_counter()
    return {"load": load, "n": n, "blocks": blocks, "engine": params.engine, "relay": params.relay,
            "bandwidth_model": params.bandwidth_model, "bandwidth_mbps": spec.network.bandwidth_mbps,
            "tx_rate_tps": params.tx_rate_tps, "mean_block_size_bytes": float(np.mean(out.chain.size[1:])),
            "wall_s": t2 - t0, "cpu_s": c2 - c0, "topology_s": t1 - t0, "engine_s": t2 - t1,
            "blocks_per_s": blocks / (t2 - t0),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sim_days": out.end_ns / 86400e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the two small cases, once")
    ap.add_argument("--bandwidth-model", choices=("uplink", "per_link"), default="uplink",
                    help="protocol.params.bandwidth_model of every case (default: uplink)")
    ap.add_argument("--case", nargs=3, metavar=("LOAD", "N", "BLOCKS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        load, n, blocks = args.case
        print(json.dumps(one(load, int(n), int(blocks), args.bandwidth_model)))
        return
    cases = CASES[:2] if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    results = []
    for load, n, blocks in cases:
        runs = []
        for _ in range(repeats):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_pow", "--case", load, str(n), str(blocks),
                                   "--bandwidth-model", args.bandwidth_model], capture_output=True, text=True,
                                  check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "topology_s", "engine_s",
                                                                   "blocks_per_s", "peak_rss_mb")}
        first = runs[0]
        row = {**{k: first[k] for k in ("load", "n", "blocks", "engine", "relay", "bandwidth_model",
                                        "bandwidth_mbps", "tx_rate_tps")},
               "mean_block_size_bytes": round(first["mean_block_size_bytes"]), "repeats": repeats,
               "wall_s_runs": [round(r["wall_s"], 3) for r in runs],
               **{k: round(v, 3) for k, v in med.items()}, "sim_days": round(first["sim_days"], 2)}
        results.append(row)
        print(f"{load:>7}: {n:>6} nodes x {blocks:>5} blocks ({row['engine']} engine, {row['tx_rate_tps']:g} tx/s, "
              f"mean block {row['mean_block_size_bytes']:,} B, {row['bandwidth_model']} {row['bandwidth_mbps']:g} "
              f"Mbit/s): wall {row['wall_s']:.2f} s, CPU {row['cpu_s']:.2f} s (topology {row['topology_s']:.2f} s), "
              f"{row['blocks_per_s']:.0f} blocks/s, peak RSS {row['peak_rss_mb']:.0f} MB, "
              f"{row['sim_days']:.1f} simulated days")
    name = "pow" if args.bandwidth_model == "uplink" else f"pow-{args.bandwidth_model}"
    path = write(name, {"cases": results, "load_average": _load_average()})
    print(f"results: {path}")


def _load_average() -> list[float] | None:
    """The machine's 1/5/15-minute load averages when the run ended: other work slows wall times down."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    main()
