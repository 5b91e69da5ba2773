"""The experiment spec: one YAML file describes one run.

A spec is a tree of frozen dataclasses (below). Units are in the names
(``latency_ms``, ``crash_at_s``); each field's docstring is what ``bftlab
validate --explain`` prints. Node ids: replicas are ``0 .. n-1``, clients follow
as ``n .. n+clients-1`` (see :mod:`bftlab.api`).

Loading is two-phase because ``protocol.params`` depends on ``protocol.name``:
first the spec itself is validated (with ``params`` kept as plain data), then the
protocol is looked up in the registry and ``params`` is validated against the
frozen dataclass it registers. The resolved spec holds every parameter with
its default filled in; :func:`spec_to_yaml` writes it and loading that text
gives an equal spec. :func:`spec_digest` keys results by the resolved spec.

To add an optional section (an adversary, say): add a field with a default to
:class:`ExperimentSpec` and, if its type depends on a name, one more step in
:func:`_resolve_plugins` like the one for ``protocol.params``.

Limits. Every size has a documented cap (in its field docstring, which
``bftlab validate --explain`` prints, and as a ``MAX_*`` constant below), so
no valid spec asks for more memory than a laptop has: :data:`MAX_REPLICAS`,
:data:`MAX_SIM_REPLICAS` (the message-level simulator sends n^2 messages per
round), :data:`MAX_CLIENTS`, :data:`MAX_REQUEST_BYTES`, the real transport's
:data:`MAX_REAL_REPLICAS` and :data:`MAX_REAL_CLIENTS` (one OS process per
replica), :data:`MAX_LATENCY_MS`. The YAML text itself is bounded by
:mod:`bftlab.specs.schema` (size, nesting, aliases, 64-bit integers, finite
numbers, times by unit). Named plug-ins are checked for their kind when the
spec is loaded, so ``validate`` refuses what ``run`` would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bftlab.api import FaultModel
from bftlab.core.costs import CpuCosts
from bftlab.errors import ConfigError
from bftlab.specs import registry, schema
from bftlab.specs.schema import FieldError

__all__ = [
    "AdversaryConfig",
    "CrashFault",
    "ExperimentSpec",
    "NetworkConfig",
    "PartitionConfig",
    "ProtocolConfig",
    "RegionsConfig",
    "StopConfig",
    "StorageConfig",
    "TraceConfig",
    "TransportConfig",
    "WorkloadConfig",
    "load_spec",
    "spec_digest",
    "spec_from_dict",
    "spec_to_dict",
    "spec_to_yaml",
]

LatencyModel = Literal["constant", "uniform", "normal", "lognormal", "regions"]

MAX_REPLICAS = 100_000
"""Most replicas (``n``) of any spec; protocols and transports set tighter caps."""
MAX_SIM_REPLICAS = 512
"""Most replicas on the message-level simulator: an all-to-all round is n^2 queued messages (n=1000: over 400 MB)."""
MAX_CLIENTS = 10_000
"""Most clients (``workload.clients``); each is a node object in memory."""
MAX_REQUEST_BYTES = 1_048_576
"""Largest request payload (``workload.request_size_bytes``): 1 MiB, every copy of it is held in memory."""
MAX_REAL_REPLICAS = 64
RECOVERY_ALLOWANCE_S = {"sim": 0.1, "real": 1.0}
"""Default ``faults[i].recovery_s`` of a durable protocol, per transport kind."""
"""Most replicas on the real transport, which starts one OS process per replica."""
MAX_REAL_CLIENTS = 1024
"""Most clients on the real transport."""
MAX_REAL_PROCESSES = 64
"""Most client processes (``transport.client_processes``) on the real transport."""
MAX_FRAME_BYTES = 268_435_456
"""Largest ``transport.max_frame_bytes`` and ``send_queue_bytes``: 256 MiB."""
MAX_LATENCY_MS = 3_600_000.0
"""Largest one-way latency or jitter: one hour."""
MAX_LOGNORMAL_SIGMA = 5.0
"""Largest lognormal shape: beyond it single samples reach days and mean nothing."""
MAX_CPU_COST = 1e6
"""Largest modelled CPU cost of one operation (us) or byte (ns)."""
MAX_WRITE_US = 1_000_000.0
"""Largest modelled time to write one storage record: one second."""
MAX_FSYNC_MS = 60_000.0
"""Largest modelled fsync time: one minute."""
MAX_NAME_CHARS = 100
"""Longest experiment ``name`` (it names a folder)."""


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise FieldError(name, f"must be >= {low:g}, got {value!r}.")


def _at_most(name: str, value: float, high: float, why: str = "") -> None:
    if value > high:
        limit = f"{int(high):,}" if float(high).is_integer() else f"{high:g}"
        raise FieldError(name, f"must be at most {limit}{why}, got {value!r}.")


# ------------------------------------------------------------------ sections
@dataclass(frozen=True, kw_only=True)
class ProtocolConfig:
    """Which protocol runs, and its parameters."""

    name: str
    """Registered protocol name (e.g. ``pbft``) or a dotted path ``package.module:PROTOCOL``."""
    params: Any = None
    """Protocol parameters, validated against the protocol's own params dataclass; omitted ones take its defaults."""


