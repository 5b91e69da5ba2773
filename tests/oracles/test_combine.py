"""How oracle verdicts combine into a run's safety and liveness: expected violations, who failed liveness."""

from __future__ import annotations

from bftlab.oracles.base import OracleVerdict, combine
from bftlab.reports.report import _incomplete


def v(name: str, safe: bool | None = True, live: bool | None = None, **kw) -> OracleVerdict:
    return OracleVerdict(name=name, safe=safe, live=live, **kw)


def test_a_violation_the_consistency_level_allows_is_reported_apart_and_does_not_fail_the_run():
    lin = v("linearizability", safe=False, violation_count=3, violations=({"kind": "linearizability"},))
    safety, _, sections = combine([v("smr"), lin], expected=["linearizability"])
    assert safety["ok"] and safety["violation_count"] == 0 and safety["violations"] == []
    assert safety["expected"] == {"linearizability": 3} and sections["linearizability"]["expected"] is True
    strict, _, _ = combine([v("smr"), lin])
    assert not strict["ok"] and strict["violation_count"] == 3 and "expected" not in strict


def test_an_undecided_expected_oracle_does_not_fail_the_run_but_one_not_expected_does():
    und = v("linearizability", safe=None, undecided=True)
    assert combine([und], expected=["linearizability"])[0]["ok"]
    assert not combine([und])[0]["ok"]


def test_liveness_names_the_oracle_that_failed_it_when_nothing_is_pending():
    _, live, _ = combine([v("smr", live=True), v("convergence", safe=None, live=False)])
    assert not live["ok"] and live["failed_by"] == ["convergence"]
    assert _incomplete(live) == "judged incomplete by `convergence`"
    _, live, _ = combine([v("smr", live=False, pending_count=2)])
    assert _incomplete(live) == "2 request(s) still pending at the end"
