"""The experiment subcommands of ``bftlab``: ``sweep``, ``plot`` and ``reproduce``.

Declared here and listed in :data:`bftlab.cli.COMMANDS` through :data:`COMMANDS`.
Importing this module is cheap: the simulator, Dask and matplotlib load only
when a command runs. Exit status as for every bftlab command (see ``bftlab
--help``), plus 130 when a sweep is interrupted (it resumes when run again).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bftlab.errors import UsageError

if TYPE_CHECKING:  # annotations only: the commands import these lazily, so that the CLI starts fast
    from bftlab.experiments.store import Store
    from bftlab.experiments.sweep import Sweep

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DEFAULT_STORE = Path("results") / "sweeps"
DEFAULT_EXPERIMENTS = Path("experiments")

_EXIT = """\
exit status:
  0    every run finished and is stored (whatever its safety verdict)
  1    some runs raised an error (a bug): each is listed with its axis values, seed and
       replay command; the other runs are stored
  2    bad experiment file or command line, reported before anything runs
  130  interrupted (Ctrl-C or SIGTERM): finished runs are stored; run the same command to resume"""


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR", type=Path, default=DEFAULT_STORE,
                   help=f"results store: each sweep gets the folder DIR/<name> (DIR/<name>.quick with --quick) "
                   f"(default: {DEFAULT_STORE})")


def _add_quick(p: argparse.ArgumentParser, what: str = "the experiment's") -> None:
    p.add_argument("--quick", action="store_true",
                   help=f"{what} reduced version, from the quick: block of the experiment file (fewer seeds, "
                   "values and requests; a smoke test), stored apart from the full one")


def _add_execution(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="local: worker processes on this machine (default); dask: a Dask distributed cluster; "
                   "serial: one run at a time in this process (debugging)")
    g.add_argument("--workers", metavar="N", type=int,
                   help="local: number of processes (default: every core); dask without --scheduler: workers "
                   "of the local Dask cluster started for the sweep")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask: address of a running scheduler, e.g. tcp://host:8786 (default: start a local "
                   "cluster); workers need the same bftlab version and any plugin modules the specs name")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (the summary lines still print)")


def _sweep_command(path: str | Path, quick: bool, store: Path) -> str:
    """The canonical command that (re)makes a sweep's results: what captions and errors quote."""
    parts = ["bftlab", "sweep", str(path)]
    if quick:
        parts.append("--quick")
    if Path(store) != DEFAULT_STORE:
        parts += ["--store", str(store)]
    return shlex.join(parts)


def _sweep_store(sweep: Sweep, store: Path) -> Store:
    from bftlab.experiments.store import Store

    return Store(Path(store) / sweep.name)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a polite kill stops like Ctrl-C: stored runs stay, the rest is cancelled


# ---------------------------------------------------------------------- sweep
_SWEEP_EPILOG = f"""\
An experiment file is a base run spec plus axes:
  name: pbft-scaling
  base: {{protocol: {{name: pbft}}, workload: {{requests: 2000}}}}   # or the path of a spec file
  grid: {{n: [4, 7, 10], protocol.params.batch_size_max: [1, 16]}}  # every combination
  zip: {{workload.clients: [4, 8], workload.requests: [1000, 2000]}} # values that go together
  seeds: 5                                                         # seeds 1..5, or a list
  quick: {{seeds: 2, grid: {{n: [4, 7]}}, set: {{workload.requests: 200}}}}
  plots: [{{name: throughput-vs-n, x: n, y: metrics.throughput_rps, series: protocol.params.batch_size_max}}]
Every run's spec is validated before any run starts. Each finished run is stored
at once as <store>/<name>/runs/<key>/report.json, <key> being a hash of the
resolved spec and the bftlab version; a rerun runs only what is missing, and
summary.csv gives per grid point the mean and 95% confidence interval over seeds.
Workers only compute; this process writes every result, so Dask workers need no
shared file system (but the same bftlab version and any plugin modules the specs name).

examples:
  bftlab sweep experiments/pbft-scaling.yaml
  bftlab sweep experiments/pbft-scaling.yaml --quick --workers 2
  bftlab sweep experiments/pbft-scaling.yaml --executor dask --scheduler tcp://host:8786
  bftlab sweep experiments/pbft-scaling.yaml --dry-run      # validate and count stored runs

{_EXIT}"""


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run an experiment's grid of runs x seeds and store the results",
        description="Validate every run of EXPERIMENT, then run those not yet stored, in parallel, with a "
        "progress bar, storing each report as it finishes; then write summary.csv.",
        epilog=_SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", metavar="EXPERIMENT",
                   help="experiment file (YAML), e.g. experiments/pbft-scaling.yaml")
    _add_quick(p)
    _add_store(p)
    p.add_argument("--dry-run", action="store_true", help="validate and report how many runs are stored; run nothing")
    _add_execution(p)
    p.set_defaults(handler=cmd_sweep)


