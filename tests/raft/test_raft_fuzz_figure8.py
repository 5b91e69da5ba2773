"""Correct Raft passes the fuzzer's deep crash-fault campaign at n=5 (minority isolations, rolling cuts, crashes
inside a cut, off-grid times), the campaign that would have to find the Figure 8 variant.

The planted leader that commits an earlier term's entry by counting replicas
(tests/raft/planted.py:FIGURE8) is still caught only by the hand-stepped
schedule of tests/raft/test_raft_figure8.py. Its schedule needs three leaders
and two cuts each placed within about one message latency of a protocol event
(the second leader silenced between winning its votes and sending its no-op;
the third cut off between its old-term entry reaching a majority and its own
no-op doing so). Schedules drawn ahead of the run, however composed, hit such
windows rarely: by our estimate well under once in 10,000 runs. Measured while
writing this: 300 runs of each of master seeds 1 and 2 with ``isolate``,
``anchor`` and ``off_grid`` against the base spec below (with FIGURE8 as its
protocol) found no failure.
Finding it would need schedules that react to what the run does (faults
anchored at observed events), which the fuzzer does not draw yet.
"""

from __future__ import annotations

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.specs.spec import spec_from_dict
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
