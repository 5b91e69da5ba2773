"""docs/write-your-first-attack.md, exactly: examples/myattacks.py referenced by dotted path, and its specs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bftlab import pipeline
from bftlab.specs.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # what PYTHONPATH=examples does in the tutorial
    yield
    sys.modules.pop("myattacks", None)


def test_tutorial_attack_delays_the_view_change(on_path):
    spec = load_spec(EXAMPLES / "first-attack.yaml")
    attacked = pipeline.execute(spec)
    baseline = pipeline.execute(load_spec(EXAMPLES / "first-attack.yaml", overrides=["adversary=[]"]))
    for rep in (attacked, baseline):
        assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["metrics"]["view_changes"] == 1
    # every VIEW-CHANGE is 1 s late, so the slowest request (the one caught by the crash) waits 1 s longer
    slowest = attacked["metrics"]["latency_s"]["max"] - baseline["metrics"]["latency_s"]["max"]
    assert slowest == pytest.approx(1.0, abs=0.05)
    assert attacked["metrics"]["throughput_rps"] < baseline["metrics"]["throughput_rps"]
    assert attacked["adversary"]["network"]["delayed"] == attacked["metrics"]["messages"]["by_type"]["ViewChange"]


def test_tutorial_byzantine_primary_reseals_what_it_changes(on_path, tmp_path, capsys):
    """examples/skimming-primary.yaml through the CLI, as the tutorial runs it.

    Then again without reseal, and without the attack.
    """
    from bftlab import cli

    spec = EXAMPLES / "skimming-primary.yaml"
    assert cli.main(["run", str(spec), "--out", str(tmp_path / "resealed")]) == 0
    terminal = capsys.readouterr().out
    resealed = json.loads((tmp_path / "resealed" / "report.json").read_text())
    forged = pipeline.execute(load_spec(spec, overrides=["adversary[0].params.reseal=false"]))
    baseline = pipeline.execute(load_spec(spec, overrides=["adversary=[]"]))
    for rep in (resealed, forged, baseline):
        assert rep["safety"]["ok"] and rep["liveness"]["ok"]

    # resealed, the skimmed PRE-PREPARE is authentic: no backup drops it, and only the victim's
    # retransmission (client_retry_timeout_s) plus the view-change timer expose the primary
    skimmed = resealed["adversary"]["counters"]["myattacks:SkimmingPrimary"]["skimmed"]
    assert skimmed >= 1 and "drop.bad_auth" not in resealed["metrics"]["dropped"]
    assert resealed["metrics"]["view_changes"] == 1 and resealed["metrics"]["latency_s"]["max"] > 1.5
    assert f"myattacks:SkimmingPrimary skimmed {skimmed}" in terminal
    assert f"`myattacks:SkimmingPrimary` skimmed {skimmed}" in (tmp_path / "resealed" / "report.md").read_text()

    # not resealed, every backup drops it as forged and replaces the primary within one view-change timeout
    assert forged["metrics"]["dropped"]["drop.bad_auth"] == 3
    assert forged["metrics"]["view_changes"] == 1 and forged["metrics"]["latency_s"]["max"] < 1.0
    assert baseline["metrics"]["view_changes"] == 0 and baseline["metrics"]["latency_s"]["max"] < 0.1


def test_tutorial_params_check_refuses_a_negative_delay(on_path, tmp_path, capsys):
    """The tutorial's __post_init__: `bftlab validate` exits 2 with one paragraph naming file, line and key."""
    from bftlab import cli

    text = (EXAMPLES / "first-attack.yaml").read_text()
    assert "params: {delay_s: 1.0}" in text
    path = tmp_path / "first-attack.yaml"
    path.write_text(text.replace("params: {delay_s: 1.0}", "params: {delay_s: -1}"))
    line = 1 + text.splitlines().index("  params: {delay_s: 1.0}")
    assert cli.main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"error: {path}, line {line}: adversary[0].params.delay_s: "
                                 "must be a finite number >= 0, got -1.0.\n")
    assert f"line {line}: adversary[0].params.delay_s: must be a finite number >= 0, got -1.0." in \
        (EXAMPLES.parent / "docs" / "write-your-first-attack.md").read_text()  # what the tutorial shows
