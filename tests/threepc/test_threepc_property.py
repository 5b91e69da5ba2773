"""Three-phase commit under random crash/restart schedules, no partitions (the faults it is built for).

- 60 schedules of 1-3 crash/restart windows of any replica, coordinator included, with lost or torn
  unsynced writes: atomicity holds on every run.
- 50 schedules where the coordinator crashes at a random time and stays down for 3 s, and at most one
  participant crashes and restarts too: no participant stays uncertain for long. Every participant that
  voted yes decides within the time the termination protocol needs (failure detection ``timeout_s``, up
  to two backup epochs and a collection, and the crashed participant's own outage), far below the
  coordinator's outage, and nothing is blocked at the end: 3PC does not block once the coordinator's
  failure is detected (BHG §7.5), unlike 2PC (tests/twopc/test_twopc_blocking.py).
"""

from __future__ import annotations

import random

import pytest

from bftlab.protocols.threepc import ThreePcParams
from tests.twopc.helpers import THREEPC, run_drained, spec
from tests.twopc.schedules import crash_schedule

P = ThreePcParams()
MAX_DOWN_S = 0.6
COORD_DOWN_S = 3.0
WORKLOAD = {"clients": 2, "requests": 8, "keys": 4}


def any_crashes(seed: int) -> dict:
    faults = crash_schedule(seed, 4, max_down_s=MAX_DOWN_S)
    storage = ("lose-unsynced", "torn-tail")[seed % 2]
    return run_drained(spec(THREEPC, seed=seed, faults=faults, storage={"faults": storage}, workload=WORKLOAD))


def coordinator_down(seed: int) -> dict:
    rng = random.Random(1000 + seed)
    crash = round(rng.uniform(0.0, 0.3), 4)
    faults = [{"node": 3, "crash_at_s": crash, "recover_at_s": crash + COORD_DOWN_S}]
    if rng.random() < 0.7:
        faults += crash_schedule(seed, 4, nodes=[0, 1, 2], max_crashes=1, until_s=0.4, max_down_s=MAX_DOWN_S)
    return run_drained(spec(THREEPC, seed=seed, faults=faults, workload=WORKLOAD), drain_s=COORD_DOWN_S + 1)


@pytest.fixture(scope="module")
def crashes() -> dict[int, dict]:
    return {seed: any_crashes(seed) for seed in range(60)}


@pytest.fixture(scope="module")
def coordinator_outages() -> dict[int, dict]:
    return {seed: coordinator_down(seed) for seed in range(50)}


def test_atomicity_holds_under_any_crash_schedule(crashes):
    bad = {s: r["safety"]["violations"][:2] for s, r in crashes.items() if not r["safety"]["ok"]}
    assert not bad
    assert sum(r["oracles"]["atomicity"]["committed"] for r in crashes.values()) >= 300


def test_no_blocking_once_the_coordinators_failure_is_detected(coordinator_outages):
    bound = MAX_DOWN_S + P.timeout_s + 2 * P.term_timeout_s + P.collect_timeout_s + 0.1
    hit = 0
    for seed, rep in coordinator_outages.items():
        a = rep["oracles"]["atomicity"]
        assert rep["safety"]["ok"], (seed, rep["safety"]["violations"][:2])
        assert a["blocked_at_end"] == 0 and a["undecided"] == 0, (seed, a)
        assert a["uncertain_s"]["max"] < bound < COORD_DOWN_S, (seed, a["uncertain_s"])
        assert rep["liveness"]["ok"], seed  # the client is answered once the coordinator is back
        hit += a["uncertain_s"]["max"] > P.timeout_s  # the participants had to terminate without it
    assert hit >= 25
