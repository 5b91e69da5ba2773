"""A PySyncObj cluster as OS processes on loopback, driven by closed-loop clients: the anchor for bftlab's Raft.

Each node is one process (``python -m benchmarks.pysyncobj_cluster NODE-JSON``) holding a
:class:`KV` (a replicated dict) with PySyncObj's own TCP transport and its on-disk journal
(``journalFile``, plus ``fullDumpFile`` for snapshots). The parent talks to each node over its
stdin/stdout, one JSON object a line. The clients are threads in the leader's process, as
PySyncObj is an embedded library with no client protocol of its own: each thread keeps one
``put(key, value, sync=True)`` outstanding, which returns once the leader has committed and
applied it.

Durability, as PySyncObj 0.3 has it: the journal is an mmap'd file the leader and followers
write each entry into before they acknowledge it, and no code path calls ``msync``/``fsync`` on
it (``FileJournal.flush`` exists but nothing calls it); term and vote go to a ``.meta`` file
with ``write``+``flush``, again without ``fsync``. So an acknowledged write survives a process
crash (the pages are the kernel's) but not a power loss or kernel crash. ``msync=True`` patches
the node to ``msync`` its journal after every append (not a PySyncObj option: a what-if figure).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

NODE_READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0

# Log compaction forks the process and dumps the whole dict; PySyncObj starts one when the log
# passes logCompactionMinEntries (5,000 by default), i.e. every few seconds under load. bftlab's
# Raft snapshots far less often, so both runs keep the log whole for the benchmark's length. A node that starts
# before its peers listen retries the connection after connectionRetryTime (5 s by default): 0.2 s shortens the
# start-up only.
DEFAULT_CONF: dict[str, Any] = {"logCompactionMinEntries": 10**9, "logCompactionMinTime": 10**6,
                                "connectionRetryTime": 0.2}


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _cpu_s(pid: int) -> float | None:
    """User+system CPU seconds of a live process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- node process

def _node_main(cfg: dict[str, Any]) -> None:
    from pysyncobj import SyncObj, SyncObjConf, SyncObjException, replicated  # type: ignore[import-untyped]
    from pysyncobj.journal import FileJournal  # type: ignore[import-untyped]

    if cfg.get("msync"):
        add = FileJournal.add

        def add_and_msync(self: Any, command: Any, idx: int, term: int) -> None:
            add(self, command, idx, term)
            self.flush()  # mmap.flush(): msync(MS_SYNC) of the mapping
        FileJournal.add = add_and_msync

    class KV(SyncObj):
        def __init__(self, me: str, others: list[str], conf: Any) -> None:
            super().__init__(me, others, conf)
            self.data: dict[str, bytes] = {}

        @replicated
        def put(self, key: str, value: bytes) -> None:
            self.data[key] = value

    d = Path(cfg["dir"])
    conf = SyncObjConf(journalFile=str(d / "journal"), fullDumpFile=str(d / "dump"), **cfg["conf"])
    kv = KV(cfg["self"], cfg["others"], conf)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def status() -> dict[str, Any]:
        leader = kv._getLeader()
        return {"self": cfg["self"], "leader": None if leader is None else str(leader), "is_leader": kv._isLeader(),
                "ready": kv.isReady(), "commit": kv.raftCommitIndex, "applied": kv.raftLastApplied,
                "keys": len(kv.data), "term": kv.raftCurrentTerm}

    def run(clients: int, duration_s: float, value_bytes: int, keys: int, timeout_s: float) -> dict[str, Any]:
        lat: list[list[float]] = [[] for _ in range(clients)]
        errors: list[dict[str, int]] = [{} for _ in range(clients)]
        last_done = [0.0] * clients
        go = threading.Event()
        start = [0.0]

        def client(i: int) -> None:
            rng, value = random.Random(i), bytes(value_bytes)
            go.wait()
            end = start[0] + duration_s
            t = time.perf_counter()
            while t < end:  # closed loop, one put outstanding, each bounded by timeout_s
                try:
                    kv.put(f"k{rng.randrange(keys)}", value, sync=True, timeout=timeout_s)
                    done = time.perf_counter()
                    lat[i].append(done - t)
                    last_done[i] = done
                except SyncObjException as e:
                    errors[i][str(e.errorCode)] = errors[i].get(str(e.errorCode), 0) + 1
                    done = time.perf_counter()
                t = done

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for th in threads:
            th.start()
        start[0] = time.perf_counter()
        go.set()
        for th in threads:
            th.join(duration_s + timeout_s + 5.0)
        merged: dict[str, int] = {}
        for e in errors:
            for k, v in e.items():
                merged[k] = merged.get(k, 0) + v
        all_lat = sorted(x for per in lat for x in per)
        span = max(max(last_done) - start[0], 1e-9) if all_lat else duration_s
        return {"committed": len(all_lat), "span_s": span, "latencies_s": all_lat, "errors": merged,
                "stuck_threads": sum(th.is_alive() for th in threads)}

    deadline = time.monotonic() + NODE_READY_TIMEOUT_S
    while time.monotonic() < deadline and (kv._getLeader() is None or not kv.isReady()):
        time.sleep(0.02)
    reply({"status": status()})
    for line in sys.stdin:  # ends when the parent closes our stdin or dies
        msg = json.loads(line)
        if msg["cmd"] == "status":
            reply({"status": status()})
        elif msg["cmd"] == "run":
            reply({"run": run(msg["clients"], msg["duration_s"], msg["value_bytes"], msg["keys"], msg["timeout_s"]),
                   "status": status()})
        elif msg["cmd"] == "stop":
            break
    kv.destroy()


