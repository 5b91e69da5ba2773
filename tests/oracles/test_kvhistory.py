"""The linearizability oracle as a plug-in: it judges whole runs from their history events."""

from __future__ import annotations

import pytest

from bftlab import pipeline
from bftlab.api import Accepted, Issued, Submitted, observed_digest
from bftlab.cli import main
from bftlab.core import kv
from bftlab.oracles.base import OracleContext
from bftlab.oracles.kvhistory import LINEARIZABILITY, KvHistoryOracle

CORRECT = "tests.oracles.kvproto:KV"
EARLY_ACK = "tests.oracles.kvproto:EARLY_ACK"


def spec(protocol: str, seed: int = 1, **over):
    data = {"name": "kv", "protocol": {"name": protocol}, "n": 3, "seed": seed,
            "network": {"latency_model": "uniform", "latency_ms": 5, "jitter_ms": 4},
            "workload": {"clients": 4, "requests": 300, "keys": 2, "read_fraction": 0.5},
            "stop": {"time_limit_s": 30}}
    data.update(over)
    return data


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_correct_sequencer_is_linearizable(seed):
    report = pipeline.run(spec(CORRECT, seed))
    lin = report.oracle("linearizability")
    assert report.safe and lin["verdict"] == "ok"
    assert lin["operations"] == 300 and lin["unpaired_requests"] == 0


def test_the_planted_stale_read_is_caught_and_shrunk():
    report = pipeline.run(spec(EARLY_ACK))
    lin = report.oracle("linearizability")
    assert not report.safe and lin["verdict"] == "violation" and lin["violation_count"] == 1
    (violation,) = [v for v in report.violations if v["oracle"] == "linearizability"]
    assert violation["kind"] == "linearizability" and len(violation["requests"]) >= 2
    example = lin["counterexample"]
    # The shrunk history is a handful of operations on one key, ending in a read of an overwritten value.
    assert 2 <= len(example) <= 4 and any(" get " in line for line in example)
    gets = [line for line in example if " get " in line]
    puts = [line for line in example if " put " in line]
    assert puts and all(line.split(" get ")[1].split(" -> ")[0] == puts[0].split(" put ")[1].split(" = ")[0]
                        for line in gets)


def test_the_oracle_is_needed_to_see_it():
    """Judged by the SMR oracle alone, the same run shows no agreement or divergence violation."""
    report = pipeline.run(spec(EARLY_ACK))
    kinds = {v["kind"] for v in report.violations if v["oracle"] == "smr"}
    assert not kinds & {"agreement", "divergence", "order", "validity", "exactly_once"}


def test_a_spec_adds_the_oracle_to_pbft_and_pbft_passes():
    report = pipeline.run("configs/pbft-quickstart.yaml",
                          overrides=["workload.requests=200", "workload.keys=3", "workload.read_fraction=0.5",
                                     "oracles=[linearizability]"])
    lin = report.oracle("linearizability")
    assert report.safe and lin["verdict"] == "ok" and lin["operations"] == 200 and lin["unpaired_requests"] == 0
    assert report.data["safety"]["judged_by"] == ["smr", "linearizability"]


def test_report_files_and_exit_status(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(spec(EARLY_ACK)))
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--fail-on-unsafe"])
    out = capsys.readouterr().out
    assert code == 3 and "linearizable  VIOLATED" in out
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Linearizability" in md and "Minimal sub-history that admits no legal order" in md


def _history(read_value_digest: bytes):
    o = KvHistoryOracle(OracleContext((0,), (1, 2), (), 0))
    put, get = kv.encode_op("put", b"k", b"v1"), kv.encode_op("get", b"k")
    o.observe(0, Submitted(1, put))
    o.observe(1, Issued(1, 1, observed_digest(put)))
    o.observe(5, Accepted(1, 1, observed_digest(kv.NIL)))
    o.observe(6, Submitted(2, get))
    o.observe(7, Issued(2, 1, observed_digest(get)))
    o.observe(9, Accepted(2, 1, read_value_digest))
    return o.verdict()


def test_reads_are_matched_by_result_digest():
    assert _history(observed_digest(kv.get_result(b"v1"))).safe is True
    stale = _history(observed_digest(kv.get_result(None)))  # the key read as absent after the put returned
    assert stale.safe is False and stale.violation_count == 1
    never_written = _history(observed_digest(kv.get_result(b"v2")))
    assert never_written.safe is False


def test_unpaired_requests_are_counted_not_guessed():
    o = KvHistoryOracle(OracleContext((0,), (1,), (), 0))
    o.observe(1, Issued(1, 1, b"\x00" * 32))  # issued without a submitted operation
    v = o.verdict()
    assert v.section["unpaired_requests"] == 1 and v.section["operations"] == 0
    # nothing checked is not "linearizable": the run is undecided, so it is not reported safe
    assert v.undecided and v.section["verdict"] == "unknown"
    assert "without their operations" in LINEARIZABILITY.section.markdown({**v.section})[0]
