"""The protocol's declared fault model drives f, the budget and the messages; unused sections are refused."""

from __future__ import annotations

import json

import pytest
import yaml

from bftlab import pipeline
from bftlab.cli import main
from bftlab.errors import ConfigError
from bftlab.specs.spec import spec_from_dict

TOY = "tests.engine.toyproto:TOY"  # declares CRASH: n >= 2f+1


def toy(**over):
    data = {"name": "toy", "protocol": {"name": TOY}, "n": 3, "seed": 3,
            "workload": {"clients": 2, "requests": 40}, "stop": {"time_limit_s": 30}}
    data.update(over)
    return data


def test_a_crash_fault_protocol_runs_with_n3_and_one_crash():
    spec = spec_from_dict(toy(faults=[{"node": 2, "crash_at_s": 0.05}]))
    assert spec.f == 1  # (n-1)//2 for the crash model; the Byzantine rule would give 0 and refuse the crash
    report = pipeline.run(toy(faults=[{"node": 2, "crash_at_s": 0.05}]))
    assert report.safe and report.live and report.committed == 40
    assert report.data["fault_model"] == "crash" and "f=1 (crash)" in report.summary().splitlines()[0]


@pytest.mark.parametrize("over, message", [
    ({"f": 2}, "f: n=3 replicas tolerate f=1 crash faults; f=2 needs n >= 5."),
    ({"faults": [{"node": 2, "crash_at_s": 0.05}, {"node": 1, "crash_at_s": 0.06}]},
     "faults[1]: at 0.06 s replicas [1, 2] are crashed or Byzantine at once, more than f=1"),
])
def test_the_crash_budget_is_checked(over, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        spec_from_dict(toy(**over))


def test_exceeding_the_budget_deliberately_runs():
    faults = [{"node": 2, "crash_at_s": 0.05}, {"node": 1, "crash_at_s": 0.06}]
    report = pipeline.run(toy(faults=faults, allow_exceeding_f=True, stop={"time_limit_s": 2}))
    assert report.safe and not report.live  # two of three replicas down: no progress, and no safety loss


def test_a_byzantine_protocol_keeps_3f_plus_1():
    with pytest.raises(ConfigError, match=r"f: n=3 replicas tolerate f=0 Byzantine faults; f=1 needs n >= 4\."):
        spec_from_dict({"name": "q", "protocol": {"name": "pbft"}, "n": 3, "f": 1})


def test_a_pow_spec_with_a_workload_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "pow.yaml"
    path.write_text("name: p\nprotocol: {name: pow}\nn: 10\nworkload:\n  clients: 4\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 4: workload: protocol 'pow' does not use the 'workload' section" in err


def test_a_pow_sweep_with_a_timeline_works(tmp_path, capsys):
    experiment = {
        "name": "pow-timeline", "timeline_bin_s": 3600.0,
        "base": {"name": "pow-timeline", "n": 50,
                 "protocol": {"name": "pow", "params": {"blocks": 30, "tx_rate_tps": 1.0}}},
        "grid": {"protocol.params.block_interval_s": [300.0, 600.0]}, "seeds": 1,
    }
    path = tmp_path / "pow-timeline.yaml"
    path.write_text(yaml.safe_dump(experiment))
    store = tmp_path / "store"
    assert main(["sweep", str(path), "--store", str(store), "--executor", "serial", "--no-progress"]) == 0, \
        capsys.readouterr().err
    reports = [json.loads(p.read_text()) for p in store.rglob("report.json")]
    assert len(reports) == 2
    for report in reports:
        bins = report["timeline"]
        assert bins and sum(b["accepted"] for b in bins) == report["metrics"]["committed"]
        assert all(b["latency_mean_s"] > 0 for b in bins)
