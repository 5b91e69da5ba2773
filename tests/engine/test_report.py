"""Report files and the terminal summary, from a sample report dict."""

from __future__ import annotations

import copy
import json

from bftlab.reports.report import summary_table, to_json, write_outputs


def sample_report(**changes) -> dict:
    report = {
        "spec": {"name": "sample", "description": "A | piped description", "n": 4, "f": 1},
        "seed": 7,
        "version": "0.1.0",
        "protocol": "pbft",
        "transport": "sim",
        "trace_digest": "ab" * 32,
        "metrics": {
            "committed": 998,
            "issued": 1000,
            "throughput_rps": 1234.56,
            "latency_s": {"mean": 0.0123, "p50": 0.012, "p90": 0.015, "p99": 0.02, "max": 0.5},
            "messages": {"total": 12000, "by_type": {"Prepare": 6000, "Commit": 5000, "Reply": 1000}},
            "bytes_total": 4_500_000,
            "view_changes": 1,
            "dropped": {"loss": 3, "partition": 0},
        },
        "safety": {
            "ok": False,
            "violations": [
                {"kind": "agreement", "seq": 12, "replicas": [0, 2], "requests": [[4, 1], {"client": 5, "ts": 3}],
                 "detail": "replicas executed different batches"},
            ],
        },
        "liveness": {"ok": False, "pending": [{"client": 4, "ts": 9}, {"client": 5, "ts": 10}], "pending_count": 2},
        "run": {"wall_s": 2.5, "events": 100000, "events_per_s": 40000, "sim_time_s": 0.81},
    }
    report.update(changes)
    return report


def test_write_outputs_creates_the_three_files(tmp_path):
    out = write_outputs(tmp_path / "r", sample_report(), "name: sample\n")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "spec.yaml"]
    assert (out / "spec.yaml").read_text() == "name: sample\n"
    assert json.loads((out / "report.json").read_text()) == sample_report()


def test_json_is_stable_and_strict():
    report = sample_report()
    nan_latency = dict.fromkeys(["mean", "p50", "p90", "p99", "max"], float("nan"))
    report["metrics"] = {**report["metrics"], "latency_s": nan_latency}
    text = to_json(report)
    assert text == to_json(copy.deepcopy(report)) and "NaN" not in text
    assert json.loads(text)["metrics"]["latency_s"]["p99"] is None
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_markdown_has_verdicts_metrics_violations_and_replay(tmp_path):
    out = write_outputs(tmp_path / "r", sample_report(), "name: sample\n")
    md = (out / "report.md").read_text()
    assert md.startswith("# sample (seed 7)\n")
    assert "A \\| piped description" in md
    assert "**Safety: VIOLATED**: 1 violation(s)" in md and "**Liveness: INCOMPLETE**: 2 request(s)" in md
    assert "| Committed / issued | 998 / 1,000 |" in md and "| Latency p99 | 20.00 ms |" in md
    assert "| Prepare | 6,000 | 50.0% |" in md
    assert "| agreement | 12 | 0, 2 | 4:1, 5:3 | replicas executed different batches |" in md
    assert "`4:9`, `5:10`" in md
    assert f"bftlab run {out / 'spec.yaml'} --seed 7" in md
    assert "| Dropped messages | 3 (loss: 3) |" in md


def test_markdown_for_a_clean_run_has_no_problem_sections(tmp_path):
    clean = sample_report(safety={"ok": True, "violations": []},
                          liveness={"ok": True, "pending": [], "pending_count": 0})
    md = (write_outputs(tmp_path, clean, "") / "report.md").read_text()
    assert "**Safety: OK**" in md and "**Liveness: OK**" in md
    assert "## Safety violations" not in md and "## Pending requests" not in md


def test_summary_table_is_aligned_and_coloured_only_on_request():
    plain = summary_table(sample_report(), color=False)
    assert "\033[" not in plain
    lines = plain.splitlines()
    assert lines[0] == "sample (seed 7)  pbft n=4 f=1  [sim]"
    # every value starts in the same column
    starts = {len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in lines[1:] if "  " in line[2:]}
    assert len(starts) == 1
    assert "VIOLATED (1)" in plain and "INCOMPLETE (2 pending)" in plain and "998 / 1,000 issued" in plain
    coloured = summary_table(sample_report(), color=True)
    assert "\033[31mVIOLATED (1)\033[0m" in coloured
