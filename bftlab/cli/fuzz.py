"""``bftlab fuzz``: search for attacks that break a spec's protocol (see :mod:`bftlab.fuzz`).

Kept out of :mod:`bftlab.cli` so that module stays a table of small commands;
it registers :func:`add_fuzz` in its ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_EPILOG = """\
Each run draws random partitions, message drops/delays/duplicates and, within
the spec's fault budget (f, or f+1 with allow_exceeding_f), Byzantine replicas:
Twins, silent, crash-recover, the protocol's own attacks (its fuzz_strategies),
or scripted faults on what the replica sends -- omissions, delays, stale
replays, and mutations derived from the message schemas (ints +1/-1/0/large or
another replica's id, bytes flipped/emptied/taken from another message, tuple
items dropped or repeated, nested fields), sent instead of the message, as
well as it, or differently to different receivers (equivocation). All faults
heal by --heal-s; the checker then judges safety and (unless --safety-only)
liveness. The first run of each distinct failure is shrunk to a minimal
schedule and written as a spec that replays it:

  bftlab run OUT/counterexample-1.yaml --seed N     (printed for every failure)

For a protocol given by dotted path that is not installed, the printed command
starts with the PYTHONPATH it needs, relative to the current directory.

Outputs (in --out, default results/fuzz-<spec name>-seed<S>):
  counterexample-<k>.yaml   one self-contained spec per distinct failure
  fuzz-summary.json         runs, distinct failures, time to the first failure

examples:
  bftlab fuzz configs/pbft-quickstart.yaml --runs 200 --set workload.requests=50
  bftlab fuzz my-broken.yaml --runs 50 --seed 7 --safety-only
  bftlab fuzz my-broken.yaml --strategies scripted-node     (schema mutations only)
  bftlab fuzz configs/threepc-fuzz.yaml --max-net-faults 1 --safety-only   (one network fault per schedule)
  bftlab fuzz my-raft.yaml --isolate 0.7 --anchor 0.8 --off-grid --runs 200   (leader changes under crashes)
  bftlab fuzz my-raft.yaml --react 3 --max-net-faults 0 --max-node-faults 0 --safety-only   (faults at events)

