"""Figures from stored sweep results only: PNG, SVG and a caption with provenance.

A recipe (:class:`bftlab.experiments.sweep.PlotRecipe`) in the experiment file names what
to draw; this module reads the sweep's reports from the store (never runs
anything), averages over seeds with a t-distribution 95% confidence interval,
draws with matplotlib's Agg backend, calls the recipe's optional ``hook`` for
extras (theory curves, such as :mod:`bftlab.protocols.pbft.figures`) and writes
``<name>.png``, ``<name>.svg`` and ``<name>.caption.md`` saying which
experiment file, bftlab version, commit and commands produced it.

Key paths in a recipe (``x``, ``series``, ``where``) are looked up in the
run's resolved spec first, then in the report, so ``n`` means the spec's ``n``
and ``metrics.throughput_rps`` the report's metric. An x or series value that
is a list or mapping (a whole ``adversary`` list, say) is shown by a short
label (:func:`category`).

An experiment file with a ``benchmark:`` source has no runs: its recipes read
the records of the benchmark's JSON file instead of reports (key paths are
looked up in each record), and its captions say which file and command the
numbers come from.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bftlab.errors import ConfigError, UsageError
from bftlab.experiments.store import Store, mean_ci95
from bftlab.experiments.sweep import PlotRecipe, Sweep, get_path
from bftlab.specs import registry

__all__ = ["MissingBenchmark", "Point", "PlotData", "bar_categories", "category", "load_records", "load_reports",
           "lookup", "plot_sweep"]


@dataclass(frozen=True)
class Point:
    """One plotted point: x, the mean of y over seeds, its 95% CI half-width (None for one seed), seeds."""

    x: Any
    y: float
    ci: float | None
    n: int


@dataclass(frozen=True)
class PlotData:
    """What a hook receives: the series drawn (label -> points) and the reports they came from."""

    series: dict[str, list[Point]]
    reports: list[dict[str, Any]]
    sweep: Sweep
    categories: tuple[Any, ...] = ()
    """Bar plots: the x categories at bar positions 0, 1, ... (as :func:`category` shows them)."""


class MissingBenchmark(UsageError):
    """A benchmark: source's JSON file is missing; the message names the command that writes it."""


def lookup(report: Mapping[str, Any], path: str) -> Any:
    """``path`` in the report's resolved spec if it is there, else in the report; KeyError if neither."""
    try:
        return get_path(report["spec"], path)
    except KeyError:
        return get_path(report, path)


def load_reports(sweep: Sweep, store: Store, command: str) -> list[dict[str, Any]]:
    """Every run's stored report, in sweep order; UsageError naming the command to run if some are missing."""
    missing = [r for r in sweep.runs if not store.has(r.key)]
    if missing:
        raise UsageError(
            f"{sweep.source}: {len(missing)} of {len(sweep.runs)} runs are not in {store.root} "
            f"(first: {missing[0].label()}); figures are drawn from stored results only. Run: {command}"
        )
    return [store.load(r.key) for r in sweep.runs]


def load_records(sweep: Sweep) -> list[dict[str, Any]]:
    """The records of a ``benchmark:`` source's JSON file; MissingBenchmark naming its command if absent."""
    src, path = sweep.file.benchmark, sweep.benchmark_file
    assert src is not None and path is not None
    if not path.is_file():
        raise MissingBenchmark(f"{sweep.source}: benchmark results {path} not found; "
                               f"figures {', '.join(r.name for r in sweep.file.plots)} need them. Run: {src.command}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{sweep.source}: cannot read benchmark results {path} ({exc}); run: {src.command}") from None
    try:
        records = get_path(data, src.records) if src.records else [data]
    except KeyError:
        raise ConfigError(f"{sweep.source}: benchmark.records {src.records!r} is not in {path}.") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{sweep.source}: benchmark.records {src.records!r} in {path} is not a list of records.")
    return records


