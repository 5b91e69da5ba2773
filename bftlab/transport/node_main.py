"""One OS process of a real cluster: a replica, or a group of clients with their workload.

Started by the local launcher (:mod:`bftlab.transport.cluster`) or by hand on
any machine with ``bftlab node SPEC --id N``. Every process loads the same
spec, so all agree on node ids, keys, addresses and parameters; the spec's
digest is the cluster id checked in the handshake.

With ``--control`` the process talks to its launcher: JSON lines on stdout
(``ready``, ``connected``, ``done``, ``stats``) and lines on stdin
(``go EPOCH_NS`` boots the nodes with time 0 at ``EPOCH_NS`` on the host's
monotonic clock, and starts the workload). End of stdin means the launcher is
gone: the process flushes its event log, prints its stats and exits, so no
process outlives its launcher. SIGTERM and SIGINT stop it the same way.
Without ``--control`` the nodes boot at once and time 0 is the process start.

Storage: each node's ``Persist``/``Sync`` go to an append-only, checksummed
log ``node-<id>.wal`` in ``--storage DIR`` (default: the folder of ``--events``,
which the local launcher keeps for the whole run, so a replica it restarts
after a crash recovers from the log its previous process wrote). At start the
process reads that log, cuts a torn tail and boots the node with
``Start(recovered)``. Without either option a node that persists fails loudly.

The spec's adversary section applies here too (:mod:`bftlab.transport.adversary`):
network strategies act on this process's outgoing messages, a replica that
a node strategy controls runs wrapped by it, and the ``stats`` line carries
what they counted (``adversary``: network counts and each strategy's counters).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from bftlab.api import Accepted, Issued, NodeContext, Submit, Submitted
from bftlab.attack.wiring import Attack
from bftlab.core import seeds
from bftlab.core.costs import ZERO_COSTS
from bftlab.errors import ConfigError, UsageError
from bftlab.sim.workload import OpGenerator
from bftlab.specs.registry import load_crypto, load_protocol
from bftlab.transport import adversary
from bftlab.transport.events import EventLog
from bftlab.transport.handshake import Keyring
from bftlab.transport.runtime import Host, HostConfig

if TYPE_CHECKING:  # annotations only: bftlab.specs imports engine modules, so a run-time import could cycle
    from bftlab.specs.spec import ExperimentSpec


def parse_hostport(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{what}: expected host:port, got {text!r}.")
    return host.strip("[]"), int(port)


def replica_addrs(spec: ExperimentSpec) -> dict[int, tuple[str, int]]:
    """Each replica's address from ``transport.hosts`` (or 127.0.0.1 at ``base_port + id``)."""
    t = spec.transport
    if t.hosts:
        if len(t.hosts) != spec.n:
            raise ConfigError(f"transport.hosts lists {len(t.hosts)} addresses; it needs one per replica (n={spec.n}).")
        return {i: parse_hostport(h, f"transport.hosts[{i}]") for i, h in enumerate(t.hosts)}
    if t.base_port <= 0:
        raise ConfigError("transport.base_port is 0 (pick free ports), which only the local launcher can do; "
                          "set transport.hosts or a base_port to start nodes by hand.")
    return {i: ("127.0.0.1", t.base_port + i) for i in range(spec.n)}


def default_storage(spec: ExperimentSpec, ids: Sequence[int]) -> Path:
    """Where a node started without --storage or --events keeps its log: the user's state folder.

    Per cluster (the spec's digest) and per node, so a restarted node finds its own log again;
    ``$XDG_STATE_HOME`` (default ``~/.local/state``) as the XDG base directory specification says.
    """
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "bftlab" / cluster_id(spec).hex() / ("node-" + "-".join(str(i) for i in ids))


def cluster_id(spec: ExperimentSpec) -> bytes:
    from bftlab.specs.spec import spec_digest

    return bytes.fromhex(spec_digest(spec))[:16]


def incarnation_us() -> int:
    """This process's incarnation number: wall-clock microseconds now (see ``NodeContext.incarnation_us``).

    A later process gets a larger one as long as the host's wall clock is not
    set back by more than the time between the two starts.
    """
    return time.time_ns() // 1_000


