"""Shared helpers for real-transport tests: specs with fixed loopback ports, process groups that always die, a
finished run's logs and its client history."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bftlab.api import Accepted, Issued, Submitted
from bftlab.core import seeds
from bftlab.core.storage import scan
from bftlab.oracles.base import OracleContext
from bftlab.oracles.kvhistory import KvHistoryOracle
from bftlab.sim.workload import OpGenerator
from bftlab.specs.spec import spec_from_dict, spec_to_yaml
from bftlab.transport import run_real
from bftlab.transport.cluster import free_ports
from bftlab.transport.events import read_log

TOY = "tests.engine.toyproto:TOY"


def spec(protocol: str = "pbft", n: int = 4, clients: int = 2, params: dict | None = None, **over: Any) -> Any:
    data: dict[str, Any] = {"name": "t", "protocol": {"name": protocol, "params": params or {}}, "n": n, "seed": 5,
                            "workload": {"clients": clients, "requests": 100},
                            "transport": {"kind": "real", "startup_timeout_s": 30}, "stop": {"time_limit_s": 40}}
    data.update(over)
    return spec_from_dict(data)


def with_ports(s: Any) -> Any:
    import dataclasses

    hosts = tuple(f"127.0.0.1:{p}" for p in free_ports(s.n))
    return dataclasses.replace(s, transport=dataclasses.replace(s.transport, hosts=hosts))


def write_spec(s: Any, path: Path) -> Path:
    path.write_text(spec_to_yaml(s), encoding="utf-8")
    return path


def start_node(spec_path: Path, ids: list[int], *extra: str, control: bool = True) -> subprocess.Popen:
    argv = [sys.executable, "-m", "bftlab.transport.node_main", str(spec_path)]
    for i in ids:
        argv += ["--id", str(i)]
    if control:
        argv.append("--control")
    # A node without --storage would keep its log in the user's state folder: tests keep theirs in a temp
    # folder of their own, which kill_group removes.
    state = tempfile.mkdtemp(prefix="bftlab-test-node-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), XDG_STATE_HOME=state)
    proc = subprocess.Popen([*argv, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env=env)
    _STATE_DIRS[proc.pid] = state
    return proc


_STATE_DIRS: dict[int, str] = {}


def wait_line(proc: subprocess.Popen, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Read the process's JSON lines until ``event`` (bounded: the process is killed past the deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg.get("event") == event:
            return msg
    kill_group(proc)
    raise AssertionError(f"no {event!r} line; stderr: {proc.stderr.read()[-2000:]!r}")


def say_go(proc: subprocess.Popen) -> None:
    """Boot a ``--control`` node's nodes (time 0 = now), as the launcher's ``go`` does."""
    proc.stdin.write(b"go %d\n" % time.monotonic_ns())
    proc.stdin.flush()


def stop_gracefully(proc: subprocess.Popen, timeout_s: float = 10.0) -> dict[str, Any] | None:
    """Close stdin (the launcher's way of stopping a node) and return its final stats line."""
    try:
        out, _ = proc.communicate(b"", timeout=timeout_s)  # end of stdin: the node flushes and exits
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return None
    stats = [json.loads(line) for line in out.splitlines() if line.strip()]
    stats = [s for s in stats if s.get("event") == "stats"]
    return stats[-1] if stats else None


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    state = _STATE_DIRS.pop(proc.pid, None)
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


# ------------------------------------------------------------------ a finished run_real and its client history
class RealRun:
    """A finished real run: its report, and the event logs and storage logs left in ``workdir``."""

    def __init__(self, spec: Any, workdir: Path) -> None:
        self.spec, self.dir = spec, workdir
        self.report = run_real(spec, keep_dir=workdir)
        self.logs = {p.name[: -len(".events")]: list(read_log(p)) for p in sorted(workdir.glob("*.events"))}

    def events(self, kind: type, proc: str | None = None) -> list[tuple[int, Any]]:
        """``(t_ns, event)`` of one type, from one process (``replica-0.1``) or all, in time order."""
        out = [(t, ev) for name, log in self.logs.items() if proc is None or name == proc
               for _, t, ev, _ in log if type(ev) is kind]
        return sorted(out, key=lambda te: te[0])

    def t_go(self) -> int:
        """The load's start: the first request issued (the clients start at the launcher's ``go``)."""
        return self.events(Issued)[0][0]

    def boot(self, proc: str) -> int:
        """When process ``proc`` booted its replica (its first event: a restarted one reports the state it read
        from disk). Bounds count from here: how long a new Python process takes to start on a loaded machine is
        not the protocol's business."""
        return min(t for _, t, _, _ in self.logs[proc])

    def incarnations(self, r: int) -> list[str]:
        return sorted(name for name in self.logs if name.startswith(f"replica-{r}."))

    def wal(self, r: int) -> dict[str, bytes]:
        """Replica ``r``'s records as its next restart would read them (latest value per key)."""
        return scan((self.dir / f"node-{r}.wal").read_bytes()).values


def client_history(run: RealRun, f: int) -> Any:
    """The linearizability verdict of the client-visible history of an open-loop run with one client process.

    The real transport logs no ``Submitted`` events: each client's operations are regenerated from the
    workload's seeded stream (the generator the client process uses, in the order the open-loop driver hands
    them out, round-robin over the clients), and every ``Issued`` must pair with its operation."""
    spec = run.spec
    (group,) = [name for name in run.logs if name.startswith("clients-")]  # one client process (< 32 clients)
    clients = list(spec.clients)
    wl = spec.workload
    assert wl.mode == "open", "closed-loop clients draw their operations in completion order, not round-robin"
    gen = OpGenerator(seeds.rng(spec.seed, f"workload/ops/{'-'.join(map(str, clients))}"), wl.request_size_bytes,
                      wl.keys, wl.read_fraction, wl.key_skew)
    oracle = KvHistoryOracle(OracleContext(spec.replicas, spec.clients, (), f))
    for i in range(len(run.events(Issued, group))):
        oracle.observe(0, Submitted(clients[i % len(clients)], gen.next()))
    for kind in (Issued, Accepted):
        for t, ev in run.events(kind, group):
            oracle.observe(t, ev)
    assert oracle.unpaired == 0  # every issued request was matched with its regenerated operation
    return oracle.verdict()
