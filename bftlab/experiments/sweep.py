"""Sweep files: one base run spec, axes to vary it along, seeds, and plot recipes.

An experiment file (``experiments/*.yaml``) looks like::

    name: pbft-scaling
    description: PBFT throughput and latency vs number of replicas.
    base:                      # a single-run spec, as for `bftlab run` (or the path of one)
      protocol: {name: pbft}
      workload: {clients: 8, requests: 2000}
    grid:                      # every combination of these values
      n: [4, 7, 10, 16]
      protocol.params.batch_size_max: [1, 10]
    zip:                       # values that vary together (all lists the same length)
      workload.clients: [4, 8]
      workload.requests: [1000, 2000]
    seeds: 5                   # seeds 1..5, or an explicit list [3, 7, 11]
    quick: {seeds: 2, grid: {n: [4, 7]}, set: {workload.requests: 200}}
    plots: [...]               # see bftlab.plots

A file may instead draw measurements that are not run reports (benchmark
timings): ``benchmark: {file: ..., command: ..., records: results}`` replaces
``base`` and the axes; its figures read the records of that JSON file.

Loading is all-or-nothing: every run's resolved spec is validated with
:mod:`bftlab.specs.schema` before anything runs, so a bad axis path or value is one
:class:`~bftlab.errors.ConfigError` naming the file, the axis and the value.
A run is keyed by a hash of its resolved spec and the bftlab version
(:func:`run_key`), so the same run in two sweeps is stored once per sweep folder
and never recomputed.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bftlab import __version__
from bftlab.errors import ConfigError
from bftlab.specs import schema
from bftlab.specs.schema import FieldError

__all__ = ["BenchmarkSource", "PlotRecipe", "QuickConfig", "Run", "Sweep", "SweepFile", "load_sweep", "run_key",
           "sweep_from_dict"]


# ------------------------------------------------------------------ the file
@dataclass(frozen=True, kw_only=True)
class QuickConfig:
    """A reduced sweep for ``--quick`` (a CI smoke test): fewer seeds, values and requests."""

    seeds: int | list[int] | None = None
    """Replaces seeds."""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    """Replaces the values of the named grid axes (each must be a grid axis)."""
    zip: dict[str, list[Any]] = field(default_factory=dict)
    """Replaces the zip axes (same keys as zip, lists of one common length)."""
    set: dict[str, Any] = field(default_factory=dict)
    """Key path -> value, applied to the base spec (e.g. workload.requests: 200)."""


@dataclass(frozen=True, kw_only=True)
class Marker:
    """A straight line across a plot: at a number or at a key path of the spec (e.g. faults[0].crash_at_s)."""

    at: float | str
    """Position on its axis, or a key path into the resolved spec."""
    label: str = ""
    """Legend text."""


@dataclass(frozen=True, kw_only=True)
class BenchmarkSource:
    """Measurements read from a benchmark's JSON output instead of run reports (they are not reproducible runs)."""

    file: str
    """The JSON file, relative to the experiment file (e.g. ../benchmarks/results/bench_crypto.json)."""
    command: str
    """The command that writes the file; named when the file is missing."""
    records: str = ""
    """Key path of the list of records in the JSON (e.g. results); empty: the whole file is one record."""

    def __post_init__(self) -> None:
        if not self.file.strip():
            raise FieldError("file", "must name the benchmark's JSON file.")
        if not self.command.strip():
            raise FieldError("command", "must give the command that writes the file (shown when the file is missing).")
        if self.records:
            try:
                parse_path(self.records)
            except ValueError as exc:
                raise FieldError("records", f"{exc}.") from None


