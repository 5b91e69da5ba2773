"""Safety and liveness checker for state-machine replication.

Independent of any protocol's internals: it judges a run only from history
events (:class:`~bftlab.api.Issued`, :class:`~bftlab.api.Executed`,
:class:`~bftlab.api.Accepted`). Properties checked, over *correct* replicas
(crashed-and-recovered replicas count as correct; Byzantine ones do not):

- **agreement**: no two correct replicas execute different requests (or a
  request and a null) at the same sequence number;
- **order**: each replica executes sequence numbers in strictly increasing
  order, without gaps except where it jumped by state transfer (a
  :class:`~bftlab.api.StateTransferred` event); with agreement this gives a
  common prefix;
- **divergence**: correct replicas that execute the same request compute the
  same result;
- **validity**: every executed request was issued by its client, with the
  same operation;
- **exactly-once**: no correct replica executes a request twice;
- **client consistency**: a result a client accepted is the result correct
  replicas computed (or a correct replica served, for a read answered outside
  the log: :class:`~bftlab.api.ReadServed`), and no request is accepted with
  two results;
- **liveness**: every issued request was accepted by the end of the run.

Violations name the sequence number, the replicas and the requests involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bftlab.api import Accepted, Executed, Issued, ReadServed, StateTransferred
from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict

MAX_REPORTED = 50


@dataclass
class Violation:
    kind: str
    seq: int | None
    replicas: list[int]
    requests: list[list[int]]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "replicas": self.replicas, "requests": self.requests,
                "detail": self.detail}


@dataclass
class Verdict:
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    pending: list[tuple[int, int]] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return self.violation_count == 0

    @property
    def live(self) -> bool:
        return not self.pending

    def add(self, v: Violation) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_REPORTED:
            self.violations.append(v)

    def safety_dict(self) -> dict[str, Any]:
        return {"ok": self.safe, "violation_count": self.violation_count,
                "violations": [v.to_dict() for v in self.violations]}

    def liveness_dict(self) -> dict[str, Any]:
        return {"ok": self.live, "pending_count": len(self.pending),
                "pending": [{"client": c, "ts": t} for c, t in self.pending[:MAX_REPORTED]]}


class Checker:
    """Online checker: feed events with :meth:`observe`, then read :meth:`verdict`.

    Memory is O(requests + slots), independent of the number of replicas: per
    request it keeps the issued operation, the first computed result and a bit
    mask of the replicas that executed it; per slot a digest of its requests.
    """

    def __init__(self, byzantine: Iterable[int] = ()) -> None:
        self.bad = frozenset(byzantine)
        self.v = Verdict()
        self.issued: dict[tuple[int, int], bytes] = {}
        self.accepted: dict[tuple[int, int], bytes] = {}
        self.slot: dict[int, tuple[int, tuple]] = {}  # seq -> (first replica, requests)
        self.last_seq: dict[int, int] = {}
        self.jumped_to: dict[int, int] = {}  # replica -> seq its last state transfer reached
        self.result_of: dict[tuple[int, int], list] = {}  # (client, ts) -> [first node, result, executed mask]
        self.served: dict[tuple[int, int], dict[bytes, int]] = {}  # reads outside the log: result -> a server

    def observe(self, ev: Any) -> None:
        kind = type(ev)
        if kind is Executed:
            if ev.node not in self.bad:
                self._executed(ev)
        elif kind is Issued:
            key = (ev.client, ev.ts)
            prev = self.issued.get(key)
            if prev is not None and prev != ev.op_digest:
                self.v.add(Violation("validity", None, [], [list(key)],
                                     f"client {ev.client} issued ts {ev.ts} twice with different operations"))
            self.issued[key] = ev.op_digest
        elif kind is StateTransferred:
            self.jumped_to[ev.node] = max(ev.seq, self.jumped_to.get(ev.node, ev.seq))
        elif kind is ReadServed:
            if ev.node not in self.bad:
                self._read(ev)
        elif kind is Accepted:
            key = (ev.client, ev.ts)
            prev = self.accepted.get(key)
            if prev is not None and prev != ev.result_digest:
                self.v.add(Violation("client_consistency", None, [], [list(key)],
                                     f"client {ev.client} accepted two different results for ts {ev.ts}"))
            self.accepted[key] = ev.result_digest

    def verdict(self) -> Verdict:
        v = Verdict(list(self.v.violations), self.v.violation_count)
        for key, digest in self.accepted.items():
            computed = self.result_of.get(key)
            if computed is None and digest in self.served.get(key, {}):
                continue  # a correct replica served this read with this result
            if computed is None and key in self.served:
                v.add(Violation("client_consistency", None, sorted(self.served[key].values()), [list(key)],
                                f"client {key[0]} accepted a result for read ts {key[1]} that no correct replica "
                                f"served"))
            elif computed is None:
                v.add(Violation("client_consistency", None, [], [list(key)],
                                f"client {key[0]} accepted ts {key[1]} but no correct replica executed it"))
            elif computed[1] != digest:
                v.add(Violation("client_consistency", None, [computed[0]], [list(key)],
                                f"client {key[0]} accepted a result for ts {key[1]} that differs from "
                                f"the one replica {computed[0]} computed"))
        v.pending = sorted(k for k in self.issued if k not in self.accepted)
        return v

    def _read(self, ev: ReadServed) -> None:
        """A read answered outside the log: validity and the result a client may accept, no slot, no order."""
        key = (ev.client, ev.ts)
        op = self.issued.get(key)
        if op is None or op != ev.op_digest:
            why = "was never issued" if op is None else "has an operation its client did not issue"
            self.v.add(Violation("validity", None, [ev.node], [list(key)],
                                 f"replica {ev.node} served {key}, which {why}"))
        self.served.setdefault(key, {})[ev.result_digest] = ev.node

    def _executed(self, ev: Executed) -> None:
        node, seq, verdict = ev.node, ev.seq, self.v
        reqs = tuple((e.client, e.ts, e.op_digest) for e in ev.entries)
        prev = self.last_seq.get(node)
        if prev is not None and seq <= prev:
            verdict.add(Violation("order", seq, [node], [], f"replica {node} executed seq {seq} after seq {prev}"))
        elif prev is not None and seq > prev + 1 and self.jumped_to.get(node, -1) < seq - 1:
            # the first execution of a replica may start anywhere (it may have booted from a checkpoint)
            verdict.add(Violation("order", seq, [node], [],
                                  f"replica {node} skipped seqs {prev + 1}..{seq - 1} without a state transfer"))
        self.last_seq[node] = seq
        first = self.slot.get(seq)
        if first is None:
            self.slot[seq] = (node, reqs)
        elif first[1] != reqs:
            verdict.add(Violation(
                "agreement", seq, [first[0], node],
                [list(r) for r in sorted({(r[0], r[1]) for r in first[1] + reqs})],
                f"replicas {first[0]} and {node} executed different requests at seq {seq}: "
                f"{_fmt(first[1])} vs {_fmt(reqs)}"))
        bit = 1 << node
        for e in ev.entries:
            key = (e.client, e.ts)
            op = self.issued.get(key)
            if op is None or op != e.op_digest:
                why = "was never issued" if op is None else "has an operation its client did not issue"
                verdict.add(Violation("validity", seq, [node], [list(key)],
                                      f"replica {node} executed {key}, which {why}"))
            known = self.result_of.get(key)
            if known is None:
                self.result_of[key] = [node, e.result_digest, bit]
                continue
            if known[2] & bit:
                verdict.add(Violation("exactly_once", seq, [node], [list(key)],
                                      f"replica {node} executed request {key} a second time at seq {seq}"))
            known[2] |= bit
            if known[1] != e.result_digest:
                verdict.add(Violation("divergence", seq, [known[0], node], [list(key)],
                                      f"replicas {known[0]} and {node} computed different results for {key}"))


def check(events: Iterable[Any], byzantine: Iterable[int] = ()) -> Verdict:
    """Judge a whole history (events in the order they happened)."""
    c = Checker(byzantine)
    for ev in events:
        c.observe(ev)
    return c.verdict()


def _fmt(reqs: tuple) -> str:
    if not reqs:
        return "null"
    shown = ", ".join(f"{c}:{t}" for c, t, _ in reqs[:4])
    return f"[{shown}{', ...' if len(reqs) > 4 else ''}]"


class SmrOracle:
    """The state-machine-replication checker as an oracle plug-in."""

    def __init__(self, ctx: OracleContext) -> None:
        self.checker = Checker(ctx.byzantine)

    def observe(self, t_ns: int, event: Any) -> None:
        self.checker.observe(event)

    def verdict(self) -> OracleVerdict:
        v = self.checker.verdict()
        return OracleVerdict(
            name="smr", safe=v.safe, live=v.live, violation_count=v.violation_count,
            violations=tuple(x.to_dict() for x in v.violations), pending_count=len(v.pending),
            pending=tuple({"client": c, "ts": t} for c, t in v.pending[:MAX_REPORTED]),
            section={"properties": ["agreement", "order", "divergence", "validity", "exactly_once",
                                    "client_consistency", "liveness"]},
        )


SMR = OraclePlugin("smr", SmrOracle, None,
                   "state-machine replication: agreement, order, validity, exactly-once, client consistency, liveness")
