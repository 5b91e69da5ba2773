"""The fuzzer finds a planted bug, shrinks it to a replayable spec, and finds nothing in correct PBFT."""

from __future__ import annotations

import json
from pathlib import Path

from bftlab import cli
from bftlab.sim import runner
from bftlab.fuzz import FuzzOptions, ddmin, fuzz
from bftlab.specs.spec import load_spec, spec_from_dict

HERE = Path(__file__).parent


def small(protocol: str) -> dict:
    return {"name": "fz", "seed": 1, "protocol": {"name": protocol}, "n": 4,
            "workload": {"clients": 2, "requests": 20}, "stop": {"time_limit_s": 8}}


def test_ddmin_finds_a_one_minimal_subset():
    calls = []

    def fails(sub):
        calls.append(sub)
        return {3, 7} <= set(sub)

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert ddmin([1, 2], lambda sub: True) == []


def test_planted_bug_is_found_shrunk_and_replayed(tmp_path, capsys):
    spec_path = tmp_path / "broken.yaml"
    spec_path.write_text(json.dumps(small("tests.adversary.brokenpbft:PROTOCOL")))
    out = tmp_path / "fz"
    status = cli.main(["fuzz", str(spec_path), "--runs", "25", "--seed", "1", "--safety-only", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 3
    assert "1 distinct failures" in printed and "first failure: run" in printed
    summary = json.loads((out / "fuzz-summary.json").read_text())
    (fail,) = summary["failures"]
    assert fail["signature"] == "safety:agreement" and fail["shrunk_atoms"] <= 2
    assert fail["replay"] in printed
    # the counterexample is self-contained: `bftlab run` shows the same violation
    replay_out = tmp_path / "replay"
    assert cli.main(["run", fail["path"], "--seed", str(fail["seed"]), "--out", str(replay_out)]) == 0
    report = json.loads((replay_out / "report.json").read_text())
    assert not report["safety"]["ok"]
    assert "agreement" in {v["kind"] for v in report["safety"]["violations"]}
    assert report["spec"]["workload"]["requests"] <= 20


def test_correct_pbft_within_budget_has_no_safety_failure(tmp_path):
    spec = spec_from_dict(small("pbft"))
    summary = fuzz(spec, FuzzOptions(runs=30, seed=2, safety_only=True), tmp_path, progress=False, echo=print)
    assert summary.runs == 30 and not summary.failures


def test_fuzz_runs_are_liveness_checked_too(tmp_path):
    spec = spec_from_dict(small("pbft"))
    summary = fuzz(spec, FuzzOptions(runs=10, seed=3), tmp_path, progress=False, echo=print)
    assert summary.runs == 10
    assert [f.signature for f in summary.failures] == []


def test_pinned_regression_view_change_stall():
    """Found by the fuzzer in an early PBFT: after a 0.5 s partition the view change to view 1 never
    completed and no timer was left to try view 2. Pinned with its seed."""
    rep = runner.run(load_spec(HERE / "regressions" / "pbft-view-change-stall.yaml"))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
