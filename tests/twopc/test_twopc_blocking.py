"""Two-phase commit blocks: the coordinator crashes after collecting the yes votes, before its commit
record is durable; the participants stay uncertain until it restarts, and the uncertainty grows with the
restart time as recovery - crash + a round trip (the closed form of experiments/twopc-blocking.yaml's
figure). Measured at 5 ms links and a crash at 16.5 ms: 93.985 ms for a restart at 0.1 s, 993.985 ms at
1 s, 1993.985 ms at 2 s (the closed form gives 93.5, 993.5, 1993.5: the participants voted 0.485 ms
before the last vote reached the coordinator, one fsync earlier)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bftlab.api import Decided, TxnBegan
from bftlab.experiments.sweep import load_sweep
from bftlab.protocols.twopc.figures import blocking_closed_form, uncertainty_closed_form
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

EXPERIMENT = Path(__file__).parents[2] / "experiments" / "twopc-blocking.yaml"
RESTARTS = (0.1, 0.3, 1.0, 2.0)


def base_spec(recover_at: float) -> dict:
    (run,) = [r for r in load_sweep(EXPERIMENT).runs if r.point == (("faults[0].recover_at_s", 0.1),)]
    data = {**run.spec, "faults": [{**run.spec["faults"][0], "recover_at_s": recover_at}]}
    data["trace"] = {"keep": True}
    return data


def run(recover_at: float) -> tuple[dict, list]:
    sim = runner.build(spec_from_dict(base_spec(recover_at)))
    sim.run()
    return sim.report(0.0), sim.history


@pytest.fixture(scope="module")
def runs() -> dict[float, tuple[dict, list]]:
    return {r: run(r) for r in RESTARTS}


def test_participants_stay_uncertain_until_the_coordinator_restarts(runs):
    for recover_at, (rep, history) in runs.items():
        first = next(e for _, e in history if type(e) is TxnBegan)
        decided = [(t / 1e9, e) for t, e in history if type(e) is Decided and (e.client, e.ts) == (first.client,
                                                                                                   first.ts)]
        assert {e.node for _, e in decided} == {0, 1, 2, 3}
        assert all(not e.commit and t >= recover_at for t, e in decided)  # presumed abort, only after the restart
        assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["oracles"]["atomicity"]["blocked_at_end"] == 0


def test_uncertainty_grows_with_the_restart_time_as_the_closed_form(runs):
    measured = []
    for recover_at, (rep, _) in sorted(runs.items()):
        fault = rep["spec"]["faults"][0]
        got = rep["oracles"]["atomicity"]["uncertain_s"]["max"]
        want = uncertainty_closed_form(recover_at, fault["crash_at_s"], rep["spec"]["network"]["latency_ms"] / 1e3)
        assert got == pytest.approx(want, abs=0.001)  # within one fsync (1 ms)
        measured.append(got)
    assert measured == sorted(measured) and measured[-1] - measured[0] == pytest.approx(RESTARTS[-1] - RESTARTS[0],
                                                                                        abs=1e-6)


def test_the_figure_hook_draws_the_closed_form_at_each_point(runs):
    calls = []
    ax = SimpleNamespace(plot=lambda xs, ys, **kw: calls.append((xs, ys, kw)))
    recipe = SimpleNamespace(x="faults[0].recover_at_s", x_scale=1.0, y_scale=1000.0)
    blocking_closed_form(ax, SimpleNamespace(reports=[rep for rep, _ in runs.values()]), recipe)
    ((xs, ys, kw),) = calls
    assert xs == list(RESTARTS) and "closed form" in kw["label"]
    assert ys == pytest.approx([1000 * (r - 0.0165 + 0.010) for r in RESTARTS])
    other = {**runs[0.1][0], "spec": {**runs[0.1][0]["spec"], "faults": [{"crash_at_s": 0.5, "recover_at_s": 1}]}}
    with pytest.raises(ValueError, match="crash time and latency"):
        blocking_closed_form(ax, SimpleNamespace(reports=[runs[1.0][0], other]), recipe)