def category(value: Any) -> Any:
    """``value`` as a plot category: scalars unchanged; a list or mapping as a short text.

    A mapping with a ``strategy`` (an adversary entry) shows as the strategy and the
    replicas it controls (``slow-primary [0]``), one with a ``name`` as that name,
    a list as its items joined by `` + `` (``none`` if empty); anything else as JSON.
    """
    if isinstance(value, list):
        return " + ".join(str(category(v)) for v in value) or "none"
    if isinstance(value, dict):
        if isinstance(value.get("strategy"), str):
            nodes = value.get("byzantine") or []
            return value["strategy"] + (f" {list(nodes)}" if nodes else "")
        if isinstance(value.get("name"), str):
            return value["name"]
        return json.dumps(value, sort_keys=True)
    return value


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def _value(report: Mapping[str, Any], path: str, recipe: PlotRecipe, role: str) -> Any:
    try:
        return lookup(report, path)
    except KeyError:
        raise ConfigError(
            f"plot {recipe.name!r}: {role} {path!r} is neither in the run's spec nor in its report.") from None


def _select(reports: Sequence[dict[str, Any]], recipe: PlotRecipe) -> list[dict[str, Any]]:
    chosen = [r for r in reports if all(_value(r, k, recipe, "where") == v for k, v in recipe.where.items())]
    if not chosen:
        raise ConfigError(f"plot {recipe.name!r}: no run matches where {recipe.where}.")
    return chosen


def _series_label(recipe: PlotRecipe, value: Any) -> str:
    if recipe.series is None:
        return ""
    name = recipe.series_label or recipe.series.rsplit(".", 1)[-1]
    return f"{name} = {value}"


def _aggregate(pairs: Sequence[tuple[Any, float | None]]) -> list[Point]:
    by_x: dict[Any, list[float]] = {}
    for x, y in pairs:
        if y is None or (isinstance(y, float) and not math.isfinite(y)):
            continue  # e.g. the latency of a run that committed nothing
        by_x.setdefault(x, []).append(float(y))
    points = []
    for x in sorted(by_x, key=_sort_key):
        mean, ci = mean_ci95(by_x[x])
        points.append(Point(x, mean, ci, len(by_x[x])))
    return points


def _category(rep: Mapping[str, Any], path: str, recipe: PlotRecipe, role: str, seen: dict[Any, str]) -> Any:
    """The category of ``rep`` at ``path``; ConfigError if two different values would show alike."""
    raw = _value(rep, path, recipe, role)
    cat = category(raw)
    if cat is not raw:
        shown = json.dumps(raw, sort_keys=True)
        if seen.setdefault(cat, shown) != shown:
            raise ConfigError(f"plot {recipe.name!r}: {role} values {seen[cat]} and {shown} both show as {cat!r}; "
                              f"plot them separately (where:) or make them differ in strategy or replicas.")
    return cat


def _y(rep: Mapping[str, Any], recipe: PlotRecipe) -> float | None:
    y = _value(rep, recipe.y, recipe, "y")
    if y is not None and recipe.y_per:
        per = _value(rep, recipe.y_per, recipe, "y_per")
        y = y / per if per else None  # a zero wall time has no rate
    return None if y is None else y * recipe.y_scale


def _collect(reports: Sequence[dict[str, Any]], recipe: PlotRecipe, bin_s: float = 0.0) -> dict[str, list[Point]]:
    """Series label -> aggregated points, series in sorted order; timeline points sit at bin centres."""
    groups: dict[Any, list[tuple[Any, float | None]]] = {}
    seen: dict[str, dict[Any, str]] = {"x": {}, "series": {}}
    shown: set[str] = set()
    for rep in _select(reports, recipe):
        s = _category(rep, recipe.series, recipe, "series", seen["series"]) if recipe.series else None
        pairs: Sequence[tuple[Any, float | None]]
        if recipe.kind == "timeline":
            if recipe.timeline == "timeline" and "timeline" not in rep:
                raise ConfigError(f"plot {recipe.name!r}: a timeline plot needs timeline_bin_s in the experiment file.")
            rows = _value(rep, recipe.timeline, recipe, "timeline")
            if recipe.timeline != "timeline":  # an oracle's rows: their spacing is their width
                bin_s = _spacing(rows)
            pairs = _timeline_pairs(rows, recipe, bin_s)
        else:
            x = _category(rep, recipe.x, recipe, "x", seen["x"])
            if recipe.x_scale != 1.0 and isinstance(x, (int, float)) and not isinstance(x, bool):
                x = x * recipe.x_scale
            shown.add(str(x))
            if recipe.xticks and str(x) not in recipe.xticks:
                continue
            pairs = [(x, _y(rep, recipe))]
        groups.setdefault(s, []).extend(pairs)
    if recipe.xticks and not groups:
        # Some categories may be absent (a --quick grid, another machine's benchmark); none is a mistake.
        raise ConfigError(f"plot {recipe.name!r}: no x value is one of the xticks; the x values are: "
                          f"{', '.join(sorted(map(repr, shown)))}.")
    out = {_series_label(recipe, s): _aggregate(groups[s]) for s in sorted(groups, key=_sort_key)}
    if recipe.kind == "timeline":
        out = {label: _with_gaps(points, bin_s) for label, points in out.items()}
    return out