@dataclass(frozen=True, kw_only=True)
class PlotRecipe:
    """One figure drawn from the stored reports of the sweep."""

    name: str
    """File stem of the figure (letters, digits, '.', '_', '-'); PNG, SVG and a caption are written."""
    kind: str = "line"
    """line: y vs a numeric x; bar: y per category x; timeline: a per-time-bin series from report.timeline."""
    x: str = ""
    """Key path of x (spec first, then report), e.g. n; for timeline the time bin (t_s) is x."""
    y: str
    """Key path of y in the report (e.g. metrics.throughput_rps), or a timeline field (latency_mean_s, accepted)."""
    timeline: str = "timeline"
    """Timeline plots: key path of the report's per-bin rows (each with t_s, the bin's start, in bins of one
    width): report.timeline by default, or one an oracle reports, e.g. oracles.partition.timeline."""
    series: str | None = None
    """Key path whose values make one line (or bar group) each, e.g. protocol.params.batch_size_max."""
    where: dict[str, Any] = field(default_factory=dict)
    """Key path -> value: only runs matching all of these are plotted."""
    title: str = ""
    """Figure title."""
    xlabel: str = ""
    """x axis label with unit; defaults to the key path."""
    ylabel: str = ""
    """y axis label with unit; defaults to the key path."""
    series_label: str = ""
    """Legend title; defaults to the series key path."""
    x_scale: float = 1.0
    """Multiply a numeric x by this (1e-6 shows bytes as MB)."""
    y_per: str | None = None
    """Key path to divide y by, run by run (run.wall_s makes a count a rate per wall second)."""
    y_scale: float = 1.0
    """Multiply y by this (1000 shows seconds as ms)."""
    xscale: str = "linear"
    """linear, log or log2."""
    yscale: str = "linear"
    """linear or log."""
    band: bool = False
    """Show the 95% confidence interval as a shaded band instead of error bars."""
    vlines: tuple[Marker, ...] = ()
    """Vertical markers (events such as a crash)."""
    value_labels: str = ""
    """Bar plots: write each bar's value above it with this format (e.g. '{:.1f}x'); empty: none."""
    hlines: tuple[Marker, ...] = ()
    """Horizontal markers (e.g. at 1 on a plot of ratios)."""
    xticks: dict[str, str] = field(default_factory=dict)
    """Bar plots: the categories to draw, in this order (keys: the x values as the default tick labels show
    them), each with its tick label. Other x values are left out; a key matching nothing is skipped (a quick
    grid may lack it), but at least one must match."""
    hook: str | None = None
    """Dotted path package.module:function(ax, data, recipe) drawing extras such as a theory curve."""
    caption: str = ""
    """What the figure shows; goes into the caption file."""
    statistics: str = ""
    """Replaces the caption's "each point is the mean over the seeds" sentence, for a figure whose hook draws
    something else from the runs (e.g. an empirical CDF pooling them)."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise FieldError("name", f"must be letters, digits, '.', '_' or '-' (it names files), got {self.name!r}.")
        kinds = ("line", "bar", "timeline")
        if self.kind not in kinds:
            raise FieldError("kind", f"expected one of {', '.join(map(repr, kinds))}, got {self.kind!r}.")
        if self.kind != "timeline" and not self.x:
            raise FieldError("x", f"a {self.kind} plot needs x (a key path such as n).")
        if self.xticks and self.kind != "bar":
            raise FieldError("xticks", f"names bar categories; this is a {self.kind} plot.")
        if self.value_labels:
            if self.kind != "bar":
                raise FieldError("value_labels", f"labels bars; this is a {self.kind} plot.")
            try:
                self.value_labels.format(1.5)
            except (ValueError, IndexError, KeyError) as exc:
                raise FieldError("value_labels", f"{self.value_labels!r} is not a format for one number "
                                                 f"such as '{{:.1f}}' ({exc}).") from None
        if self.y_per is not None and self.kind == "timeline":
            raise FieldError("y_per", "applies to line and bar plots (a timeline's y is a per-bin field).")
        for axis, value, allowed in (("xscale", self.xscale, ("linear", "log", "log2")),
                                     ("yscale", self.yscale, ("linear", "log"))):
            if value not in allowed:
                raise FieldError(axis, f"expected one of {', '.join(map(repr, allowed))}, got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class SweepFile:
    """An experiment file as written (before the grid is expanded)."""

    name: str
    """Sweep name; names its results folder."""
    description: str = ""
    """What the experiment shows."""
    base: Any = None
    """The single-run spec every run starts from: a mapping, or the path of a spec file (relative to this file)."""
    benchmark: BenchmarkSource | None = None
    """Instead of base and axes: plot the records of a benchmark's JSON output (nothing is run)."""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    """Key path -> values; every combination is run."""
    zip: dict[str, list[Any]] = field(default_factory=dict)
    """Key path -> values, all lists of one length; the i-th values go together (one more axis)."""
    seeds: int | list[int] = 1
    """Seeds per grid point: a count N (seeds 1..N) or a list of seeds."""
    timeline_bin_s: float | None = None
    """If set, each report also gets a timeline (accepted requests and mean latency per bin of this width)."""
    quick: QuickConfig = field(default_factory=QuickConfig)
    """The reduced sweep run by --quick."""
    plots: tuple[PlotRecipe, ...] = ()
    """Figures drawn from the stored results by `bftlab plot`."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise FieldError("name", "must be letters, digits, '.', '_' or '-' (it names the results folder), "
                                     f"got {self.name!r}.")
        if self.timeline_bin_s is not None and self.timeline_bin_s <= 0:
            raise FieldError("timeline_bin_s", f"must be > 0, got {self.timeline_bin_s!r}.")
        if self.benchmark is None and self.base is None:
            raise FieldError("base", "missing: an experiment needs a base run spec (or a benchmark: source to plot).")
        if self.benchmark is not None:
            extra = [k for k, v in (("base", self.base is not None), ("grid", self.grid), ("zip", self.zip),
                                    ("timeline_bin_s", self.timeline_bin_s is not None),
                                    ("quick", self.quick != QuickConfig())) if v]
            if extra:
                raise FieldError(extra[0], "has no meaning with benchmark: (its figures read the benchmark's "
                                           "JSON file; nothing is run).")
        names = [p.name for p in self.plots]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldError(f"plots[{i}].name", f"{name!r} is used by another plot; figure names must be unique.")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")


# ------------------------------------------------------------------ key paths
def parse_path(path: str) -> list[str | int]:
    """``faults[0].node`` -> ``['faults', 0, 'node']``; ValueError if malformed."""
    steps: list[str | int] = []
    for part in path.split("."):
        m = _STEP.fullmatch(part)
        if not m:
            raise ValueError(f"{path!r} is not a key path; use dotted names with optional list indices, "
                             "e.g. network.latency_ms or faults[0].node")
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return steps


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in plain data; KeyError if any step is missing."""
    node = data
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise KeyError(path)
        elif not isinstance(node, dict) or step not in node:
            raise KeyError(path)
        node = node[step]
    return node