@dataclass(frozen=True, kw_only=True)
class RegionsConfig:
    """Geo-distributed latency: each node sits in a named region."""

    names: tuple[str, ...]
    """Region names, e.g. [eu, us]."""
    nodes: tuple[str, ...]
    """Region of each replica, in replica order (one entry per replica)."""
    clients: str
    """Region of all clients."""
    latency_ms: tuple[tuple[float, ...], ...]
    """One-way latency between regions: a square matrix indexed like ``names``; entries at most 3,600,000 (1 h)."""

    def __post_init__(self) -> None:
        if not self.names:
            raise FieldError("names", "needs at least one region name.")
        if len(set(self.names)) != len(self.names):
            raise FieldError("names", f"region names must be unique, got {list(self.names)}.")
        for i, region in enumerate(self.nodes):
            if region not in self.names:
                raise FieldError(f"nodes[{i}]", f"unknown region {region!r}; regions are {list(self.names)}.")
        if self.clients not in self.names:
            raise FieldError("clients", f"unknown region {self.clients!r}; regions are {list(self.names)}.")
        k = len(self.names)
        if len(self.latency_ms) != k or any(len(row) != k for row in self.latency_ms):
            shape = f"{len(self.latency_ms)} rows of lengths {[len(r) for r in self.latency_ms]}"
            raise FieldError("latency_ms", f"must be a {k}x{k} matrix (one row and column per region), got {shape}.")
        for i, row in enumerate(self.latency_ms):
            for j, value in enumerate(row):
                _at_least(f"latency_ms[{i}][{j}]", value, 0.0)
                _at_most(f"latency_ms[{i}][{j}]", value, MAX_LATENCY_MS, " (one hour)")