def _load(path: str | Path, quick: bool) -> Any:
    from bftlab.experiments.sweep import load_sweep

    return load_sweep(path, quick=quick)


def _run_sweeps(sweeps: Sequence[Sweep], args: argparse.Namespace) -> int:
    """Run the missing runs of each sweep in turn on one executor; write manifests and summaries."""
    from bftlab.experiments.executors import make_executor, run_missing
    from bftlab.experiments.store import source_commit

    for s in sweeps:
        if s.file.benchmark is not None:  # nothing to run: its figures read a benchmark's output
            _say(f"{s.name}: no runs; figures read {s.benchmark_file} (made by: {s.file.benchmark.command})")
    sweeps = [s for s in sweeps if s.file.benchmark is None]
    if not sweeps:
        return EXIT_OK
    commit = source_commit()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    failed_any = False
    try:
        todo = [(s, _sweep_store(s, args.store)) for s in sweeps]
        if all(store.has(r.key) for s, store in todo for r in s.runs):
            for s, store in todo:
                _say(f"{s.name}: all {len(s.runs)} runs already done")
                _finish(s, store, args, commit)
            return EXIT_OK
        with make_executor(args.executor, args.workers, args.scheduler) as (executor, where):
            for s, store in todo:
                _start(s, store, args, commit, where)
                outcome = run_missing(s, store, executor, progress=not args.no_progress, say=_say,
                                      provenance={"commit": commit})
                _finish(s, store, args, commit)
                if outcome.interrupted:
                    stored = outcome.already + outcome.ran
                    _say(f"interrupted: {stored} of {outcome.total} runs of {s.name} are stored; "
                         f"run the same command again to resume")
                    return EXIT_INTERRUPTED
                for label, error in outcome.failed:
                    _say(f"error: {s.name}: run {label} failed: {error}")
                failed_any |= bool(outcome.failed)
    except KeyboardInterrupt:  # while the executor starts or stops
        _say("interrupted: finished runs are stored; run the same command again to resume")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed_any:
        _say("error: some runs failed (a bug in bftlab or a plugin); the others are stored")
        return EXIT_INTERNAL
    return EXIT_OK


def _start(sweep: Sweep, store: Store, args: argparse.Namespace, commit: str, where: str) -> None:
    from bftlab import __version__

    store.remove_stale_temp()
    done = sum(store.has(r.key) for r in sweep.runs)
    points = len(sweep.runs) // max(1, len(sweep.seeds))
    seeds = len(sweep.seeds)
    _say(f"{sweep.name}: {len(sweep.runs)} runs ({points} grid point{'s' if points != 1 else ''} x {seeds} "
         f"seed{'s' if seeds != 1 else ''}); "
         f"{done} of {len(sweep.runs)} already done; running {len(sweep.runs) - done} on {where}")
    store.write_text("experiment.yaml", Path(sweep.source).read_text(encoding="utf-8"))
    manifest = {
        "sweep": sweep.file.name,
        "quick": sweep.quick,
        "experiment": str(sweep.source),
        "version": __version__,
        "commit": commit,
        "command": _sweep_command(sweep.source, sweep.quick, args.store),
        "axes": list(sweep.axes),
        "seeds": list(sweep.seeds),
        "runs": [{"key": r.key, "point": dict(r.point), "seed": r.seed} for r in sweep.runs],
    }
    store.write_text("manifest.json", json.dumps(manifest, indent=2) + "\n")


