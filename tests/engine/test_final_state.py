"""``ProtocolSpec.final_state``: what each running correct replica holds at the end reaches the oracles."""

from __future__ import annotations

import dataclasses
from typing import Any

from bftlab.api import FinalState
from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from tests.engine.toyproto import TOY

TOY_FINAL = dataclasses.replace(TOY, name="toy-final", final_state=lambda node: {"executed": node.executed})


class _Seen:
    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.states: dict[int, Any] = {}

    def observe(self, t_ns: int, event: Any) -> None:
        if type(event) is FinalState:
            self.states[event.node] = dict(event.state)

    def verdict(self) -> OracleVerdict:
        return OracleVerdict(name="seen", safe=None, live=None,
                             section={"states": self.states, "faults": self.ctx.faults})


SEEN = OraclePlugin("seen", _Seen)


def run(**extra) -> dict:
    doc = {"name": "fs", "n": 3, "seed": 1, "protocol": {"name": "tests.engine.test_final_state:TOY_FINAL"},
           "oracles": ["tests.engine.test_final_state:SEEN"], "workload": {"clients": 1, "requests": 20}, **extra}
    return runner.run(spec_from_dict(doc))


def test_every_running_replica_reports_its_final_state_and_a_crashed_one_none():
    rep = run()
    section = rep["oracles"]["seen"]
    assert section["states"] == {0: {"executed": 20}, 1: {"executed": 20}, 2: {"executed": 20}}
    assert section["faults"] is False
    down = run(faults=[{"node": 2, "crash_at_s": 0.0}])["oracles"]["seen"]
    assert set(down["states"]) == {0, 1} and down["faults"] is True


def test_a_protocol_without_the_hook_reports_nothing():
    rep = run(protocol={"name": "tests.engine.toyproto:TOY"})
    assert rep["oracles"]["seen"]["states"] == {}


def test_settle_keeps_the_run_going_after_the_last_answer_so_what_is_in_flight_lands():
    quick, settled = run(), run(stop={"time_limit_s": 30, "settle_s": 0.5})
    assert settled["run"]["sim_time_s"] == quick["run"]["sim_time_s"] + 0.5
    assert settled["metrics"]["committed"] == quick["metrics"]["committed"] == 20
