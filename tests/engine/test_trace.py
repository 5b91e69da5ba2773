"""`bftlab trace`: the space-time diagram shows what the run's files say, and the ShiViz export is causal."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bftlab import cli
from bftlab.reports import spacetime

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "pbft-quickstart.yaml"
COUNTEREXAMPLE = Path(__file__).with_name("trace-counterexample.yaml")
SVG = "{http://www.w3.org/2000/svg}"
# replica 3 is down from 30 to 90 ms; replicas 0 and 1 are cut off from the rest between 100 and 130 ms
FAULTY = ["--set", "workload.requests=12", "--set", "faults=[{node: 3, crash_at_s: 0.03, recover_at_s: 0.09}]",
          "--set", "network.partitions=[{start_s: 0.1, end_s: 0.13, groups: [[0, 1]]}]"]


def bftlab(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    assert cli.main(["run", str(QUICKSTART), *FAULTY, "--set", "trace.keep=true", "--out", str(out), "--quiet"]) == 0
    return out


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def lane_y(root: ET.Element) -> dict[str, float]:
    """Lane label -> the lane's y (the lane line carries its node's label)."""
    return {e.get("data-type"): float(e.get("y1")) for e in classes(root, "lane")}


def draw(capsys, run_dir: Path, *extra) -> ET.Element:
    out = run_dir / "picture.svg"
    code, _, err = bftlab(capsys, "trace", run_dir, "-o", out, *extra)
    assert code == 0, err
    return ET.fromstring(out.read_text())  # also checks the SVG is well-formed XML


# ------------------------------------------------------------------ the trace rows
def test_trace_rows_carry_send_times_and_lost_messages(faulty_run):
    report = json.loads((faulty_run / "report.json").read_text())
    delivered = [r for r in rows(faulty_run) if "deliver" in r]
    lost = [r for r in rows(faulty_run) if "drop" in r]
    assert len(delivered) == report["run"]["messages_delivered"]
    assert all(r["sent_s"] <= r["t_s"] for r in delivered)
    assert all(r["t_s"] - r["sent_s"] >= 0.0099 for r in delivered if r["src"] != r["dst"])  # 10 ms latency
    # replica 3 is down 30-90 ms: what reaches it then is lost, and the partition cuts 0,1 off from 2,3
    assert {r["reason"] for r in lost} == {"receiver_down", "network"}
    assert all(r["dst"] == 3 and 0.03 <= r["t_s"] < 0.09 for r in lost if r["reason"] == "receiver_down")
    assert sum(report["metrics"]["dropped"].get(k, 0) for k in ("receiver_down", "partition")) == len(lost)


def test_keeping_the_trace_does_not_change_the_run(tmp_path):
    digests = []
    for keep in ("false", "true"):
        out = tmp_path / keep
        assert cli.main(["run", str(QUICKSTART), *FAULTY, "--set", f"trace.keep={keep}", "--out", str(out),
                         "--quiet"]) == 0
        digests.append(json.loads((out / "report.json").read_text())["trace_digest"])
    assert digests[0] == digests[1]


# ------------------------------------------------------------------ the picture
def test_one_lane_per_node_one_arrow_per_delivered_message_and_a_legend(faulty_run, capsys):
    root = draw(capsys, faulty_run)
    lanes = lane_y(root)
    assert list(lanes) == [f"replica {i}" for i in range(4)] + [f"client {i}" for i in range(4, 8)]
    assert [t.text for t in classes(root, "lane-label")] == list(lanes)
    delivered = [r for r in rows(faulty_run) if "deliver" in r]
    arrows = classes(root, "msg")
    assert len(arrows) == len(delivered)
    counts: dict[str, int] = {}
    for r in delivered:
        counts[r["deliver"]] = counts.get(r["deliver"], 0) + 1
    assert {t.text for t in classes(root, "legend-entry")} == {f"{k} ({v})" for k, v in counts.items()}
    # every arrow leaves its sender's lane and ends on its receiver's, later in time; one colour per type
    colour: dict[str, str] = {}
    for a in arrows:
        title = a.find(f"{SVG}title").text
        m = re.match(r"(\w+): (\w+ \d+) to (\w+ \d+), sent ([\d.]+) s, delivered ([\d.]+) s", title)
        assert m and m[1] == a.get("data-type")
        assert float(a.get("y1")) == lanes[m[2]] and float(a.get("y2")) == lanes[m[3]]
        assert float(a.get("x2")) > float(a.get("x1"))
        assert colour.setdefault(m[1], a.get("stroke")) == a.get("stroke")
    assert len(set(colour.values())) == len(colour)
    # the spec's crash and recovery, its partition and the lost messages are marked
    (crash,) = classes(root, "crash")
    assert float(crash.get("y1")) + 6 == lanes["replica 3"]
    assert len(classes(root, "recover")) == 1 and len(classes(root, "partition")) == 1
    assert len(classes(root, "lost")) == sum(1 for r in rows(faulty_run) if "drop" in r) > 0
    assert not classes(root, "violation")  # a safe run has no violation marks
    assert "safety OK" in classes(root, "verdict")[0].text


def test_a_window_draws_the_messages_in_flight_during_it(faulty_run, capsys):
    root = draw(capsys, faulty_run, "--from-s", 0.035, "--to-s", 0.07)
    expected = [r for r in rows(faulty_run) if "deliver" in r and r["sent_s"] <= 0.07 and r["t_s"] >= 0.035]
    assert 0 < len(classes(root, "msg")) == len(expected)
    assert not classes(root, "crash")  # replica 3 crashed at 30 ms, before the window
    assert len(classes(root, "down")) == 1  # ... and is still down in it


def test_too_many_messages_is_refused_with_a_window_that_works(faulty_run, capsys):
    code, _, err = bftlab(capsys, "trace", faulty_run, "-o", faulty_run / "big.svg", "--max-messages", 20)
    assert code == 2 and "--shiviz" in err and not (faulty_run / "big.svg").exists()
    window = re.search(r"--from-s (\S+) --to-s (\S+)", err)
    root = draw(capsys, faulty_run, "--max-messages", 20, "--from-s", window[1], "--to-s", window[2])
    assert 0 < len(classes(root, "msg")) <= 20


def test_png_needs_matplotlib_and_says_so(faulty_run, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    out = faulty_run / "picture.png"
    assert bftlab(capsys, "trace", faulty_run, "-o", out)[0] == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)  # as if not installed
    code, _, err = bftlab(capsys, "trace", faulty_run, "--format", "png", "-o", faulty_run / "again.png")
    assert code == 2 and "bftlab[plot]" in err


# ------------------------------------------------------------------ a counterexample
def test_a_fuzzer_counterexample_is_replayed_and_its_violation_marked(tmp_path, capsys):
    """The counterexample was written by `bftlab fuzz` against the planted f+1-quorum PBFT; pinned so
    that a change in the fuzzer's search does not change what this test draws."""
    run_dir = tmp_path / "replay"
    code, out, err = bftlab(capsys, "trace", COUNTEREXAMPLE, "--out", run_dir)
    assert code == 0, err
    assert "safety VIOLATED" in out and (run_dir / "trace.svg").is_file()
    root = ET.fromstring((run_dir / "trace.svg").read_text())
    violations = json.loads((run_dir / "report.json").read_text())["safety"]["violations"]
    assert violations and "VIOLATED" in classes(root, "verdict")[0].text
    lanes = lane_y(root)
    # a ring on each replica the checker names, where that replica's lane shows it executing the slot
    rings = {(float(c.get("cx")), float(c.get("cy"))) for c in classes(root, "violation")}
    assert {y for _, y in rings} == {lanes[f"replica {r}"] for v in violations for r in v["replicas"]}
    ticks = {(float(t.get("x1")), float(t.get("y1")) + 5) for t in classes(root, "exec")}
    assert rings <= ticks
    labels = [t.text for t in classes(root, "violation-label")]
    assert any(violations[0]["kind"] in text for text in labels)


