"""Gossip fast path: rounds per second and node-rounds per second at n = 10^3 and 10^4.

The fast path (:mod:`bftlab.protocols.gossip.rounds`) runs whole epidemics in
synchronous rounds on a complete graph. Each case runs ``trials`` epidemics
(one update planted at a random site) and is timed ``--repeats`` times after a
warm-up; the median is reported. A *round* is one synchronous round of one
epidemic; *node-rounds* are rounds x n, the work a per-site simulator would do
(push/pull/push-pull: every site calls a partner each round; rumor mongering:
only infective sites do, so its node-rounds overstate the calls made). The
sequential rumor schedule is a numba loop, timed after its compilation.

    python -m benchmarks.bench_gossip [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from benchmarks.common import write

# (algorithm, schedule, extra params, trials at n = 10^3, trials at n = 10^4)
CASES = [
    ("push", "synchronous", {}, 200, 40),
    ("push-pull", "synchronous", {}, 200, 40),
    ("rumor", "synchronous", {"k": 2, "feedback": True, "counter": True}, 200, 40),
    ("rumor", "sequential", {"k": 2, "feedback": True, "counter": False}, 200, 40),
]
SIZES = (1_000, 10_000)


def one(n: int, algorithm: str, schedule: str, extra: dict, trials: int, seed: int) -> tuple[float, int]:
    """Wall seconds and total rounds of ``trials`` epidemics."""
    from bftlab.protocols.gossip import rounds

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    out = rounds.run_trials(n, algorithm, trials, rng, schedule=schedule, **extra)
    return time.perf_counter() - t0, sum(t.rounds for t in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="n = 10^3 only, one repeat")
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    sizes = SIZES[:1] if args.quick else SIZES
    one(200, "rumor", "sequential", {"k": 1}, 2, 0)  # compile (or load) the numba loop outside the timing
    results = []
    for n in sizes:
        for algorithm, schedule, extra, t_small, t_large in CASES:
            trials = t_small if n <= 1_000 else t_large
            one(n, algorithm, schedule, extra, 2, 0)  # warm-up
            runs = [one(n, algorithm, schedule, extra, trials, seed) for seed in range(1, repeats + 1)]
            rates = [r / w for w, r in runs]
            row = {"n": n, "algorithm": algorithm, "schedule": schedule, **extra, "trials": trials,
                   "repeats": repeats, "wall_s": round(statistics.median(w for w, _ in runs), 4),
                   "rounds_per_trial": round(statistics.mean(r for _, r in runs) / trials, 2),
                   "rounds_per_s": round(statistics.median(rates)),
                   "node_rounds_per_s": round(statistics.median(rates) * n),
                   "wall_s_runs": [round(w, 4) for w, _ in runs]}
            results.append(row)
            print(f"n={n:>6} {algorithm:>9} {schedule:>11}: {trials} epidemics in {row['wall_s']:.3f} s "
                  f"({row['rounds_per_trial']:.1f} rounds each): {row['rounds_per_s']:,} rounds/s, "
                  f"{row['node_rounds_per_s']:,} node-rounds/s")
    path = write("gossip", {"cases": results, "load_average": [round(x, 2) for x in os.getloadavg()]})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
