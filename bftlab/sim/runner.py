"""Build a simulated run from a validated spec, run it, and produce its report.

``run(spec)`` is the whole pipeline; ``build(spec)`` returns the wired
:class:`Simulation` so tests, the fuzzer and benchmarks can drive it.
Every random stream is derived from ``spec.seed`` by component name
(``network``, ``workload``, ``node/<id>``, ...).

History events reach the oracles and the metrics through the
:class:`~bftlab.reports.recorder.Recorder` the real transport's report uses
too; the simulator adds the workload's submission times and stops the kernel
once every submitted request has been accepted.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from bftlab.api import Accepted, FinalState, Issued, NodeContext, RunOptions, Submit, Submitted
from bftlab.attack.wiring import Attack
from bftlab.core import seeds, wire
from bftlab.core.costs import ZERO_COSTS
from bftlab.core.kernel import NS, PRIO_CONTROL, Kernel, to_ns
from bftlab.core.storage import SimDisk
from bftlab.errors import ConfigError
from bftlab.oracles.base import OracleContext, Panel, partition_windows
from bftlab.reports.budget import fault_budget
from bftlab.reports.metrics import Metrics
from bftlab.reports.recorder import Recorder
from bftlab.reports.report import make_report
from bftlab.sim.network import Network, latency_sampler, partition_window
from bftlab.sim.runtime import SimRuntime
from bftlab.sim.workload import OpGenerator, Workload
from bftlab.specs.registry import load_crypto, load_oracles, load_protocol


class Simulation:
    """A wired run: kernel, network, runtime, nodes, workload and history."""

    def __init__(self, spec: Any, keep_history: bool = False) -> None:
        self.spec = spec
        self.proto = load_protocol(spec.protocol.name)
        for cls in self.proto.message_types:
            if not wire.is_registered(cls):
                raise ConfigError(f"protocol {self.proto.name!r}: message {cls.__qualname__} is not registered")
        n, f = spec.n, spec.f
        wl = spec.workload
        self.replicas = tuple(range(n))
        self.clients = tuple(range(n, n + wl.clients))
        self.byzantine: tuple[int, ...] = ()
        n_nodes = n + wl.clients
        self.kernel = Kernel()
        self.keep_history = spec.trace.keep or keep_history  # history alone: no per-message trace
        self.history: list[tuple[int, Any]] = []
        self.oracle_plugins = load_oracles((*self.proto.oracles, *spec.oracles))
        # Operation contents matter only to oracles that judge values (linearizability), not to the SMR checker.
        self._record_ops = any(p.name != "smr" for p in self.oracle_plugins)
        self.metrics = Metrics()
        net = spec.network
        self.network = Network(
            n_nodes,
            self._sampler(net, n_nodes),
            seeds.rng(spec.seed, "network/loss"),
            bandwidth_mbps=net.bandwidth_mbps,
            loss=net.loss,
            partitions=[partition_window(p.start_s, p.end_s, p.groups, n_nodes) for p in net.partitions],
        )
        self.runtime = SimRuntime(self.kernel, self.network, spec.cpu, self._observe, keep_trace=spec.trace.keep,
                                  disks=self._disk)
        make_crypto = load_crypto(spec.crypto)
        cryptos = make_crypto(list(range(n_nodes)), seeds.derive(spec.seed, "keys"), spec.cpu)
        client_cryptos = make_crypto(list(range(n_nodes)), seeds.derive(spec.seed, "keys"), ZERO_COSTS)
        params = spec.protocol.params
        if isinstance(params, dict):
            params = self.proto.params(**params)
        self.nodes: dict[int, Any] = {}
        # ---- adversary (see bftlab.attack): wraps Byzantine replicas, routes messages ----
        self.adversary: Attack | None = None
        if spec.adversary:
            self.adversary = Attack(spec)
            self.byzantine = self.adversary.byzantine
            self.runtime.router = self.adversary.router(self.network)
        # ---- end adversary ----
        for nid in range(n_nodes):
            is_replica = nid < n
            crypto = cryptos[nid] if is_replica else client_cryptos[nid]
            ctx = NodeContext(nid, n, f, self.replicas, self.clients, crypto, seeds.rng(spec.seed, f"node/{nid}"),
                              params)
            node = self.proto.make_replica(ctx) if is_replica else self.proto.make_client(ctx)
            if self.adversary is not None and is_replica:
                node = self.adversary.wrap(nid, ctx, node, self.proto.make_replica)
            self.nodes[nid] = node
            rebuild = self._rebuild(ctx) if self.proto.durable and is_replica else None
            self.runtime.add_node(node, meter=crypto.meter, costed=is_replica, rebuild=rebuild)
        self.workload = Workload(
            self.clients,
            OpGenerator(seeds.rng(spec.seed, "workload/ops"), wl.request_size_bytes, wl.keys, wl.read_fraction,
                        wl.key_skew),
            self._submit,
            lambda at, fn: self.kernel.schedule(at, fn, at, PRIO_CONTROL),
            wl.mode,
            wl.requests,
            wl.duration_s,
            wl.rate_rps,
            seeds.rng(spec.seed, "workload/arrivals"),
        )
        for fault in spec.faults:
            self.kernel.schedule(to_ns(fault.crash_at_s), self.runtime.crash, fault.node, PRIO_CONTROL)
            if fault.recover_at_s is not None:
                self.kernel.schedule(to_ns(fault.recover_at_s), self.runtime.recover, fault.node, PRIO_CONTROL)
        self._accepted = 0
        self._settling = False
        self.wall_s = 0.0
        assert spec.f is not None  # resolved from the fault model when the spec was loaded
        windows = partition_windows(spec.network.partitions, (*self.replicas, *self.clients))
        crashes = tuple(sorted(((x.node, x.crash_at_s, x.recover_at_s) for x in spec.faults), key=lambda c: c[1]))
        self.panel = Panel(self.oracle_plugins, OracleContext(self.replicas, self.clients, self.byzantine, spec.f,
                                                              spec.injects_faults, windows, crashes))
        self.recorder = Recorder(self.panel, self.metrics, submitted_at=self._submitted_at,
                                 on_accepted=self._on_accepted, history=self.history if self.keep_history else None)

    def _disk(self, nid: int) -> SimDisk:
        st = self.spec.storage
        return SimDisk(int(st.write_us * 1e3), to_ns(st.fsync_ms / 1e3), st.faults, seeds.rng(self.spec.seed,
                                                                                               f"storage/{nid}"))

    def _rebuild(self, ctx: NodeContext):
        """A durable replica's factory for its reboots: same keys and params, a fresh random stream per boot."""
        def rebuild(nid: int, boot: int) -> Any:
            fresh = dataclasses.replace(ctx, rng=seeds.rng(self.spec.seed, f"node/{nid}/boot{boot}"))
            node = self.proto.make_replica(fresh)
            if self.adversary is not None:
                node = self.adversary.wrap(nid, fresh, node, self.proto.make_replica)
            self.nodes[nid] = node
            return node

        return rebuild

    def _sampler(self, net: Any, n_nodes: int):
        region_of = matrix = None
        if net.regions is not None:
            names = list(net.regions.names)
            region_of = [names.index(r) for r in net.regions.nodes]
            region_of += [names.index(net.regions.clients)] * (n_nodes - len(region_of))
            matrix = net.regions.latency_ms
        return latency_sampler(net.latency_model, seeds.rng(self.spec.seed, "network/latency"), net.latency_ms,
                               net.jitter_ms, net.lognormal_sigma, region_of, matrix)

    # ------------------------------------------------------------ history
    def _submit(self, client: int, op: bytes) -> None:
        if self._record_ops:
            self._observe(self.kernel.now, Submitted(client, op))
        self.runtime.inject(client, Submit(op))

    def _observe(self, t: int, ev: Any) -> None:
        self.recorder.observe(t, ev)

    def _submitted_at(self, ev: Issued, t: int) -> int:
        """When the workload handed the request to its client (a client issues its submissions in order)."""
        q = self.workload.submit_times.get(ev.client)
        return q.popleft() if q else t

    def _on_accepted(self, ev: Accepted, t: int) -> None:
        self._accepted += 1
        self.workload.on_accepted(ev.client, t)
        if self.workload.finished_issuing and self._accepted >= self.workload.submitted:
            settle = to_ns(self.spec.stop.settle_s)
            if not settle:
                self.kernel.stop()
            elif not self._settling:  # let what is in flight land; the time limit still applies
                self._settling = True
                self.kernel.schedule(t + settle, lambda _: self.kernel.stop(), None, PRIO_CONTROL)

    # ------------------------------------------------------------ running
    def run(self) -> None:
        t0 = time.perf_counter()
        self.runtime.start_all()
        # Scheduled after the boot events at t=0, so every client sees Start before its first Submit.
        self.kernel.schedule(0, lambda _: self.workload.start(), None, PRIO_CONTROL)
        self.kernel.run(until_ns=to_ns(self.spec.stop.time_limit_s), max_events=self.spec.stop.max_events)
        self._final_states()
        self.wall_s += time.perf_counter() - t0

    def settle(self, seconds: float) -> None:
        """Go on for ``seconds`` more simulated time after :meth:`run` (no new requests; what is in flight and
        the nodes' own timers still run), then hand the oracles the final states again."""
        t0 = time.perf_counter()
        self.kernel.run(until_ns=self.kernel.now + to_ns(seconds), max_events=self.spec.stop.max_events)
        self._final_states()
        self.wall_s += time.perf_counter() - t0

    def _final_states(self) -> None:
        """Hand the oracles what each running correct replica holds at the end (``ProtocolSpec.final_state``)."""
        hook = self.proto.final_state
        if hook is None:
            return
        byzantine = set(self.byzantine)
        for nid in self.replicas:
            if nid not in byzantine and self.runtime.hosts[nid].alive:
                self.recorder.observe(self.kernel.now, FinalState(nid, hook(self.nodes[nid])))

    def report(self, wall_s: float | None = None) -> dict[str, Any]:
        """The run's report; ``wall_s`` defaults to the wall time :meth:`run` and :meth:`settle` took."""
        if wall_s is None:
            wall_s = self.wall_s
        from bftlab.specs.spec import spec_to_dict

        rt = self.runtime
        dropped = dict(sorted({**self.network.dropped, **rt.dropped, **self._node_counters()}.items()))
        events = self.kernel.events
        storage = rt.storage_stats()
        return make_report(
            spec=spec_to_dict(self.spec),
            protocol=self.proto.name,
            fault_model=self.proto.fault_model.name,
            transport="sim",
            trace_digest=rt.trace_digest(),
            metrics={
                **self.metrics.summary(),
                "messages": {"total": rt.msgs_total, "by_type": dict(sorted(rt.msgs_by_type.items()))},
                "bytes_total": rt.bytes_total,
                "dropped": dropped,
                **({"storage": storage} if storage else {}),
            },
            verdicts=self.panel.verdicts(),
            run={
                "wall_s": round(wall_s, 4),
                "events": events,
                "events_per_s": round(events / wall_s) if wall_s > 0 else None,
                "messages_delivered": rt.delivered,
                "sim_time_s": self.kernel.now / NS,
                "crash_model": "persisted-state" if self.proto.durable else "memory-kept",
            },
            adversary=self.adversary.summary() if self.adversary is not None else None,
            fault_budget=self._budget(),
            expected=self.proto.expected_violations,
        )

    def _budget(self) -> dict[str, Any] | None:
        """The budget as it held; the spec's crashes happen at their scheduled times here."""
        spec = self.spec
        if not spec.faults or not self.proto.fault_model.counted:
            return None
        return fault_budget(
            f=spec.f or 0, byzantine=spec.byzantine,
            outages=[(x.node, x.crash_at_s, x.recover_at_s) for x in spec.faults],
            recovered={n: [t / NS for t in ts] for n, ts in self.recorder.recovered.items()},
            durable=self.proto.durable, end_s=self.kernel.now / NS)

    def _node_counters(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.nodes.values():
            for k, v in getattr(node, "counters", {}).items():
                if k.startswith("drop"):
                    out[k] = out.get(k, 0) + v
        return out


def build(spec: Any, keep_history: bool = False) -> Simulation:
    """A wired simulation of ``spec``; ``keep_history`` records its history events (``sim.history``) even when
    the spec keeps no trace."""
    if spec.transport.kind != "sim":
        raise ConfigError(f"transport.kind {spec.transport.kind!r} is not available yet; use 'sim'")
    return Simulation(spec, keep_history)


def run(spec: Any, out_dir: Path | None = None, options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Run one experiment in the simulator and return its report (see :mod:`bftlab.reports.report`).

    With ``trace.keep`` and an ``out_dir``, every delivered message and every
    history event is written to ``out_dir/trace.jsonl`` in simulated-time order.
    Other run paths (a protocol's own, the real transport) are chosen by
    :func:`bftlab.pipeline.execute`, which every entry point calls.
    """
    sim = build(spec)
    t0 = time.perf_counter()
    sim.run()
    report = sim.report(time.perf_counter() - t0)
    if options.timeline_bin_s is not None:
        report["timeline"] = sim.metrics.timeline(options.timeline_bin_s)
    if spec.trace.keep and out_dir is not None:
        write_trace(sim, Path(out_dir) / "trace.jsonl")
    return report


def write_trace(sim: Simulation, path: Path) -> None:
    """One JSON object per line: deliveries, lost messages and history events, merged by time.

    ``{"t_s", "deliver": type, "src", "dst", "sent_s"}`` is a message delivered at ``t_s``;
    ``{"t_s", "drop": type, "src", "dst", "sent_s", "reason"}`` one lost at ``t_s``;
    ``{"t_s", "event": name, ...fields}`` a history event (see :mod:`bftlab.api`).
    """
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for t, src, dst, kind, sent, drop in sim.runtime.trace or ():
        if drop:
            row = {"t_s": t / NS, "drop": kind, "src": src, "dst": dst, "sent_s": sent / NS, "reason": drop}
        else:
            row = {"t_s": t / NS, "deliver": kind, "src": src, "dst": dst, "sent_s": sent / NS}
        rows.append((t, 0, row))
    for t, ev in sim.history:
        data = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in _plain(ev).items()}
        rows.append((t, 1, {"t_s": t / NS, "event": type(ev).__name__, **data}))
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", encoding="utf-8") as fh:
        for _, _, row in rows:
            fh.write(json.dumps(row, default=_jsonable) + "\n")


def _plain(ev: Any) -> dict[str, Any]:
    return {f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if dataclasses.is_dataclass(v):
        return _plain(v)
    raise TypeError(type(v).__name__)