# ------------------------------------------------------------------ ShiViz
def parse_shiviz(text: str) -> list[tuple[str, dict[str, int], str]]:
    lines = text.splitlines()
    assert lines[0] == spacetime.SHIVIZ_REGEX and lines[1] == ""
    pattern = re.compile(lines[0].replace("(?<", "(?P<"))  # ShiViz writes JavaScript's named groups
    body = "\n".join(lines[2:])
    events = [(m["host"], json.loads(m["clock"]), m["event"]) for m in pattern.finditer(body)]
    assert len(events) * 2 == len(lines) - 2
    return events


def causality_errors(events: list[tuple[str, dict[str, int], str]]) -> list[str]:
    errors, last, sends = [], {}, {}
    for host, clock, text in events:
        if clock.get(host) != last.get(host, 0) + 1:
            errors.append(f"{host}'s own entry does not count its events: {text}")
        last[host] = clock.get(host, 0)
        m = re.search(r"(send|recv) \w+ #(\d+)", text)
        if m and m[1] == "send":
            sends[m[2]] = clock
        elif m:
            sent = sends.get(m[2])
            if sent is None or any(clock.get(h, 0) < v for h, v in sent.items()):
                errors.append(f"receive does not dominate its send: {text}")
    return errors


def test_shiviz_clocks_are_causal(faulty_run, capsys):
    log = faulty_run / "run.shiviz"
    code, _, err = bftlab(capsys, "trace", faulty_run, "--shiviz", log)
    assert code == 0, err
    assert not (faulty_run / "trace.svg").exists()  # --shiviz alone writes only the log
    events = parse_shiviz(log.read_text())
    assert causality_errors(events) == []
    delivered = [r for r in rows(faulty_run) if "deliver" in r and r["src"] != r["dst"]]
    assert sum(1 for _, _, text in events if " recv " in text) == len(delivered)
    assert any("crash" in text for host, _, text in events if host == "replica3")
    # the check can fail: a receive that forgot its sender's history is caught
    i = next(i for i, (_, _, text) in enumerate(events) if " recv " in text and "from replica" in text)
    host, clock, text = events[i]
    sender = re.search(r"from (\S+)", text)[1]
    events[i] = (host, {**clock, sender: 0}, text)
    assert causality_errors(events) == [f"receive does not dominate its send: {text}"]


# ------------------------------------------------------------------ errors
def test_missing_input_is_a_usage_error(tmp_path, capsys):
    code, _, err = bftlab(capsys, "trace", tmp_path / "nowhere")
    assert code == 2 and "no such run directory or spec file" in err


def test_a_run_without_its_trace_names_trace_keep(tmp_path, capsys):
    out = tmp_path / "untraced"
    assert cli.main(["run", str(QUICKSTART), "--set", "workload.requests=3", "--out", str(out), "--quiet"]) == 0
    code, _, err = bftlab(capsys, "trace", out)
    assert code == 2 and "trace.keep: true" in err and "trace.jsonl" in err
    code, _, err = bftlab(capsys, "trace", out, "--set", "n=7")
    assert code == 2 and "--set" in err


def test_help_lists_examples_and_exit_statuses(capsys):
    code, out, _ = bftlab(capsys, "trace", "--help")
    assert code == 0 and "examples:" in out and "exit status:" in out and "--shiviz" in out
