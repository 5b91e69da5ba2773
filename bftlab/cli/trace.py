"""``bftlab trace``: draw a run as a space-time diagram, or export it for ShiViz (see :mod:`bftlab.reports.spacetime`).

Kept out of :mod:`bftlab.cli.main` like the other larger commands; it registers
:func:`add_trace` in its ``COMMANDS``. Importing it is cheap: the simulator and
matplotlib load only when a command needs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MAX_MESSAGES = 500

_EPILOG = """\
INPUT is either
  a run directory written by `bftlab run SPEC --out DIR` with `trace.keep: true`
    (it holds spec.yaml, report.json and trace.jsonl), or
  a spec file, e.g. a counterexample written by `bftlab fuzz`: it is run first in
    simulation with trace.keep forced on (and --set/--seed applied), into --out
    (default results/trace-<spec name>-seed<N>), and that run is drawn.

The diagram has one lane per node (replicas, then clients) and time flowing left
to right; one arrow per delivered message, from its sender at the send time to
its receiver at the delivery time, coloured by message type (legend with counts).
Crashes (red cross), recoveries (green triangle), down periods (grey band),
partitions (shaded), lost messages (dashed, ending in a cross), executed slots
(ticks) and the report's safety violations (red rings at the replicas that
executed the offending slot) are marked. Above --max-messages messages, give a
window (--from-s/--to-s) or export the whole run with --shiviz.

