"""The atomic-commitment oracle catches each property's planted violation and passes clean histories."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bftlab.api import Decided, FinalState, TxnBegan, Voted
from bftlab.core.kernel import NS
from bftlab.oracles.atomicity import ATOMICITY, AtomicityOracle
from bftlab.oracles.base import OracleContext

PARTS = (0, 1, 2)
COORD = 3


def judge(events, faults: bool = False):
    oracle = AtomicityOracle(OracleContext((0, 1, 2, 3), (9,), (), 0, faults))
    for t, ev in events:
        oracle.observe(int(t * NS), ev)
    return oracle.verdict()


def committed(ts: int = 1, t0: float = 0.0, votes=(True, True, True), decide: bool | None = None) -> list:
    """One transaction: began, votes, the coordinator's decision and each participant's."""
    commit = all(votes) if decide is None else decide
    out = [(t0, TxnBegan(9, ts, PARTS))]
    out += [(t0 + 0.01, Voted(p, 9, ts, v)) for p, v in zip(PARTS, votes)]
    out += [(t0 + 0.02, Decided(COORD, 9, ts, commit))]
    out += [(t0 + 0.03, Decided(p, 9, ts, commit)) for p in PARTS]
    return out


def final(applied_by: dict[int, list], uncertain_by: dict[int, list] | None = None) -> list:
    uncertain_by = uncertain_by or {}
    return [(9.0, FinalState(p, {"applied": applied_by.get(p, []), "uncertain": uncertain_by.get(p, [])}))
            for p in PARTS]


def kinds(v) -> set[str]:
    return {x["kind"] for x in v.violations}


def test_a_clean_history_passes_and_reports_the_uncertainty_windows():
    events = committed(1) + committed(2, 1.0, votes=(True, False, True)) + final({p: [[9, 1]] for p in PARTS})
    v = judge(events)
    assert v.safe and not v.violations and v.live is None
    s = v.section
    assert (s["transactions"], s["committed"], s["aborted"], s["blocked_at_end"]) == (2, 1, 1, 0)
    assert s["abort_rate"] == 0.5 and s["uncertain_s"]["count"] == 5  # three yes votes, then two
    assert s["uncertain_s"]["max"] == pytest.approx(0.02)


def test_two_processes_deciding_differently_break_agreement():
    events = committed(1)
    events[-1] = (0.03, Decided(2, 9, 1, False))
    assert kinds(judge(events)) == {"agreement"}


def test_a_process_that_changes_its_decision_or_its_vote_is_caught():
    assert "irreversibility" in kinds(judge(committed(1) + [(0.5, Decided(1, 9, 1, False))]))
    assert kinds(judge(committed(1, decide=False) + [(0.5, Voted(0, 9, 1, False))])) == {"irreversibility"}
    # a no vote forgotten in a crash and followed by a yes is allowed: the outcome was abort anyway
    forgot = committed(1, votes=(False, True, True)) + [(0.5, Voted(0, 9, 1, True))]
    assert judge(forgot, faults=True).safe

def test_commit_without_every_yes_vote_breaks_validity():
    assert kinds(judge(committed(1, votes=(True, False, True), decide=True))) == {"validity"}
    silent = [e for e in committed(1) if not (type(e[1]) is Voted and e[1].node == 2)]
    assert kinds(judge(silent)) == {"validity"}


def test_aborting_when_all_voted_yes_is_wrong_only_in_a_run_without_faults():
    events = committed(1, decide=False)
    assert kinds(judge(events)) == {"non_triviality"}
    assert judge(events, faults=True).safe


def test_the_final_stores_must_hold_a_committed_transaction_everywhere_and_an_aborted_one_nowhere():
    assert kinds(judge(committed(1) + final({0: [[9, 1]], 1: [[9, 1]]}))) == {"effects"}  # 2 lost the writes
    assert judge(committed(1) + final({0: [[9, 1]], 1: [[9, 1]]}, {2: [[9, 1]]})).safe  # 2 is still uncertain
    assert kinds(judge(committed(1, decide=False, votes=(True, True, False)) + final({0: [[9, 1]]}))) == {"effects"}
    undecided = [e for e in committed(1) if type(e[1]) is not Decided]
    assert kinds(judge(undecided + final({1: [[9, 1]]}))) == {"effects"}


def test_a_participant_that_never_hears_the_decision_is_blocked_until_the_end():
    events = [e for e in committed(1) if type(e[1]) is not Decided] + [(5.0, Decided(COORD, 9, 2, True))]
    v = judge(events)
    assert v.safe and v.section["blocked_at_end"] == 1
    assert v.section["uncertain_s"]["max"] == pytest.approx(5.0 - 0.01)


@given(st.lists(st.tuples(st.lists(st.booleans(), min_size=3, max_size=3), st.booleans()), max_size=20))
def test_correct_commit_decisions_always_pass(txns):
    """Decide commit iff all voted yes, everyone agrees, stores follow: never a violation."""
    events: list = []
    applied: dict[int, list] = {}
    for i, (votes, _) in enumerate(txns):
        events += committed(i, float(i), votes=tuple(votes))
        if all(votes):
            for p in PARTS:
                applied.setdefault(p, []).append([9, i])
    v = judge(events + final(applied))
    assert v.safe, v.violations


def test_the_plugin_is_registered_with_its_report_section():
    from bftlab.specs.registry import load_oracles

    (plugin,) = load_oracles(["atomicity"])
    assert plugin is ATOMICITY and plugin.section is not None
    data = {"safe": True, "violation_count": 0, **judge(committed(1)).section}
    assert "All-or-nothing held" in plugin.section.markdown(data)[0]
    assert plugin.section.terminal(data)[0][0] == "atomicity"
