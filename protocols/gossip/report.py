"""How a gossip run's ``metrics.gossip`` data is shown in report.md and the terminal summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bftlab.reports.report import num as _num


def _ms(d: Mapping[str, Any]) -> str:
    return f"{_num(d['mean'], 4)} ± {_num(d['se'], 4)}"


def _rows(g: Mapping[str, Any]) -> list[tuple[str, str]]:
    if g.get("engine") == "rounds":
        rows = [("Algorithm", f"{g['algorithm']} on {g['n']} sites, {g['trials']} trials (mean ± s.e.)"),
                ("Rounds", _ms(g["rounds"])), ("Residue", _ms(g["residue"])),
                ("Traffic (messages per site)", _ms(g["traffic"])), ("t_ave", _ms(g["t_ave"])),
                ("t_last", _ms(g["t_last"]))]
        rows += [(f"Theory: {k}", _num(v, 4)) for k, v in g.get("theory", {}).items() if v is not None]
        return rows
    return [("Spreading", f"{g['mode']} (anti-entropy {g['anti_entropy']})"),
            ("Converged", f"at {_num(g['converged_at_s'], 3)} s" if g["converged"]
             else f"no: {g['distinct_stores']} different stores at the end"),
            ("Workload answered at", f"{_num(g['workload_done_s'], 3)} s")]


@dataclass(frozen=True)
class GossipSection:
    """``metrics.gossip``: fast-path measurements with their closed forms, or message-level convergence."""

    key: str = "gossip"
    title: str = "Gossip"

    def markdown(self, data: Any) -> list[str]:
        return ["| Metric | Value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in _rows(data)), ""]

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        return _rows(data)


SECTION = GossipSection()
