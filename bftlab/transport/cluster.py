"""Local cluster launcher and supervisor: one spec in, n replica processes and client processes, one report out.

:func:`run_real` starts every replica as its own OS process on 127.0.0.1
(:mod:`bftlab.transport.node_main`), then the client processes, waits until all
are connected, says ``go`` (with the instant every process takes as time 0, so
that the adversary's time windows line up across processes), applies the
spec's fault schedule (a crash is
SIGKILL of the process group; a recovery starts a fresh process, which must
catch up by the protocol's state transfer), waits for the workload to finish
(bounded by ``stop.time_limit_s`` of wall time), stops everything and builds
the same report as the simulator from the processes' event logs.

Every child runs in its own process group, so a Ctrl-C reaches only the
launcher, which then kills each group it started (``finally``). Children also
watch their stdin: if the launcher dies without cleaning up, they exit.

The run's files live in a temporary ``bftlab-real-*`` folder that the launcher
removes when it ends. A launcher killed by SIGKILL cannot, so each folder names
its owner (``owner.pid``: pid and process start time), and every launcher
removes, as it starts, the folders whose owner is no longer running.

The checker judges each incarnation of a restarted replica as its own replica
(id ``r + 1000 * incarnation``): a restarted process starts empty, so it may
legitimately execute again a slot its previous life executed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from bftlab.api import Executed, FinalState, ReadServed, RunOptions, StateTransferred, ViewChanged
from bftlab.errors import ConfigError, InvariantError
from bftlab.oracles.base import OracleContext, Panel
from bftlab.reports.budget import fault_budget
from bftlab.reports.metrics import Metrics
from bftlab.reports.recorder import Recorder
from bftlab.reports.report import make_report
from bftlab.specs.registry import load_oracles, load_protocol
from bftlab.transport.adversary import summary as adversary_summary
from bftlab.transport.events import read_log

INCARNATION_STRIDE = 1000
WORKDIR_PREFIX = "bftlab-real-"
OWNER_FILE = "owner.pid"
_LOCAL = ("127.0.0.1", "localhost", "::1")


@dataclass
class Proc:
    """One child process (one incarnation of a replica, or a client group)."""

    name: str
    ids: list[int]
    incarnation: int
    events: Path
    stderr: Path
    process: Any = None
    ready: trio.Event = field(default_factory=trio.Event)
    connected: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)
    exited: trio.Event = field(default_factory=trio.Event)
    port: int | None = None
    stats: dict[str, Any] | None = None
    killed: bool = False

    def kill(self) -> None:
        """SIGKILL the whole process group (the crash fault, and the last resort at cleanup)."""
        p = self.process
        if p is not None and p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def free_ports(k: int) -> list[int]:
    """``k`` distinct ports that were free a moment ago (held together so they differ)."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_groups(spec: Any) -> list[list[int]]:
    """Client ids split over ``transport.client_processes`` processes (0: one per 32 clients, at most 2)."""
    clients = list(spec.clients)
    k = spec.transport.client_processes or min(2, (len(clients) + 31) // 32)
    k = max(1, min(k, len(clients)))
    return [clients[i::k] for i in range(k)]


def quotas(total: int, groups: list[list[int]]) -> list[int | None]:
    """Split ``total`` requests over client groups in proportion to their size (None: no limit)."""
    if total <= 0:
        return [None] * len(groups)
    n = sum(len(g) for g in groups)
    out: list[int | None] = []
    given = 0
    for i, g in enumerate(groups):
        share = total - given if i == len(groups) - 1 else total * len(g) // n
        out.append(share)
        given += share
    return out


class Cluster:
    """Starts, watches and stops the child processes of one run."""

    def __init__(self, spec: Any, workdir: Path, spec_path: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.spec_path = spec_path
        self.procs: list[Proc] = []
        self.replica: dict[int, Proc] = {}
        self.nursery: trio.Nursery | None = None
        self.go_line: bytes | None = None  # once said, every process started later hears it too
        self.go_ns: int | None = None  # time.monotonic_ns() at go, the clock of the event logs
        self.outages: list[tuple[int, int, int | None]] = []  # (replica, killed at ns, restarted at ns) as done

    def _argv(self, proc: Proc, quota: int | None) -> list[str]:
        argv = [sys.executable, "-m", "bftlab.transport.node_main", str(self.spec_path), "--control",
                "--events", str(proc.events)]
        for i in proc.ids:
            argv += ["--id", str(i)]
        if quota is not None:
            argv += ["--requests", str(quota)]
        return argv

    async def start(self, name: str, ids: list[int], quota: int | None = None) -> Proc:
        inc = sum(1 for p in self.procs if p.name == name)
        proc = Proc(name, ids, inc, self.workdir / f"{name}.{inc}.events", self.workdir / f"{name}.{inc}.stderr")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # children import what we import
        with open(proc.stderr, "wb") as err:
            proc.process = await trio.lowlevel.open_process(
                self._argv(proc, quota), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True, env=env)
        self.procs.append(proc)
        if ids[0] < self.spec.n:
            self.replica[ids[0]] = proc
        assert self.nursery is not None
        self.nursery.start_soon(self._pump, proc)
        if self.go_line is not None:
            await self.send(proc, self.go_line)
        return proc

    async def _pump(self, proc: Proc) -> None:
        """Read the child's JSON lines until it exits."""
        buf = b""
        stream = proc.process.stdout
        try:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._on_line(proc, line)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        await proc.process.wait()
        proc.exited.set()
        for ev in (proc.ready, proc.connected, proc.done):
            ev.set()  # nobody waits forever on a dead process

    def _on_line(self, proc: Proc, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        kind = msg.get("event")
        if kind == "ready":
            proc.port = msg.get("port")
            proc.ready.set()
        elif kind == "connected":
            proc.connected.set()
        elif kind == "done":
            proc.done.set()
        elif kind == "stats":
            proc.stats = msg

    async def send(self, proc: Proc, line: bytes) -> None:
        try:
            await proc.process.stdin.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    def crash(self, rid: int) -> None:
        proc = self.replica[rid]
        proc.killed = True
        proc.kill()

    async def stop_all(self, grace_s: float = 5.0) -> None:
        """Close every child's stdin (they flush and exit), then SIGKILL whoever is left."""
        for proc in self.procs:
            if proc.process.returncode is None:
                try:
                    await proc.process.stdin.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
        with trio.move_on_after(grace_s):
            for proc in self.procs:
                await proc.exited.wait()
        self.kill_all()

    def kill_all(self) -> None:
        """Synchronous last resort (runs in ``finally``, also on Ctrl-C): no child survives us."""
        for proc in self.procs:
            proc.kill()
        deadline = time.monotonic() + 5.0
        for proc in self.procs:
            p = proc.process
            while p is not None and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)

    def stderr_tail(self, proc: Proc, limit: int = 2000) -> str:
        try:
            return proc.stderr.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


# ---------------------------------------------------------------------- the run
def check_spec(spec: Any) -> None:
    """What the local launcher needs beyond a valid spec."""
    for i, h in enumerate(spec.transport.hosts):
        if h.rpartition(":")[0].strip("[]") not in _LOCAL:
            raise ConfigError(f"transport.hosts[{i}] = {h!r} is not on this machine; the local launcher starts every "
                              f"process here. Start remote replicas with `bftlab node SPEC --id N` on their hosts.")
    if spec.transport.hosts and len(spec.transport.hosts) != spec.n:
        raise ConfigError(f"transport.hosts lists {len(spec.transport.hosts)} addresses; it needs one per replica "
                          f"(n={spec.n}).")


def resolved_spec(spec: Any) -> Any:
    """The spec every child loads: addresses fixed (free ports picked once, here)."""
    t = spec.transport
    if t.hosts:
        hosts = t.hosts
    elif t.base_port:
        hosts = tuple(f"127.0.0.1:{t.base_port + i}" for i in range(spec.n))
    else:
        hosts = tuple(f"127.0.0.1:{p}" for p in free_ports(spec.n))
    return dataclasses.replace(spec, transport=dataclasses.replace(t, kind="real", hosts=hosts))


async def _run_cluster(spec: Any, workdir: Path) -> tuple[Cluster, float, float]:
    from bftlab.specs.spec import spec_to_yaml

    spec_path = workdir / "spec.yaml"
    spec_path.write_text(spec_to_yaml(spec), encoding="utf-8")
    cluster = Cluster(spec, workdir, spec_path)
    t_start = time.perf_counter()
    try:
        async with trio.open_nursery() as nursery:
            cluster.nursery = nursery
            await _start(cluster)
            t_go = trio.current_time()
            t_go_wall = time.perf_counter()
            cluster.go_ns = time.monotonic_ns()
            cluster.go_line = b"go %d\n" % cluster.go_ns
            clients = [p for p in cluster.procs if p.ids[0] >= spec.n]
            for proc in [p for p in cluster.procs if p.ids[0] < spec.n] + clients:  # replicas boot first
                await cluster.send(proc, cluster.go_line)
            for fault in spec.faults:
                nursery.start_soon(_fault, cluster, fault, t_go)
            with trio.move_on_after(spec.stop.time_limit_s):
                for proc in clients:
                    await proc.done.wait()
                await trio.sleep(spec.stop.settle_s)  # what is in flight lands before the replicas stop
            t_end_wall = time.perf_counter()
            await cluster.stop_all()
            nursery.cancel_scope.cancel()
    finally:
        cluster.kill_all()
    return cluster, t_end_wall - t_go_wall, t_end_wall - t_start


async def _start(cluster: Cluster) -> None:
    spec = cluster.spec
    timeout = spec.transport.startup_timeout_s
    replicas = [await cluster.start(f"replica-{r}", [r]) for r in spec.replicas]
    with trio.move_on_after(timeout):
        for proc in replicas:
            await proc.ready.wait()
    _require(cluster, replicas, lambda p: p.ready.is_set() and not p.exited.is_set(), "start listening")
    groups = client_groups(spec)
    clients = [await cluster.start(f"clients-{i}", g, q) for i, (g, q) in
               enumerate(zip(groups, quotas(spec.workload.requests, groups)))]
    with trio.move_on_after(timeout):
        for proc in clients:
            await proc.connected.wait()
    _require(cluster, clients, lambda p: p.connected.is_set() and not p.exited.is_set(), "connect to every replica")


def _require(cluster: Cluster, procs: list[Proc], ok: Any, what: str) -> None:
    bad = [p for p in procs if not ok(p)]
    if bad:
        p = bad[0]
        raise InvariantError(f"{p.name} did not {what} within {cluster.spec.transport.startup_timeout_s:g} s; "
                             f"its stderr ends with:\n{cluster.stderr_tail(p)}")


async def _fault(cluster: Cluster, fault: Any, t_go: float) -> None:
    await trio.sleep_until(t_go + fault.crash_at_s)
    cluster.crash(fault.node)
    outage = len(cluster.outages)
    cluster.outages.append((fault.node, time.monotonic_ns(), None))
    if fault.recover_at_s is not None:
        await trio.sleep_until(t_go + fault.recover_at_s)
        await cluster.replica[fault.node].exited.wait()  # the old process must be gone before its port is reused
        await cluster.start(f"replica-{fault.node}", [fault.node])
        cluster.outages[outage] = (fault.node, cluster.outages[outage][1], time.monotonic_ns())


def run_real(spec: Any, keep_dir: str | Path | None = None, options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Run ``spec`` as a local cluster of processes and return its report (``transport: "real"``)."""
    check_spec(spec)
    spec = resolved_spec(spec)
    if keep_dir is None:
        remove_stale_workdirs()
        workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        stamp = workdir / (OWNER_FILE + ".tmp")
        stamp.write_text(_owner_stamp(os.getpid()), encoding="ascii")
        stamp.replace(workdir / OWNER_FILE)  # atomic: another launcher never reads half a stamp
    else:
        workdir = Path(keep_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            cluster, run_s, wall_s = trio.run(_run_cluster, spec, workdir)
        except BaseExceptionGroup as group:  # trio nurseries wrap errors; callers expect the plain one
            ki, _ = group.split(KeyboardInterrupt)
            if ki is not None:
                raise KeyboardInterrupt from None
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise
        return build_report(spec, cluster, run_s, wall_s, options)
    finally:
        if keep_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid from its first owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_stamp(pid: int) -> str:
    return f"{pid} {_start_time(pid) or '-'}\n"


def _owner_alive(stamp: str) -> bool:
    """Whether the process that wrote ``stamp`` (see :func:`_owner_stamp`) still runs."""
    try:
        pid_text, started = stamp.split()
        pid = int(pid_text)
    except ValueError:
        return False  # unreadable: its writer was killed between creating the file and filling it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    now = _start_time(pid)
    return started == "-" or now is None or now == started


def remove_stale_workdirs(tmp: str | Path | None = None) -> list[Path]:
    """Remove ``bftlab-real-*`` folders in the temp dir whose owning launcher is gone; returns them.

    A folder without an owner file is left alone: it may belong to a launcher
    that has just created it, or to a version that wrote none.
    """
    removed = []
    for d in sorted(Path(tmp or tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*")):
        try:
            stamp = (d / OWNER_FILE).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            continue
        if not _owner_alive(stamp):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


# ---------------------------------------------------------------------- the report
def build_report(spec: Any, cluster: Cluster, run_s: float, wall_s: float,
                 options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Judge the collected histories and lay them out like the simulator's report.

    The events reach the oracles and the metrics through the simulator's
    :class:`~bftlab.reports.recorder.Recorder`: every client's ``Issued`` first
    (validity looks requests up), then the replicas' logs, then the acceptances.
    """
    from bftlab.specs.spec import spec_to_dict

    restarts = range(1 + len(spec.faults))  # a Byzantine replica stays Byzantine in every incarnation
    protocol = load_protocol(spec.protocol.name)
    byzantine = tuple(b + INCARNATION_STRIDE * i for b in spec.byzantine for i in restarts)
    checker = Panel(load_oracles((*protocol.oracles, *spec.oracles)),
                    OracleContext(spec.replicas, spec.clients, byzantine, spec.f or 0, spec.injects_faults))
    metrics = Metrics()
    clients = [p for p in cluster.procs if p.ids[0] >= spec.n]
    replicas = [p for p in cluster.procs if p.ids[0] < spec.n]
    client_logs = [list(_read(p)) for p in clients]
    # The simulator's recorder. A client's log stores each Issued with its submission time: hand them back in order.
    submitted: dict[tuple[int, int], deque[int]] = {}
    for log in client_logs:
        for kind, _, ev, sub in log:
            if kind == "I":
                submitted.setdefault((ev.client, ev.ts), deque()).append(sub)
    recorder = Recorder(checker, metrics, submitted_at=lambda ev, t: submitted[(ev.client, ev.ts)].popleft())
    for log in client_logs:  # every Issued first: the checker's validity test looks requests up
        for kind, t, ev, _ in log:
            if kind in ("U", "I"):  # each Submitted just before the Issued that carries its operation
                recorder.observe(t, ev)
    progress: dict[str, dict[str, Any]] = {}
    for proc in replicas:
        mine = progress[f"{proc.name}.{proc.incarnation}"] = {"max_seq": None, "state_transfers": [], "view": 0}
        offset = INCARNATION_STRIDE * proc.incarnation  # oracles judge each incarnation as its own replica
        for kind, t, ev, _ in _read(proc):
            if kind == "X":
                mine["max_seq"] = max(ev.seq, mine["max_seq"] or 0)
                if proc.incarnation:
                    ev = Executed(ev.node + offset, ev.seq, ev.view, ev.entries)
            elif kind == "V":
                mine["view"] = max(mine["view"], ev.view)
                ev = ViewChanged(ev.node + offset, ev.view)
            elif kind == "Q":
                if proc.incarnation:
                    ev = ReadServed(ev.node + offset, ev.client, ev.ts, ev.op_digest, ev.result_digest)
            elif kind in ("R", "T", "O", "D"):
                pass  # the fault budget and the transactions' judge count replica ids, not incarnations
            elif kind == "S":
                mine["state_transfers"].append(ev.seq)
                # the checker allows a gap in a replica's executions only after a state transfer
                ev = StateTransferred(ev.node + offset, ev.seq)
            else:
                continue
            recorder.observe(t, ev)
    for log in client_logs:
        for kind, t, ev, _ in log:
            if kind == "A":
                recorder.observe(t, ev)
    t_end = time.monotonic_ns()
    for proc in replicas:  # what each replica held when it stopped (a killed incarnation reported nothing)
        for nid, state in ((proc.stats or {}).get("final_state") or {}).items():
            recorder.observe(t_end, FinalState(int(nid), state))
    by_type: dict[str, int] = {}
    dropped: dict[str, int] = {}
    bytes_total = 0
    for proc in cluster.procs:
        st = proc.stats or {}
        for k, v in st.get("sent_by_type", {}).items():
            by_type[k] = by_type.get(k, 0) + v
        for k, v in {**st.get("counters", {}), **st.get("node_counters", {})}.items():
            if k.startswith("drop"):
                dropped[k] = dropped.get(k, 0) + v
        bytes_total += st.get("bytes_sent", 0)
    report = make_report(
        spec=spec_to_dict(spec),
        protocol=spec.protocol.name,
        fault_model=protocol.fault_model.name,
        transport="real",
        trace_digest=None,
        metrics={
            **metrics.summary(),
            "messages": {"total": sum(by_type.values()), "by_type": dict(sorted(by_type.items()))},
            "bytes_total": bytes_total,
            "dropped": dict(sorted(dropped.items())),
        },
        verdicts=checker.verdicts(),
        run={
            "wall_s": round(wall_s, 4),
            "workload_wall_s": round(run_s, 4),
            "events": None,
            "events_per_s": None,
            "messages_delivered": None,
            "sim_time_s": None,
            "restarts": sum(1 for p in replicas if p.incarnation),
            "state_transfers": sum(len(p["state_transfers"]) for p in progress.values()),
            "replica_progress": progress,
            "processes": [_proc_summary(p) for p in cluster.procs],
        },
        adversary=adversary_summary(spec, [p.stats or {} for p in cluster.procs]) if spec.adversary else None,
        fault_budget=_budget(spec, protocol, cluster, recorder.recovered, run_s),
        expected=protocol.expected_violations,
    )
    if options.timeline_bin_s is not None:
        report["timeline"] = metrics.timeline(options.timeline_bin_s)
    return report


def _budget(spec: Any, protocol: Any, cluster: Cluster, recovered: dict[int, list[int]],
            run_s: float) -> dict[str, Any] | None:
    """The budget as it held, from when each SIGKILL and restart really happened (event-log clock)."""
    if not cluster.outages or not protocol.fault_model.counted or cluster.go_ns is None:
        return None
    go = cluster.go_ns

    def s(ns: int) -> float:
        return (ns - go) / 1e9

    return fault_budget(
        f=spec.f or 0, byzantine=spec.byzantine,
        outages=[(n, s(down), s(up) if up is not None else None) for n, down, up in cluster.outages],
        recovered={n: [s(t) for t in ts] for n, ts in recovered.items()},
        durable=protocol.durable, end_s=run_s)


def _read(proc: Proc):
    try:
        yield from read_log(proc.events)
    except FileNotFoundError:
        return


def _proc_summary(p: Proc) -> dict[str, Any]:
    st = p.stats or {}
    cpu, wall = st.get("cpu_s"), st.get("wall_s")
    return {
        "name": p.name, "ids": p.ids, "pid": p.process.pid if p.process is not None else None,
        "incarnation": p.incarnation, "killed": p.killed,
        "exit_code": p.process.returncode if p.process is not None else None,
        "cpu_s": round(cpu, 3) if cpu is not None else None,
        "cpu_util": round(cpu / wall, 3) if cpu is not None and wall else None,
        "inputs": st.get("inputs"), "writes": st.get("writes"), "messages_sent": st.get("messages_sent"),
    }
