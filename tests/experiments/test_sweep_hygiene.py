"""A sweep killed by SIGKILL leaves no process behind: no worker, no fork server, no resource tracker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.experiments.helpers import ROOT, toy_experiment
from tests.transport.helpers import alive, wait_gone


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def test_a_sigkilled_sweep_leaves_no_worker_fork_server_or_tracker(tmp_path):
    exp = toy_experiment(tmp_path, requests=20000, seeds=3)  # runs long enough to be killed mid-way
    with open(tmp_path / "stderr", "wb") as err:  # a file, not a pipe: a survivor holding it must not hang us
        sweep = subprocess.Popen([sys.executable, "-m", "bftlab", "sweep", str(exp), "--workers", "2", "--no-progress",
                                  "--store", str(tmp_path / "store")],
                                 stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, cwd=ROOT)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # tracker + fork server + 2 workers
            seen |= _descendants(sweep.pid)
            cmds = [_cmdline(p) for p in seen]
            if sum("forkserver" in c for c in cmds) >= 3 and any("resource_tracker" in c for c in cmds):
                break
            time.sleep(0.05)
        kinds = {p: _cmdline(p) for p in seen}
        assert any("resource_tracker" in c for c in kinds.values()), kinds
        assert sum("forkserver" in c for c in kinds.values()) >= 3, kinds  # the server and its two workers
        time.sleep(1.0)  # mid-run: the workers are busy
        assert sweep.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
        assert not (tmp_path / "store" / "runs").exists() or len(list((tmp_path / "store" / "runs").iterdir())) < 12
        sweep.kill()
        sweep.wait(timeout=10)
        left = wait_gone(sorted(seen), 15)
        assert left == [], {p: _cmdline(p) for p in left}
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait(timeout=10)
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