_COUNTS = ("accepted",)
"""Timeline fields that are counts: a bin without accepted requests counts 0 (a latency has no value there)."""


def _spacing(rows: Sequence[Mapping[str, Any]]) -> float:
    """The bin width of consecutive timeline rows (1.0 when there are fewer than two)."""
    gaps = [b["t_s"] - a["t_s"] for a, b in zip(rows, rows[1:]) if b["t_s"] > a["t_s"]]
    return round(min(gaps), 9) if gaps else 1.0


def _timeline_pairs(bins: Sequence[Mapping[str, Any]], recipe: PlotRecipe, bin_s: float) -> list[tuple[float, float]]:
    """(bin centre, value) per bin of one run; count fields get 0 in the empty bins inside the run."""
    values = {round(b["t_s"] / bin_s): _bin_value(b, recipe) for b in bins}
    if recipe.y in _COUNTS and values:
        values = {i: values.get(i, 0.0) for i in range(max(values) + 1)}
    return [(round((i + 0.5) * bin_s, 9), v) for i, v in sorted(values.items())]


def _with_gaps(points: list[Point], bin_s: float) -> list[Point]:
    """NaN points in bins without data, so the line breaks there instead of bridging a stall."""
    if not points or bin_s <= 0:
        return points
    have = {round(p.x / bin_s - 0.5): p for p in points}
    return [have.get(i) or Point(round((i + 0.5) * bin_s, 9), math.nan, None, 0) for i in range(max(have) + 1)]


def _bin_value(b: Mapping[str, Any], recipe: PlotRecipe) -> float:
    if recipe.y not in b:
        raise ConfigError(
            f"plot {recipe.name!r}: y {recipe.y!r} is not a timeline field; fields: {', '.join(sorted(b))}.")
    return b[recipe.y] * recipe.y_scale


# ------------------------------------------------------------------ drawing
def bar_categories(series: dict[str, list[Point]], recipe: PlotRecipe) -> list[Any]:
    """The categories of a bar plot in drawing order: xticks' order if given, else sorted."""
    present = {p.x for pts in series.values() for p in pts}
    if recipe.xticks:
        by_text = {str(c): c for c in present}
        return [by_text[k] for k in recipe.xticks if k in by_text]
    return sorted(present, key=_sort_key)


def _draw(ax: Any, series: dict[str, list[Point]], recipe: PlotRecipe) -> None:
    if recipe.kind == "bar":
        _draw_bars(ax, series, recipe)
        return
    for label, pts in series.items():
        xs = [p.x for p in pts]
        ys = [p.y for p in pts]
        err = [p.ci or 0.0 for p in pts]
        if recipe.band or recipe.kind == "timeline":
            (line,) = ax.plot(xs, ys, marker="" if recipe.kind == "timeline" else "o", ms=4, label=label or None)
            ax.fill_between(xs, [y - e for y, e in zip(ys, err)], [y + e for y, e in zip(ys, err)],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        else:
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=3, label=label or None)


