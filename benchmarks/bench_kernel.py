"""Kernel events per second against SimPy on the same event pattern, in one run.

Pattern: P processes, each repeatedly waits a pseudo-random delay (a fixed
table, so both kernels see identical delays) until E events in total have run.
SimPy runs it as generator processes with ``env.timeout``; bftlab's kernel as
callbacks that reschedule themselves with ``schedule_unchecked`` (now plus a
non-negative delay), which is how the simulated runtime's message path uses it.

    python -m benchmarks.bench_kernel [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import random
import statistics

import simpy

from benchmarks.common import median_time, write
from bftlab.core.kernel import Kernel

PROCS = 100


def _delays(n: int = 4096) -> list[int]:
    r = random.Random(7)
    return [r.randrange(1, 1_000_000) for _ in range(n)]


def run_bftlab(events: int, delays: list[int]) -> int:
    k = Kernel()
    mask = len(delays) - 1
    state = {"i": 0}
    per = events // PROCS

    def tick(count: int) -> None:
        i = state["i"] = state["i"] + 1
        if count > 1:
            k.schedule_unchecked(k.now + delays[i & mask], tick, count - 1)

    for p in range(PROCS):
        k.schedule_unchecked(delays[p], tick, per)
    k.run()
    return k.events


def run_simpy(events: int, delays: list[int]) -> int:
    env = simpy.Environment()
    mask = len(delays) - 1
    state = {"i": 0, "n": 0}
    per = events // PROCS

    def proc(env, first):
        yield env.timeout(first)
        for _ in range(per - 1):
            state["n"] += 1
            i = state["i"] = state["i"] + 1
            yield env.timeout(delays[i & mask])
        state["n"] += 1

    for p in range(PROCS):
        env.process(proc(env, delays[p]))
    env.run()
    return state["n"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000, help="events per run (default 500000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repetitions; the median is reported (default 5)")
    args = ap.parse_args(argv)
    delays = _delays()
    assert run_bftlab(10_000, delays) == 10_000 and run_simpy(10_000, delays) == 10_000
    # Interleaved pairs, so a change in machine load hits both sides of each ratio alike.
    ours, theirs, ratios = [], [], []
    for _ in range(args.repeats):
        t_ours, _ = median_time(lambda: run_bftlab(args.events, delays), 1)
        t_simpy, _ = median_time(lambda: run_simpy(args.events, delays), 1)
        ours.append(t_ours)
        theirs.append(t_simpy)
        ratios.append(t_simpy / t_ours)
    res = {
        "events": args.events,
        "repeats": args.repeats,
        "bftlab_events_per_s": round(args.events / statistics.median(ours)),
        "simpy_events_per_s": round(args.events / statistics.median(theirs)),
        "speedup_vs_simpy": round(statistics.median(ratios), 2),
        "speedup_per_pair": [round(r, 3) for r in ratios],
    }
    path = write("kernel", res)
    print(f"kernel: bftlab {res['bftlab_events_per_s']:,} ev/s, SimPy {res['simpy_events_per_s']:,} ev/s, "
          f"speed-up {res['speedup_vs_simpy']}x (median of {args.repeats} interleaved pairs) -> {path.name}")
    return res


if __name__ == "__main__":
    main()
