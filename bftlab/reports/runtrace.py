"""A simulated run as its trace files describe it: messages, losses, outages, partitions, violations.

A run directory written with ``trace.keep: true`` holds ``spec.yaml``,
``report.json`` and ``trace.jsonl`` (see :func:`bftlab.sim.runner.write_trace`).
:func:`load_run` reads those files into a :class:`RunTrace`; nothing here runs
the simulator, so a picture (:mod:`bftlab.reports.spacetime`) or an export
(:mod:`bftlab.reports.shiviz`) is computed only from the files a run left behind.
A violation carries its ``seq`` and replicas but no time: its time is that of
the replica's ``Executed`` event for that seq.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bftlab.errors import UsageError

TRACE_JSONL = "trace.jsonl"
REPORT_JSON = "report.json"

# A node strategy whose params name the windows during which its replica is down.
# Read from the resolved spec, so the picture needs no adversary code.
_DOWN_WINDOWS = {"crash-recover": "windows"}


# ------------------------------------------------------------------ the run
@dataclass(frozen=True, slots=True)
class Message:
    """One delivered copy of a message."""

    src: int
    dst: int
    kind: str
    sent_s: float
    recv_s: float


@dataclass(frozen=True, slots=True)
class Lost:
    """A message copy that never arrived: dropped by the network or an adversary, or sent to a down node."""

    src: int
    dst: int
    kind: str
    sent_s: float
    t_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Outage:
    """``node`` is down from ``down_s`` to ``up_s`` (None: to the end of the run)."""

    node: int
    down_s: float
    up_s: float | None
    cause: str


@dataclass(frozen=True, slots=True)
class Partition:
    """Between ``start_s`` and ``end_s`` only nodes of the same group talk; unlisted nodes form one more group."""

    start_s: float
    end_s: float
    groups: tuple[tuple[int, ...], ...]
    source: str


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """A history row of the trace (``Executed``, ``Accepted``, ``ViewChanged``, ...) at the node it happened at."""

    t_s: float
    node: int
    name: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ViolationMark:
    """A reported safety violation and where it shows: ``(node, time)`` points (None: unknown)."""

    kind: str
    seq: int | None
    detail: str
    points: tuple[tuple[int | None, float | None], ...]


@dataclass(frozen=True)
class RunTrace:
    """Everything the diagram shows, read from a run directory."""

    name: str
    protocol: str
    seed: int
    n: int
    f: int
    nodes: tuple[int, ...]
    byzantine: dict[int, tuple[str, ...]]
    messages: tuple[Message, ...]
    lost: tuple[Lost, ...]
    events: tuple[HistoryEvent, ...]
    outages: tuple[Outage, ...]
    partitions: tuple[Partition, ...]
    violations: tuple[ViolationMark, ...]
    violation_count: int
    safety_ok: bool
    pending: int
    end_s: float

    def is_replica(self, node: int) -> bool:
        return node < self.n

    def label(self, node: int) -> str:
        return f"{'replica' if self.is_replica(node) else 'client'} {node}"

    def host(self, node: int) -> str:
        """The node's name in a ShiViz log (no spaces: the default regex reads the host as ``\\S*``)."""
        return f"{'replica' if self.is_replica(node) else 'client'}{node}"

    def messages_in(self, from_s: float | None, to_s: float | None) -> list[Message]:
        """Messages whose flight overlaps the window (sent before its end, delivered after its start)."""
        lo = -math.inf if from_s is None else from_s
        hi = math.inf if to_s is None else to_s
        return [m for m in self.messages if min(m.sent_s, m.recv_s) <= hi and max(m.sent_s, m.recv_s) >= lo]


