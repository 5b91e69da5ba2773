"""The atomic-commitment oracle: every transaction commits at all of its participants or at none.

Protocols report the steps of each transaction attempt ``(client, ts)`` as
history events (:mod:`bftlab.api`): :class:`~bftlab.api.TxnBegan` with its
participants, each participant's :class:`~bftlab.api.Voted`, and every
:class:`~bftlab.api.Decided`. At the end, each running replica's
:class:`~bftlab.api.FinalState` lists under ``"applied"`` the transactions
whose writes are in its store and under ``"uncertain"`` those it voted yes on
and still waits to hear about. The properties are those of Bernstein,
Hadzilacos & Goodman (*Concurrency Control and Recovery in Database Systems*,
1987, ch. 7, AC1-AC5), checked after the run over everything observed (the
real transport hands the processes' logs over one after another):

- **agreement**: all processes that decide reach the same decision (AC1);
- **irreversibility**: a process never changes its decision (AC2), nor takes back a yes vote;
- **validity**: commit only if every participant voted yes (AC3);
- **non-triviality**: in a run with no fault at all, a transaction every participant voted yes on commits (AC4);
- **effects**: a committed transaction's writes are at each participant that is up at the end, unless it is
  still uncertain; an aborted one's writes are nowhere (the key-value state, checked after the run).

Liveness is measured, not judged (a blocked two-phase commit is the protocol's
nature, not a bug): how long participants stayed uncertain (voted yes, no
decision yet, locks held), and how many transactions were blocked at the end.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import Decided, FinalState, TxnBegan, Voted
from bftlab.core.kernel import NS
from bftlab.oracles.base import MAX_LISTED, OracleContext, OraclePlugin, OracleVerdict

Txn = tuple[int, int]


class AtomicityOracle:
    """Collects the transactions' events; judges them in :meth:`verdict`."""

    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.began: dict[Txn, tuple[int, ...]] = {}
        self.votes: dict[Txn, dict[int, list[tuple[int, bool]]]] = {}  # txn -> node -> [(t, yes)]
        self.decisions: dict[Txn, dict[int, list[tuple[int, bool]]]] = {}  # txn -> node -> [(t, commit)]
        self.final: dict[int, dict[str, set[Txn]]] = {}  # node -> {"applied": ..., "uncertain": ...}
        self.t_end = 0

    def observe(self, t_ns: int, event: Any) -> None:
        self.t_end = max(self.t_end, t_ns)
        kind = type(event)
        if kind is TxnBegan:
            self.began.setdefault((event.client, event.ts), tuple(event.participants))
        elif kind is Voted:
            self.votes.setdefault((event.client, event.ts), {}).setdefault(event.node, []).append((t_ns, event.yes))
        elif kind is Decided:
            per = self.decisions.setdefault((event.client, event.ts), {})
            per.setdefault(event.node, []).append((t_ns, event.commit))
        elif kind is FinalState:
            state = event.state
            self.final[event.node] = {k: {(int(c), int(ts)) for c, ts in state.get(k) or ()}
                                      for k in ("applied", "uncertain")}

    # ------------------------------------------------------------ judging
    def verdict(self) -> OracleVerdict:
        violations: list[dict[str, Any]] = []

        def bad(kind: str, txn: Txn, detail: str, replicas: list[int] | None = None) -> None:
            violations.append({"kind": kind, "seq": None, "requests": [list(txn)], "replicas": replicas or [],
                               "detail": detail})

        outcome: dict[Txn, bool | None] = {}  # None: decided both ways (an agreement violation, judged once)
        for txn, per in sorted(self.decisions.items()):
            seen = {c for ds in per.values() for _, c in ds}
            for node, ds in sorted(per.items()):
                if len({c for _, c in ds}) > 1:
                    bad("irreversibility", txn, f"node {node} decided both commit and abort", [node])
            if len(seen) > 1:
                commits = sorted(n for n, ds in per.items() if any(c for _, c in ds))
                aborts = sorted(n for n, ds in per.items() if any(not c for _, c in ds))
                bad("agreement", txn, f"nodes {commits} decided commit, nodes {aborts} abort", commits + aborts)
            outcome[txn] = seen.pop() if len(seen) == 1 else None
        for txn, per in sorted(self.votes.items()):
            for node, vs in sorted(per.items()):
                first_yes = next((t for t, y in vs if y), None)
                if first_yes is not None and any(not y and t > first_yes for t, y in vs):
                    # A yes is a promise to abide by the outcome. A no may be forgotten in a crash (presumed abort
                    # forces nothing) and followed by a yes: the outcome was abort anyway, so that is allowed.
                    bad("irreversibility", txn, f"participant {node} voted no after voting yes", [node])
        for txn, commit in sorted(outcome.items()):
            if not commit:
                continue
            parts = self.began.get(txn) or tuple(sorted(self.votes.get(txn, {})))
            votes = self.votes.get(txn, {})
            missing = [p for p in parts if not any(y for _, y in votes.get(p, ()))]
            if missing:
                bad("validity", txn, f"committed without a yes vote from participant(s) {missing}", missing)
        if not self.ctx.faults:
            for txn, parts in sorted(self.began.items()):
                votes = self.votes.get(txn, {})
                if parts and all(any(y for _, y in votes.get(p, ())) and not any(not y for _, y in votes.get(p, ()))
                                 for p in parts) and outcome.get(txn) is False:
                    bad("non_triviality", txn, "aborted in a run without faults although every participant voted "
                        "yes", list(parts))
        self._effects(outcome, bad)
        section = self._measures(outcome)
        return OracleVerdict(name="atomicity", safe=not violations, live=None, violation_count=len(violations),
                             violations=tuple(violations[:MAX_LISTED]), section=section)

    def _effects(self, outcome: dict[Txn, bool | None], bad: Any) -> None:
        """The stores after the run: committed writes at every participant up and certain, aborted ones nowhere."""
        for node, state in sorted(self.final.items()):
            for txn in sorted(state["applied"]):
                if outcome.get(txn) is not True and not (txn in outcome and outcome[txn] is None):
                    what = "aborted" if outcome.get(txn) is False else "never decided commit"
                    bad("effects", txn, f"node {node} holds the writes of a transaction that was {what}", [node])
        for txn, commit in sorted(outcome.items()):
            if not commit:
                continue
            for p in self.began.get(txn, ()):
                held = self.final.get(p)
                if held is not None and txn not in held["applied"] and txn not in held["uncertain"]:
                    bad("effects", txn, f"participant {p} is up and certain at the end but lacks the writes of a "
                        f"committed transaction", [p])

    def _measures(self, outcome: dict[Txn, bool | None]) -> dict[str, Any]:
        """Uncertainty windows (a yes vote until that participant's decision) and blocking at the end."""
        spans: list[float] = []
        blocked: set[Txn] = set()
        for txn, per in self.votes.items():
            decided = self.decisions.get(txn, {})
            for node, vs in per.items():
                yes = [t for t, y in vs if y]
                if not yes:
                    continue
                after = [t for t, _ in decided.get(node, ()) if t >= yes[0]]
                if after:
                    spans.append((min(after) - yes[0]) / NS)
                else:
                    blocked.add(txn)
                    spans.append((self.t_end - yes[0]) / NS)
        spans.sort()
        committed = sum(1 for c in outcome.values() if c is True)
        aborted = sum(1 for c in outcome.values() if c is False)
        total = len(set(self.began) | set(self.votes) | set(self.decisions))
        return {
            "transactions": total, "committed": committed, "aborted": aborted,
            "undecided": total - committed - aborted, "blocked_at_end": len(blocked),
            "abort_rate": round(aborted / (committed + aborted), 4) if committed + aborted else None,
            "uncertain_s": _summary(spans),
        }


