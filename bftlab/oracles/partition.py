"""The partition oracle: what each side of a network partition saw, the measurements behind CAP.

Brewer's conjecture, as Gilbert & Lynch proved it ("Brewer's Conjecture and the
Feasibility of Consistent, Available, Partition-Tolerant Web Services", SIGACT
News 2002), says that while a partition lasts a store either answers every
request it receives (available) or keeps one consistent order (linearizable),
not both. This oracle makes the choice a run made visible. For each partition
the spec scheduled (:class:`~bftlab.oracles.base.PartitionWindow`) and each of
its sides (a group of replicas and the clients cut off with them) it measures,
from the client-visible history only (:mod:`bftlab.oracles.calls`):

- **availability**: of the operations the side's clients issued during the
  partition, at least ``PATIENCE_S`` before it healed, the fraction answered
  before it healed (an operation caught in flight by the cut is not counted: it
  was issued while the system was whole); ``answered_rps`` is the
  side's answered operations per second during the partition, next to
  ``answered_rps_before`` over as long a span just before it;
- **conflicting keys**: keys to which writes issued during the partition were
  acknowledged on two or more sides before it healed (each side was told its own write took effect:
  the replicas diverged, and a reconciliation must pick or merge);
- **stale reads**: the side's reads issued during the partition that missed a write
  already completed elsewhere (the staleness oracle's definition,
  :func:`~bftlab.oracles.staleness.judge_reads`);
- a **timeline**: answered operations per side in bins of ``TIMELINE_BIN_S``
  over the whole run, for a figure of who kept working when.

A CP system shows availability 0 on the sides without a quorum and no
conflicts; an AP one keeps every side available and pays in conflicts and
stale reads. Time to converge after the heal is the convergence oracle's
(``converge_after_heal_s``). The oracle measures and never judges (``safe`` and
``live`` are None): which side of CAP to take is the system's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict, PartitionWindow
from bftlab.oracles.calls import Call, CallLog
from bftlab.oracles.staleness import judge_reads

TIMELINE_BIN_S = 0.1
"""Width of the timeline's bins (seconds)."""
PATIENCE_S = 0.5
"""Availability counts the operations issued during a partition at least this long before it healed."""


class PartitionOracle:
    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.log = CallLog()

    def observe(self, t_ns: int, event: Any) -> None:
        self.log.observe(t_ns, event)

    def verdict(self) -> OracleVerdict:
        judged = {(j.call.client, j.call.ts): j.stale for j in judge_reads(self.log)}
        windows = [self._window(w, judged) for w in self.ctx.partitions]
        section: dict[str, Any] = {"windows": windows}
        if self.ctx.partitions:
            section["timeline"] = self._timeline(self.ctx.partitions[0])
        return OracleVerdict(name="partition", safe=None, live=None, section=section)

    def _side_of(self, window: PartitionWindow) -> dict[int, int]:
        return {node: i for i, group in enumerate(window.groups) for node in group}

    def _window(self, w: PartitionWindow, stale: dict[tuple[int, int], bool | None]) -> dict[str, Any]:
        side_of = self._side_of(w)
        length = w.end_s - w.start_s
        before = max(0.0, w.start_s - length)
        replicas, clients = set(self.ctx.replicas), set(self.ctx.clients)
        acked_on: dict[bytes, set[int]] = {}  # key -> sides that had a write to it acknowledged in the window
        sides: list[dict[str, Any]] = []
        for i, group in enumerate(w.groups):
            mine = [c for c in self.log.calls.values() if side_of.get(c.client) == i]
            issued = [c for c in mine if w.start_s <= c.start_s < w.end_s]
            for c in issued:
                if c.name != "get" and _returned_before(self.log, c, w.end_s):
                    acked_on.setdefault(c.key, set()).add(i)
            # Availability counts the operations that had PATIENCE_S to complete before the heal.
            during = [c for c in issued if c.start_s < w.end_s - PATIENCE_S]
            answered = [c for c in during if _returned_before(self.log, c, w.end_s)]
            reads = [stale[(c.client, c.ts)] for c in issued if c.name == "get" and (c.client, c.ts) in stale]
            n_before = sum(1 for c in mine if _returned_in(self.log, c, before, w.start_s))
            n_during = sum(1 for c in mine if _returned_in(self.log, c, w.start_s, w.end_s))
            sides.append({
                "replicas": sorted(x for x in group if x in replicas),
                "clients": sorted(x for x in group if x in clients),
                "issued": len(issued),
                "counted": len(during),
                "answered": len(answered),
                "availability": round(len(answered) / len(during), 6) if during else None,
                "answered_rps": round(n_during / length, 3),
                "answered_rps_before": round(n_before / (w.start_s - before), 3) if w.start_s > before else None,
                "reads": len(reads),
                "stale_reads": sum(1 for s in reads if s),
                "stale_rate": round(sum(1 for s in reads if s) / len(reads), 6) if reads else None,
            })
        n_reads, n_stale = sum(s["reads"] for s in sides), sum(s["stale_reads"] for s in sides)
        return {
            "start_s": w.start_s, "end_s": w.end_s, "sides": sides,
            "stale_rate": round(n_stale / n_reads, 6) if n_reads else None,
            "written_keys": len(acked_on),
            "conflicting_keys": sum(1 for s in acked_on.values() if len(s) > 1),
        }

    def _timeline(self, w: PartitionWindow) -> list[dict[str, float]]:
        side_of = self._side_of(w)
        counts: dict[int, list[int]] = {}
        for ident, (t, _) in self.log.returns.items():
            side = side_of.get(ident[0])
            if side is None or ident not in self.log.calls:
                continue
            counts.setdefault(int(t / TIMELINE_BIN_S), [0] * len(w.groups))[side] += 1
        if not counts:
            return []
        return [{"t_s": round(b * TIMELINE_BIN_S, 9),
                 **{f"answered_rps_{i}": n / TIMELINE_BIN_S for i, n in enumerate(counts.get(b, [0] * len(w.groups)))}}
                for b in range(max(counts) + 1)]