def load_run(run_dir: str | Path) -> RunTrace:
    """Read ``report.json`` and ``trace.jsonl`` of a run directory; a missing or old file is the caller's error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory.")
    trace_path, report_path = run_dir / TRACE_JSONL, run_dir / REPORT_JSON
    if not trace_path.is_file():
        raise UsageError(
            f"{run_dir}: has no {TRACE_JSONL}, so there are no messages to draw. Runs write it only with "
            f"`trace.keep: true` in the spec: run it again with `bftlab run SPEC --set trace.keep=true --out DIR`, "
            f"or give `bftlab trace` the spec file to do both.")
    if not report_path.is_file():
        raise UsageError(f"{run_dir}: has {TRACE_JSONL} but no {REPORT_JSON}; the run did not finish. "
                         f"Replay it from {run_dir / 'spec.yaml'}.")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{report_path}: cannot be read as JSON ({exc}).") from None
    messages: list[Message] = []
    lost: list[Lost] = []
    history: list[dict[str, Any]] = []
    with open(trace_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "deliver" in row:
                    messages.append(Message(row["src"], row["dst"], row["deliver"], row["sent_s"], row["t_s"]))
                elif "drop" in row:
                    lost.append(Lost(row["src"], row["dst"], row["drop"], row["sent_s"], row["t_s"], row["reason"]))
                elif "event" in row:
                    history.append(row)
            except KeyError as exc:
                raise UsageError(
                    f"{trace_path}, line {lineno}: a row without {exc.args[0]!r}; this trace was written by an "
                    f"older bftlab (before send times were recorded). Run the spec again to draw it.") from None
            except ValueError as exc:
                raise UsageError(f"{trace_path}, line {lineno}: not JSON ({exc}).") from None
    return _assemble(report, messages, lost, history)


def _assemble(report: dict[str, Any], messages: list[Message], lost: list[Lost],
              history: list[dict[str, Any]]) -> RunTrace:
    spec = report.get("spec") or {}
    n = int(spec.get("n", 0))
    clients = int((spec.get("workload") or {}).get("clients", 0))
    seen = {m.src for m in messages} | {m.dst for m in messages}
    events = tuple(_history_events(history))
    nodes = tuple(sorted(set(range(n + clients)) | seen | {e.node for e in events}))
    byzantine: dict[int, list[str]] = {}
    outages = [Outage(f["node"], f["crash_at_s"], f.get("recover_at_s"), "crash") for f in spec.get("faults") or ()]
    partitions = [Partition(p["start_s"], p["end_s"], _groups(p["groups"]), "network.partitions")
                  for p in (spec.get("network") or {}).get("partitions") or ()]
    for adv in spec.get("adversary") or ():
        strategy = adv.get("strategy", "?")
        params = adv.get("params") or {}
        for node in adv.get("byzantine") or ():
            byzantine.setdefault(node, []).append(strategy)
            for down, up in params.get(_DOWN_WINDOWS.get(strategy, ""), ()) or ():
                outages.append(Outage(node, down, up, strategy))
        partitions += [Partition(w["start_s"], w["end_s"], _groups(w["groups"]), strategy)
                       for w in _partition_windows(params)]
    safety = report.get("safety") or {}
    violations = tuple(_place(v, events) for v in safety.get("violations") or ())
    times = [m.recv_s for m in messages] + [m.sent_s for m in messages] + [x.t_s for x in lost]
    times += [e.t_s for e in events]
    end_s = max(times, default=0.0)
    return RunTrace(
        name=str(spec.get("name", "run")), protocol=str(report.get("protocol", "?")),
        seed=int(report.get("seed", spec.get("seed", 0))), n=n, f=int(spec.get("f", 0)), nodes=nodes,
        byzantine={k: tuple(v) for k, v in sorted(byzantine.items())},
        messages=tuple(sorted(messages, key=lambda m: (m.sent_s, m.recv_s, m.src, m.dst))),
        lost=tuple(lost), events=events,
        outages=tuple(sorted(outages, key=lambda o: (o.down_s, o.node))),
        partitions=tuple(sorted(partitions, key=lambda p: p.start_s)),
        violations=violations, violation_count=int(safety.get("violation_count", len(violations))),
        safety_ok=bool(safety.get("ok", True)), pending=int((report.get("liveness") or {}).get("pending_count", 0)),
        end_s=end_s)


def _groups(groups: Iterable[Iterable[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(x) for x in g) for g in groups)


def _partition_windows(obj: Any) -> Iterator[dict[str, Any]]:
    """Every ``{start_s, end_s, groups}`` window in an adversary's params (the shape of every partition schedule)."""
    if isinstance(obj, dict):
        if {"start_s", "end_s", "groups"} <= obj.keys() and obj.get("kind", "partition") == "partition" \
                and obj["groups"]:
            yield obj
            return
        for v in obj.values():
            yield from _partition_windows(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _partition_windows(v)


def _history_events(rows: list[dict[str, Any]]) -> Iterator[HistoryEvent]:
    """History rows that happened at one node: the event names its ``node`` (replicas) or ``client``."""
    for row in rows:
        node = row.get("node", row.get("client"))
        if isinstance(node, int):
            fields = {k: v for k, v in row.items() if k not in ("t_s", "event")}
            yield HistoryEvent(row["t_s"], node, row["event"], fields)


def _place(v: dict[str, Any], events: Sequence[HistoryEvent]) -> ViolationMark:
    """Where a violation shows: each named replica when it executed the slot, else the client's acceptance."""
    kind, seq, detail = v.get("kind", "?"), v.get("seq"), v.get("detail", "")
    replicas = [int(r) for r in v.get("replicas") or ()]
    points: list[tuple[int | None, float | None]] = []
    if seq is not None:
        for node in replicas:
            t = next((e.t_s for e in events if e.name == "Executed" and e.node == node and e.fields.get("seq") == seq),
                     None)
            if t is not None:
                points.append((node, t))
    if not points:
        for client, ts in v.get("requests") or ():
            t = next((e.t_s for e in events if e.name == "Accepted" and e.node == client and e.fields.get("ts") == ts),
                     None)
            if t is not None:
                points.append((int(client), t))
    if not points:  # no time known: drawn at the end of the run, on the first named replica if any
        points.append((replicas[0] if replicas else None, None))
    return ViolationMark(kind, seq, detail, tuple(points))


def window_end_for(trace: RunTrace, from_s: float, limit: int) -> float:
    """A ``to_s`` for which the window from ``from_s`` holds at most ``limit`` messages (to suggest one)."""
    live = [m for m in trace.messages if max(m.sent_s, m.recv_s) >= from_s]
    if len(live) <= limit:
        return trace.end_s
    cut = min(m.sent_s for m in live[limit:])  # ``messages`` are sorted by send time
    return max(from_s, math.floor(cut * 1e4) / 1e4 - 1e-4)  # rounded down, to print