@dataclass(frozen=True, kw_only=True)
class PartitionConfig:
    """A network partition during ``[start_s, end_s)`` of simulated time."""

    start_s: float
    """When the partition begins."""
    end_s: float
    """When it heals."""
    groups: tuple[tuple[int, ...], ...]
    """Groups of node ids (replicas and clients) that can talk among themselves. Messages between different groups are
    not delivered while the partition lasts. Nodes listed in no group form one more group together."""

    def __post_init__(self) -> None:
        _at_least("start_s", self.start_s, 0.0)
        if self.end_s <= self.start_s:
            raise FieldError("end_s", f"must be after start_s ({self.start_s!r}), got {self.end_s!r}.")
        if not self.groups:
            raise FieldError("groups", "needs at least one group of node ids.")
        seen: set[int] = set()
        for i, group in enumerate(self.groups):
            if not group:
                raise FieldError(f"groups[{i}]", "a group must list at least one node id.")
            for node in group:
                if node < 0:
                    raise FieldError(f"groups[{i}]", f"node ids are >= 0, got {node}.")
                if node in seen:
                    raise FieldError(f"groups[{i}]", f"node {node} is listed in more than one group.")
                seen.add(node)


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Simulated network: per-message latency, uplink bandwidth, loss and partitions."""

    latency_model: LatencyModel = "constant"
    """How one-way latency is drawn: constant, uniform, normal, lognormal or regions."""
    latency_ms: float = 10.0
    """The constant latency; the centre (uniform), mean (normal) or median (lognormal). At most 3,600,000 (one hour)."""
    jitter_ms: float = 0.0
    """Half-width (uniform) or standard deviation (normal, truncated at 0). At most 3,600,000 (one hour)."""
    lognormal_sigma: float = 0.5
    """Shape of the lognormal model (sigma of the underlying normal), at most 5."""
    regions: RegionsConfig | None = None
    """Region layout and latency matrix; required by (and only used with) latency_model: regions."""
    bandwidth_mbps: float = 1000.0
    """Per-node uplink bandwidth in megabits per second; 0 means unlimited."""
    loss: float = 0.0
    """Probability that a message is dropped, independently per message, in [0, 1)."""
    partitions: tuple[PartitionConfig, ...] = ()
    """Partitions over time; they must not overlap in time."""

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "lognormal_sigma", "bandwidth_mbps"):
            _at_least(name, getattr(self, name), 0.0)
        _at_most("latency_ms", self.latency_ms, MAX_LATENCY_MS, " (one hour)")
        _at_most("jitter_ms", self.jitter_ms, MAX_LATENCY_MS, " (one hour)")
        _at_most("lognormal_sigma", self.lognormal_sigma, MAX_LOGNORMAL_SIGMA)
        if not 0.0 <= self.loss < 1.0:
            raise FieldError("loss", f"must be in [0, 1), got {self.loss!r}.")
        if self.latency_model == "uniform" and self.jitter_ms > self.latency_ms:
            raise FieldError(
                "jitter_ms",
                f"uniform latency is latency_ms +/- jitter_ms, so jitter_ms ({self.jitter_ms!r}) "
                f"must not exceed latency_ms ({self.latency_ms!r}).",
            )
        if self.latency_model == "regions" and self.regions is None:
            raise FieldError("regions",
                             "latency_model: regions needs a regions section (names, nodes, clients, latency_ms).")
        if self.latency_model != "regions" and self.regions is not None:
            raise FieldError("regions", f"is set but latency_model is {self.latency_model!r}; "
                                        f"set latency_model: regions to use it.")
        spans = sorted((p.start_s, p.end_s, i) for i, p in enumerate(self.partitions))
        for (_, end_a, a), (start_b, _, b) in zip(spans, spans[1:]):
            if start_b < end_a:
                raise FieldError(f"partitions[{b}]", f"overlaps partitions[{a}] in time; one partition at a time.")


@dataclass(frozen=True, kw_only=True)
class WorkloadConfig:
    """Clients and the requests they issue."""

    clients: int = 4
    """Number of client nodes, 1 .. 10,000 (at most 1,024 on the real transport)."""
    mode: Literal["closed", "open"] = "closed"
    """closed: each client keeps one request outstanding; open: Poisson arrivals at rate_rps, spread round-robin over
    clients."""
    rate_rps: float = 0.0
    """Open loop only: total arrival rate in requests per second (> 0)."""
    requests: int = 1000
    """Total requests to issue; 0 means no limit (then duration_s must be > 0)."""
    duration_s: float = 0.0
    """Stop issuing after this much simulated time; 0 means no limit."""
    request_size_bytes: int = 64
    """Size of each request's operation payload, at most 1,048,576 (1 MiB)."""
    keys: int = 1000
    """Size of the key space operations touch."""
    read_fraction: float = 0.0
    """Fraction of operations that are reads, in [0, 1]."""
    key_skew: float = 0.0
    """Zipf exponent of key popularity, 0 .. 10: 0 is uniform over ``keys``; near 1, a few hot keys get most
    operations (contention). Drawn with the continuous approximation of the Zipf distribution."""

    def __post_init__(self) -> None:
        _at_least("clients", self.clients, 1)
        _at_most("clients", self.clients, MAX_CLIENTS)
        _at_most("request_size_bytes", self.request_size_bytes, MAX_REQUEST_BYTES, " (1 MiB)")
        for name in ("rate_rps", "requests", "duration_s", "request_size_bytes"):
            _at_least(name, getattr(self, name), 0)
        _at_least("keys", self.keys, 1)
        _at_least("key_skew", self.key_skew, 0.0)
        _at_most("key_skew", self.key_skew, 10.0)
        if not 0.0 <= self.read_fraction <= 1.0:
            raise FieldError("read_fraction", f"must be in [0, 1], got {self.read_fraction!r}.")
        if self.mode == "open" and self.rate_rps <= 0:
            raise FieldError("rate_rps", "open mode needs an arrival rate: set rate_rps > 0.")
        if self.mode == "closed" and self.rate_rps != 0:
            raise FieldError("rate_rps",
                             f"applies to open mode only (mode is closed), got {self.rate_rps!r}; set it to 0.")
        if self.requests == 0 and self.duration_s <= 0:
            raise FieldError("requests", "0 means no request limit, so duration_s must be > 0 to end the workload.")