def build_nodes(spec: ExperimentSpec, ids: Sequence[int], proc_name: str | None = None,
                attack: Attack | None = None, incarnation: int = 0) -> dict[int, Any]:
    """Fresh sans-IO nodes for ``ids``, built exactly as the simulator builds them (``incarnation``: see
    ``NodeContext.incarnation_us``).

    A replica controlled by one of the spec's node strategies comes wrapped by
    it: by ``attack``'s, or by a new one for this process if none is given.
    """
    proto = load_protocol(spec.protocol.name)
    n, f = spec.n, spec.f
    assert f is not None, "a validated spec has resolved f from its protocol's fault model"
    replicas, clients = spec.replicas, spec.clients
    all_ids = list(range(n + len(clients)))
    cryptos = load_crypto(spec.crypto)(all_ids, seeds.derive(spec.seed, "keys"), ZERO_COSTS)
    params = spec.protocol.params
    if isinstance(params, dict) or params is None:
        params = proto.params(**(params or {}))
    if attack is None:
        attack = adversary.attack_for(spec, ids, proc_name or "-".join(str(i) for i in sorted(ids)))
    nodes = {}
    for nid in ids:
        ctx = NodeContext(nid, n, f, replicas, clients, cryptos[nid], seeds.rng(spec.seed, f"node/{nid}"), params,
                          incarnation)
        node = proto.make_replica(ctx) if nid < n else proto.make_client(ctx)
        nodes[nid] = attack.wrap(nid, ctx, node, proto.make_replica) if attack is not None and nid < n else node
    return nodes


class ClientDriver:
    """The workload of this process's clients: closed loop or Poisson arrivals, up to a quota."""

    def __init__(self, host: Host, clients: Sequence[int], spec: ExperimentSpec, quota: int | None,
                 proc_seed: str) -> None:
        wl = spec.workload
        self.host = host
        self.clients = list(clients)
        self.gen = OpGenerator(seeds.rng(spec.seed, f"workload/ops/{proc_seed}"), wl.request_size_bytes, wl.keys,
                               wl.read_fraction, wl.key_skew)
        self.rng = seeds.rng(spec.seed, f"workload/arrivals/{proc_seed}")
        self.mode = wl.mode
        self.rate = wl.rate_rps * len(self.clients) / max(1, wl.clients)
        self.duration_s = wl.duration_s
        self.drain_s = spec.transport.drain_s
        self.quota = quota if quota is not None else 1 << 62  # None: until duration_s
        self.submitted = 0
        self.accepted = 0
        self.finished_issuing = False
        self.submit_times: dict[int, deque[int]] = {c: deque() for c in self.clients}
        self.ops: dict[int, deque[bytes]] = {c: deque() for c in self.clients}  # handed over, not yet issued
        self.done = trio.Event()

    def _next(self, client: int) -> Submit | None:
        if self.finished_issuing or self.submitted >= self.quota:
            self.finished_issuing = True
            return None
        self.submitted += 1
        self.submit_times[client].append(time.monotonic_ns())
        op = self.gen.next()
        self.ops[client].append(op)
        return Submit(op)

    def _check_done(self) -> None:
        if self.submitted >= self.quota:
            self.finished_issuing = True
        if self.finished_issuing and self.accepted >= self.submitted:
            self.done.set()

    def on_event(self, nid: int, event: Any) -> None:
        if type(event) is Accepted and nid in self.submit_times:
            self.accepted += 1
            if self.mode == "closed":
                sub = self._next(nid)
                if sub is not None:
                    self.host.submit_nowait(nid, sub)
            self._check_done()

    def submitted_at(self, client: int) -> int | None:
        q = self.submit_times.get(client)
        return q.popleft() if q else None

    def submitted_op(self, client: int) -> bytes | None:
        """The operation a client's next Issued request carries (clients issue their submissions in order)."""
        q = self.ops.get(client)
        return q.popleft() if q else None

    async def run(self) -> None:
        """Issue the workload; returns when every issued request was accepted."""
        async with trio.open_nursery() as nursery:
            if self.duration_s > 0:
                nursery.start_soon(self._deadline)
            if self.mode == "closed":
                for c in self.clients:
                    sub = self._next(c)
                    if sub is not None:
                        await self.host.submit(c, sub)
            else:
                nursery.start_soon(self._arrivals)
            self._check_done()
            while not self.finished_issuing:
                await trio.sleep(0.01)
            with trio.move_on_after(self.drain_s):  # requests stuck past this are reported as pending
                await self.done.wait()
            nursery.cancel_scope.cancel()

    async def _deadline(self) -> None:
        await trio.sleep(self.duration_s)
        self.finished_issuing = True
        self._check_done()

    async def _arrivals(self) -> None:
        i = 0
        while True:
            c = self.clients[i % len(self.clients)]
            i += 1
            sub = self._next(c)
            if sub is None:
                self._check_done()
                return
            await self.host.submit(c, sub)
            await trio.sleep(self.rng.expovariate(self.rate))