def _set_path(data: dict, path: str, value: Any) -> None:
    """Set ``path`` in ``data``, creating missing sections; ValueError if a step is not a section/list."""
    steps = parse_path(path)
    node: Any = data
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise ValueError(f"{path!r}: there is no list item [{step}] there")
        elif not isinstance(node, dict):
            raise ValueError(f"{path!r}: {step!r} is below a value that is not a section")
        if last:
            node[step] = copy.deepcopy(value)
        else:
            if isinstance(step, str) and node.get(step) is None:
                node[step] = {}
            node = node[step]


# ------------------------------------------------------------------ expansion
@dataclass(frozen=True)
class Run:
    """One run of a sweep: its axis values, seed, resolved spec (plain data) and store key."""

    key: str
    point: tuple[tuple[str, Any], ...]
    seed: int
    spec: dict[str, Any]

    def label(self) -> str:
        parts = [f"{path}={json.dumps(value)}" for path, value in self.point]
        return ", ".join([*parts, f"seed {self.seed}"])


@dataclass(frozen=True)
class Sweep:
    """A loaded, validated, expanded sweep."""

    file: SweepFile
    source: str
    quick: bool
    runs: tuple[Run, ...]
    axes: tuple[str, ...]
    benchmark_file: Path | None = None
    """For a benchmark: source, the JSON file its figures read."""

    @property
    def name(self) -> str:
        return self.file.name + (".quick" if self.quick else "")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(r.seed for r in self.runs))


