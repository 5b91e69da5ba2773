"""The convergence oracle: once faults heal and writes stop, the replicas of each key hold the same state.

Eventual consistency promises nothing about reads while faults last; it
promises that when updates stop and the network heals, every replica of a key
ends with the same value (or the same set of concurrent siblings). This oracle
judges that from the replicas' :class:`~bftlab.api.FinalState` events, so it
judges any replicated store that reports them. It reads these keys of
``FinalState.state`` (all optional but ``store``):

- ``"store"``: ``{key_hex: sorted list of value digests}``: the value (or
  sibling values) the replica holds for each key it is home for; a digest is any
  string (e.g. SHA-256 hex, or ``"tombstone"`` for a delete);
- ``"replicas_of"``: ``{key_hex: [replica ids]}``: the replicas responsible for
  the key. A responsible replica that is up at the end but has no entry for
  the key holds nothing for it (an empty set), which differs from a set that
  holds the write. Without it, the replicas that list the key are compared;
- ``"hinted"``: ``[key_hex]``: keys the replica holds only on another's
  behalf (hinted handoff not yet done): reported, since the data has not
  reached its home yet;
- ``"changed_at_s"``: ``{key_hex: seconds}``: when the replica's state for the
  key last changed. For agreeing replicas the latest such time is when the key
  converged; the oracle reports how long after the last write that was, and,
  when the run scheduled partitions, the longest time a key took to converge
  after the later of the last heal and its own last acknowledged write.

Only replicas up at the end report (crashed ones have no final state) and a
runtime may report a replica more than once (after a settling period): the
latest report counts. Convergence is a liveness property, so the verdict is
``live`` (True iff every key's reporting replicas agree and no key is left
only in hints); ``safe`` is None. A run stopped before its repair mechanisms
had time to act fails it; runtimes should let the system settle first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import Accepted, FinalState, Issued, Submitted, observed_digest
from bftlab.core.kernel import NS
from bftlab.core.kv import decode_op
from bftlab.oracles.base import MAX_LISTED, OracleContext, OraclePlugin, OracleVerdict


class ConvergenceOracle:
    """Keeps each replica's latest final state and the time of the last completed write."""

    def __init__(self, ctx: OracleContext) -> None:
        self.ctx = ctx
        self.final: dict[int, dict[str, Any]] = {}
        self.writes: dict[tuple[int, bytes], str] = {}  # (client, op digest) of a submitted write -> key hex
        self.issued_writes: dict[tuple[int, int], str] = {}  # (client, ts) -> key hex
        self.last_write_s: float | None = None
        self.key_written_s: dict[str, float] = {}  # key hex -> when its last write was acknowledged

    def observe(self, t_ns: int, event: Any) -> None:
        kind = type(event)
        if kind is FinalState:
            self.final[event.node] = dict(event.state)
        elif kind is Submitted:
            try:
                name, key, _ = decode_op(event.op)
            except ValueError:
                return
            if name in ("put", "del"):
                self.writes[(event.client, observed_digest(event.op))] = key.hex()
        elif kind is Issued:
            written = self.writes.get((event.client, event.op_digest))
            if written is not None:
                self.issued_writes[(event.client, event.ts)] = written
        elif kind is Accepted:
            written = self.issued_writes.get((event.client, event.ts))
            if written is not None:
                self.last_write_s = self.key_written_s[written] = t_ns / NS

    def verdict(self) -> OracleVerdict:
        holders: dict[str, dict[int, tuple[str, ...]]] = {}
        responsible: dict[str, set[int]] = {}
        hinted: set[str] = set()
        changed: dict[str, float] = {}
        for node, state in sorted(self.final.items()):
            for key, digests in (state.get("store") or {}).items():
                holders.setdefault(key, {})[node] = tuple(sorted(digests))
            for key, nodes in (state.get("replicas_of") or {}).items():
                responsible.setdefault(key, set()).update(int(x) for x in nodes)
            hinted.update(state.get("hinted") or ())
            for key, t in (state.get("changed_at_s") or {}).items():
                changed[key] = max(changed.get(key, 0.0), float(t))
        violations: list[dict[str, Any]] = []
        converged_at: list[float] = []
        agreed: list[str] = []
        for key in sorted(set(holders) | hinted):
            per = dict(holders.get(key, {}))
            for node in responsible.get(key, ()):
                if node in self.final and node not in per:
                    per[node] = ()
            states = set(per.values())
            if len(states) > 1:
                groups: dict[tuple[str, ...], list[int]] = {}
                for node, st in sorted(per.items()):
                    groups.setdefault(st, []).append(node)
                detail = "; ".join(f"replicas {nodes} hold {len(st)} value(s) {[d[:8] for d in st]}"
                                   for st, nodes in groups.items())
                violations.append({"kind": "divergence", "seq": None, "requests": [], "replicas": sorted(per),
                                   "key": key, "detail": f"key {key}: {detail}"})
            elif key in hinted and not per:
                violations.append({"kind": "undelivered_hint", "seq": None, "requests": [], "replicas": [],
                                   "key": key, "detail": f"key {key} is held only as a hint, at no replica of it"})
            elif key in changed:
                converged_at.append(changed[key])
                agreed.append(key)
        last = max(converged_at) if converged_at else None
        section = {
            "keys": len(set(holders) | hinted),
            "diverged_keys": sum(1 for v in violations if v["kind"] == "divergence"),
            "hint_only_keys": sum(1 for v in violations if v["kind"] == "undelivered_hint"),
            "replicas_reporting": len(self.final),
            "last_write_s": self.last_write_s,
            "converged_at_s": last,
            "converge_after_last_write_s": (round(max(0.0, last - self.last_write_s), 6)
                                            if last is not None and self.last_write_s is not None else None),
        }
        if self.ctx.partitions:
            # Per key, from the later of the heal and the key's last acknowledged write (a request held up by
            # the partition may be answered after the heal, and changes the key then): the longest such wait.
            heal = max(w.end_s for w in self.ctx.partitions)
            waits = [max(0.0, changed[k] - max(heal, self.key_written_s.get(k, heal))) for k in agreed]
            section["converge_after_heal_s"] = round(max(waits), 6) if waits else None
        judged = bool(self.final)
        return OracleVerdict(name="convergence", safe=None, live=(not violations) if judged else None,
                             violation_count=len(violations), violations=tuple(violations[:MAX_LISTED]),
                             section=section)


