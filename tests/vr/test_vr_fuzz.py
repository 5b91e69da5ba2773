"""The fuzzer's crash/restart schedules find the amnesiac VR replica, shrink the schedule and replay it.

Crash atoms restart a replica with its memory lost (a durable protocol is
rebuilt from its factory and sees only ``Start.recovered``). The amnesiac
replica (tests/vr/amnesiac.py) then re-runs the log it forgot from op 1, which
the smr oracle reports; correct VR recovers first (§4.3) and is clean on the
same counterexample and under the same fuzzing.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bftlab.fuzz import FuzzOptions, fuzz
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from tests.vr.helpers import FAST, VR

SPEC = {"name": "vr-fuzz", "seed": 1, "n": 3,
        "protocol": {"name": "tests.vr.amnesiac:AMNESIAC", "params": FAST},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": 2, "requests": 100}, "stop": {"time_limit_s": 8}}
CRASH_OPTS = {"heal_s": 0.8, "round_s": 0.05, "max_net_faults": 0, "safety_only": True, "strategies": ()}
SAFETY_KINDS = {"agreement", "order", "exactly_once"}


def test_crash_schedules_find_the_amnesiac_replica_and_the_counterexample_replays(tmp_path):
    """Measured: the first failure at run 0 of master seed 1, shrunk to one crash of replica 0."""
    opts = FuzzOptions(runs=20, seed=1, max_failures=1, **CRASH_OPTS)
    summary = fuzz(spec_from_dict(SPEC), opts, tmp_path, progress=False, echo=print)
    (fail,) = summary.failures
    assert SAFETY_KINDS & set(fail.signature[7:].split(",")) and fail.shrunk_atoms <= 2
    counterexample = yaml.safe_load(Path(fail.path).read_text())
    assert counterexample["faults"] and not counterexample["adversary"]
    rep = runner.run(spec_from_dict(counterexample))
    assert SAFETY_KINDS & {v["kind"] for v in rep["safety"]["violations"]}
    assert rep["fault_budget"]["held"]  # within the budget: the bug is the replica's
    counterexample["protocol"]["name"] = VR
    good = runner.run(spec_from_dict(counterexample))
    assert good["safety"]["ok"] and good["liveness"]["ok"], good["safety"]["violations"]


def test_correct_vr_survives_the_same_fuzzing_safe_and_live(tmp_path):
    opts = FuzzOptions(runs=20, seed=1, **{**CRASH_OPTS, "safety_only": False})
    spec = spec_from_dict({**SPEC, "protocol": {"name": VR, "params": FAST}})
    summary = fuzz(spec, opts, tmp_path, progress=False, echo=print)
    assert summary.runs == 20 and not summary.failures
