"""Figures over structured axes (whole adversary lists), derived rates, and benchmark outputs."""

from __future__ import annotations

import json
import math
import types

import pytest
import yaml

from bftlab.cli import main
from bftlab.errors import ConfigError
from bftlab.experiments.sweep import load_sweep
from bftlab.plots import category
from bftlab.protocols.pbft import figures as pbft_figures
from bftlab.protocols.pow import figures as pow_figures

from .helpers import toy_experiment

DELAY = {"strategy": "random-delay", "params": {"delay_max_s": 0.02}}
ADVERSARIES = [[], DELAY, [DELAY, {"strategy": "silent", "byzantine": [1]}]]


def test_category_labels_of_structured_values():
    assert category([]) == "none" and category(3) == 3 and category("x") == "x"
    assert category({"strategy": "slow-primary", "byzantine": [0], "params": {}}) == "slow-primary [0]"
    assert category([{"strategy": "gst"}, {"strategy": "silent", "byzantine": [1, 2]}]) == "gst + silent [1, 2]"
    assert category({"name": "pbft", "params": {}}) == "pbft" and category({"a": 1}) == '{"a": 1}'


def test_grid_over_whole_adversary_lists_expands_and_validates(tmp_path):
    path = toy_experiment(tmp_path, grid={"adversary": ADVERSARIES}, seeds=1)
    sweep = load_sweep(path)
    assert [r.point[0][1] for r in sweep.runs] == ADVERSARIES  # as written: a mapping is one strategy
    assert [[a["strategy"] for a in r.spec["adversary"]] for r in sweep.runs] == [
        [], ["random-delay"], ["random-delay", "silent"]]
    assert sweep.runs[1].spec["adversary"][0]["params"]["delay_min_s"] == 0.0  # defaults resolved
    bad = toy_experiment(tmp_path, "bad", grid={"adversary": [[], {"strategy": "nope"}]}, seeds=1)
    with pytest.raises(ConfigError, match="grid axis adversary.*unknown adversary strategy 'nope'"):
        load_sweep(bad)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    plots = [
        {"name": "bars", "kind": "bar", "x": "adversary", "y": "metrics.throughput_rps", "value_labels": "{:.0f}",
         "xticks": {"random-delay + silent [1]": "both", "none": "no attack", "absent": "skipped"}},
        {"name": "rate", "x": "n", "y": "run.messages_delivered", "y_per": "run.wall_s"},
    ]
    path = toy_experiment(folder, "attacks", grid={"adversary": ADVERSARIES}, seeds=2, requests=60, plots=plots)
    store = folder / "store"
    assert main(["sweep", str(path), "--store", str(store), "--executor", "serial", "--no-progress"]) == 0
    return path, store


def test_bar_plot_over_adversaries_orders_and_labels_by_xticks(attacked, tmp_path):
    from bftlab.experiments.store import Store
    from bftlab.plots import _collect, bar_categories, load_reports

    path, store = attacked
    sweep = load_sweep(path)
    reports = load_reports(sweep, Store(store / sweep.name), "")
    recipe = sweep.file.plots[0]
    series = _collect(reports, recipe)
    assert bar_categories(series, recipe) == ["random-delay + silent [1]", "none"]  # random-delay alone left out
    (points,) = series.values()
    assert all(p.n == 2 and p.ci is not None for p in points)
    rate = _collect(reports, sweep.file.plots[1])[""][0]
    expected = [r["run"]["messages_delivered"] / r["run"]["wall_s"] for r in reports]
    assert rate.n == 6 and rate.y == pytest.approx(sum(expected) / 6)
    assert main(["plot", str(path), "--store", str(store), "--out", str(tmp_path)]) == 0
    svg = (tmp_path / "bars.svg").read_text()
    assert "no attack" in svg and "both" in svg and "skipped" not in svg


def test_two_values_with_one_label_are_an_error():
    from bftlab.experiments.sweep import PlotRecipe
    from bftlab.plots import _collect

    def rep(delay_max_s):
        adv = [{"strategy": "random-delay", "byzantine": [], "params": {"delay_max_s": delay_max_s}}]
        return {"spec": {"adversary": adv}, "metrics": {"committed": 5}}

    recipe = PlotRecipe(name="x", kind="bar", x="adversary", y="metrics.committed")
    assert list(_collect([rep(0.1), rep(0.1)], recipe)[""]) != []  # equal values: one category
    with pytest.raises(ConfigError, match="x values .* both show as 'random-delay'"):
        _collect([rep(0.1), rep(0.2)], recipe)
    ticks = PlotRecipe(name="x", kind="bar", x="adversary", y="metrics.committed", xticks={"nothing": "n"})
    with pytest.raises(ConfigError, match="no x value is one of the xticks; the x values are: 'random-delay'"):
        _collect([rep(0.1)], ticks)


