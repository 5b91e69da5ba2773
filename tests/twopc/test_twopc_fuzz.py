"""The fuzz schedules that break three-phase commit (tests/threepc/test_threepc_partition.py: one network
fault per schedule, partitions included, on top of crash/restart windows) find no atomicity violation in
two-phase commit over as many runs: 2PC's participants never decide without the coordinator, so a
partition makes them wait (block), not disagree. Measured: 30 runs, no failure."""

from __future__ import annotations

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.specs.spec import spec_from_dict
from tests.threepc.test_threepc_partition import OPTS, SPEC

from .helpers import TWOPC

RUNS = 30
FAST = {"shards": 3, "shards_per_txn": 2, "vote_timeout_s": 0.03, "inquire_s": 0.05, "resend_s": 0.05,
        "client_retry_s": 0.2}


def test_network_faults_and_crashes_find_no_violation_in_two_phase_commit(tmp_path):
    spec = spec_from_dict({**SPEC, "name": "twopc-fuzz", "protocol": {"name": TWOPC, "params": FAST}})
    summary = fuzz(spec, FuzzOptions(runs=RUNS, max_net_faults=1, **OPTS), tmp_path, progress=False, echo=print)
    assert summary.runs == RUNS and not summary.failures
