"""Linearizability checking time (WGL + Lowe's memo, per-key partitions) on generated KV histories.

Histories are linearizable by construction (``random_history``): each client
issues requests back to back, with 0-2 ms gaps and 0-5 ms durations, 45% get,
45% put and 10% del over uniformly chosen keys, and each takes effect at a random
point in its interval. Cases (N ops over K keys each, defaults 10,000 and 100):
8 clients; 32 clients (more concurrency per key); 8 clients with 1% of requests
never answered (pending ops stay concurrent with everything after them). For
each case we print the median ``check`` time over R repeats, ops/s, and how
much the history overlaps: the share of ops concurrent with another op on their
key, and the most ops ever outstanding on one key.

    python -m benchmarks.bench_linearizability [--ops N] [--keys K] [--repeats R] [--seed S]
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from functools import partial

from benchmarks.common import median_time, write
from bftlab.oracles.linearizability import Operation, check, random_history

CASES = [(8, 0.0), (32, 0.0), (8, 0.01)]  # (clients, share of requests never answered)


def overlap(ops: list[Operation]) -> tuple[float, int]:
    """(share of ops concurrent with another op on their key, most ops outstanding on one key at once)."""
    events: dict[bytes, list[tuple[float, int, int]]] = defaultdict(list)
    for i, op in enumerate(ops):
        events[op.key] += [(op.call, 1, i), (float("inf") if op.ret is None else op.ret, 0, i)]
    marked: set[int] = set()
    peak = 0
    for evs in events.values():
        active: set[int] = set()
        for _, is_call, i in sorted(evs):  # returns before calls at equal times, as the checker orders them
            if not is_call:
                active.discard(i)
                continue
            if active:
                marked.add(i)
                marked.update(active)
            active.add(i)
            peak = max(peak, len(active))
    return len(marked) / max(1, len(ops)), peak


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=10_000, help="operations per history (default 10000)")
    ap.add_argument("--keys", type=int, default=100, help="distinct keys (default 100)")
    ap.add_argument("--repeats", type=int, default=7, help="timed repetitions; the median is reported (default 7)")
    ap.add_argument("--seed", type=int, default=1, help="history generator seed (default 1)")
    args = ap.parse_args(argv)
    cases = {}
    for clients, pending in CASES:
        name = f"{args.ops} ops / {args.keys} keys / {clients} clients"
        name += f" / {pending:.0%} pending" if pending else ""
        ops = random_history(random.Random(args.seed), ops=args.ops, keys=args.keys, clients=clients, pending=pending)
        result = check(ops)
        assert result.ok, f"{name}: generated history judged {result.verdict}"
        t, times = median_time(partial(check, ops), args.repeats)
        share, peak = overlap(ops)
        cases[name] = {"ops": args.ops, "keys": args.keys, "clients": clients, "pending": pending,
                       "searched_ops": result.operations, "median_s": round(t, 4), "ops_per_s": round(args.ops / t),
                       "times_s": [round(x, 4) for x in times], "overlapping_ops": round(share, 3),
                       "max_outstanding_per_key": peak}
        print(f"{name}: median {t:.4f} s, {args.ops / t:,.0f} ops/s (of {args.repeats} runs); "
              f"{share:.0%} of ops overlap another on their key, at most {peak} outstanding on one key")
    res = {"repeats": args.repeats, "seed": args.seed, "cases": cases}
    path = write("linearizability", res)
    print(f"-> {path.name}")
    return res


if __name__ == "__main__":
    main()