def run_key(spec: dict[str, Any], timeline_bin_s: float | None = None, version: str = __version__) -> str:
    """Store key of a run: a hash of its resolved spec, what it records, and the bftlab version."""
    blob = json.dumps({"spec": spec, "timeline_bin_s": timeline_bin_s, "version": version},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _seed_list(seeds: int | list[int], where: str, fail: Any) -> list[int]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise fail(where, f"a seed count must be >= 1, got {seeds!r}.")
        return list(range(1, seeds + 1))
    if not seeds:
        raise fail(where, "the list of seeds is empty; give a count or at least one seed.")
    if len(set(seeds)) != len(seeds):
        raise fail(where, f"seeds must be distinct, got {seeds!r}.")
    return list(seeds)


def _check_axes(grid: dict[str, list[Any]], zipped: dict[str, list[Any]], where: str, fail: Any) -> None:
    for kind, axes in (("grid", grid), ("zip", zipped)):
        for path, values in axes.items():
            at = f"{where}{kind}.{path}"
            try:
                steps = parse_path(path)
            except ValueError as exc:
                raise fail(at, f"bad axis: {exc}.") from None
            if steps[0] in ("seed", "name"):
                raise fail(at, f"{steps[0]!r} cannot be an axis; set seeds with the seeds key.")
            if not values:
                raise fail(at, f"{kind} axis {path!r} has no values.")
    both = sorted(set(grid) & set(zipped))
    if both:
        raise fail(f"{where}zip.{both[0]}", f"{both[0]!r} is both a grid and a zip axis; use one.")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in zipped.items())
        raise fail(f"{where}zip", f"zip axes vary together, so their lists need one length; got {shown}.")


def sweep_from_dict(data: Any, source: str = "<sweep>", lines: schema.Lines | None = None, *,
                    quick: bool = False, base_dir: Path | None = None) -> Sweep:
    """Validate a sweep file's data, expand it into runs and validate every run's spec."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the experiment file must be a YAML mapping with name, base and axes; "
                          f"got {schema.show(data)}.")
    lines = dict(lines or {})
    sf: SweepFile = schema.load(SweepFile, data, source=source, lines=lines)

    def fail(path: str, message: str) -> ConfigError:
        return schema.error(source, lines, path, message)

    if sf.benchmark is not None:
        return Sweep(file=sf, source=source, quick=quick, runs=(), axes=(),
                     benchmark_file=Path(os.path.normpath((base_dir or Path(".")) / sf.benchmark.file)))
    _check_axes(sf.grid, sf.zip, "", fail)
    grid, zipped, seeds, sets = dict(sf.grid), dict(sf.zip), sf.seeds, dict()
    if quick:
        q = sf.quick
        for path, values in q.grid.items():
            if path not in grid:
                raise fail(f"quick.grid.{path}", f"{path!r} is not a grid axis; quick.grid can only shrink grid axes "
                                                  f"({', '.join(grid) or 'none'}).")
            grid[path] = values
        if q.zip:
            if set(q.zip) != set(zipped):
                raise fail("quick.zip", f"quick.zip must list the same axes as zip ({', '.join(zipped) or 'none'}), "
                                        f"got {', '.join(q.zip)}.")
            zipped = dict(q.zip)
        _check_axes(grid, zipped, "quick.", fail)
        seeds = q.seeds if q.seeds is not None else seeds
        sets = dict(q.set)
    seed_list = _seed_list(seeds, "quick.seeds" if quick and sf.quick.seeds is not None else "seeds", fail)
    base, base_source, base_lines = _base(sf, source, lines, base_dir)
    for path, value in sets.items():
        try:
            _set_path(base, path, value)
        except ValueError as exc:
            raise fail(f"quick.set.{path}", f"{exc}.") from None
        _override_origin(base_lines, path, f"quick.set {path}: {json.dumps(value)}")
    base.setdefault("name", sf.name)
    runs = _expand(sf, base, base_source, base_lines, grid, zipped, seed_list)
    axes = (*grid, *zipped)
    return Sweep(file=sf, source=source, quick=quick, runs=runs, axes=tuple(axes))


def _base(sf: SweepFile, source: str, lines: dict, base_dir: Path | None) -> tuple[dict, str, dict]:
    """The base spec data, the name to blame in its errors, and its key-path -> line map."""
    if isinstance(sf.base, str):
        path = (base_dir or Path(".")) / sf.base
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise schema.error(source, lines, "base",
                               f"cannot read the base spec {sf.base!r} ({exc.strerror or exc}).") from None
        data, base_lines = schema.parse_yaml(text, sf.base)
        if not isinstance(data, dict):
            raise ConfigError(f"{sf.base}: the base spec must be a YAML mapping, got {schema.show(data)}.")
        return data, sf.base, dict(base_lines)
    if not isinstance(sf.base, dict):
        raise schema.error(source, lines, "base",
                           f"expected a run spec (a mapping) or the path of one, got {schema.show(sf.base)}.")
    cut = len("base.")
    base_lines = {k[cut:]: v for k, v in lines.items() if k.startswith("base.")}
    return copy.deepcopy(sf.base), source, base_lines


def _override_origin(lines: dict, path: str, origin: str) -> None:
    for k in [k for k in lines if k == path or k.startswith(path + ".") or k.startswith(path + "[")]:
        del lines[k]
    lines[path] = origin


def _points(grid: dict[str, list[Any]], zipped: dict[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    """Grid points in file order: the grid's cartesian product, then the zip axes together."""
    grid_points = list(itertools.product(*[[(k, v) for v in vs] for k, vs in grid.items()]))
    n_zip = len(next(iter(zipped.values()))) if zipped else 0
    zip_points = [tuple((k, vs[i]) for k, vs in zipped.items()) for i in range(n_zip)] or [()]
    return [g + z for g in grid_points for z in zip_points]


