"""configs/threepc-crash-coordinator.yaml does what its comment says: the same crash as 2PC's config, but
the participants terminate without the coordinator.

Measured: 200 of 200 requests answered, atomicity OK, longest uncertainty 0.350 s (timeout_s 0.3 plus the
backup's collection) for a 1 s outage, against 1.005 s for two-phase commit.
"""

from __future__ import annotations

from pathlib import Path

from bftlab.sim import runner
from bftlab.specs.spec import load_spec

CONFIGS = Path(__file__).parents[2] / "configs"


def test_the_participants_terminate_while_the_coordinator_is_down():
    rep = runner.run(load_spec(CONFIGS / "threepc-crash-coordinator.yaml"))
    a = rep["oracles"]["atomicity"]
    params = rep["spec"]["protocol"]["params"]
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and a["committed"] == 200 and a["blocked_at_end"] == 0
    assert params["timeout_s"] < a["uncertain_s"]["max"] < params["timeout_s"] + params["collect_timeout_s"] + 0.05
    two = runner.run(load_spec(CONFIGS / "twopc-crash-coordinator.yaml"))
    assert two["oracles"]["atomicity"]["uncertain_s"]["max"] > 2 * a["uncertain_s"]["max"]
