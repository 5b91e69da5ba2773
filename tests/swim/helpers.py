"""Building SWIM specs and runs for the tests."""

from __future__ import annotations

from typing import Any

from bftlab.protocols.swim import run as swim_run
from bftlab.protocols.swim.view import DEAD, STATUS_NAMES
from bftlab.specs.spec import ExperimentSpec, spec_from_dict

PROTO = "bftlab.protocols.swim:PROTOCOL"


def swim_spec(n: int = 12, seed: int = 1, loss: float = 0.0, faults: list[dict[str, Any]] | None = None,
              partitions: list[dict[str, Any]] | None = None, adversary: list[dict[str, Any]] | None = None,
              time_limit_s: float = 60.0, **params: Any) -> ExperimentSpec:
    return spec_from_dict({
        "name": "swim-test", "seed": seed, "n": n,
        "protocol": {"name": PROTO, "params": params},
        "workload": {"clients": 1, "requests": 1},
        "network": {"latency_ms": 5.0, "jitter_ms": 1.0, "loss": loss, "partitions": partitions or []},
        "faults": faults or [],
        "adversary": adversary or [],
        "stop": {"time_limit_s": time_limit_s},
    })


class Run:
    """A finished simulation: its members, report and ``metrics.swim``."""

    def __init__(self, spec: ExperimentSpec) -> None:
        self.spec = spec
        self.sim, self.report = swim_run.simulate(spec)
        self.swim = self.report["metrics"]["swim"]

    @property
    def membership(self) -> dict[str, Any]:
        return self.report["oracles"]["membership"]


def sim(spec: ExperimentSpec) -> Any:
    """A built, booted simulation to drive step by step (``kernel.run(until_ns=...)``)."""
    s = swim_run.build(spec)
    s.runtime.start_all()
    return s


def status(sim_: Any, at: int, of: int) -> str | None:
    """How member ``at`` holds member ``of`` now (None: unknown)."""
    rec = sim_.nodes[at].view.get(of)
    return None if rec is None else STATUS_NAMES[rec[0]]


def deaths_of(sim_: Any, member: int) -> list[tuple[float, int]]:
    """(time, observer) of every Dead claim about ``member`` recorded by any member."""
    return [(t, m) for m in sim_.replicas for t, who, st, _, _ in sim_.nodes[m].log if who == member and st >= DEAD]