def _expand(sf: SweepFile, base: dict, base_source: str, base_lines: dict, grid: dict, zipped: dict,
            seeds: list[int]) -> tuple[Run, ...]:
    from bftlab.specs.spec import spec_from_dict, spec_to_dict  # the spec pulls in the registry; keep import cheap

    runs: list[Run] = []
    seen: dict[str, str] = {}
    for point in _points(grid, zipped):
        data = copy.deepcopy(base)
        lines = dict(base_lines)
        for path, value in point:
            kind = "grid" if path in grid else "zip"
            origin = f"{kind} axis {path}: {json.dumps(value)}"
            try:
                _set_path(data, path, value)
            except ValueError as exc:
                raise ConfigError(f"{base_source} ({origin}): {exc}.") from None
            _override_origin(lines, path, origin)
        for seed in seeds:
            data["seed"] = seed
            lines["seed"] = f"seed {seed}"
            try:
                spec = spec_to_dict(spec_from_dict(data, base_source, lines))
            except ConfigError as exc:
                if not point or "axis" in str(exc):
                    raise
                # The blamed key is in the base, but only this grid point makes it invalid: say which.
                shown = ", ".join(f"{k}: {json.dumps(v)}" for k, v in point)
                raise ConfigError(f"{exc} (at the grid point {shown})") from None
            key = run_key(spec, sf.timeline_bin_s)
            run = Run(key=key, point=point, seed=seed, spec=spec)
            if key in seen:
                raise ConfigError(f"{base_source}: runs {seen[key]} and {run.label()} resolve to the same spec; "
                                  f"an axis changes nothing (remove repeated values).")
            seen[key] = run.label()
            runs.append(run)
    return tuple(runs)


def load_sweep(path: str | Path, *, quick: bool = False) -> Sweep:
    """Read, validate and expand the experiment file at ``path``; one ConfigError on any problem."""
    p = Path(path)
    source = str(path)
    data, lines = schema.read_yaml_file(path, "experiment")
    if data is None:
        raise ConfigError(f"{source}: the experiment file is empty; it needs name, base and axes (grid, zip, seeds).")
    return sweep_from_dict(data, source, lines, quick=quick, base_dir=p.parent)