exit status:
  0  no failure found
  2  bad spec or command line
  3  at least one failure found (counterexamples written)"""


def add_fuzz(sub: argparse._SubParsersAction) -> None:
    from bftlab.cli.common import add_spec_args as _add_spec_args

    p = sub.add_parser(
        "fuzz",
        help="search random fault schedules for safety/liveness violations",
        description="Run SPEC under random network faults and Byzantine behaviour; shrink and save every failure.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_spec_args(p)
    p.add_argument("--runs", metavar="N", type=int, default=100, help="number of random schedules (default 100)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/fuzz-<spec name>-seed<S>)")
    p.add_argument("--heal-s", metavar="T", type=float, default=2.0, help="every fault ends by T seconds (default 2)")
    p.add_argument("--round-s", metavar="T", type=float, default=0.1, help="fault windows are whole rounds of T s")
    p.add_argument("--safety-only", action="store_true", help="do not count pending requests as failures")
    p.add_argument("--no-shrink", action="store_true", help="save failing schedules as found")
    p.add_argument("--strategies", metavar="NAMES",
                   help="comma-separated node strategies to try (default: twins, silent, crash-recover, "
                        "scripted-node and the protocol's fuzz_strategies)")
    p.add_argument("--byzantine-from", metavar="IDS",
                   help="comma-separated replica ids the fuzzer may make Byzantine (default: any correct one)")
    # The defaults are FuzzOptions' own; bftlab.fuzz is not imported here, to keep the CLI's start-up fast.
    p.add_argument("--max-net-faults", metavar="K", type=int,
                   help="at most K network faults (partitions, drops, delays, duplicates) per schedule "
                        "(0: none; default: the fuzzer's own limit)")
    p.add_argument("--max-node-faults", metavar="K", type=int,
                   help="at most K node faults (crashes, Byzantine replicas) per schedule "
                        "(0: none; default: the fuzzer's own limit)")
    p.add_argument("--max-failures", metavar="K", type=int,
                   help="stop after K distinct failures (default: run all N schedules)")
    deep = p.add_argument_group("deeper crash-fault searches (all off by default, so a pinned campaign draws "
                                "what it always drew)")
    deep.add_argument("--isolate", metavar="P", type=float, default=0.0,
                      help="chance that a network fault cuts a minority of 1..f replicas off, as a chain of 1..3 "
                           "back-to-back cuts of different minorities (leader-change bugs)")
    deep.add_argument("--anchor", metavar="P", type=float, default=0.0,
                      help="chance that a fault is placed against the others: starting as one ends, or a crash "
                           "inside an isolation on its majority side")
    deep.add_argument("--off-grid", action="store_true",
                      help="crash times anywhere inside a round (inside an fsync, say), not only on its boundary")
    deep.add_argument("--react", metavar="K", type=int, default=0,
                      help="add K reactive isolations per run, each cutting off the replica that observed an event "
                           "of the run so far (won an election, made its first commit as leader) at that instant; "
                           "one extra simulation each (simulator only)")
    deep.add_argument("--swarm", action="store_true",
                      help="each run enables a random subset of the fault kinds (swarm testing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_fuzz)


def cmd_fuzz(args: argparse.Namespace) -> int:
    from bftlab.cli.common import EXIT_OK, EXIT_UNSAFE
    from bftlab.errors import UsageError
    from bftlab.fuzz import FuzzOptions, fuzz
    from bftlab.specs.spec import load_spec

    spec = load_spec(args.spec, args.set)  # --seed is the fuzzer's master seed, not the spec's
    seed = args.seed if args.seed is not None else spec.seed
    if args.heal_s <= 0 or args.round_s <= 0:
        raise UsageError("--heal-s and --round-s must be > 0.")
    limits = {}
    for flag, name in (("--max-net-faults", "max_net_faults"), ("--max-node-faults", "max_node_faults")):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                raise UsageError(f"{flag} must be >= 0, got {value}.")
            limits[name] = value
    strategies = None
    if args.strategies is not None:
        strategies = tuple(n.strip() for n in args.strategies.split(",") if n.strip())
        if not strategies:
            raise UsageError(f"--strategies needs at least one strategy name, got {args.strategies!r}.")
    byzantine_from = None
    if args.byzantine_from is not None:
        try:
            byzantine_from = tuple(int(x) for x in args.byzantine_from.split(",") if x.strip())
        except ValueError:
            raise UsageError(f"--byzantine-from takes replica ids like 0,2; got {args.byzantine_from!r}.") from None
    for flag, value in (("--isolate", args.isolate), ("--anchor", args.anchor)):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{flag} is a probability, from 0 to 1; got {value}.")
    if not 0 <= args.react <= 8:
        raise UsageError(f"--react is a count of reactive isolations per run, from 0 to 8; got {args.react}.")
    opts = FuzzOptions(runs=args.runs, seed=seed, heal_s=args.heal_s, round_s=args.round_s,
                       safety_only=args.safety_only, shrink=not args.no_shrink, strategies=strategies,
                       byzantine_from=byzantine_from, max_failures=args.max_failures, isolate=args.isolate,
                       anchor=args.anchor, off_grid=args.off_grid, swarm=args.swarm, react=args.react,
                       **limits)
    out = Path(args.out) if args.out else Path("results") / f"fuzz-{spec.name}-seed{seed}"
    s = fuzz(spec, opts, out, progress=not args.quiet and sys.stderr.isatty())
    first = (f"run {s.first_failure_run} after {s.first_failure_s:.1f} s" if s.first_failure_run is not None
             else "none")
    print(f"fuzz {spec.name} (seed {seed}): {s.runs} runs, {s.failing_runs} failing, "
          f"{len(s.failures)} distinct failures; first failure: {first}; wall {s.wall_s:.1f} s")
    for k, f in enumerate(s.failures, 1):
        print(f"  [{k}] {f.signature} x{f.occurrences}: {f.shrunk_atoms} faults -> {f.replay}")
    print(f"results: {out}")
    return EXIT_UNSAFE if s.failures else EXIT_OK
