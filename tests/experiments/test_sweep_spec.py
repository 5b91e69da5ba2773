"""Sweep files: expansion, quick overrides, and errors reported before anything runs."""

from __future__ import annotations

import math

import pytest
import yaml

from bftlab.cli import main
from bftlab.errors import ConfigError
from bftlab.experiments.store import mean_ci95, summary_rows, t_quantile_975, write_csv
from bftlab.experiments.sweep import load_sweep, run_key

from .helpers import TOY, toy_experiment


def test_grid_times_seeds_expands_in_file_order(tmp_path):
    sweep = load_sweep(toy_experiment(tmp_path, seeds=3))
    assert sweep.axes == ("n", "network.latency_ms")
    assert len(sweep.runs) == 2 * 2 * 3 and sweep.seeds == (1, 2, 3)
    assert [r.point for r in sweep.runs[::3]] == [
        (("n", 4), ("network.latency_ms", 5)), (("n", 4), ("network.latency_ms", 10)),
        (("n", 7), ("network.latency_ms", 5)), (("n", 7), ("network.latency_ms", 10))]
    first = sweep.runs[0]
    assert first.spec["n"] == 4 and first.spec["network"]["latency_ms"] == 5.0 and first.spec["seed"] == 1
    assert first.spec["name"] == "toy-sweep" and first.spec["f"] == 1  # defaults resolved
    assert len({r.key for r in sweep.runs}) == len(sweep.runs)
    assert first.key == run_key(first.spec)
    assert run_key(first.spec, version="9.9") != first.key  # a new version never reuses old results


def test_zip_axes_vary_together_and_seed_lists(tmp_path):
    path = toy_experiment(tmp_path, grid={}, zip={"workload.clients": [2, 5], "workload.requests": [20, 50]},
                          seeds=[7, 11])
    sweep = load_sweep(path)
    assert [(r.spec["workload"]["clients"], r.spec["workload"]["requests"], r.seed) for r in sweep.runs] == [
        (2, 20, 7), (2, 20, 11), (5, 50, 7), (5, 50, 11)]


def test_quick_shrinks_axes_and_overrides_the_base(tmp_path):
    sweep = load_sweep(toy_experiment(tmp_path), quick=True)
    assert sweep.name == "toy-sweep.quick"
    assert len(sweep.runs) == 2 and {r.spec["n"] for r in sweep.runs} == {4}
    assert all(r.spec["workload"]["requests"] == 50 for r in sweep.runs)


@pytest.mark.parametrize(("change", "expected"), [
    ({"grid": {"netwrk.latency_ms": [5]}},
     r"toy-sweep\.yaml \(grid axis netwrk\.latency_ms: 5\): netwrk: unknown key 'netwrk'.*Did you mean 'network'"),
    ({"grid": {"n": [4, 0]}}, r"toy-sweep\.yaml \(grid axis n: 0\): n: must be >= 1, got 0"),
    ({"grid": {"network.loss": [0.1, "high"]}},
     r"\(grid axis network\.loss: \"high\"\): network\.loss: expected a number, got 'high'"),
    ({"grid": {"n[": [4]}}, r"toy-sweep\.yaml, line \d+: grid\.n\[: bad axis: 'n\[' is not a key path"),
    ({"grid": {"n": []}}, r"grid\.n: grid axis 'n' has no values"),
    ({"zip": {"workload.requests": [10, 20], "workload.clients": [1]}},
     r"zip: zip axes vary together.*workload\.requests: 2, workload\.clients: 1"),
    ({"zip": {"n": [4, 7]}}, r"zip\.n: .n. is both a grid and a zip axis"),
    ({"grid": {"n": [4, 7], "f": [2]}},
     r"\(grid axis f: 2\): f: n=4 replicas tolerate f=1 crash faults; f=2 needs n >= 5\."),
    ({"seeds": 0}, r"line \d+: seeds: a seed count must be >= 1, got 0"),
    ({"grid": {"seed": [1, 2]}}, r"grid\.seed: 'seed' cannot be an axis"),
    ({"quick": {"grid": {"m": [1]}}}, r"quick\.grid\.m: 'm' is not a grid axis"),
    ({"plots": [{"name": "p", "kind": "pie", "x": "n", "y": "metrics.committed"}]},
     r"line \d+: plots\[0\]\.kind: expected one of"),
    ({"grdi": {"n": [4]}}, r"unknown key 'grdi' in the top level\. Did you mean 'grid'\?"),
])
def test_bad_axis_path_or_value_names_file_axis_and_value(tmp_path, change, expected):
    path = toy_experiment(tmp_path, **change)
    with pytest.raises(ConfigError, match=expected):
        load_sweep(path, quick="quick" in change)


def test_cli_rejects_a_bad_sweep_with_status_2_before_running_anything(tmp_path, capsys):
    path = toy_experiment(tmp_path, grid={"n": [4, 7, 400, -3]})  # n=400 would run for long; -3 stops it first
    store = tmp_path / "store"
    assert main(["sweep", str(path), "--store", str(store), "--executor", "serial"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "(grid axis n: -3): n: must be >= 1, got -3" in err
    assert str(path) in err and "Traceback" not in err
    assert not store.exists()  # nothing ran, nothing was written


def test_missing_experiment_file_is_a_usage_error(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: experiment file not found" in capsys.readouterr().err


def test_base_may_be_the_path_of_a_run_spec(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "b", "protocol": {"name": TOY}, "n": 4}))
    path = toy_experiment(tmp_path, base="base.yaml", grid={"n": [4, 7]}, seeds=1)
    assert [r.spec["n"] for r in load_sweep(path).runs] == [4, 7]


def test_t_quantiles_and_confidence_interval():
    assert t_quantile_975(1) == 12.706 and t_quantile_975(30) == 2.042
    assert abs(t_quantile_975(60) - 2.0003) < 1e-3 and abs(t_quantile_975(10_000) - 1.96) < 1e-3
    mean, ci = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and math.isclose(ci, 4.303 * 1.0 / math.sqrt(3))
    assert mean_ci95([5.0]) == (5.0, None)


def test_summary_groups_seeds_per_grid_point():
    def rep(tput, lat):
        return {"metrics": {"throughput_rps": tput, "latency_s": {"mean": lat}}, "safety": {"ok": True},
                "liveness": {"ok": True}, "run": {"wall_s": 0.1}}

    runs = [((("n", 4),), rep(10.0, 0.1)), ((("n", 4),), rep(12.0, None)), ((("n", 7),), rep(5.0, 0.2))]
    rows = summary_rows(["n"], runs)
    assert [r["n"] for r in rows] == [4, 7] and rows[0]["seeds"] == 2
    assert rows[0]["metrics.throughput_rps.mean"] == 11.0
    assert math.isclose(rows[0]["metrics.throughput_rps.ci95"], 12.706 * 1.0)
    assert rows[0]["metrics.latency_s.mean.mean"] == 0.1 and rows[0]["metrics.latency_s.mean.n"] == 1
    text = write_csv(rows, ["n", "seeds"])
    head = text.splitlines()[0].split(",")
    assert head[:2] == ["n", "seeds"]
    assert head.index("metrics.throughput_rps.mean") + 1 == head.index("metrics.throughput_rps.ci95")