def _say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(",", ":")), flush=True)


async def serve(spec: ExperimentSpec, ids: Sequence[int], events: str | None, control: bool, quota: int | None,
                listen: str | None, proc_name: str, storage: str | None = None) -> int:
    """Run this process until stopped (replicas) or until the workload is done (clients)."""
    ids = sorted(set(ids))
    n_nodes = spec.n + spec.workload.clients
    bad = [i for i in ids if not 0 <= i < n_nodes]
    if bad:
        raise UsageError(f"--id {bad[0]}: node ids are 0..{n_nodes - 1} (replicas 0..{spec.n - 1}, clients after).")
    is_replica = [i < spec.n for i in ids]
    if any(is_replica) and len(ids) != 1:
        raise UsageError(f"--id {ids}: a replica runs alone in its process; give one replica id, or client ids only.")
    addrs = replica_addrs(spec)
    t = spec.transport
    lis = None
    if is_replica[0]:
        lis = parse_hostport(listen, "--listen") if listen else addrs[ids[0]]
    cfg = HostConfig(cluster_id(spec), tuple(ids), addrs, lis, max_frame_bytes=t.max_frame_bytes,
                     send_queue_bytes=t.send_queue_bytes)
    attack = adversary.attack_for(spec, ids, proc_name)
    incarnation = incarnation_us()
    nodes = build_nodes(spec, ids, proc_name, attack, incarnation)
    keyring = Keyring.derived(seeds.derive(spec.seed, "keys"), range(n_nodes), ids)  # = the ed25519 scheme's keys
    log = EventLog(events)
    driver: ClientDriver | None = None

    def on_event(nid: int, event: Any) -> None:
        sub = None
        if driver is not None and type(event) is Issued:
            sub = driver.submitted_at(event.client)
            op = driver.submitted_op(event.client)
            if op is not None:  # what the workload handed over, for oracles that judge values (linearizability)
                log.write(Submitted(event.client, op))
        log.write(event, sub)
        if driver is not None:
            driver.on_event(nid, event)

    router = adversary.network_router(attack)
    storage_dir = Path(storage) if storage else (Path(events).parent if events else default_storage(spec, ids))
    storage_dir.mkdir(parents=True, exist_ok=True)
    host = Host(cfg, nodes, keyring, on_event, seeds.rng(spec.seed, f"transport/{proc_name}"), router,
                wait_for_epoch=control, storage_dir=storage_dir, storage_sync=t.storage_sync)
    if not is_replica[0]:
        driver = ClientDriver(host, ids, spec, quota, proc_name)
    # Everything built so far (modules, keys, nodes) lives as long as the process: keep the cyclic GC from
    # rescanning it, and collect the young generation less often (a replica allocates per message).
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    # A busy host fsyncs in a worker thread (see bftlab.transport.runtime), which needs the GIL back to report:
    # by default it may wait 5 ms for the loop to let go of it, on a path every durable request waits on.
    sys.setswitchinterval(0.0005)
    t0 = time.monotonic()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_flusher, log)
            nursery.start_soon(_on_signals, nursery.cancel_scope)
            port = await nursery.start(host.run)
            if control:
                _say({"event": "ready", "ids": ids, "port": port, "incarnation_us": incarnation})
                go = trio.Event()
                nursery.start_soon(_read_control, host, go, nursery.cancel_scope)
            if driver is not None:
                with trio.move_on_after(t.startup_timeout_s):
                    while not host.connected_to(spec.replicas):
                        await trio.sleep(0.01)
                if control:
                    _say({"event": "connected", "ok": host.connected_to(spec.replicas)})
                    await go.wait()
                await driver.run()
                if control:
                    _say({"event": "done", "submitted": driver.submitted, "accepted": driver.accepted})
                else:
                    print(f"clients {ids}: {driver.accepted} of {driver.submitted} requests accepted in "
                          f"{time.monotonic() - t0:.2f} s", file=sys.stderr)
                    nursery.cancel_scope.cancel()
    finally:
        log.close()
        if control:
            _say({
                "event": "stats", "ids": ids, "cpu_s": time.process_time(), "wall_s": time.monotonic() - t0,
                "inputs": host.inputs, "counters": dict(sorted(host.counters.items())),
                "node_counters": _node_counters(nodes), "sent_by_type": dict(sorted(host.sent_by_type.items())),
                "bytes_sent": host.bytes_sent, "writes": host.writes, "messages_sent": host.messages_sent,
                "events": log.records, "adversary": attack.tally() if attack is not None else None,
                "final_state": final_states(spec, nodes),
            })
    return 0