def _returned_before(log: CallLog, call: Call, t: float) -> bool:
    done = log.returned_at(call)
    return done is not None and done < t


def _returned_in(log: CallLog, call: Call, lo: float, hi: float) -> bool:
    done = log.returned_at(call)
    return done is not None and lo <= done < hi


@dataclass(frozen=True)
class PartitionSection:
    """Report section: one table per partition, a row per side."""

    key: str = "partition"
    title: str = "Partition: what each side saw"

    def markdown(self, data: Any) -> list[str]:
        if not data.get("windows"):
            return ["The run scheduled no partition."]
        out: list[str] = []
        for w in data["windows"]:
            out += [f"Partition {w['start_s']:g} s to {w['end_s']:g} s: writes to {w['conflicting_keys']:,} of "
                    f"{w['written_keys']:,} keys were acknowledged on more than one side. Availability counts the "
                    f"operations issued at least {PATIENCE_S:g} s before the heal.", "",
                    "| side | replicas | clients | issued | counted | answered before the heal | availability "
                    "| answered/s (before) | stale reads |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
            for i, s in enumerate(w["sides"]):
                avail = "-" if s["availability"] is None else f"{s['availability']:.1%}"
                rate_before = "-" if s["answered_rps_before"] is None else f"{s['answered_rps_before']:,.1f}"
                out.append(f"| {i} | {s['replicas']} | {s['clients']} | {s['issued']:,} | {s['counted']:,} "
                           f"| {s['answered']:,} | {avail} | {s['answered_rps']:,.1f} ({rate_before}) "
                           f"| {s['stale_reads']:,} / {s['reads']:,} |")
            out.append("")
        return out

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        rows = []
        for w in data.get("windows", []):
            avail = ", ".join("-" if s["availability"] is None else f"{s['availability']:.0%}" for s in w["sides"])
            rows.append((f"partition {w['start_s']:g}-{w['end_s']:g} s",
                         f"available per side {avail}; {w['conflicting_keys']} conflicting keys"))
        return rows or [("partition", "none scheduled")]


PARTITION = OraclePlugin(
    "partition", PartitionOracle, PartitionSection(),
    "per side of each partition: availability, conflicting acknowledged writes, stale reads (CAP, measured)",
)
