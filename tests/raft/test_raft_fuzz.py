"""The fuzzer's crash/restart schedules find a Raft replica that does not wait for its Syncs.

The eager replica (tests/raft/planted.py) acknowledges, votes and reports
``Executed`` before its writes are durable; a crash that loses unsynced records
makes it execute an index again after its restart. The fuzzer must find that
from crash atoms alone, shrink it, and write a counterexample that replays;
correct Raft passes the same schedule. (The Figure 8 variant needs a precise
interleaving of five elections and one lost message; 60 fuzz runs with network
and crash atoms did not find it, nor did the deeper campaign of tests/raft/test_raft_fuzz_figure8.py,
so it is pinned by tests/raft/test_raft_figure8.py.)
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from tests.raft.schedules import PROTO

EAGER = {"name": "raft-eager", "seed": 1, "n": 5,
         "protocol": {"name": "tests.raft.planted:EAGER",
                      "params": {"election_timeout_s": 0.05, "heartbeat_s": 0.01, "client_retry_timeout_s": 0.1}},
         "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
         "workload": {"clients": 4, "requests": 300}, "stop": {"time_limit_s": 8}}
OPTS = {"heal_s": 1.5, "round_s": 0.05, "max_net_faults": 0, "safety_only": True, "strategies": ()}


def test_crash_schedules_find_an_acknowledgement_sent_before_its_write_is_durable(tmp_path):
    """Measured: the first failure at run 5 of master seed 1, shrunk to one crash atom."""
    summary = fuzz(spec_from_dict(EAGER), FuzzOptions(runs=20, seed=1, max_failures=1, **OPTS), tmp_path,
                   progress=False, echo=print)
    (fail,) = summary.failures
    assert {"exactly_once", "order"} & set(fail.signature[7:].split(",")) and fail.shrunk_atoms <= 2
    counterexample = yaml.safe_load(Path(fail.path).read_text())
    assert counterexample["faults"] and not counterexample["adversary"]
    rep = runner.run(spec_from_dict(counterexample))
    assert {"exactly_once", "order"} & {v["kind"] for v in rep["safety"]["violations"]}
    assert rep["fault_budget"]["held"]  # within the budget: the bug is the protocol's
    counterexample["protocol"]["name"] = PROTO
    good = runner.run(spec_from_dict(counterexample))
    assert good["safety"]["ok"] and good["liveness"]["ok"], good["safety"]["violations"]