def _summary(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"count": 0, "mean": None, "p50": None, "p99": None, "max": None}
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731 - sorted input, nearest rank
    return {"count": len(xs), "mean": round(sum(xs) / len(xs), 6), "p50": round(pick(0.5), 6),
            "p99": round(pick(0.99), 6), "max": round(xs[-1], 6)}


class AtomicitySection:
    """The atomicity verdict and the blocking measures in reports."""

    key = "atomicity"
    title = "Atomic commitment"
    replaces_generic = False

    def markdown(self, data: Any) -> list[str]:
        u = data["uncertain_s"]
        head = ("All-or-nothing held" if data["safe"] else "**Atomicity violated**") + (
            f": {data['transactions']:,} transactions, {data['committed']:,} committed, {data['aborted']:,} aborted, "
            f"{data['undecided']:,} undecided.")
        rows = [("Blocked at the end (a participant still uncertain)", f"{data['blocked_at_end']:,}"),
                ("Abort rate", "n/a" if data["abort_rate"] is None else f"{100 * data['abort_rate']:.1f}%"),
                ("Uncertainty windows (yes vote to decision)", f"{u['count']:,}")]
        if u["count"]:
            rows += [(f"Uncertain for, {k}", f"{1e3 * u[k]:.2f} ms") for k in ("mean", "p50", "p99", "max")]
        return [head, "", "| Measure | Value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows)]

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        u = data["uncertain_s"]
        word = "OK" if data["safe"] else f"VIOLATED ({data['violation_count']:,})"
        unc = f", uncertain p99 {1e3 * u['p99']:.2f} ms" if u["count"] else ""
        return [("atomicity", f"{word} ({data['committed']:,} committed, {data['aborted']:,} aborted, "
                              f"{data['blocked_at_end']:,} blocked{unc})")]


ATOMICITY = OraclePlugin(
    "atomicity", AtomicityOracle, AtomicitySection(),
    "atomic commitment: agreement, irreversibility, validity, non-triviality, all-or-nothing effects",
)
