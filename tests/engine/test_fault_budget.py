"""The fault budget counts a crashed replica as faulty until it has recovered: before the run and after it.

``validate`` counts each restart's ``recovery_s`` allowance (defaults per
transport); the report measures when each restarted replica really recovered
(:class:`~bftlab.api.Recovered`) and says whether the budget held.
"""

from __future__ import annotations

import math

import pytest

from bftlab.cli.main import main
from bftlab.errors import ConfigError
from bftlab.reports.budget import fault_budget
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict


def tight(kind: str, **extra) -> dict:
    """The schedule of the issue: four SIGKILLs 0.25 s apart, each replica restarted 0.05 s later."""
    faults = [{"node": i, "crash_at_s": 0.5 + 0.25 * i, "recover_at_s": 0.55 + 0.25 * i} for i in range(4)]
    return {"name": "tight", "protocol": {"name": "pbft"}, "n": 4, "seed": 1, "faults": faults,
            "workload": {"clients": 2, "requests": 300}, "transport": {"kind": kind}, **extra}


@pytest.mark.parametrize("kind", ["sim", "real"])
def test_a_schedule_that_restarts_the_next_replica_before_the_last_one_recovered_is_refused(kind):
    doc = tight(kind)
    if kind == "sim":  # the simulator's default allowance (0.1 s) fits between these crashes: ask for more
        for fault in doc["faults"]:
            fault["recovery_s"] = 0.3
    with pytest.raises(ConfigError) as err:
        spec_from_dict(doc)
    text = str(err.value)
    assert "faults[1]" in text and "replicas [0, 1]" in text and "until it has recovered" in text


def test_validate_exits_2_with_one_paragraph_naming_the_fault(tmp_path, capsys):
    import yaml

    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(tight("real")), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "faults[1]" in err and "recovery_s" in err and "Traceback" not in err


def test_spaced_out_restarts_pass_and_a_declared_allowance_is_used():
    spaced = tight("real")
    spaced["faults"] = [{"node": i, "crash_at_s": 0.5 + 1.2 * i, "recover_at_s": 0.55 + 1.2 * i} for i in range(4)]
    spec_from_dict(spaced)  # each recovers within 1.0 s of its restart, before the next crash
    declared = tight("sim")
    for fault in declared["faults"]:
        fault["recovery_s"] = 0.1
    spec_from_dict(declared)  # 0.05 + 0.1 s < 0.25 s: within the budget by the schedule's own allowance


def test_beyond_the_budget_with_allow_exceeding_f_runs_and_the_report_says_it_was_exceeded():
    doc = tight("sim", stop={"time_limit_s": 10})
    doc["faults"][1]["crash_at_s"] = 0.52  # while replica 0 is still down
    with pytest.raises(ConfigError):
        spec_from_dict(doc)
    sim = runner.build(spec_from_dict({**doc, "allow_exceeding_f": True}))
    sim.run()
    budget = sim.report(1.0)["fault_budget"]
    assert not budget["held"] and budget["max_faulty"] == 2 and budget["exceeded_at_s"] == 0.52
    assert [o["node"] for o in budget["outages"]] == [0, 1, 2, 3]


def test_the_report_measures_recovery_a_too_short_allowance_shows_up_as_exceeded():
    # Declared: recovered 1 ms after the restart, so validate lets the next crash follow 2 ms later. PBFT's
    # recovery needs replies from its peers (10 ms one way here), so in fact two replicas were faulty at once.
    faults = [{"node": 1, "crash_at_s": 0.1, "recover_at_s": 0.2, "recovery_s": 0.001},
              {"node": 2, "crash_at_s": 0.203, "recover_at_s": 0.4, "recovery_s": 0.001}]
    doc = {"name": "short", "protocol": {"name": "pbft"}, "n": 4, "seed": 2, "faults": faults,
           "workload": {"clients": 2, "requests": 100}}
    sim = runner.build(spec_from_dict(doc))
    sim.run()
    report = sim.report(1.0)
    budget = report["fault_budget"]
    assert not budget["held"] and budget["faulty_at_peak"] == [1, 2] and budget["exceeded_at_s"] == 0.203
    first = budget["outages"][0]
    assert first["restarted_at_s"] == 0.2 and first["recovery_s"] > 0.001
    from bftlab.reports.report import report_markdown, summary_table

    assert "Fault budget: EXCEEDED" in report_markdown(report, "short.yaml")
    assert "EXCEEDED" in summary_table(report, color=False)


def test_the_budget_counts_until_restart_without_recovery_events_and_to_the_end_when_never_recovered():
    outages = [(0, 1.0, 2.0), (1, 2.5, None)]
    plain = fault_budget(f=1, byzantine=(), outages=outages, recovered={}, durable=False, end_s=5.0)
    assert plain["held"] and plain["max_faulty"] == 1
    durable = fault_budget(f=1, byzantine=(), outages=outages, recovered={}, durable=True, end_s=5.0)
    assert not durable["held"] and durable["faulty_at_peak"] == [0, 1] and durable["exceeded_at_s"] == 2.5
    assert durable["outages"][0]["recovered_at_s"] is None
    ok = fault_budget(f=1, byzantine=(), outages=outages, recovered={0: [0.5, 2.3]}, durable=True, end_s=5.0)
    assert ok["held"] and math.isclose(ok["outages"][0]["recovery_s"], 0.3)  # the Recovered before 2.0 s is older
    byz = fault_budget(f=1, byzantine=(3,), outages=[(0, 1.0, 2.0)], recovered={0: [2.1]}, durable=True, end_s=5.0)
    assert not byz["held"] and byz["faulty_at_peak"] == [0, 3]