def _draw_bars(ax: Any, series: dict[str, list[Point]], recipe: PlotRecipe) -> None:
    cats = bar_categories(series, recipe)
    width = 0.8 / max(1, len(series))
    for i, (label, pts) in enumerate(series.items()):
        at = {p.x: p for p in pts}
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(cats))]
        ys = [at[c].y if c in at else 0.0 for c in cats]
        err = [(at[c].ci or 0.0) if c in at else 0.0 for c in cats]
        ax.bar(xs, ys, width=width, yerr=err if any(err) else None, capsize=3, label=label or None)
        if recipe.value_labels:
            for x, c, y, e in zip(xs, cats, ys, err):
                if c in at:  # above the error bar, so neither hides the other
                    ax.annotate(recipe.value_labels.format(y), (x, y + e), xytext=(0, 2), textcoords="offset points",
                                ha="center", va="bottom", fontsize="small",
                                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})
    texts = [recipe.xticks.get(str(c), str(c)) for c in cats]
    ax.set_xticks(range(len(cats)), texts)
    ax.margins(y=0.12)  # headroom above the bars for value labels and the legend
    if len(cats) > 6:
        ax.tick_params(axis="x", labelsize="small")
    # About 11 characters of small text fit under a bar of a figure 0.85 inch per bar wide: tilt longer names.
    per_bar = ax.figure.get_figwidth() * 0.85 / max(1, len(cats)) * 72 / 4.6
    if max((len(line) for t in texts for line in t.split("\n")), default=0) > per_bar:
        ax.tick_params(axis="x", labelrotation=30)
        for text in ax.get_xticklabels():
            text.set_horizontalalignment("right")
            text.set_rotation_mode("anchor")


def _markers(ax: Any, reports: Sequence[dict[str, Any]], recipe: PlotRecipe) -> None:
    for role, markers, draw in (("vlines", recipe.vlines, ax.axvline), ("hlines", recipe.hlines, ax.axhline)):
        for v in markers:
            at = v.at
            if isinstance(at, str):
                values = {_value(r, at, recipe, f"{role}.at") for r in reports}
                if len(values) != 1:
                    raise ConfigError(f"plot {recipe.name!r}: {role} at {at!r} differs between runs "
                                      f"({sorted(values)}); give a number.")
                at = values.pop()
            draw(at, color="0.3", linestyle="--", linewidth=1, label=v.label or None)


def _scales(ax: Any, series: dict[str, list[Point]], recipe: PlotRecipe) -> None:
    if recipe.xscale == "log2":
        ax.set_xscale("log", base=2)
    elif recipe.xscale == "log":
        ax.set_xscale("log")
    if recipe.yscale == "log":
        ax.set_yscale("log")
    if recipe.kind == "line" and recipe.xscale != "linear":
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        xs = sorted({p.x for pts in series.values() for p in pts})
        ax.set_xticks(xs)  # label the swept values themselves, not powers of the base
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())