@dataclass(frozen=True)
class ConvergenceSection:
    """Report section: whether the replicas converged, and when."""

    key: str = "convergence"
    title: str = "Convergence"

    def markdown(self, data: Any) -> list[str]:
        if data.get("live") is None:
            return ["No replica reported a final state; convergence was not judged."]
        head = "Converged" if data["live"] else "**Not converged**"
        out = [f"{head}: {data['keys']:,} keys over {data['replicas_reporting']} replicas up at the end; "
               f"{data['diverged_keys']:,} keys diverge, {data['hint_only_keys']:,} are held only as hints."]
        if data.get("converge_after_last_write_s") is not None:
            out.append(f"The last key converged {data['converge_after_last_write_s'] * 1000:.1f} ms after the last "
                       f"acknowledged write (at {data['converged_at_s']:.3f} s).")
        if data.get("converge_after_heal_s") is not None:
            out.append(f"After the last partition healed, the slowest key converged "
                       f"{data['converge_after_heal_s'] * 1000:.1f} ms after the later of the heal and its last "
                       f"acknowledged write.")
        return out

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        if data.get("live") is None:
            return [("converged", "not judged")]
        verdict = "OK" if data["live"] else f"DIVERGED ({data['diverged_keys']} keys)"
        return [("converged", f"{verdict} ({data['keys']:,} keys)")]


CONVERGENCE = OraclePlugin(
    "convergence", ConvergenceOracle, ConvergenceSection(),
    "after faults heal and writes stop, every key's replicas hold the same value or sibling set",
)
