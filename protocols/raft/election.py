"""How long a Raft cluster is without a leader after its leader crashes (the ATC'14 paper's §9.3, Figure 16).

A replica that wins an election observes :class:`LeaderElected` (a Raft history
event; the other runtimes' oracles ignore it, the real transport does not record
it). The ``raft-elections`` oracle (a spec asks for it: ``oracles: [raft-elections]``) pairs those events with
the crashes the run scheduled (:attr:`~bftlab.oracles.base.OracleContext.crashes`):
for every crash of the replica that was the latest elected leader when it
crashed, the time from the crash to the next election of a higher term, which is
what the paper plots as "time without leader". Crashes of followers are not
trials. The oracle judges neither safety nor liveness; it only measures.

Its section, under ``report["oracles"]["raft-elections"]``: ``downtime_s`` (one value
per trial that elected a new leader before the run ended), ``first_downtime_s``
(the first of them, or None), ``trials``, ``unfinished`` (a leader crashed and
none was elected before the end), ``not_leader`` (crashes of a replica that was
not the leader then, e.g. after an unnecessary election) and ``elected`` (leaders
elected in the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.core.kernel import NS
from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict

__all__ = ["ELECTIONS", "ElectionOracle", "ElectionSection", "FirstCommit", "LeaderElected", "downtimes"]


@dataclass(frozen=True, slots=True)
class LeaderElected:
    """Replica ``node`` won the election of ``term`` and became its leader."""

    node: int
    term: int


@dataclass(frozen=True, slots=True)
class FirstCommit:
    """The leader ``node`` of ``term`` advanced its commit index for the first time in that term, to ``index``:
    the moment a new leader's log becomes the cluster's (one event per term, so cheap on every transport; the
    fuzzer's reactive schedules cut a leader off right then)."""

    node: int
    term: int
    index: int


def downtimes(elected: list[tuple[float, int, int]], crashes: tuple[tuple[int, float, float | None], ...]
              ) -> tuple[list[float], int, int]:
    """(time from each leader crash to the next higher-term election, trials with no such election,
    crashes of a replica that was not the leader then).

    ``elected`` holds (t_s, node, term) in time order; a crash is a trial if its
    replica was the leader of the highest term elected before the crash.
    """
    out: list[float] = []
    unfinished = not_leader = 0
    for node, at, _ in crashes:
        before = [e for e in elected if e[0] <= at]
        if not before or max(before, key=lambda e: e[2])[1] != node:
            not_leader += 1
            continue
        _, _, term = max(before, key=lambda e: e[2])
        after = [e[0] for e in elected if e[0] > at and e[2] > term]
        if after:
            out.append(round(min(after) - at, 9))
        else:
            unfinished += 1
    return out, unfinished, not_leader


class ElectionOracle:
    """Collects :class:`LeaderElected` events; the verdict measures the leaderless time after each leader crash."""

    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.elected: list[tuple[float, int, int]] = []

    def observe(self, t_ns: int, event: Any) -> None:
        if type(event) is LeaderElected:
            self.elected.append((t_ns / NS, event.node, event.term))

    def verdict(self) -> OracleVerdict:
        times, unfinished, not_leader = downtimes(self.elected, self.ctx.crashes)
        return OracleVerdict(name="raft-elections", safe=None, live=None, section={
            "downtime_s": times,
            "first_downtime_s": times[0] if times else None,
            "trials": len(times) + unfinished,
            "unfinished": unfinished,
            "not_leader": not_leader,
            "elected": len(self.elected),
        })


@dataclass(frozen=True)
class ElectionSection:
    """``oracles.raft-elections``: the time without a leader after each leader crash."""

    key: str = "raft-elections"
    title: str = "Leader elections"

    def _text(self, data: Any) -> str:
        times = [f"{t * 1000:.1f} ms" for t in data.get("downtime_s") or []]
        shown = ", ".join(times[:10]) + (", ..." if len(times) > 10 else "")
        return (f"{data.get('elected', 0)} leaders elected; {data.get('trials', 0)} leader crashes, "
                f"time without a leader: {shown or 'none measured'}"
                + (f"; {data['unfinished']} without a new leader by the end" if data.get("unfinished") else ""))

    def markdown(self, data: Any) -> list[str]:
        return [self._text(data) + "."]

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        return [("elections", self._text(data))]


ELECTIONS = OraclePlugin(name="raft-elections", make=ElectionOracle, section=ElectionSection(),
                         description="time from each leader crash to the next leader's election (Raft)")
