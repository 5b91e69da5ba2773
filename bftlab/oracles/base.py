"""The oracle seam: how a judge of runs plugs in, and how verdicts combine into a report.

An oracle reads a run's history events (:mod:`bftlab.api`: ``Submitted``,
``Issued``, ``Executed``, ``Accepted``, ...) in the order they happened and
returns an :class:`OracleVerdict`. It never sees protocol internals, so one
oracle judges every protocol that emits the events it needs. Oracles are
plug-ins: an :class:`OraclePlugin` registered under the entry-point group
``bftlab.oracles`` (or named by dotted path). A protocol lists the oracles
that judge all its runs (``ProtocolSpec.oracles``); a spec may add more
(``oracles: [linearizability]``).

Each verdict carries its own report section (plain JSON data under
``report["oracles"][name]`` and a :class:`~bftlab.api.ReportSection` that
renders it). The run's top-level ``safety`` and ``liveness`` verdicts are the
conjunction of the oracles' verdicts (:func:`combine`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bftlab.api import ReportSection

MAX_LISTED = 50
"""Violations and pending requests listed in a report; counts are always exact."""


@dataclass(frozen=True)
class PartitionWindow:
    """A network partition of the run: nodes in different ``groups`` cannot talk during ``[start_s, end_s)``.

    Every replica and client is in exactly one group (the spec's groups, then the nodes it left out)."""

    start_s: float
    end_s: float
    groups: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class OracleContext:
    """What an oracle knows about the run it judges (nothing protocol-specific)."""

    replicas: tuple[int, ...]
    clients: tuple[int, ...]
    byzantine: tuple[int, ...]
    f: int
    faults: bool = False
    """The run injects faults (crashes, node or network strategies, message loss, partitions): a judge of
    progress under no failures (atomic commit's non-triviality) applies only when it is False."""
    partitions: tuple[PartitionWindow, ...] = ()
    """The network partitions the run scheduled, in time order."""
    crashes: tuple[tuple[int, float, float | None], ...] = ()
    """The crashes the run scheduled, as (replica, crash_at_s, recover_at_s or None), in time order."""


def partition_windows(partitions: Iterable[Any], nodes: Iterable[int]) -> tuple[PartitionWindow, ...]:
    """:class:`PartitionWindow` s from a spec's ``network.partitions`` (anything with ``start_s``, ``end_s`` and
    ``groups``), the nodes no group lists forming one more group."""
    every = sorted(nodes)
    out = []
    for p in sorted(partitions, key=lambda p: p.start_s):
        groups = [tuple(g) for g in p.groups]
        listed = {x for g in groups for x in g}
        rest = tuple(x for x in every if x not in listed)
        out.append(PartitionWindow(p.start_s, p.end_s, tuple(groups) + ((rest,) if rest else ())))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class OracleVerdict:
    """One oracle's judgement.

    ``safe``/``live`` are None when the oracle does not judge that property
    (a convergence oracle has no safety verdict). ``undecided`` says the oracle
    could not decide (a search that ran out of budget): the run is then not
    reported safe. ``violations`` are plain dicts with at least ``kind`` and
    ``detail``; ``section`` is the JSON-able data its report section renders.
    """

    name: str
    safe: bool | None
    live: bool | None
    undecided: bool = False
    violation_count: int = 0
    violations: tuple[dict[str, Any], ...] = ()
    pending_count: int = 0
    pending: tuple[dict[str, Any], ...] = ()
    section: dict[str, Any] = field(default_factory=dict)


class Oracle(Protocol):
    """A running judge: feed it events with ``observe``, then read ``verdict`` once."""

    def observe(self, t_ns: int, event: Any) -> None:
        """One history event at simulated (or real) time ``t_ns``."""
        ...

    def verdict(self) -> OracleVerdict:
        """The judgement of everything observed."""
        ...


@dataclass(frozen=True)
class OraclePlugin:
    """What an oracle package registers (entry-point group ``bftlab.oracles``)."""

    name: str
    make: Callable[[OracleContext], Oracle]
    section: ReportSection | None = None
    description: str = ""


class Panel:
    """The oracles of one run, fed together: what runtimes hold instead of one fixed checker."""

    def __init__(self, plugins: Iterable[OraclePlugin], ctx: OracleContext) -> None:
        self.plugins = list(plugins)
        self.oracles = [p.make(ctx) for p in self.plugins]

    def observe(self, t_ns: int, event: Any) -> None:
        for oracle in self.oracles:
            oracle.observe(t_ns, event)

    def verdicts(self) -> list[OracleVerdict]:
        return [o.verdict() for o in self.oracles]


def combine(verdicts: Iterable[OracleVerdict], expected: Iterable[str] = ()
            ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(safety, liveness, oracles) report entries from the verdicts of a run's oracles.

    A property no oracle judged is OK (``judged_by`` is empty); a run that an
    oracle could not decide is not OK, so an undecided run never passes as safe.
    Oracles named in ``expected`` (``ProtocolSpec.expected_violations``) are
    reported, under ``safety["expected"]``, but do not make the run unsafe.
    """
    verdicts = list(verdicts)
    allowed = set(expected)
    judging = [o for o in verdicts if o.name not in allowed]
    violations = [{**v, "oracle": o.name} for o in judging for v in o.violations][:MAX_LISTED]
    pending = [p for o in verdicts for p in o.pending][:MAX_LISTED]
    safety = {
        "ok": all(o.safe is not False and not o.undecided for o in judging),
        "violation_count": sum(o.violation_count for o in judging),
        "violations": violations,
        "judged_by": [o.name for o in judging if o.safe is not None or o.undecided],
    }
    shown = [o for o in verdicts if o.name in allowed and (o.safe is False or o.undecided)]
    if shown:  # what the consistency level allows, kept apart so it is visible and not a failure
        safety["expected"] = {o.name: o.violation_count for o in shown}
    liveness = {
        "ok": all(o.live is not False for o in verdicts),
        "pending_count": sum(o.pending_count for o in verdicts),
        "pending": pending,
        "failed_by": [o.name for o in verdicts if o.live is False],
    }
    sections = {o.name: {"safe": o.safe, "live": o.live, "undecided": o.undecided,
                         "violation_count": o.violation_count, **({"expected": True} if o.name in allowed else {}),
                         **o.section}
                for o in verdicts}
    return safety, liveness, sections
