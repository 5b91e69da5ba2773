"""Three-phase commit is nonblocking under crashes but not partition tolerant (Skeen 1981; BHG 1987 §7.5):
a partition makes each side deem the other failed, terminate on its own, and decide differently.

- A scripted partition (configs/threepc-partition.yaml) separates participant 0, which got the PreCommit,
  from 1 and 2, which did not: the coordinator commits on its ACK timeout, 1 and 2 elect participant 1
  and abort by TR3. Measured: nodes [0, 3] commit, [1, 2] abort at about 0.72 s.
- The fuzzer finds such a violation by itself (one network fault allowed per schedule, on top of
  crash/restart windows): with master seed 1 the first failure is run 23, an agreement violation shrunk
  to a partition and one crash; ``bftlab run`` of the counterexample replays it, and the same
  counterexample without its partition is clean. With crash faults only, as many runs (24) find nothing
  (nor do 100 runs of master seed 7, measured outside the suite).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from bftlab import cli
from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.sim import runner
from bftlab.specs.spec import load_spec, spec_from_dict

ROOT = Path(__file__).parents[2]
FAST = {"shards": 3, "shards_per_txn": 2, "vote_timeout_s": 0.03, "ack_timeout_s": 0.03, "timeout_s": 0.08,
        "term_timeout_s": 0.08, "collect_timeout_s": 0.03, "client_retry_s": 0.2}
SPEC = {"name": "threepc-fuzz", "seed": 1, "n": 4, "protocol": {"name": "bftlab.protocols.threepc:PROTOCOL",
                                                                  "params": FAST},
        "network": {"latency_model": "uniform", "latency_ms": 5.0, "jitter_ms": 2.0},
        "workload": {"clients": 4, "requests": 200, "keys": 50}, "stop": {"time_limit_s": 10}}
BUDGET = 60  # the search stops at its first failure: run 23 with master seed 1
OPTS = {"seed": 1, "round_s": 0.1, "heal_s": 1.0, "safety_only": True, "strategies": ()}


def test_a_partition_between_precommitted_and_uncertain_participants_breaks_agreement():
    spec = load_spec(ROOT / "configs" / "threepc-partition.yaml")
    sim = runner.build(spec)
    sim.run()
    rep = sim.report(0.0)
    (v,) = [v for v in rep["safety"]["violations"] if v["requests"] == [[4, 1]]]
    assert v["kind"] == "agreement" and v["detail"] == "nodes [0, 3] decided commit, nodes [1, 2] abort"
    assert sim.nodes[3].counters["coordinator.ack_timeouts"] >= 1  # side a: 1 and 2 deemed failed, commit
    assert sim.nodes[1].counters["participant.terminations"] >= 1  # side b: participant 1 leads, TR3 abort
    applied = {p: [4, 1] in sim.nodes[p].store.final_state()["applied"] for p in range(3)}
    assert applied == {0: True, 1: False, 2: False}
    healed = dataclasses.replace(spec, network=dataclasses.replace(spec.network, partitions=()))
    clean = runner.run(healed)
    assert clean["safety"]["ok"] and clean["oracles"]["atomicity"]["committed"] == 6


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """Fuzz with at most one network fault per schedule (on top of crash/restart windows) until a failure."""
    opts = FuzzOptions(runs=BUDGET, max_net_faults=1, max_failures=1, **OPTS)
    return fuzz(spec_from_dict(SPEC), opts, tmp_path_factory.mktemp("fz"), progress=False, echo=print)


def test_the_fuzzer_finds_the_partition_violation_and_the_counterexample_replays(search, tmp_path):
    (fail,) = search.failures
    assert fail.signature == "safety:agreement" and fail.shrunk_atoms <= 2 and search.first_failure_run is not None
    counterexample = yaml.safe_load(Path(fail.path).read_text())
    (net,) = [a for a in counterexample["adversary"] if a["strategy"] == "scripted-network"]
    assert [f["kind"] for f in net["params"]["faults"]] == ["partition"]
    out = tmp_path / "replay"
    assert cli.main(["run", fail.path, "--seed", str(fail.seed), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert not report["safety"]["ok"] and "agreement" in {v["kind"] for v in report["safety"]["violations"]}
    counterexample["adversary"] = []  # the same schedule without its partition: clean
    assert runner.run(spec_from_dict(counterexample))["safety"]["ok"]


def test_with_crash_faults_only_as_many_runs_find_nothing(search, tmp_path):
    runs = max(search.runs, 20)
    summary = fuzz(spec_from_dict(SPEC), FuzzOptions(runs=runs, max_net_faults=0, **OPTS), tmp_path, progress=False,
                   echo=print)
    assert summary.runs == runs and not summary.failures