def _figure(reports: list[dict[str, Any]], data: PlotData, recipe: PlotRecipe) -> Any:
    from matplotlib.figure import Figure  # the Figure API: no pyplot global state, Agg canvas

    # Many bars get a wider figure, so their names stay readable without tilting.
    width = max(6.4, 0.85 * len(data.categories)) if recipe.kind == "bar" else 6.4
    fig = Figure(figsize=(width, 4.2), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    _draw(ax, data.series, recipe)
    _markers(ax, reports, recipe)
    if recipe.hook:
        hook = registry.resolve("bftlab.plot_hooks", recipe.hook, "plot hook")
        if not callable(hook):
            raise ConfigError(f"plot {recipe.name!r}: hook {recipe.hook!r} is {type(hook).__name__}, not a function.")
        try:
            hook(ax, data, recipe)
        except (ValueError, KeyError) as exc:  # the hook does not fit these runs: a recipe mistake
            raise ConfigError(f"plot {recipe.name!r}: hook {recipe.hook}: {exc}") from None
    _scales(ax, data.series, recipe)
    ax.set_xlabel(recipe.xlabel or ("time (s)" if recipe.kind == "timeline" else recipe.x))
    ax.set_ylabel(recipe.ylabel or recipe.y)
    if recipe.title:
        ax.set_title(recipe.title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title=None, fontsize="small")
    return fig


def _caption(sweep: Sweep, recipe: PlotRecipe, reports: list[dict[str, Any]], manifest: dict[str, Any] | None,
             experiment_sha: str, plot_command: str) -> str:
    versions = sorted({str(r.get("version")) for r in reports})
    commits = sorted({str(r.get("provenance", {}).get("commit", "unknown")) for r in reports})
    seeds = sweep.seeds
    sweep_command = (manifest or {}).get("command") or f"bftlab sweep {sweep.source}"
    what = recipe.caption or sweep.file.description
    lines = [
        f"# {recipe.title or recipe.name}",
        "",
        " ".join(what.split()),
        "",
        " ".join(recipe.statistics.split()) or
        f"Each {'bar' if recipe.kind == 'bar' else 'point'} is the mean over {len(seeds)} "
        f"seed{'s' if len(seeds) != 1 else ''} "
        f"({', '.join(map(str, seeds))}); {'bands' if recipe.band or recipe.kind == 'timeline' else 'error bars'} "
        f"show the t-distribution 95% confidence interval of the mean.",
        "",
        f"- Experiment: `{sweep.source}` (sha256 `{experiment_sha[:16]}`)"
        f"{' with its quick overrides' if sweep.quick else ''}",
        f"- Runs: {len(reports)} ({len(reports) // max(1, len(seeds))} grid points x {len(seeds)} seeds)",
        f"- bftlab version: {', '.join(versions)}",
        f"- Commit: {', '.join(commits)}",
        f"- Results made by: `{sweep_command}`",
        f"- Figure made by: `{plot_command}`",
        "",
    ]
    return "\n".join(lines)


def _benchmark_caption(sweep: Sweep, recipe: PlotRecipe, experiment_sha: str, plot_command: str) -> str:
    src, path = sweep.file.benchmark, sweep.benchmark_file
    assert src is not None and path is not None
    raw = path.read_bytes()
    try:
        machine = json.loads(raw).get("machine")
    except (ValueError, AttributeError):
        machine = None
    what = recipe.caption or sweep.file.description
    lines = [
        f"# {recipe.title or recipe.name}",
        "",
        " ".join(what.split()),
        "",
        "Values are as the benchmark recorded them (one number each, no seeds), so no confidence "
        "intervals are drawn. Timings depend on the machine and its load.",
        "",
        f"- Experiment: `{sweep.source}` (sha256 `{experiment_sha[:16]}`)",
        f"- Benchmark results: `{src.file}`, relative to the experiment file (sha256 "
        f"`{hashlib.sha256(raw).hexdigest()[:16]}`)",
        f"- Results made by: `{src.command}`",
    ]
    if isinstance(machine, dict):
        shown = ", ".join(f"{k} {v}" for k, v in machine.items() if isinstance(v, (str, int, float)))
        lines.append(f"- Measured on: {shown}")
    lines += [f"- Figure made by: `{plot_command}`", ""]
    return "\n".join(lines)


def plot_sweep(sweep: Sweep, store: Store, out_dir: Path, *, plot_command: str, sweep_command: str,
               only: Sequence[str] = ()) -> list[Path]:
    """Draw every recipe of ``sweep`` (or those named in ``only``) from ``store`` into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    recipes = [r for r in sweep.file.plots if not only or r.name in only]
    unknown = sorted(set(only) - {r.name for r in sweep.file.plots})
    if unknown:
        names = ", ".join(r.name for r in sweep.file.plots) or "none"
        raise UsageError(f"--figure {unknown[0]}: {sweep.source} has no such plot; its plots: {names}.")
    benchmark = sweep.file.benchmark is not None
    reports = load_records(sweep) if benchmark else load_reports(sweep, store, sweep_command)
    manifest = None if benchmark else store.read_manifest()
    experiment_sha = hashlib.sha256(Path(sweep.source).read_bytes()).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for recipe in recipes:
        selected = _select(reports, recipe)
        series = _collect(reports, recipe, sweep.file.timeline_bin_s or 0.0)
        cats = tuple(bar_categories(series, recipe)) if recipe.kind == "bar" else ()
        data = PlotData(series, selected, sweep, cats)
        fig = _figure(selected, data, recipe)
        png, svg = out_dir / f"{recipe.name}.png", out_dir / f"{recipe.name}.svg"
        # No dates or software versions in the files: the same results give the same bytes.
        fig.savefig(png, metadata={"Software": None})
        matplotlib.rcParams["svg.hashsalt"] = recipe.name
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
        cap = out_dir / f"{recipe.name}.caption.md"
        text = (_benchmark_caption(sweep, recipe, experiment_sha, plot_command) if benchmark
                else _caption(sweep, recipe, selected, manifest, experiment_sha, plot_command))
        cap.write_text(text, encoding="utf-8")
        written += [png, svg, cap]
    return written
