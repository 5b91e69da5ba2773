"""The README's Python API snippet runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

from bftlab.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_api_snippet_runs(tmp_path, monkeypatch, capsys):
    for folder in ("configs", "experiments"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "experiments/pbft-scaling.yaml", "--quick", "--no-progress", "--executor", "serial"]) == 0
    capsys.readouterr()
    scope: dict = {}
    exec(compile(_snippet(), "README.md", "exec"), scope)
    out = capsys.readouterr().out
    report, df = scope["report"], scope["df"]
    assert report.safe and report.committed == 200 and report.throughput_rps > 0
    assert out.startswith("True 200 ")
    assert len(df) == 12 and set(df["n"]) == {4, 7, 10}  # the quick grid: 3 sizes x 2 batch sizes x 2 seeds
    assert (df["safety.ok"]).all() and (df["metrics.throughput_rps"] > 0).all()
