"""docs/write-your-first-attack.md, exactly: examples/myattacks.py referenced by dotted path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bftlab.sim import runner
from bftlab.specs.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # what PYTHONPATH=examples does in the tutorial
    yield
    sys.modules.pop("myattacks", None)


def test_tutorial_attack_delays_the_view_change(on_path):
    spec = load_spec(EXAMPLES / "first-attack.yaml")
    attacked = runner.run(spec)
    baseline = runner.run(load_spec(EXAMPLES / "first-attack.yaml", overrides=["adversary=[]"]))
    for rep in (attacked, baseline):
        assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["metrics"]["view_changes"] == 1
    # every VIEW-CHANGE is 1 s late, so the slowest request (the one caught by the crash) waits 1 s longer
    slowest = attacked["metrics"]["latency_s"]["max"] - baseline["metrics"]["latency_s"]["max"]
    assert slowest == pytest.approx(1.0, abs=0.05)
    assert attacked["metrics"]["throughput_rps"] < baseline["metrics"]["throughput_rps"]
    assert attacked["adversary"]["network"]["delayed"] == attacked["metrics"]["messages"]["by_type"]["ViewChange"]