def _finish(sweep: Sweep, store: Store, args: argparse.Namespace, commit: str) -> None:
    from bftlab.experiments.store import summary_rows, write_csv

    stored = [(r.point, store.load(r.key)) for r in sweep.runs if store.has(r.key)]
    if stored:
        rows = summary_rows(sweep.axes, stored)
        store.write_text("summary.csv", write_csv(rows, [*sweep.axes, "seeds"]))
        _say(f"{sweep.name}: {len(stored)} of {len(sweep.runs)} runs stored in {store.root} (summary.csv)")


def cmd_sweep(args: argparse.Namespace) -> int:
    """``bftlab sweep``: validate, run what is missing, summarise."""
    sweep = _load(args.experiment, args.quick)
    if sweep.file.benchmark is not None:
        print(f"ok: {args.experiment}: nothing to run; its figures read {sweep.benchmark_file}, "
              f"made by: {sweep.file.benchmark.command}")
        return EXIT_OK
    if args.dry_run:
        store = _sweep_store(sweep, args.store)
        done = sum(store.has(r.key) for r in sweep.runs)
        print(f"ok: {args.experiment}: {len(sweep.runs)} runs over axes {', '.join(sweep.axes) or '(none)'} "
              f"x {len(sweep.seeds)} seeds; {done} stored in {store.root}, {len(sweep.runs) - done} to run")
        return EXIT_OK
    return _run_sweeps([sweep], args)


# ----------------------------------------------------------------------- plot
_PLOT_EPILOG = """\
Figures are drawn only from the stored results of `bftlab sweep` (nothing is run;
missing runs are an error naming the command to run). Each recipe in the
experiment file's plots: list gives <name>.png, <name>.svg and <name>.caption.md
(the experiment file and its hash, bftlab version, commit, and the commands that
made the results and the figure). Points are means over seeds with t-distribution
95% confidence intervals as error bars or bands.

examples:
  bftlab plot experiments/pbft-scaling.yaml
  bftlab plot experiments/pbft-scaling.yaml --quick --out /tmp/figs
  bftlab plot experiments/pbft-scaling.yaml --figure pbft-throughput-vs-n

exit status:
  0  figures written
  2  bad experiment file, unknown figure, or results missing from the store"""


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw an experiment's figures from its stored results",
        description="Draw the figures declared in EXPERIMENT's plots: list from the results that "
        "`bftlab sweep EXPERIMENT` stored.",
        epilog=_PLOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment file (YAML)")
    _add_quick(p)
    _add_store(p)
    p.add_argument("--out", metavar="DIR", type=Path, help="where figures go (default: <store>/<name>/figures)")
    p.add_argument("--figure", metavar="NAME", action="append", default=[],
                   help="draw only this figure (a plot name in the experiment file); repeatable")
    p.set_defaults(handler=cmd_plot)


def _plot(sweep: Sweep, store_dir: Path, out: Path | None, only: Sequence[str], command: str) -> list[Path]:
    from bftlab.plots import plot_sweep

    store = _sweep_store(sweep, store_dir)
    return plot_sweep(sweep, store, out or store.root / "figures", plot_command=command,
                      sweep_command=_sweep_command(sweep.source, sweep.quick, store_dir), only=only)


def cmd_plot(args: argparse.Namespace) -> int:
    """``bftlab plot``: figures from stored results."""
    sweep = _load(args.experiment, args.quick)
    parts = ["bftlab", "plot", str(args.experiment)] + (["--quick"] if args.quick else [])
    if args.store != DEFAULT_STORE:
        parts += ["--store", str(args.store)]
    if args.out:
        parts += ["--out", str(args.out)]
    written = _plot(sweep, args.store, args.out, args.figure, shlex.join(parts))
    for path in written:
        if path.suffix == ".png":
            print(path)
    return EXIT_OK


