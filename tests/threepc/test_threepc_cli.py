"""Three-phase commit's partition counterexample from the command line: `bftlab trace` draws it, `bftlab fuzz`
finds it with one network fault per schedule.

- ``bftlab trace configs/threepc-partition.yaml`` runs the scripted partition (participant 0 and the
  coordinator cut off from participants 1 and 2 between the PreCommit and its ACKs) and draws it: the SVG
  names the agreement violation (nodes [0, 3] commit, [1, 2] abort) in its verdict and marks it, and shows
  the partition; the same run is drawn as a PNG from its run directory.
- ``bftlab fuzz configs/threepc-fuzz.yaml --max-net-faults 1`` (master seed 1, stop at the first failure)
  fails within 60 runs (at run 23, measured) with an agreement violation; unshrunk, the saved schedule holds
  exactly one network fault (a partition) next to its crash windows and storage faults, and ``bftlab run`` of it
  reproduces the violation.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from bftlab import cli
from bftlab.cli.common import EXIT_UNSAFE, EXIT_USAGE

ROOT = Path(__file__).parents[2]
DETAIL = "agreement: nodes [0, 3] decided commit, nodes [1, 2] abort"


def bftlab(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def test_trace_draws_the_partition_counterexample_and_names_its_violation(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = bftlab(capsys, "trace", ROOT / "configs" / "threepc-partition.yaml", "--out", run_dir)
    assert code == 0, err
    assert "safety VIOLATED (1)" in out and str(run_dir / "trace.svg") in out
    report = json.loads((run_dir / "report.json").read_text())
    (violation,) = report["safety"]["violations"]
    assert f"{violation['kind']}: {violation['detail']}" == DETAIL

    root = ET.fromstring((run_dir / "trace.svg").read_text())
    (verdict,) = classes(root, "verdict")
    assert "VIOLATED" in verdict.text and "(agreement)" in verdict.text
    assert [t.text for t in classes(root, "violation-detail")] == [DETAIL]
    assert [t.text for t in classes(root, "violation-label")] == ["agreement"]
    assert len(classes(root, "violation")) == 1  # one ring, at the client's answer for the transaction
    assert len(classes(root, "partition")) == 1 and classes(root, "lost")  # the cut, and messages lost to it
    assert [e.get("data-type") for e in classes(root, "lane")] == [*(f"replica {i}" for i in range(4)), "client 4"]

    png = tmp_path / "partition.png"
    code, out, err = bftlab(capsys, "trace", run_dir, "-o", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "safety VIOLATED (1)" in out


def test_fuzz_with_one_network_fault_per_schedule_finds_and_writes_the_counterexample(tmp_path, capsys):
    out_dir = tmp_path / "fz"
    code, out, err = bftlab(capsys, "fuzz", ROOT / "configs" / "threepc-fuzz.yaml", "--max-net-faults", 1,
                            "--runs", 60, "--max-failures", 1, "--seed", 1, "--heal-s", 1, "--safety-only",
                            "--no-shrink", "--quiet", "--out", out_dir)
    assert code == EXIT_UNSAFE, err
    summary = json.loads((out_dir / "fuzz-summary.json").read_text())
    (fail,) = summary["failures"]
    # It stops at its first failure (run 23 when written; the exact run depends on the fuzzer's draw).
    assert fail["signature"] == "safety:agreement" and summary["runs"] == summary["first_failure_run"] + 1 <= 60
    assert f"first failure: run {summary['first_failure_run']}" in out and "safety:agreement" in out
    path = Path(fail["path"])
    assert path == out_dir / "counterexample-1.yaml"
    spec = yaml.safe_load(path.read_text())
    net = [f for a in spec["adversary"] if a["strategy"] == "scripted-network" for f in a["params"]["faults"]]
    assert [f["kind"] for f in net] == ["partition"]  # unshrunk: the whole schedule, within the limit
    assert spec["faults"] and fail["atoms"] > 1  # the rest: crash windows (and a storage fault mode)

    replay = tmp_path / "replay"
    assert cli.main(["run", str(path), "--seed", str(fail["seed"]), "--out", str(replay), "--quiet"]) == 0
    report = json.loads((replay / "report.json").read_text())
    assert "agreement" in {v["kind"] for v in report["safety"]["violations"]}


@pytest.mark.parametrize("flag", ["--max-net-faults", "--max-node-faults"])
def test_a_negative_fault_limit_is_a_usage_error(tmp_path, capsys, flag):
    code, _, err = bftlab(capsys, "fuzz", ROOT / "configs" / "threepc-fuzz.yaml", flag, -1, "--runs", 1,
                          "--out", tmp_path / "fz")
    assert code == EXIT_USAGE and f"{flag} must be >= 0" in err
