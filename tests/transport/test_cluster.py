"""Local clusters of processes on loopback: commits, crashes and restarts, sim vs real, cleanup."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

from bftlab import pipeline
from tests.transport import helpers


def _gone(report) -> None:
    pids = [p["pid"] for p in report["run"]["processes"]]
    assert helpers.wait_gone(pids, 5) == []


def test_toy_cluster_commits_and_reports_like_the_simulator():
    s = helpers.spec(helpers.TOY, n=4, clients=3, workload={"clients": 3, "requests": 300})
    rep = pipeline.execute(s)
    m = rep["metrics"]
    assert rep["transport"] == "real" and rep["trace_digest"] is None
    assert m["committed"] == m["issued"] == 300
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    assert m["messages"]["by_type"]["Order"] == 300 * 3
    assert {p["exit_code"] for p in rep["run"]["processes"]} == {0}
    _gone(rep)


def test_sim_and_real_commit_the_same_requests():
    s = helpers.spec("pbft", n=4, clients=4, workload={"clients": 4, "requests": 200})
    sim = pipeline.execute(dataclasses.replace(s, transport=dataclasses.replace(s.transport, kind="sim")))
    real = pipeline.execute(s)
    for rep in (sim, real):
        assert rep["metrics"]["committed"] == rep["metrics"]["issued"] == 200
        assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    assert sim["metrics"]["view_changes"] == real["metrics"]["view_changes"] == 0


def test_pbft_survives_sigkill_of_a_backup_then_the_primary():
    """Backup 2 is killed and restarted (fresh, empty), catches up by state transfer; then the primary dies."""
    s = helpers.spec(
        "pbft", n=4, clients=6,
        params={"checkpoint_interval": 16, "log_window": 64, "view_change_timeout_s": 0.5},
        workload={"clients": 6, "requests": 0, "duration_s": 7.0},
        faults=[{"node": 2, "crash_at_s": 1.0, "recover_at_s": 2.5}, {"node": 0, "crash_at_s": 5.0}],
    )
    rep = pipeline.execute(s)
    m, run = rep["metrics"], rep["run"]
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert rep["liveness"]["ok"], rep["liveness"]["pending"][:5]
    assert m["committed"] == m["issued"] > 100
    assert m["view_changes"] >= 1
    assert run["restarts"] == 1
    prog = run["replica_progress"]
    reborn = prog["replica-2.1"]
    assert reborn["state_transfers"], prog  # the fresh process caught up by state transfer...
    assert reborn["view"] >= 1  # ...took part in the view change...
    assert reborn["max_seq"] >= prog["replica-1.0"]["max_seq"] - 2 * 16  # ...and kept up afterwards
    assert prog["replica-2.1"]["max_seq"] > prog["replica-2.0"]["max_seq"]
    killed = {p["name"] for p in run["processes"] if p["killed"]}
    assert killed == {"replica-2", "replica-0"}
    _gone(rep)


def _launch(tmp_path, duration_s: float) -> tuple[subprocess.Popen, list[int]]:
    """``bftlab run`` on a real cluster, in its own process group; returns it and its node processes."""
    spec = helpers.write_spec(helpers.spec(helpers.TOY, n=4, clients=2,
                                           workload={"clients": 2, "requests": 0, "duration_s": duration_s}),
                              tmp_path / "spec.yaml")
    launcher = subprocess.Popen([sys.executable, "-m", "bftlab", "run", str(spec), "--out", str(tmp_path / "out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    kids: list[int] = []
    while time.monotonic() < deadline and len(kids) < 5:  # 4 replicas + 1 client process
        time.sleep(0.1)
        kids = helpers.children_of(launcher.pid)
    return launcher, kids


def test_ctrl_c_on_the_launcher_leaves_no_process_behind(tmp_path):
    launcher, kids = _launch(tmp_path, 30.0)
    try:
        assert len(kids) == 5
        time.sleep(1.0)
        launcher.send_signal(signal.SIGINT)
        launcher.communicate(timeout=30)
        assert launcher.returncode == 130
        assert helpers.wait_gone(kids, 5) == []
    finally:
        helpers.kill_group(launcher)
        for pid in kids:
            if helpers.alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_nodes_exit_when_their_launcher_is_killed(tmp_path):
    launcher, kids = _launch(tmp_path, 30.0)
    try:
        assert len(kids) == 5
        launcher.kill()  # SIGKILL: no cleanup code runs; the nodes see their stdin close
        launcher.wait(timeout=10)
        assert helpers.wait_gone(kids, 10) == []
    finally:
        helpers.kill_group(launcher)
        for pid in kids:
            if helpers.alive(pid):
                os.kill(pid, signal.SIGKILL)
