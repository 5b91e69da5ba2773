"""The fuzzer's crash/restart schedules find the amnesiac acceptor, shrink the schedule and replay it.

The base spec sets the stage for competing leaders (replicas 1 and 2 cannot talk to each other, and the
first leader crashes at 0.3 s); the fuzzer adds only crash atoms (``max_net_faults: 0``). Measured with
this base: master seed 9 fails at its first run (crashes of replica 0), seed 10 at run 12, seed 5 at run
74; seeds 6, 7, 8 and 11 found nothing in 30 runs. A base without the cut and the first crash found
nothing in 100 runs. Correct Multi-Paxos passes the same campaign.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

BASE = {
    "name": "multipaxos-fz", "seed": 1, "n": 3,
    "protocol": {"name": "tests.multipaxos.amnesiacpaxos:AMNESIAC",
                 "params": {"heartbeat_s": 0.02, "election_timeout_s": 0.1, "accept_retry_s": 0.02,
                            "client_retry_s": 0.15}},
    "network": {"latency_model": "constant", "latency_ms": 5.0},
    "adversary": [{"strategy": "scripted-network", "params": {"faults": [
        {"kind": "drop", "start_s": 0.0, "end_s": 3.0, "src": 1, "dst": 2},
        {"kind": "drop", "start_s": 0.0, "end_s": 3.0, "src": 2, "dst": 1}]}}],
    "workload": {"clients": 2, "requests": 200},
    "faults": [{"node": 0, "crash_at_s": 0.3, "recover_at_s": 0.5}],
    "stop": {"time_limit_s": 8},
}
OPTS = {"runs": 20, "seed": 9, "max_failures": 1, "safety_only": True, "heal_s": 2.8, "round_s": 0.01,
        "max_net_faults": 0, "strategies": ()}
CORRECT = "bftlab.protocols.multipaxos:PROTOCOL"


def test_crash_schedules_find_the_forgotten_promise_and_the_counterexample_replays(tmp_path):
    summary = fuzz(spec_from_dict(BASE), FuzzOptions(**OPTS), tmp_path, progress=False, echo=print)
    (fail,) = summary.failures
    assert fail.signature == "safety:agreement" and fail.shrunk_atoms <= 2
    counterexample = yaml.safe_load(Path(fail.path).read_text())
    assert len(counterexample["faults"]) > len(BASE["faults"])  # the fuzzer's crashes are in the file
    rep = runner.run(spec_from_dict(counterexample))
    assert "agreement" in {v["kind"] for v in rep["safety"]["violations"]}
    assert rep["fault_budget"]["held"]  # within the budget: the bug is the protocol's
    counterexample["protocol"]["name"] = CORRECT
    good = runner.run(spec_from_dict(counterexample))
    assert good["safety"]["ok"] and good["liveness"]["ok"], good["safety"]["violations"]


def test_correct_multipaxos_survives_the_same_campaign(tmp_path):
    spec = spec_from_dict({**BASE, "protocol": {**BASE["protocol"], "name": CORRECT}})
    summary = fuzz(spec, FuzzOptions(**OPTS), tmp_path, progress=False, echo=print)
    assert summary.runs == OPTS["runs"] and summary.failures == []