def final_states(spec: ExperimentSpec, nodes: dict[int, Any]) -> dict[str, Any]:
    """``ProtocolSpec.final_state`` of each correct replica here, for the oracles (keys are node ids as text)."""
    hook = load_protocol(spec.protocol.name).final_state
    if hook is None:
        return {}
    byzantine = set(spec.byzantine)
    return {str(nid): hook(node) for nid, node in sorted(nodes.items()) if nid < spec.n and nid not in byzantine}


def _node_counters(nodes: dict[int, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for node in nodes.values():
        for k, v in getattr(node, "counters", {}).items():
            if isinstance(v, int):
                out[k] = out.get(k, 0) + v
    return out


async def _flusher(log: EventLog) -> None:
    while True:
        await trio.sleep(0.1)
        log.flush()


async def _on_signals(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _read_control(host: Host, go: trio.Event, scope: trio.CancelScope) -> None:
    """``go [EPOCH_NS]`` sets the clock and starts the workload.

    End of input (the launcher died or is done) stops the process.
    """
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    buf = b""
    while True:
        data = await stdin.receive_some(4096)
        if not data:
            scope.cancel()
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            words = line.split()
            if words and words[0] == b"go":
                ago_s = 0.0
                if len(words) > 1 and words[1].isdigit():  # the launcher's go instant, on the host-wide monotonic clock
                    ago_s = max(0.0, (time.monotonic_ns() - int(words[1])) / 1e9)
                host.start_clock(trio.current_time() - ago_s)
                go.set()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="the cluster spec (YAML), identical on every machine")
    p.add_argument("--id", dest="ids", metavar="N", type=int, action="append", required=True,
                   help="node id to run here: one replica id, or one or more client ids (repeat --id)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override a spec value (must be the same on every node)")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="replica only: listen here instead of its transport.hosts entry")
    p.add_argument("--events", metavar="FILE", help="append this process's history events to FILE (msgpack records)")
    p.add_argument("--storage", metavar="DIR",
                   help="folder of the nodes' storage logs (node-<id>.wal); default: the folder of --events, "
                        "else $XDG_STATE_HOME/bftlab/<cluster>/node-<ids> (~/.local/state when unset)")
    p.add_argument("--requests", type=int, default=None,
                   help="clients only: requests to issue from this process (default: its share of workload.requests)")
    p.add_argument("--control", action="store_true", help=argparse.SUPPRESS)


def run_node(args: argparse.Namespace) -> int:
    """Entry point shared by ``bftlab node`` and ``python -m bftlab.transport.node_main``."""
    from bftlab.specs.spec import load_spec

    spec = load_spec(args.spec, args.set)
    quota: int | None = args.requests
    if quota is None and spec.workload.requests > 0:
        share = spec.workload.requests * len([i for i in args.ids if i >= spec.n]) / max(1, spec.workload.clients)
        quota = max(1, round(share))
    name = "-".join(str(i) for i in sorted(args.ids))
    return trio.run(serve, spec, args.ids, args.events, args.control, quota, args.listen, name,
                    getattr(args, "storage", None))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bftlab-node", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_node(args)
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
