"""Temporary run folders: a launcher killed by SIGKILL leaves its folder behind only until the next launcher starts."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from bftlab import pipeline
from bftlab.transport import cluster
from tests.transport import helpers


def _folder(tmp, name: str, stamp: str | None):
    d = tmp / f"{cluster.WORKDIR_PREFIX}{name}"
    d.mkdir()
    (d / "replica-0.0.events").write_bytes(b"x")
    if stamp is not None:
        (d / cluster.OWNER_FILE).write_text(stamp)
    return d


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(timeout=30)
    return p.pid


def test_only_folders_whose_owner_is_gone_are_removed(tmp_path):
    me = os.getpid()
    mine = _folder(tmp_path, "live", cluster._owner_stamp(me))
    dead = _folder(tmp_path, "dead", f"{_dead_pid()} -\n")
    reused = _folder(tmp_path, "reused", f"{me} 1\n")  # our pid, another start time: a pid the kernel reused
    garbled = _folder(tmp_path, "garbled", "not a stamp\n")
    unowned = _folder(tmp_path, "unowned", None)
    other = tmp_path / "bftlab-other"
    other.mkdir()
    (other / cluster.OWNER_FILE).write_text(f"{_dead_pid()} -\n")
    removed = cluster.remove_stale_workdirs(tmp_path)
    assert sorted(removed) == sorted([dead, reused, garbled])
    assert [d for d in (mine, dead, reused, garbled, unowned, other) if d.exists()] == [mine, unowned, other]


def test_the_next_run_removes_the_folder_of_a_sigkilled_launcher(tmp_path, monkeypatch):
    spec = helpers.write_spec(helpers.spec(helpers.TOY, n=4, clients=2,
                                           workload={"clients": 2, "requests": 0, "duration_s": 30.0}),
                              tmp_path / "spec.yaml")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    launcher = subprocess.Popen([sys.executable, "-m", "bftlab", "run", str(spec), "--out", str(tmp_path / "out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(kids) < 5:  # 4 replicas + 1 client process
            time.sleep(0.1)
            kids = helpers.children_of(launcher.pid)
        assert len(kids) == 5
        left = list(tmp.glob(cluster.WORKDIR_PREFIX + "*"))
        assert len(left) == 1 and (left[0] / cluster.OWNER_FILE).read_text().split()[0] == str(launcher.pid)
        launcher.kill()  # SIGKILL: its own cleanup never runs
        launcher.communicate(timeout=10)
        assert helpers.wait_gone(kids, 10) == []
        assert left[0].exists()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        rep = pipeline.execute(helpers.spec(helpers.TOY, n=4, clients=1, workload={"clients": 1, "requests": 20}))
        assert rep["metrics"]["committed"] == 20
        assert list(tmp.iterdir()) == []  # the stale folder went at start, this run's own at its end
    finally:
        helpers.kill_group(launcher)
        for pid in kids:
            if helpers.alive(pid):
                os.kill(pid, 9)
