"""The linearizability oracle: the client-visible history of the key-value service, judged.

From the run's history events it rebuilds what each client saw: the
operation the workload handed it (:class:`~bftlab.api.Submitted`), when the
client issued it (:class:`~bftlab.api.Issued`) and when it accepted a result
(:class:`~bftlab.api.Accepted`). The checker (:mod:`bftlab.oracles.linearizability`)
then searches for a legal sequential order per key. A request never accepted
is *pending*: its write may or may not have taken effect.

Results reach the oracle as digests only (protocols report what they compute,
not the bytes), so a get's returned value is recovered by matching its result
digest against every value written to that key (and "absent"); a digest that
matches none is a value nobody wrote, which no order can explain.

Judges any protocol that serves :mod:`bftlab.core.kv` operations and emits
those events, whatever its internals. Histories whose requests cannot be
paired with operations (a client that issues what it was not handed) are
reported, not guessed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from bftlab.api import Accepted, Issued, Submitted, observed_digest
from bftlab.core.kv import decode_op, get_result
from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict
from bftlab.oracles.linearizability import Operation, check, render

TIME_BUDGET_S = 60.0
"""Search budget per run; past it the verdict is undecided, and the run is not reported safe."""

_UNWRITTEN = b"\x00bftlab:a value no operation wrote:"


class KvHistoryOracle:
    """Collects calls and returns; checks them once, in :meth:`verdict`."""

    def __init__(self, ctx: OracleContext) -> None:
        self.queued: dict[int, deque[bytes]] = {}
        self.calls: dict[tuple[int, int], tuple[int, str, bytes, bytes]] = {}  # (client, ts) -> call
        self.returns: dict[tuple[int, int], tuple[int, bytes]] = {}  # (client, ts) -> (time, result digest)
        self.unpaired = 0

    def observe(self, t_ns: int, event: Any) -> None:
        kind = type(event)
        if kind is Submitted:
            self.queued.setdefault(event.client, deque()).append(event.op)
        elif kind is Issued:
            queue = self.queued.get(event.client)
            op = queue.popleft() if queue else None
            key = (event.client, event.ts)
            if op is None or observed_digest(op) != event.op_digest or key in self.calls:
                self.unpaired += 1
                return
            try:
                name, k, value = decode_op(op)
            except ValueError:
                self.unpaired += 1
                return
            self.calls[key] = (t_ns, name, k, value)
        elif kind is Accepted:
            self.returns.setdefault((event.client, event.ts), (t_ns, event.result_digest))

    def operations(self) -> list[Operation]:
        """The history in call order, gets carrying the value their result digest names."""
        written: dict[bytes, dict[bytes, bytes | None]] = {}  # key -> result digest -> value
        for _, name, k, value in self.calls.values():
            if name == "put":
                written.setdefault(k, {})[observed_digest(get_result(value))] = value
        absent = observed_digest(get_result(None))
        ops = []
        for (client, ts), (call, name, k, value) in sorted(self.calls.items(), key=lambda kv: (kv[1][0], kv[0])):
            ret = self.returns.get((client, ts))
            seen: bytes | None = value if name == "put" else None
            if name == "get" and ret is not None:
                digest = ret[1]
                if digest == absent:
                    seen = None
                else:
                    seen = written.get(k, {}).get(digest, _UNWRITTEN + digest.hex().encode())
            ops.append(Operation(client, call, None if ret is None else ret[0], name, k, seen, (client, ts)))
        return ops

    def verdict(self) -> OracleVerdict:
        ops = self.operations()
        result = check(ops, time_budget_s=TIME_BUDGET_S)
        lines = render(result)
        verdict = result.verdict
        if verdict == "ok" and self.unpaired:  # requests we could not check: never call that linearizable
            verdict = "unknown"
        section = {"verdict": verdict, "operations": result.operations, "keys": result.checked_keys,
                   "unpaired_requests": self.unpaired, "counterexample": lines[1:]}
        violations: tuple[dict[str, Any], ...] = ()
        if result.verdict == "violation":
            violations = ({
                "kind": "linearizability", "seq": None, "replicas": [],
                "requests": [list(op.ident) for op in result.minimal if op.ident is not None],
                "detail": lines[0] + ": " + "; ".join(line.strip() for line in lines[1:]),
            },)
        return OracleVerdict(
            name="linearizability", safe=result.verdict != "violation", live=None,
            undecided=verdict == "unknown", violation_count=len(violations), violations=violations,
            section=section,
        )


@dataclass(frozen=True)
class LinearizabilitySection:
    """Report section: the verdict, and the minimal non-linearizable sub-history when there is one."""

    key: str = "linearizability"
    title: str = "Linearizability"

    def markdown(self, data: Any) -> list[str]:
        unknown = ("Undecided (requests without their operations)" if data.get("unpaired_requests")
                   else "Undecided (the search ran out of time)")
        head = {"ok": "Linearizable", "violation": "**Not linearizable**", "unknown": unknown}[data["verdict"]]
        out = [f"{head}: {data['operations']:,} operations over {data['keys']:,} keys checked"
               f" (Wing & Gong search with Lowe's memoisation, per key)."]
        if data.get("unpaired_requests"):
            out.append(f"{data['unpaired_requests']:,} request(s) could not be paired with an operation.")
        if data.get("counterexample"):
            out += ["", "Minimal sub-history that admits no legal order:", "", "```",
                    *data["counterexample"], "```"]
        return out

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        verdict = {"ok": "OK", "violation": "VIOLATED", "unknown": "UNDECIDED"}[data["verdict"]]
        return [("linearizable", f"{verdict} ({data['operations']:,} operations, {data['keys']:,} keys)")]


LINEARIZABILITY = OraclePlugin(
    "linearizability", KvHistoryOracle, LinearizabilitySection(),
    "client-visible key-value history is linearizable (Herlihy & Wing), checked per key",
)