# ------------------------------------------------------------------ reproduce
_REPRODUCE_EPILOG = f"""\
Every experiment file (*.yaml) in the experiments folder is validated first (any
error stops everything before a run starts), then swept (only runs not yet stored
run), then every figure is drawn into the figures folder with its caption.
--quick runs each file's reduced quick: version in a few minutes (a smoke test
for CI); the full version takes much longer (see experiments/README.md).
Files with a benchmark: source run nothing; their figures read the benchmark's
JSON output, and are skipped with a warning naming the benchmark command when
that file is missing.

examples:
  bftlab reproduce --quick
  bftlab reproduce --figures docs/figures
  bftlab reproduce --only pbft-scaling --executor dask --scheduler tcp://host:8786

{_EXIT}"""


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="sweep every experiment, then draw every figure",
        description="Run every experiment file in the experiments folder (only what is not yet stored), "
        "then draw all their figures.",
        epilog=_REPRODUCE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_quick(p, "each experiment's")
    p.add_argument("--experiments", metavar="DIR", type=Path, default=DEFAULT_EXPERIMENTS,
                   help=f"folder of experiment files (default: {DEFAULT_EXPERIMENTS})")
    _add_store(p)
    p.add_argument("--figures", metavar="DIR", type=Path,
                   help="where all figures go (default: results/figures, or results/figures-quick with --quick)")
    p.add_argument("--only", metavar="NAME", action="append", default=[],
                   help="only the experiment with this name (file stem); repeatable")
    _add_execution(p)
    p.set_defaults(handler=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``bftlab reproduce``: validate all, sweep all, plot all."""
    if not args.experiments.is_dir():
        raise UsageError(f"--experiments {args.experiments}: not a folder of experiment files.")
    files = sorted(args.experiments.glob("*.yaml"))
    stems = [f.stem for f in files]
    unknown = [name for name in args.only if name not in stems]
    if unknown:
        raise UsageError(f"--only {unknown[0]}: no {unknown[0]}.yaml in {args.experiments}; "
                         f"there are: {', '.join(stems) or 'none'}.")
    files = [f for f in files if not args.only or f.stem in args.only]
    if not files:
        raise UsageError(f"--experiments {args.experiments}: no *.yaml experiment files there.")
    sweeps = [_load(f, args.quick) for f in files]  # all validated before anything runs
    owner: dict[str, str] = {}
    for sweep in sweeps:
        for recipe in sweep.file.plots:
            if recipe.name in owner:  # one figures folder: a second figure would overwrite the first
                raise UsageError(f"{sweep.source}: figure {recipe.name!r} is also drawn by {owner[recipe.name]}; "
                                 f"figure names must be unique across experiment files.")
            owner[recipe.name] = str(sweep.source)
    total = sum(len(s.runs) for s in sweeps)
    _say(f"reproduce: {len(sweeps)} experiments, {total} runs{' (quick)' if args.quick else ''}")
    status = _run_sweeps(sweeps, args)
    if status != EXIT_OK:
        return status
    from bftlab.plots import MissingBenchmark

    figures = args.figures or Path("results") / ("figures-quick" if args.quick else "figures")
    command = shlex.join(["bftlab", "reproduce", *(["--quick"] if args.quick else []), "--figures", str(figures)])
    skipped = []
    for sweep in sweeps:
        try:
            written = _plot(sweep, args.store, figures, (), command)
        except MissingBenchmark as exc:
            # Benchmark timings are machine-specific and not made by reproduce: draw everything else.
            skipped.append(str(exc))
            continue
        for path in written:
            if path.suffix == ".png":
                print(path)
    for message in skipped:
        _say(f"warning: skipped: {message}")
    return EXIT_OK


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_sweep, _add_plot, _add_reproduce)
"""The ``_add_`` functions of this module, for :data:`bftlab.cli.COMMANDS`."""