def _benchmark_file(folder, **extra):
    data = {"name": "bench", "description": "Speed-ups.",
            "benchmark": {"file": "out/b.json", "command": "python -m benchmarks.bench_x", "records": "results"},
            "plots": [{"name": "speedups", "kind": "bar", "x": "name", "y": "ratio", "yscale": "log",
                       "xticks": {"fast": "fast kernel", "batch 16": "batch\n16"}, "hlines": [{"at": 1}]}]}
    data.update(extra)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_benchmark_source_plots_its_records_and_names_the_command_when_missing(tmp_path, capsys):
    path = _benchmark_file(tmp_path)
    assert main(["sweep", str(path)]) == 0 and "nothing to run" in capsys.readouterr().out
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert "benchmark results" in err and "not found" in err and "Run: python -m benchmarks.bench_x" in err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.json").write_text(json.dumps({"machine": {"cpu": "test cpu", "cores": 2}, "results": [
        {"name": "base", "value": 10.0}, {"name": "fast", "value": 400.0, "ratio": 40.0},
        {"name": "batch 16", "value": 95.0, "ratio": 9.5}]}))
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 0
    caption = (tmp_path / "figs" / "speedups.caption.md").read_text()
    assert "`python -m benchmarks.bench_x`" in caption and "cpu test cpu, cores 2" in caption
    assert "fast kernel" in (tmp_path / "figs" / "speedups.svg").read_text()


def test_reproduce_draws_the_rest_when_a_benchmark_is_missing(tmp_path, capsys):
    exps = tmp_path / "exps"
    exps.mkdir()
    toy_experiment(exps, "one", grid={"n": [4]}, plots=[{"name": "one", "x": "n", "y": "metrics.committed"}])
    _benchmark_file(exps)
    figs = tmp_path / "figs"
    assert main(["reproduce", "--quick", "--experiments", str(exps), "--store", str(tmp_path / "store"),
                 "--figures", str(figs), "--executor", "serial", "--no-progress"]) == 0
    assert [p.name for p in figs.glob("*.png")] == ["one.png"]
    assert "warning: skipped: " in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    ({"grid": {"n": [4]}}, "grid: has no meaning with benchmark"),
    ({"base": {"protocol": {"name": "pbft"}}}, "base: has no meaning with benchmark"),
    ({"benchmark": {"file": "b.json", "command": " "}}, "benchmark.command: must give the command"),
])
def test_benchmark_source_rejects_run_keys(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(_benchmark_file(tmp_path, **extra))


def test_experiment_without_base_or_benchmark_says_which(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("name: e\ngrid: {n: [4]}\n")
    with pytest.raises(ConfigError, match="base: missing: an experiment needs a base run spec"):
        load_sweep(path)


class _Axes:
    """Records what a hook draws."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def hlines(self, y, x0, x1, **kw):
        self.calls.append(("hlines", y, x0, x1))

    def plot(self, xs, ys, **kw):
        self.calls.append(("plot", list(xs), list(ys)))


def _pbft_report(adversary, clients=4, latency_ms=10.0):
    spec = {"adversary": adversary, "protocol": {"params": {"view_change_timeout_s": 0.5}},
            "network": {"latency_model": "uniform", "latency_ms": latency_ms},
            "workload": {"mode": "closed", "clients": clients}}
    return {"spec": spec}


def test_closed_loop_throughput_hook_draws_where_a_closed_form_exists():
    slow = {"strategy": "slow-primary", "byzantine": [0], "params": {"delay_s": None, "start_s": 0.0, "end_s": None}}
    other = {"strategy": "forged-auth", "byzantine": [0], "params": {}}
    reps = [_pbft_report([]), _pbft_report([slow]), _pbft_report([other])]
    data = types.SimpleNamespace(reports=reps, categories=("none", "slow-primary [0]", "forged-auth [0]"))
    recipe = types.SimpleNamespace(x="adversary", y="metrics.throughput_rps", y_per=None, y_scale=1.0)
    ax = _Axes()
    pbft_figures.pbft_closed_loop_throughput(ax, data, recipe)
    assert [(c[1], c[2]) for c in ax.calls] == [(pytest.approx(4 / 0.05), -0.45), (pytest.approx(4 / 0.5), 0.55)]


def test_stale_rate_hook_uses_measured_propagation():
    def rep(interval, t50):
        return {"spec": {"protocol": {"params": {"block_interval_s": interval}}},
                "metrics": {"pow": {"propagation_s": {"to_50pct": {"mean": t50}}}}}

    data = types.SimpleNamespace(reports=[rep(60.0, 3.0), rep(60.0, 3.2), rep(600.0, 3.0)])
    recipe = types.SimpleNamespace(x="protocol.params.block_interval_s", x_scale=1.0, y_scale=100.0)
    ax = _Axes()
    pow_figures.pow_stale_rate(ax, data, recipe)
    (_, xs, ys), = ax.calls
    assert xs == [60.0, 600.0]
    assert ys == pytest.approx([100 * (1 - math.exp(-3.1 / 60)), 100 * (1 - math.exp(-3.0 / 600))])
