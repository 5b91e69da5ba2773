"""The fuzzer against Raft's Figure 8 (ATC'14 §5.4.2) at n=5.

The planted leader that commits an earlier term's entry by counting replicas
(tests/raft/planted.py:FIGURE8) needs three leaders and two cuts, each placed
within about one message latency of a protocol event: the second leader
silenced between winning its votes and sending its no-op, the third cut off
between its old-term entry reaching a majority and its own no-op doing so.
Schedules drawn ahead of the run hit such windows rarely: 300 runs of each of
master seeds 1 and 2 with ``isolate``, ``anchor`` and ``off_grid`` found
nothing, nor did 8,000 more. Reactive schedules (``react``, see
bftlab/fuzz_react.py) place each cut at the instant of an event of the run so
far (Raft names ``LeaderElected`` and ``FirstCommit`` as worth it), and find it
within a minute: run 17 of seed 1, run 50 of seed 2, each shrunk to its three cuts.

Figure 8 also needs the old-term entry and the new leader's no-op to travel in
different AppendEntries, so the stage replicates one entry per message
(``max_batch: 1``, ``max_inflight: 1``); with batching the no-op rides along
and correct and planted leaders commit at the same moment.
"""

from __future__ import annotations

import dataclasses

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.pipeline import execute
from bftlab.specs.spec import load_spec, spec_from_dict
from tests.raft.schedules import PROTO

BASE = {"name": "raft-fuzz-n5", "seed": 1, "n": 5,
        "protocol": {"name": PROTO,
                     "params": {"election_timeout_s": 0.05, "heartbeat_s": 0.01, "client_retry_timeout_s": 0.1}},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": 4, "requests": 300}, "stop": {"time_limit_s": 4}}
"""The stage: five replicas, fast timers, steady load; no fault of its own."""
OPTS = {"heal_s": 1.5, "round_s": 0.05, "max_net_faults": 4, "strategies": (), "isolate": 0.7, "anchor": 0.8,
        "off_grid": True}


def test_correct_raft_is_safe_and_live_under_the_deep_crash_fault_campaign(tmp_path):
    summary = fuzz(spec_from_dict(BASE), FuzzOptions(runs=30, seed=1, **OPTS), tmp_path, progress=False,
                   echo=print)
    assert summary.runs == 30 and not summary.failures, [(f.signature, f.detail) for f in summary.failures]


REACT_BASE = {**BASE, "name": "raft-react-n5",
              "protocol": {"name": PROTO, "params": {**BASE["protocol"]["params"], "max_batch": 1, "max_inflight": 1}}}
REACT = {"heal_s": 1.5, "round_s": 0.05, "max_net_faults": 0, "max_node_faults": 0, "strategies": (), "react": 3,
         "safety_only": True}


def test_reactive_schedules_find_the_figure8_leader_and_shrink_it_to_a_replayable_spec(tmp_path):
    planted = spec_from_dict({**REACT_BASE,
                              "protocol": {**REACT_BASE["protocol"], "name": "tests.raft.planted:FIGURE8"}})
    summary = fuzz(planted, FuzzOptions(runs=20, seed=1, max_failures=1, **REACT), tmp_path, progress=False,
                   echo=print)
    assert [f.signature for f in summary.failures] == ["safety:agreement"], summary.failures
    found = summary.failures[0]
    assert found.shrunk_atoms == 3  # the three cuts of Figure 8, nothing else (found at run 17 when written)
    assert "PYTHONPATH=" in found.replay and str(found.path) in found.replay
    replayed = load_spec(found.path)
    assert not execute(replayed)["safety"]["ok"]  # the written spec fails on its own
    correct = dataclasses.replace(replayed, protocol=dataclasses.replace(replayed.protocol, name=PROTO))
    assert execute(correct)["safety"]["ok"]  # and correct Raft survives the very same cuts


def test_correct_raft_is_safe_under_the_reactive_campaign(tmp_path):
    summary = fuzz(spec_from_dict(REACT_BASE), FuzzOptions(runs=20, seed=2, **REACT), tmp_path, progress=False,
                   echo=print)
    assert summary.runs == 20 and not summary.failures, [(f.signature, f.detail) for f in summary.failures]
