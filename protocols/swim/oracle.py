"""The membership oracle: at the end of a run, do the live members' views match who is really up?

It reads the members' :class:`~bftlab.api.FinalState` events (``"members"``:
member id -> ``[status, incarnation]``, the member itself included; ``"joined"``).
Only members running at the end report, so a member with no final state has
crashed and stayed down. A member reporting itself ``left`` has left. Then:

* completeness: every crashed or departed member is ``dead`` or ``left`` at every
  live member that knows it (SWIM's strong completeness, Das, Gupta & Motivala
  section 2, once dissemination has had time);
* accuracy after healing: every live member is ``alive`` or ``suspect`` at every
  other live member (nobody is removed for good while up and connected), and
  every live member has joined.

Both are eventual properties, so the verdict is ``live`` and ``safe`` is None: a
run that ends while a crash is still being disseminated, or while a partition
still separates the members, fails it; runtimes give the group time first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import FinalState
from bftlab.oracles.base import MAX_LISTED, OracleContext, OraclePlugin, OracleVerdict
from bftlab.reports.report import num as _num


class MembershipOracle:
    """Keeps each member's latest final state."""

    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.final: dict[int, dict[str, Any]] = {}

    def observe(self, t_ns: int, event: Any) -> None:
        if type(event) is FinalState:
            self.final[event.node] = dict(event.state)

    def verdict(self) -> OracleVerdict:
        views = {node: {int(m): str(st[0]) for m, st in (s.get("members") or {}).items()}
                 for node, s in self.final.items()}
        live = {node for node, v in views.items() if v.get(node) != "left"}
        gone = {r for r in self.ctx.replicas if r not in live}
        pending: list[dict[str, Any]] = []
        for node in sorted(live):
            if not self.final[node].get("joined", True):
                pending.append({"kind": "not-joined", "detail": f"member {node} is up but never joined"})
            for m, status in sorted(views[node].items()):
                if m == node:
                    continue
                if m in gone and status not in ("dead", "left"):
                    pending.append({"kind": "undetected", "detail": f"member {node} holds {m} {status}, "
                                                                    f"but {m} is down or has left"})
                elif m in live and status not in ("alive", "suspect"):
                    pending.append({"kind": "wrongly-removed", "detail": f"member {node} holds {m} {status}, "
                                                                         f"but {m} is up"})
            for m in sorted(live - set(views[node])):
                pending.append({"kind": "unknown", "detail": f"member {node} does not know live member {m}"})
        kinds: dict[str, int] = {}
        for p in pending:
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
        return OracleVerdict(name="membership", safe=None, live=not pending, pending_count=len(pending),
                             pending=tuple(pending[:MAX_LISTED]),
                             section={"live_members": len(live), "gone_members": len(gone), "by_kind": kinds})


@dataclass(frozen=True)
class MembershipSection:
    """``oracles.membership``: whether the live members' final views are right."""

    key: str = "membership"
    title: str = "Membership views"

    def _rows(self, data: Any) -> list[tuple[str, str]]:
        kinds = data.get("by_kind") or {}
        return [("Members up / gone at the end", f"{_num(data.get('live_members'), 0)} / "
                                                 f"{_num(data.get('gone_members'), 0)}"),
                ("Views right", "yes" if data.get("live") else
                 "no: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))]

    def markdown(self, data: Any) -> list[str]:
        return ["| Check | Result |", "|---|---|", *(f"| {k} | {v} |" for k, v in self._rows(data)), ""]

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        return self._rows(data)


MEMBERSHIP = OraclePlugin(name="membership", make=MembershipOracle, section=MembershipSection(),
                          description="SWIM views at the end: crashed members dead everywhere, live ones not.")
