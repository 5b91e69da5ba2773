"""configs/paxoscommit-crash-leader.yaml does what its comment says."""

from __future__ import annotations

from pathlib import Path

from bftlab.api import Decided, Recovered
from bftlab.core.kernel import NS
from bftlab.sim import runner
from bftlab.specs.spec import load_spec

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paxoscommit-crash-leader.yaml"


def test_the_coordinator_crash_config_completes_every_request_with_a_takeover():
    spec = load_spec(CONFIG, overrides=["trace.keep=true"])
    sim = runner.build(spec)
    sim.run()
    rep = sim.report(1.0)
    atom = rep["oracles"]["atomicity"]
    assert atom["safe"] and atom["blocked_at_end"] == 0 and atom["undecided"] == 0
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 400
    assert sim.nodes[4].counters["coord.takeovers"] >= 1  # acceptor 4 finished what replica 3 left
    assert [e.node for _, e in sim.history if type(e) is Recovered] == [3]
    by_acceptor4 = [t for t, e in sim.history if type(e) is Decided and e.node == 4]
    assert by_acceptor4 and min(by_acceptor4) > 0.5 * NS
