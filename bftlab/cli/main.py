"""The ``bftlab`` command.

One function per subcommand: ``_add_<name>`` declares its arguments and
``cmd_<name>`` runs it and returns the exit status. To add a subcommand, write
both and list the ``_add_`` function in :data:`COMMANDS`.

Exit status: 0 the command finished (a run finished, whatever its verdict);
1 internal error (a bug: the seed and replay command are printed); 2 bad spec
or usage (one ``error:`` paragraph on stderr, no traceback); 3 safety violated
(``run --fail-on-unsafe`` only); 130 interrupted (Ctrl-C; one line on stderr).

A reader that closes standard output early (``bftlab run SPEC | head -1``) is
not an error: the rest of the output is discarded and the command ends
quietly with the status it would have had (0 if it was cut off mid-way); see
the note on SIGPIPE in the documentation of Python's ``signal`` module.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bftlab import __version__
from bftlab.cli.common import _EXIT_CODES, EXIT_INTERNAL, EXIT_OK, EXIT_UNSAFE, EXIT_USAGE, add_spec_args
from bftlab.cli.common import error as _error
from bftlab.cli.experiments import COMMANDS as EXPERIMENT_COMMANDS
from bftlab.errors import ConfigError, UsageError

if TYPE_CHECKING:  # validating a spec imports it lazily
    from bftlab.specs.spec import ExperimentSpec


# ----------------------------------------------------------------------- run
_RUN_EPILOG = f"""\
Outputs (in --out, default results/<spec name>-seed<N>):
  spec.yaml    the resolved spec (every default filled in)
  report.json  metrics, safety and liveness verdicts, run statistics
  report.md    the same as a readable report, with the replay command

examples:
  bftlab run configs/pbft-quickstart.yaml
  bftlab run configs/pbft-quickstart.yaml --seed 7 --set network.latency_ms=50
  bftlab run configs/pbft-crash-primary.yaml --set 'faults=[]' --out results/no-crash
  bftlab run configs/pbft-quickstart.yaml --set protocol.params.batch_size_max=32 --fail-on-unsafe

{_EXIT_CODES}"""


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one experiment and write its report",
        description="Validate SPEC, run it once, write the report files and print a summary.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_args(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<spec name>-seed<N>)")
    p.add_argument("--fail-on-unsafe", action="store_true", help="exit with status 3 if safety is violated")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(handler=cmd_run)


EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as shells report it."""


def _load(args: argparse.Namespace) -> ExperimentSpec | int:
    """The spec of ``run``/``validate``, or EXIT_INTERRUPTED after one line if Ctrl-C stopped the loading.

    Loading a spec may import a plug-in or read a slow file; an interrupt there
    is the user changing their mind, not a bug, so it gets no traceback.
    """
    from bftlab.specs.spec import load_spec

    try:
        return load_spec(args.spec, args.set, args.seed)
    except KeyboardInterrupt:
        _error(f"interrupted while loading {args.spec}; nothing was run.")
        return EXIT_INTERRUPTED


