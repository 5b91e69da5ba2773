"""The PySyncObj side of ``benchmarks.bench_pysyncobj``: a 3-node cluster commits writes, and every process stops.

PySyncObj is in the ``bench`` extra, not ``test``: without it the test is skipped. About 4 s:
three node processes start (an election takes up to 1.4 s), one client writes for 2 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pysyncobj")

from benchmarks.bench_pysyncobj import PYSYNCOBJ_CONF  # noqa: E402
from benchmarks.pysyncobj_cluster import run_pysyncobj  # noqa: E402


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_pysyncobj_cluster_commits_writes_and_stops(tmp_path: Path) -> None:
    out = run_pysyncobj(3, 1, 2.0, str(tmp_path), conf=PYSYNCOBJ_CONF)  # the settings the benchmark uses
    assert out["committed"] > 0 and out["committed_per_s"] > 0
    assert out["errors"] == {} and out["stuck_threads"] == 0
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p99"]
    # the leader applied every write a client saw committed (plus its own no-op entries), and so did a majority
    leader = out["leader_status"]
    assert leader["is_leader"] and leader["keys"] >= 1 and leader["applied"] >= out["committed"]
    assert any(f["applied"] >= leader["commit"] for f in out["follower_status"])
    # each node kept its journal on disk
    for i in range(3):
        assert (tmp_path / f"node{i}" / "journal").stat().st_size > 0
    assert len(out["pids"]) == 3 and all(_gone(pid) for pid in out["pids"])
