"""docs/extending.md's oracle example works as printed: a spec names it by dotted path."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bftlab import pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_the_oracle_example_judges_a_run(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text.split("## An oracle", 1)[1], re.S)[0]
    (tmp_path / "myoracles.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        report = pipeline.run({"name": "toy", "protocol": {"name": "tests.engine.toyproto:TOY"}, "n": 3,
                               "workload": {"clients": 2, "requests": 20}, "oracles": ["myoracles:NO_EMPTY_SLOTS"]})
    finally:
        sys.modules.pop("myoracles", None)
    assert report.data["safety"]["judged_by"] == ["smr", "no-empty-slots"]
    assert report.oracle("no-empty-slots") == {"safe": True, "live": None, "undecided": False,
                                               "violation_count": 0, "empty_slots": 0}