# ---------------------------------------------------------------- parent side

class _Node:
    def __init__(self, cfg: dict[str, Any], log: IO[bytes]) -> None:
        self.addr: str = cfg["self"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pysyncobj_cluster", json.dumps(cfg)],
            cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=log, start_new_session=True)  # own process group: killpg stops it and anything it forks
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode())
        self.lines.put(None)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def recv(self, timeout_s: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"node {self.addr}: no answer in {timeout_s:.0f} s") from None
        if line is None:
            raise RuntimeError(f"node {self.addr} exited with {self.proc.wait(1.0)}")
        out: dict[str, Any] = json.loads(line)
        return out

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send({"cmd": "stop"})
                self.proc.wait(STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(STOP_TIMEOUT_S)


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run_pysyncobj(n: int, clients: int, duration_s: float, workdir: str, *, value_bytes: int = 48,
                  keys: int = 1000, timeout_s: float = 10.0, conf: dict[str, Any] | None = None,
                  msync: bool = False, clients_at: str = "leader") -> dict[str, Any]:
    """One measurement: start ``n`` nodes in ``workdir``, run ``clients`` closed-loop clients for ``duration_s``
    at the leader (or, ``clients_at="follower"``, at a follower, which forwards each command to the leader and
    hears back its log index: a client hop each way, as bftlab's client processes have), stop every node.
    Returns committed writes/s, latency (ms), CPU per process and the pids."""
    ports = _free_ports(n)
    addrs = [f"127.0.0.1:{p}" for p in ports]
    full_conf = {**DEFAULT_CONF, **(conf or {})}
    nodes: list[_Node] = []
    with open(os.path.join(workdir, "nodes.log"), "ab") as log:
        try:
            for i, addr in enumerate(addrs):
                d = os.path.join(workdir, f"node{i}")
                os.makedirs(d, exist_ok=True)
                nodes.append(_Node({"self": addr, "others": [a for a in addrs if a != addr], "dir": d,
                                    "conf": full_conf, "msync": msync}, log))
            first = [nd.recv(NODE_READY_TIMEOUT_S + 10)["status"] for nd in nodes]
            leader = next((s["leader"] for s in first if s["is_leader"]), None) or first[0]["leader"]
            host = next((nd for nd in nodes if (nd.addr == leader) == (clients_at == "leader")), None)
            if leader is None or host is None:
                raise RuntimeError(f"no leader elected: {first}")
            cpu0 = {nd.addr: _cpu_s(nd.proc.pid) for nd in nodes}
            host.send({"cmd": "run", "clients": clients, "duration_s": duration_s, "value_bytes": value_bytes,
                       "keys": keys, "timeout_s": timeout_s})
            out = host.recv(duration_s + timeout_s + 30)
            cpu1 = {nd.addr: _cpu_s(nd.proc.pid) for nd in nodes}
            r = out["run"]
            lead = next(nd for nd in nodes if nd.addr == leader)
            if lead is not host:
                lead.send({"cmd": "status"})
                out["status"] = lead.recv(10)["status"]
            # followers learn the commit index with the next AppendEntries: wait (bounded) until they applied it
            followers: list[dict[str, Any]] = []
            for nd in nodes:
                if nd is lead:
                    continue
                st: dict[str, Any] = {}
                for _ in range(50):
                    nd.send({"cmd": "status"})
                    st = nd.recv(10)["status"]
                    if st["applied"] >= out["status"]["commit"]:
                        break
                    time.sleep(0.05)
                followers.append(st)
        finally:
            for nd in nodes:
                nd.stop()
    lat = r["latencies_s"]
    span = r["span_s"]
    cpu = {("leader" if a == leader else a): round((c1 - c0) / span, 3)
           for a, c0 in cpu0.items() if c0 is not None and (c1 := cpu1.get(a)) is not None}
    return {
        "system": "pysyncobj", "n": n, "clients": clients, "duration_s": duration_s,
        "committed": r["committed"], "committed_per_s": round(r["committed"] / span, 1),
        "latency_ms": {"p50": round(_pct(lat, 0.5) * 1e3, 3), "p99": round(_pct(lat, 0.99) * 1e3, 3),
                       "mean": round(statistics.fmean(lat) * 1e3, 3) if lat else None},
        "errors": r["errors"], "stuck_threads": r["stuck_threads"],
        "leader_status": out["status"], "follower_status": followers,
        "cpu_by_process": cpu, "conf": full_conf, "journal_msync": msync, "clients_at": clients_at,
        "pids": [nd.proc.pid for nd in nodes],
    }


if __name__ == "__main__":
    _node_main(json.loads(sys.argv[1]))
