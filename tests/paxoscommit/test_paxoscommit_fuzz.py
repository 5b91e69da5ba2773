"""The fuzzer's crash/restart and network schedules (partitions, drops, delays, duplicates of one message type on
one link) find nothing wrong with Paxos Commit: no atomicity violation, and every request completes after the
faults heal.

The fuzzer treats only ``bftlab.api.CRASH`` as crash-only; Paxos Commit declares its own crash-recovery model,
so the test names no node strategies (``strategies=()``): Byzantine replicas are outside its fault model. The
spec's ``f: 1`` keeps the fuzzer's crashes to one replica at a time, within F = 1 acceptor.
"""

from __future__ import annotations

from bftlab.fuzz import FuzzOptions, fuzz, toolkit
from bftlab.specs.spec import spec_from_dict
from tests.paxoscommit.common import PROTO


def base() -> dict:
    return {"name": "paxoscommit-fuzz", "seed": 1, "n": 6, "f": 1,
            "protocol": {"name": PROTO, "params": {"shards": 3, "shards_per_txn": 2, "client_retry_s": 0.3,
                                                   "max_attempts": 8}},
            "network": {"latency_model": "uniform", "latency_ms": 1.0, "jitter_ms": 0.5},
            "workload": {"clients": 2, "mode": "closed", "requests": 40, "keys": 16},
            "storage": {"faults": "lose-unsynced", "fsync_ms": 2.0},
            "stop": {"time_limit_s": 8.0}}


def test_the_fuzzer_crashes_and_restarts_paxos_commit_replicas():
    kit = toolkit(spec_from_dict(base()), ())
    assert kit.crashes and kit.durable and kit.strategies == ()


def test_paxos_commit_survives_fuzzed_crash_and_network_schedules(tmp_path):
    opts = FuzzOptions(runs=30, seed=3, heal_s=1.0, round_s=0.05, max_net_faults=3, strategies=())
    summary = fuzz(spec_from_dict(base()), opts, tmp_path, progress=False, echo=lambda *a: None)
    assert summary.runs == 30 and not summary.failures, [(f.signature, f.path) for f in summary.failures]