def cmd_run(args: argparse.Namespace) -> int:
    """``bftlab run``: load, run, write outputs, summarise."""
    from bftlab.reports.report import SPEC_YAML, replay_command, summary_table, write_outputs
    from bftlab.specs.spec import spec_to_yaml

    spec = _load(args)
    if isinstance(spec, int):
        return spec
    out = Path(args.out) if args.out else Path("results") / f"{spec.name}-seed{spec.seed}"
    spec_yaml = spec_to_yaml(spec)
    try:
        # Written before running, so a crashed run can be replayed from it.
        out.mkdir(parents=True, exist_ok=True)
        (out / SPEC_YAML).write_text(spec_yaml, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write the output folder ({exc.strerror or exc}).") from None
    replay = replay_command(out / SPEC_YAML, spec.seed)
    try:
        from bftlab.pipeline import execute  # imported here: validating a spec must not need the simulator

        report = execute(spec, out_dir=out)
        write_outputs(out, report, spec_yaml)
        table = summary_table(report)
    except (ConfigError, UsageError):
        raise
    except KeyboardInterrupt:
        _error(f"interrupted (seed {spec.seed}); run it again with: {replay}")
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        _error(f"internal error during the run with seed {spec.seed}; this is a bug in bftlab. "
               f"Replay it with: {replay}")
        return EXIT_INTERNAL
    if not args.quiet:
        try:
            print(table)
            print(f"results: {out}")
            sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        except BrokenPipeError:
            _discard_stdout()  # the run finished and its files are written: keep its exit status
    if args.fail_on_unsafe and not report["safety"]["ok"]:
        return EXIT_UNSAFE
    return EXIT_OK


# ------------------------------------------------------------------ validate
_VALIDATE_EPILOG = """\
examples:
  bftlab validate configs/pbft-quickstart.yaml
  bftlab validate configs/pbft-quickstart.yaml --set n=7 --set f=2
  bftlab validate configs/pbft-quickstart.yaml --explain     # every field, its value and what it means

exit status:
  0  the spec is valid
  2  it is not: one "error:" paragraph on stderr naming the file, line, key and problem"""


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a spec without running it",
        description="Check SPEC (with any --set overrides) without running it. Prints "
        "'ok: SPEC (protocol, n=.., f=..)' or one error paragraph.",
        epilog=_VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_args(p)
    show = p.add_mutually_exclusive_group()
    show.add_argument("--resolved", action="store_true",
                      help="print the resolved spec as YAML (the ok line goes to stderr)")
    show.add_argument("--explain", action="store_true", help="like --resolved, with each field's meaning as a comment")
    p.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``bftlab validate``: load and check only."""
    from bftlab.specs.spec import spec_to_yaml

    spec = _load(args)
    if isinstance(spec, int):
        return spec
    ok = f"ok: {args.spec} ({spec.protocol.name}, n={spec.n}, f={spec.f})"
    if args.resolved or args.explain:
        print(spec_to_yaml(spec, comments=args.explain), end="")
        print(ok, file=sys.stderr)
    else:
        print(ok)
    return EXIT_OK


# ---------------------------------------------------------------------- main
def _add_fuzz(sub: argparse._SubParsersAction) -> None:
    from bftlab.cli.fuzz import add_fuzz  # the fuzz command lives in its own module

    add_fuzz(sub)


def _add_node(sub: argparse._SubParsersAction) -> None:
    from bftlab.cli.node import add_node  # the real transport; see bftlab.transport

    add_node(sub)


def _add_trace(sub: argparse._SubParsersAction) -> None:
    from bftlab.cli.trace import add_trace  # space-time diagrams; see bftlab.reports.spacetime

    add_trace(sub)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_run, _add_validate, *EXPERIMENT_COMMANDS, _add_fuzz, _add_node, _add_trace)

_MAIN_EPILOG = f"""\
examples:
  bftlab run configs/pbft-quickstart.yaml
  bftlab validate configs/pbft-crash-primary.yaml --set n=7
  bftlab run --help             # the options of one subcommand

{_EXIT_CODES}"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bftlab",
        description="Run fault-tolerant consensus experiments on a deterministic simulator or a real network.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bftlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add in COMMANDS:
        add(sub)
    return parser


def _discard_stdout() -> None:
    """Point stdout at the null device once its reader has gone.

    Python ignores SIGPIPE, so writing to a closed pipe raises BrokenPipeError,
    and the unflushed rest would raise again when the interpreter exits. This is
    the recipe of the ``signal`` module's note on SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bftlab`` command; returns the exit status."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return status
    except BrokenPipeError:  # the reader of stdout went away (`| head`): it wants no more output
        _discard_stdout()
        return EXIT_OK
    except (ConfigError, UsageError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Exception:
        traceback.print_exc()
        _error("internal error; this is a bug in bftlab.")
        return EXIT_INTERNAL
