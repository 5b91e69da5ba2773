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
the spec's fault budget (f, or f+1 with allow_exceeding_f), Byzantine replicas
(Twins, silent, crash-recover, small message mutations, and the PBFT attacks
for PBFT). All faults heal by --heal-s; the checker then judges safety and
(unless --safety-only) liveness. The first run of each distinct failure is
shrunk to a minimal schedule and written as a spec that replays it:

  bftlab run OUT/counterexample-1.yaml --seed N     (printed for every failure)

Outputs (in --out, default results/fuzz-<spec name>-seed<S>):
  counterexample-<k>.yaml   one self-contained spec per distinct failure
  fuzz-summary.json         runs, distinct failures, time to the first failure

examples:
  bftlab fuzz configs/pbft-quickstart.yaml --runs 200 --set workload.requests=50
  bftlab fuzz my-broken.yaml --runs 50 --seed 7 --safety-only

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
    opts = FuzzOptions(runs=args.runs, seed=seed, heal_s=args.heal_s, round_s=args.round_s,
                       safety_only=args.safety_only, shrink=not args.no_shrink)
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