@dataclass(frozen=True, kw_only=True)
class CrashFault:
    """A replica crashes (stops, losing nothing it persisted) and may recover."""

    node: int
    """The replica id (0 .. n-1)."""
    crash_at_s: float
    """Simulated time of the crash."""
    recover_at_s: float | None = None
    """Simulated time it restarts; null means it stays down."""
    recovery_s: float | None = None
    """How long it still counts as faulty after it restarts, while it recovers (0 .. 3,600). The budget check
    counts the replica faulty from crash_at_s to recover_at_s + recovery_s; the run's report then compares with
    when it really recovered. Null: 0.1 s in the simulator, 1.0 s on the real transport (a process start,
    replaying its log and asking its peers), 0 for a protocol that keeps its memory across a crash."""

    def __post_init__(self) -> None:
        _at_least("node", self.node, 0)
        _at_least("crash_at_s", self.crash_at_s, 0.0)
        if self.recovery_s is not None:
            _at_least("recovery_s", self.recovery_s, 0.0)
            _at_most("recovery_s", self.recovery_s, 3600.0, " (one hour)")
        if self.recover_at_s is not None and self.recover_at_s <= self.crash_at_s:
            raise FieldError("recover_at_s",
                             f"must be after crash_at_s ({self.crash_at_s!r}), got {self.recover_at_s!r}.")


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """The simulated stable storage behind Persist/Sync (see bftlab.core.storage); used by protocols that persist."""

    write_us: float = 5.0
    """Device time to write one record into the OS (queued per node, before an fsync can cover it), 0 .. 1,000,000.
    A 128-byte write() on an ext4 virtual disk measured 6 us (median of 500)."""
    fsync_ms: float = 1.0
    """Time of one fsync, 0 .. 60,000. Default 1 ms: a consumer NVMe SSD without power-loss protection; the same ext4
    virtual disk measured 0.2 ms (its host caches writes), an enterprise SSD takes ~0.05 ms, a spinning disk 5-10 ms."""
    faults: Literal["none", "lose-unsynced", "torn-tail"] = "lose-unsynced"
    """What a crash does to records not yet synced: none (a process crash, the OS keeps them), lose-unsynced (power
    loss: gone) or torn-tail (power loss: a random prefix survives and the next record may be half written, detected
    by its checksum and cut on recovery)."""

    def __post_init__(self) -> None:
        for name, high in (("write_us", MAX_WRITE_US), ("fsync_ms", MAX_FSYNC_MS)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise FieldError(name, f"must be a finite number, got {value!r}.")
            _at_least(name, value, 0.0)
            _at_most(name, value, high)


@dataclass(frozen=True, kw_only=True)
class StopConfig:
    """When the simulation stops, whatever the workload."""

    time_limit_s: float = 60.0
    """Simulated time cap."""
    max_events: int = 50_000_000
    """Cap on processed simulator events (guards against runaway runs)."""
    settle_s: float = 0.0
    """After the last request is answered, keep running this long (still within time_limit_s), so what is in
    flight lands before the final state is judged: a commit decision on its way to the participants, a replica
    catching up. 0 .. 3,600."""

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise FieldError("time_limit_s", f"must be > 0, got {self.time_limit_s!r}.")
        _at_least("max_events", self.max_events, 1)
        _at_least("settle_s", self.settle_s, 0.0)
        _at_most("settle_s", self.settle_s, 3600.0, " (one hour)")


@dataclass(frozen=True, kw_only=True)
class TransportConfig:
    """Where nodes run."""

    kind: Literal["sim", "real"] = "sim"
    """sim: the deterministic simulator; real: processes over real sockets."""
    # --- real transport only (see bftlab.transport); ignored by the simulator ---
    hosts: tuple[str, ...] = ()
    """real: host:port of each replica, in replica order; empty means all on 127.0.0.1 at base_port + id."""
    base_port: int = 0
    """real, no hosts: port of replica 0 (replica i listens on base_port + i); 0 lets the local launcher pick free
    ports."""
    client_processes: int = 0
    """real: how many OS processes host the clients (clients are spread evenly), at most 64; 0 means one per 32
    clients, at most 2."""
    max_frame_bytes: int = 8388608
    """real: largest frame a node accepts (at most 268,435,456, 256 MiB); a longer one closes the connection."""
    send_queue_bytes: int = 4194304
    """real: per-connection send queue cap (at most 268,435,456); frames beyond it are dropped (a slow peer cannot
    exhaust memory)."""
    startup_timeout_s: float = 30.0
    """real: how long the launcher waits for processes to listen and connect."""
    drain_s: float = 10.0
    """real: after the workload stops issuing, how long to wait for outstanding requests."""
    storage_sync: Literal["fsync", "page-cache"] = "fsync"
    """real: what a node's Sync waits for. fsync (default, safe): its log is fsynced, so what it synced survives a
    power loss or a kernel crash. page-cache: its log is only handed to the OS, which survives the process's crash
    (kill -9) but NOT a power loss or a kernel crash; for a disk with a battery-backed write cache, or to measure
    what fsync costs. Results measured with it must say so."""

    def __post_init__(self) -> None:
        for i, h in enumerate(self.hosts):
            host, sep, port = h.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise FieldError(f"hosts[{i}]", f"expected host:port with a port in 1..65535, got {h!r}.")
        if not 0 <= self.base_port < 65536:
            raise FieldError("base_port", f"must be in 0..65535, got {self.base_port!r}.")
        _at_least("client_processes", self.client_processes, 0)
        _at_most("client_processes", self.client_processes, MAX_REAL_PROCESSES)
        _at_least("max_frame_bytes", self.max_frame_bytes, 1024)
        _at_most("max_frame_bytes", self.max_frame_bytes, MAX_FRAME_BYTES, " (256 MiB)")
        _at_least("send_queue_bytes", self.send_queue_bytes, 1024)
        _at_most("send_queue_bytes", self.send_queue_bytes, MAX_FRAME_BYTES, " (256 MiB)")
        _at_least("startup_timeout_s", self.startup_timeout_s, 0.1)
        _at_least("drain_s", self.drain_s, 0.0)


@dataclass(frozen=True, kw_only=True)
class TraceConfig:
    """What the run records beyond metrics."""

    keep: bool = False
    """Write trace.jsonl (every delivered event) to the output folder."""


# ---- adversary section (strategies live in the adversary package) ----
@dataclass(frozen=True, kw_only=True)
class AdversaryConfig:
    """One adversary strategy: a network strategy, or a node strategy controlling ``byzantine`` replicas."""

    strategy: str
    """Registered strategy name (e.g. gst, equivocating-primary) or a dotted path package.module:Class."""
    byzantine: tuple[int, ...] = ()
    """Replica ids this node strategy controls (they coordinate); must be empty for network strategies."""
    params: Any = None
    """Strategy parameters, validated against the strategy's Params dataclass; omitted ones take its defaults."""

    def __post_init__(self) -> None:
        if len(set(self.byzantine)) != len(self.byzantine):
            raise FieldError("byzantine", f"lists a replica twice: {list(self.byzantine)}.")
        for node in self.byzantine:
            _at_least("byzantine", node, 0)
# ---- end adversary section ----


# -------------------------------------------------------------- the whole spec
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, kw_only=True)
class ExperimentSpec:
    """One experiment run, as read from YAML with every default resolved."""

    name: str
    """Experiment name (letters, digits, '.', '_', '-'; at most 100 characters); names the output folder."""
    description: str = ""
    """Free text: what the experiment shows."""
    seed: int = 1
    """Master seed; every random stream of the run derives from it."""
    protocol: ProtocolConfig
    """Protocol name and parameters."""
    n: int = 4
    """Number of replicas. At most 512 on the message-level simulator, 64 on the real transport; protocols with their
    own engine allow more (PoW: 100,000)."""
    f: int | None = None
    """Faults tolerated; defaults to the most the protocol's fault model allows with n replicas
    ((n-1)//3 Byzantine, (n-1)//2 crash)."""
    crypto: str = "ideal"
    """Registered crypto scheme name (or package.module:factory)."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    """Network model."""
    cpu: CpuCosts = field(default_factory=CpuCosts)
    """Modelled CPU cost per input and per crypto operation (microseconds; per byte in ns), each 0 .. 1,000,000."""
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    """Clients and requests."""
    faults: tuple[CrashFault, ...] = ()
    """Replica crashes and recoveries."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """Simulated stable storage (write and fsync time, crash faults) for protocols that persist state."""
    allow_exceeding_f: bool = False
    """Allow more than f replicas to be faulty at once (to study what breaks)."""
    stop: StopConfig = field(default_factory=StopConfig)
    """Simulation limits."""
    transport: TransportConfig = field(default_factory=TransportConfig)
    """Simulated or real transport."""
    trace: TraceConfig = field(default_factory=TraceConfig)
    """Trace recording."""
    adversary: tuple[AdversaryConfig, ...] = ()
    """Adversary strategies, applied together (network ones in list order). A single mapping is read as a one-item
    list."""
    oracles: tuple[str, ...] = ()
    """More oracles to judge this run besides the protocol's own (registered names such as ``linearizability``, or
    dotted paths)."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or len(self.name) > MAX_NAME_CHARS:
            raise FieldError("name", f"must be letters, digits, '.', '_' or '-', at most {MAX_NAME_CHARS} of them (it "
                                     f"names the output folder), got {schema.show(self.name)}.")
        _at_least("n", self.n, 1)
        _at_most("n", self.n, MAX_REPLICAS)
        if self.f is not None:  # f's default and its bound come from the protocol's fault model (phase two)
            _at_least("f", self.f, 0)
        for cost in dataclasses.fields(self.cpu):
            value = getattr(self.cpu, cost.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise FieldError(f"cpu.{cost.name}", f"must be a number >= 0, got {value!r}.")
            _at_most(f"cpu.{cost.name}", value, MAX_CPU_COST)
        self._check_network()
        self._check_transport()
        self._check_adversary()

    @property
    def byzantine(self) -> tuple[int, ...]:
        """Replicas some node strategy controls, sorted."""
        return tuple(sorted(node for a in self.adversary for node in a.byzantine))

    def _check_adversary(self) -> None:
        owner: dict[int, int] = {}
        for i, adv in enumerate(self.adversary):
            for node in adv.byzantine:
                if node >= self.n:
                    raise FieldError(f"adversary[{i}].byzantine",
                                     f"must list replica ids 0..{self.n - 1}, got {node}.")
                if node in owner:
                    raise FieldError(f"adversary[{i}].byzantine",
                                     f"replica {node} is already controlled by adversary[{owner[node]}].")
                owner[node] = i

    def check_budget(self, model: FaultModel, durable: bool = False) -> None:
        """Resolve ``f`` from the protocol's fault model and check every fault against it.

        At most f replicas Byzantine, or Byzantine and crashed at once, unless
        ``allow_exceeding_f``. A crashed replica of a ``durable`` protocol counts
        until it has recovered: ``recover_at_s`` plus its ``recovery_s``
        allowance. A model whose budget is not counted in replicas (PoW: hash
        power) checks only that crash faults name real replicas.
        """
        if self.f is None:
            object.__setattr__(self, "f", model.default_f(self.n))
        assert self.f is not None
        problem = model.check_f(self.n, self.f)
        if problem is not None:
            raise FieldError("f", problem)
        if not model.counted:
            self._check_faults(frozenset(), limit=None, durable=durable)
            return
        byzantine = self.byzantine
        if len(byzantine) > self.f and not self.allow_exceeding_f:
            raise FieldError("adversary", f"{len(byzantine)} Byzantine replicas {list(byzantine)} exceed "
                             f"f={self.f} ({model.name} fault model); "
                             f"set allow_exceeding_f: true to run this deliberately.")
        self._check_faults(frozenset(byzantine), limit=self.f, durable=durable)

    def recovery_allowance(self, fault: CrashFault, durable: bool) -> float:
        """Seconds ``fault``'s replica still counts as faulty after its restart (see ``CrashFault.recovery_s``)."""
        if fault.recovery_s is not None:
            return fault.recovery_s
        return RECOVERY_ALLOWANCE_S[self.transport.kind] if durable else 0.0

    def _check_transport(self) -> None:
        if self.transport.kind != "real":
            return
        why = " on the real transport (transport.kind: real), which starts one OS process per replica"
        _at_most("n", self.n, MAX_REAL_REPLICAS, why)
        _at_most("workload.clients", self.workload.clients, MAX_REAL_CLIENTS,
                 " on the real transport (transport.kind: real)")
        # The real network replaces the latency model, but faults a user asked for must not vanish silently.
        if self.network.partitions:
            raise FieldError("network.partitions", "is the simulated network's partition schedule, which the real "
                             "transport (transport.kind: real) does not apply; cut the network with the adversary "
                             "section's partition strategy instead (strategy: partition, params: {partitions: "
                             "[...]}, the same start_s/end_s/groups).")
        if self.network.loss > 0:
            raise FieldError("network.loss", "is the simulated network's message loss, which the real transport "
                             "(transport.kind: real) does not apply; to drop messages on purpose, write or name a "
                             "network strategy in the adversary section (docs/write-your-first-attack.md).")

    def _check_network(self) -> None:
        regions = self.network.regions
        if regions is not None and len(regions.nodes) != self.n:
            raise FieldError(
                "network.regions.nodes",
                f"needs one region per replica (n={self.n}), got {len(regions.nodes)}: {list(regions.nodes)}.",
            )
        total = self.n + self.workload.clients
        for i, part in enumerate(self.network.partitions):
            for j, group in enumerate(part.groups):
                bad = [x for x in group if x >= total]
                if bad:
                    raise FieldError(
                        f"network.partitions[{i}].groups[{j}]",
                        f"node id {bad[0]} does not exist: replicas are 0..{self.n - 1} and clients "
                        f"{self.n}..{total - 1}.",
                    )

    def _check_faults(self, byzantine: frozenset[int], limit: int | None, durable: bool) -> None:
        events: list[tuple[float, int, int, int]] = []  # (time, +1 crash / -1 recovered, node, index)
        restarts: list[tuple[float, int, int]] = []  # (time, node, index): a replica may crash again once restarted
        for i, fault in enumerate(self.faults):
            if fault.node >= self.n:
                raise FieldError(f"faults[{i}].node", f"must be a replica id 0..{self.n - 1}, got {fault.node}.")
            events.append((fault.crash_at_s, 1, fault.node, i))
            if fault.recover_at_s is not None:
                restarts.append((fault.recover_at_s, fault.node, i))
                events.append((fault.recover_at_s + self.recovery_allowance(fault, durable), -1, fault.node, i))
        running: set[int] = set(range(self.n))
        for time_s, delta, node, i in sorted([(t, d, n, i) for t, d, n, i in events if d > 0]
                                             + [(t, -1, n, i) for t, n, i in restarts]):
            if delta < 0:
                running.add(node)
            elif node not in running:
                raise FieldError(f"faults[{i}]", f"replica {node} crashes at {time_s:g} s while it is already down.")
            else:
                running.discard(node)
        if limit is None or self.allow_exceeding_f:
            return
        faulty: dict[int, int] = {}  # ``byzantine`` replicas count against f for the whole run
        for time_s, delta, node, i in sorted(events):  # recoveries sort before crashes at the same time
            faulty[node] = faulty.get(node, 0) + delta
            now = byzantine | {x for x, c in faulty.items() if c > 0}
            if delta > 0 and len(now) > limit:
                counted = "crashed, recovering" if durable else "crashed"
                allowance = RECOVERY_ALLOWANCE_S[self.transport.kind] if durable else 0.0
                raise FieldError(
                    f"faults[{i}]",
                    f"at {time_s:g} s replicas {sorted(now)} are {counted} or Byzantine at once, more than "
                    f"f={self.f}. A restarted replica counts as faulty until it has recovered: recovery_s after "
                    f"its restart ({allowance:g} s unless a fault sets it); "
                    f"set allow_exceeding_f: true to run this deliberately.",
                )

    @property
    def injects_faults(self) -> bool:
        """Whether the run has any fault: a crash, an adversary, message loss or a partition."""
        net = self.network
        return bool(self.faults or self.adversary or net.loss > 0 or net.partitions)

    @property
    def replicas(self) -> tuple[int, ...]:
        """Replica node ids ``0 .. n-1``."""
        return tuple(range(self.n))

    @property
    def clients(self) -> tuple[int, ...]:
        """Client node ids ``n .. n+clients-1``."""
        return tuple(range(self.n, self.n + self.workload.clients))


# ------------------------------------------------------------------ loading
def _resolve_plugins(spec: ExperimentSpec, source: str, lines: schema.Lines | None) -> ExperimentSpec:
    """Phase two: check named plugins and validate sections whose type they define."""
    try:
        protocol = registry.load_protocol(spec.protocol.name)
    except ConfigError as exc:
        raise schema.error(source, lines, "protocol.name", str(exc)) from None
    params = schema.load(protocol.params, spec.protocol.params, source=source, lines=lines, path="protocol.params")
    if protocol.run is None and spec.transport.kind == "sim" and spec.n > MAX_SIM_REPLICAS:
        raise schema.error(source, lines, "n", f"must be at most {MAX_SIM_REPLICAS} for protocol {protocol.name!r} on "
                           f"the message-level simulator (an all-to-all round queues n^2 messages), got {spec.n}.")
    try:
        registry.check_crypto(registry.load_crypto(spec.crypto), spec.crypto)
    except ConfigError as exc:
        raise schema.error(source, lines, "crypto", str(exc)) from None
    spec = dataclasses.replace(spec, protocol=ProtocolConfig(name=spec.protocol.name, params=params))
    if spec.adversary:  # adversary params depend on the strategy, like protocol.params on the protocol
        from bftlab.attack.config import resolve_adversary

        spec = dataclasses.replace(spec, adversary=resolve_adversary(spec.adversary, source, lines))
        _check_strategy_protocols(spec, source, lines)
    for i, name in enumerate(spec.oracles):
        try:
            registry.load_oracles([name])
        except ConfigError as exc:
            raise schema.error(source, lines, f"oracles[{i}]", str(exc)) from None
    try:
        spec.check_budget(protocol.fault_model, protocol.durable)
        if protocol.check_spec is not None:
            protocol.check_spec(spec)  # raises FieldError(key path from the spec's top, message)
    except FieldError as exc:
        raise schema.error(source, lines, exc.field, exc.message) from None
    return spec


def _check_strategy_protocols(spec: ExperimentSpec, source: str, lines: schema.Lines | None) -> None:
    """A strategy that declares the protocols it attacks (``protocols = ("pow",)``) is refused with any other.

    Without this, ``validate`` would accept a PoW attacker on PBFT and only the
    run would refuse it, when the strategy is first given a replica.
    """
    for i, entry in enumerate(spec.adversary):
        cls = registry.resolve(registry.GROUPS["adversary"], entry.strategy, "adversary strategy")
        protocols = getattr(cls, "protocols", ())
        if protocols and spec.protocol.name not in protocols:
            names = " or ".join(repr(p) for p in protocols)
            raise schema.error(source, lines, f"adversary[{i}].strategy",
                               f"{entry.strategy!r} ({cls.__module__}.{cls.__qualname__}) attacks protocol {names} "
                               f"only, so it cannot run with protocol {spec.protocol.name!r}; choose a strategy "
                               f"written for {spec.protocol.name!r} or a generic network strategy.")


def _refuse_unused(data: dict[str, Any], source: str, lines: schema.Lines | None) -> None:
    """A section the protocol ignores is an error, not a silent no-op (a PoW spec with a workload)."""
    name = data.get("protocol", {}).get("name") if isinstance(data.get("protocol"), dict) else None
    if not isinstance(name, str):
        return  # phase one reports the missing or malformed protocol
    try:
        protocol = registry.load_protocol(name)
    except ConfigError:
        return  # reported with its line by phase two
    for key in protocol.unused_sections:
        if key in data:
            raise schema.error(source, lines, key, f"protocol {protocol.name!r} does not use the {key!r} section; "
                               f"remove it (its settings would be ignored).")


def spec_from_dict(data: Any, source: str = "<spec>", lines: schema.Lines | None = None) -> ExperimentSpec:
    """Validate plain data (parsed YAML) into a resolved :class:`ExperimentSpec`.

    ``source`` names the data in errors; ``lines`` maps key paths to YAML lines
    or override texts (see :func:`bftlab.specs.schema.parse_yaml`).
    """
    if not isinstance(data, dict):
        what = "empty" if data is None else f"{schema.show(data)}, not a mapping of keys"
        raise ConfigError(f"{source}: the spec is {what}; it must be a YAML mapping with at least name and protocol.")
    if isinstance(data.get("adversary"), dict):  # one strategy: shorthand for a one-item list
        data = {**data, "adversary": [data["adversary"]]}
        if lines is not None:
            lines = {k.replace("adversary.", "adversary[0].", 1) if k.startswith("adversary.") else k: v
                     for k, v in lines.items()}
    _refuse_unused(data, source, lines)
    spec = schema.load(ExperimentSpec, data, source=source, lines=lines)
    return _resolve_plugins(spec, source, lines)


def load_spec(path: str | Path, overrides: Sequence[str] = (), seed: int | None = None) -> ExperimentSpec:
    """Read, override and validate the spec file at ``path``.

    ``overrides`` are ``KEY=VALUE`` strings as given to ``--set``; ``seed``
    replaces the spec's seed. Every problem raises one ConfigError.
    """
    source = str(path)
    data, lines = schema.read_yaml_file(path, "spec")
    if data is None:
        raise ConfigError(f"{source}: the spec is empty; it must be a YAML mapping with at least name and protocol.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the spec is {schema.show(data)}; it must be a YAML mapping of keys.")
    data = schema.apply_overrides(data, overrides, lines=lines, source=source)
    if seed is not None:
        data["seed"] = seed
        lines["seed"] = f"--seed {seed}"
    return spec_from_dict(data, source, lines)


# ------------------------------------------------------------------ output
def _unused(spec: ExperimentSpec) -> tuple[str, ...]:
    """The sections the spec's protocol ignores: left out of the resolved spec, so it reloads."""
    try:
        return registry.load_protocol(spec.protocol.name).unused_sections
    except ConfigError:
        return ()


def spec_to_dict(spec: ExperimentSpec) -> dict:
    """The resolved spec as plain data (what reports embed), without the sections its protocol ignores."""
    data = schema.dump(spec)
    for key in _unused(spec):
        data.pop(key, None)
    return data


def spec_digest(spec: ExperimentSpec) -> str:
    """A stable hex digest of the resolved spec (same in every process, unlike ``hash``)."""
    text = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _flow(value: Any) -> str:
    """One value as single-line YAML (scalars, flow lists, flow mappings)."""
    text = yaml.safe_dump([schema.dump(value)], default_flow_style=True, width=1 << 30, sort_keys=False)
    return text.strip()[1:-1]


def _emit(obj: Any, indent: int, comments: bool, out: list[str], skip: tuple[str, ...] = ()) -> None:
    pad = " " * indent
    cls: type = type(obj)
    docs = schema.field_docs(cls) if comments else {}
    for f in dataclasses.fields(obj):
        if not f.init or f.name in skip:
            continue
        value = getattr(obj, f.name)
        if comments and f.name in docs:
            text = docs[f.name].replace("``", "`")
            out.extend(f"{pad}# {line}" for line in textwrap.wrap(text, max(40, 88 - indent)))
        if dataclasses.is_dataclass(value) and dataclasses.fields(value):
            out.append(f"{pad}{f.name}:")
            _emit(value, indent + 2, comments, out)
        else:
            out.append(f"{pad}{f.name}: {_flow(value)}")


def spec_to_yaml(spec: ExperimentSpec, *, comments: bool = False) -> str:
    """The resolved spec as YAML; ``comments`` adds each field's docstring above it."""
    out = ["# Resolved experiment spec: every default filled in. Run it again with: bftlab run <this file>"]
    _emit(spec, 0, comments, out, skip=_unused(spec))
    return "\n".join(out) + "\n"
