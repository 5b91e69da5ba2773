"""An interrupted sweep resumes: finished runs are kept as they are, only missing ones run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bftlab.cli import main
from bftlab.experiments.store import Store

from .helpers import ROOT, digests, toy_experiment

TIMEOUT_S = 60


def _start(experiment: Path, store: Path) -> subprocess.Popen:
    # A session of its own: signals go to the sweep and its workers only, as Ctrl-C goes to a terminal's job.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "bftlab", "sweep", str(experiment), "--store", str(store), "--workers", "2",
         "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stored(store: Path) -> list[Path]:
    return sorted((store / "runs").glob("*/report.json"))


def _interrupt_after(proc: subprocess.Popen, store: Path, at_least: int, sig: signal.Signals) -> tuple[int, str]:
    deadline = time.monotonic() + TIMEOUT_S
    while len(_stored(store)) < at_least:
        assert proc.poll() is None, f"the sweep ended before {at_least} runs were stored: {proc.communicate()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.01)
    os.killpg(proc.pid, sig)  # the whole group: with SIGKILL, as if the machine died
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err


def _snapshot(store: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _stored(store)}


def test_killed_and_interrupted_sweep_resumes_without_redoing_runs(tmp_path, capsys):
    experiment = toy_experiment(tmp_path, requests=800, seeds=4)  # 16 runs of ~0.1 s
    store = tmp_path / "store"
    sweep_dir = store / "toy-sweep"

    # 1. The machine dies: SIGKILL to the sweep and its workers once a few runs are stored.
    code, _ = _interrupt_after(_start(experiment, store), sweep_dir, 3, signal.SIGKILL)
    assert code == -signal.SIGKILL
    first = _snapshot(sweep_dir)
    assert 3 <= len(first) < 16

    # 2. Resumed, then Ctrl-C: it stops at once, says how to resume, and keeps every finished report.
    code, err = _interrupt_after(_start(experiment, store), sweep_dir, len(first) + 2, signal.SIGINT)
    assert f"{len(first)} of 16 already done; running {16 - len(first)}" in err
    if code == 130:  # (unless the sweep finished just before the signal landed)
        assert "run the same command again to resume" in err
    second = _snapshot(sweep_dir)
    assert all(second[p] == first[p] for p in first), "a finished run was redone"
    assert not list(sweep_dir.rglob("*.tmp")), "a half-written file was left behind"

    # 3. Resumed to the end: only the missing runs ran.
    assert main(["sweep", str(experiment), "--store", str(store), "--workers", "2", "--no-progress"]) == 0
    assert f"{len(second)} of 16 already done; running {16 - len(second)}" in capsys.readouterr().err
    final = _snapshot(sweep_dir)
    assert len(final) == 16 and all(final[p] == second[p] for p in second)
    assert (sweep_dir / "summary.csv").read_text().count("\n") == 1 + 4  # header + 4 grid points

    # The result equals an uninterrupted sweep's, run by run.
    fresh = tmp_path / "fresh"
    assert main(["sweep", str(experiment), "--store", str(fresh), "--workers", "2", "--no-progress"]) == 0
    assert digests(sweep_dir) == digests(fresh / "toy-sweep")

    # A rerun of a complete sweep runs nothing.
    assert main(["sweep", str(experiment), "--store", str(store), "--no-progress"]) == 0
    assert "all 16 runs already done" in capsys.readouterr().err
    assert _snapshot(sweep_dir) == final


def test_a_new_sweep_removes_what_a_killed_writer_left_and_nothing_else(tmp_path):
    store = Store(tmp_path / "s")
    run = store.run_dir("k")
    run.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=TIMEOUT_S)
    left = run / f".report.json.{int(dead.stdout)}.abc123.tmp"  # its writer has exited
    live = run / f".report.json.{os.getpid()}.def456.tmp"  # a writer that is still running
    other = run / ".notes.tmp"  # not written by the store
    for p in (left, live, other):
        p.write_text("half")
    store.save("k", {"done": True}, "x: 1\n")  # the store's own writes leave no temp file behind
    assert store.remove_stale_temp() == 1
    assert not left.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == ["report.json", "spec.yaml"]