Outputs:
  -o FILE          the picture (default: INPUT_DIR/trace.svg, or trace.png with --format png)
  --shiviz FILE    a ShiViz log (https://bestchai.bitbucket.io/shiviz/): events with vector
                   clocks computed from the send/receive pairs; paste or upload it there.
                   With --shiviz and no -o, only the log is written.

examples:
  bftlab run configs/pbft-quickstart.yaml --set workload.requests=5 --set trace.keep=true --out results/qs
  bftlab trace results/qs                                  # results/qs/trace.svg
  bftlab trace results/fuzz-x/counterexample-1.yaml        # replay and draw a fuzzer counterexample
  bftlab trace configs/pbft-crash-primary.yaml --set workload.requests=80 --from-s 2.0 --to-s 2.15   # the view change
  bftlab trace results/qs --format png -o qs.png           # needs matplotlib: pip install 'bftlab[plot]'
  bftlab trace results/big --shiviz big.shiviz.log         # a run too large to draw

exit status:
  0  written (whatever the run's verdict: the picture shows it)
  1  internal error while running a spec: a bug in bftlab; the replay command is printed
  2  bad input or command line: no such directory, no trace.jsonl (the run lacked
     `trace.keep: true`), more than --max-messages messages and no window, PNG without
     matplotlib; one "error:" paragraph on stderr"""


def add_trace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="draw a run (or replay a spec) as a space-time diagram; export it for ShiViz",
        description="Draw the messages of a simulated run as a space-time diagram (SVG, or PNG), "
        "with faults, partitions and safety violations marked; or write a ShiViz log of it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="run directory (with trace.jsonl) or spec file to run and draw")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="spec input only: override a spec value, as for `bftlab run` (repeatable)")
    p.add_argument("--seed", metavar="N", type=int, help="spec input only: master seed (replaces the spec's seed)")
    p.add_argument("--out", metavar="DIR",
                   help="spec input only: run directory to write (default: results/trace-<spec name>-seed<N>)")
    p.add_argument("-o", "--output", metavar="FILE", help="picture file (default: trace.svg in the run directory)")
    p.add_argument("--format", choices=("svg", "png"),
                   help="picture format (default: from the -o suffix, else svg; png needs matplotlib)")
    p.add_argument("--from-s", metavar="T", type=float, help="draw from simulated time T seconds (default 0)")
    p.add_argument("--to-s", metavar="T", type=float, help="draw up to simulated time T seconds (default: the end)")
    p.add_argument("--max-messages", metavar="N", type=int, default=DEFAULT_MAX_MESSAGES,
                   help=f"refuse to draw more messages than this (default {DEFAULT_MAX_MESSAGES})")
    p.add_argument("--width", metavar="PX", type=float, default=1400.0, help="picture width in pixels (default 1400)")
    p.add_argument("--shiviz", metavar="FILE", help="also write a ShiViz log of the whole run to FILE")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(handler=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    """``bftlab trace``: load (or run) a traced run, then draw it and/or export it."""
    from bftlab.cli.common import EXIT_INTERNAL, EXIT_OK
    from bftlab.errors import UsageError
    from bftlab.reports import spacetime

    if args.max_messages < 1:
        raise UsageError(f"--max-messages must be at least 1, got {args.max_messages}.")
    if args.width < 400:
        raise UsageError(f"--width must be at least 400 pixels, got {args.width}.")
    if args.from_s is not None and args.to_s is not None and args.to_s <= args.from_s:
        raise UsageError(f"--to-s {args.to_s} must be after --from-s {args.from_s}.")
    source = Path(args.input)
    if source.is_dir():
        if args.set or args.seed is not None or args.out:
            raise UsageError(f"{source} is a run directory: --set, --seed and --out apply only to a spec file, "
                             f"which is run first.")
        run_dir = source
    elif source.is_file():
        ran = _run_spec(source, args)
        if ran is None:
            return EXIT_INTERNAL
        run_dir = ran
    else:
        raise UsageError(f"{source}: no such run directory or spec file.")
    trace = spacetime.load_run(run_dir)
    written: list[str] = []
    if args.shiviz:
        _write(Path(args.shiviz), spacetime.shiviz_log(trace), "--shiviz")
        written.append(f"{args.shiviz} (ShiViz log, {len(trace.messages)} messages)")
    if args.output or not args.shiviz:
        fmt = args.format or ("png" if args.output and Path(args.output).suffix.lower() == ".png" else "svg")
        out = Path(args.output) if args.output else run_dir / f"trace.{fmt}"
        drawn = trace.messages_in(args.from_s, args.to_s)
        if len(drawn) > args.max_messages:
            start = args.from_s or 0.0
            end = spacetime.window_end_for(trace, start, args.max_messages)
            raise UsageError(
                f"{run_dir}: {len(drawn)} messages to draw, more than --max-messages {args.max_messages}. "
                f"Draw a window, e.g. --from-s {start:g} --to-s {end:g} (at most {args.max_messages} messages), "
                f"raise --max-messages, or export the whole run with --shiviz FILE.")
        scene = spacetime.layout(trace, args.from_s, args.to_s, width=args.width)
        if fmt == "png":
            out.parent.mkdir(parents=True, exist_ok=True)
            spacetime.png(scene, out)
        else:
            _write(out, spacetime.svg(scene), "-o")
        written.append(f"{out} ({len(drawn)} messages, {len(trace.nodes)} lanes)")
    if not args.quiet:
        verdict = "safety OK" if trace.safety_ok else f"safety VIOLATED ({trace.violation_count})"
        print(f"trace {trace.name} (seed {trace.seed}): {verdict}; wrote " + ", ".join(written))
    return EXIT_OK


def _write(path: Path, text: str, flag: str) -> None:
    from bftlab.errors import UsageError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write it ({exc.strerror or exc}).") from None


def _run_spec(path: Path, args: argparse.Namespace) -> Path | None:
    """Run the spec in simulation with its trace kept, as `bftlab run` would; the run directory, or None on a bug."""
    import traceback

    from bftlab.cli.common import error
    from bftlab.errors import ConfigError, UsageError
    from bftlab.reports.report import SPEC_YAML, replay_command, write_outputs
    from bftlab.specs.registry import load_protocol
    from bftlab.specs.spec import load_spec, spec_to_yaml

    spec = load_spec(path, [*args.set, "trace.keep=true", "transport.kind=sim"], args.seed)
    if load_protocol(spec.protocol.name).run is not None:
        raise UsageError(f"{path}: protocol {spec.protocol.name!r} runs without the message-level simulator, "
                         f"so its runs have no trace.jsonl to draw.")
    out = Path(args.out) if args.out else Path("results") / f"trace-{spec.name}-seed{spec.seed}"
    spec_yaml = spec_to_yaml(spec)
    _write(out / SPEC_YAML, spec_yaml, "--out")
    (out / "trace.jsonl").unlink(missing_ok=True)  # never draw a previous run's trace
    replay = replay_command(out / SPEC_YAML, spec.seed)
    try:
        # as `bftlab run` does: the simulator, or the protocol's own run path
        from bftlab.pipeline import execute

        report = execute(spec, out_dir=out)
        write_outputs(out, report, spec_yaml)
    except (ConfigError, UsageError):
        raise
    except Exception:
        traceback.print_exc()
        error(f"internal error during the run with seed {spec.seed}; this is a bug in bftlab. Replay it with: {replay}")
        return None
    return out
