"""The staleness oracle: how often reads miss a write that had already completed, and for how long.

For a weakly consistent store the question is not "linearizable or not" but
"how stale". From the client-visible history (:class:`~bftlab.api.Submitted`,
:class:`~bftlab.api.Issued`, :class:`~bftlab.api.Accepted` and the operations
of :mod:`bftlab.core.kv`, paired as in :mod:`bftlab.oracles.kvhistory`) it
judges every completed get:

- a get is **stale** when every write that could have produced the value it
  returned (same key, same result digest; "absent" is the initial state) was
  superseded in real time before the get started: some other write to the key
  started after that write completed, and completed before the get started.
  Concurrent writes never make a read stale, so a linearizable history has
  none. An operation that starts at the instant another completes follows it
  (a closed-loop client issues its next operation in the step that accepts the
  previous one);
- its **lag** t is the time from the completion of the key's latest completed
  write to the get's start. Grouped by lag, the fraction of reads that were not
  stale is the probability of consistency t after a write commits, the quantity
  Bailis et al. bound ("Probabilistically Bounded Staleness for Practical Partial
  Quorums", VLDB 2012, §3: t-visibility); ``t_visibility_ms`` is the smallest lag
  from which at least 99% (99.9%) of reads were consistent.

``first_read_consistent_rate`` counts only the first get of a key after each
write completes (later gets of the same write see an older lag plus whatever
read repair did in between); it is what the PBS experiment plots.

It measures and never judges (``safe`` and ``live`` are None): staleness is the
consistency level a store chose, not a bug. Results that match no write of the
key (nobody wrote that value) are counted apart as ``unknown_values``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from bftlab.api import observed_digest
from bftlab.core.kv import get_result
from bftlab.oracles.base import OracleContext, OraclePlugin, OracleVerdict
from bftlab.oracles.calls import Call, CallLog

LAG_EDGES_MS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
"""Lower edges of the lag bins of the consistency curve (the last bin is open)."""
EXAMPLES = 10
_INF = float("inf")
ABSENT = observed_digest(get_result(None))


@dataclass(frozen=True, slots=True)
class _Write:
    start: float
    end: float  # inf while never acknowledged
    digest: bytes  # what a get returns when this write is the key's value


@dataclass(frozen=True, slots=True)
class ReadJudgement:
    """One completed get: ``stale`` is None when its value matches no write of the key (nobody wrote it);
    ``lag_ms`` is None when no write of the key had completed when it started."""

    call: Call
    stale: bool | None
    lag_ms: float | None
    first: bool
    """The first get of the key to start after its latest completed write did."""


def judge_reads(log: CallLog) -> list[ReadJudgement]:
    """Every completed get of ``log``, judged stale or not (see the module's definition), by key then start."""
    writes: dict[bytes, list[_Write]] = {}
    reads: dict[bytes, list[tuple[float, bytes, Call]]] = {}
    for ident, call in log.calls.items():
        ret = log.returns.get(ident)
        if call.name == "get":
            if ret is not None:
                reads.setdefault(call.key, []).append((call.start_s, ret[1], call))
        else:
            digest = ABSENT if call.name == "del" else observed_digest(get_result(call.value))
            writes.setdefault(call.key, []).append(_Write(call.start_s, _INF if ret is None else ret[0], digest))
    out: list[ReadJudgement] = []
    for key, rs in reads.items():
        ws = sorted(writes.get(key, []), key=lambda w: w.end)
        ends = [w.end for w in ws]
        top_start: list[float] = []  # top_start[i]: the latest start among the i+1 earliest-completing writes
        for w in ws:
            top_start.append(max(top_start[-1], w.start) if top_start else w.start)
        by_digest: dict[bytes, list[_Write]] = {}
        for w in ws:
            by_digest.setdefault(w.digest, []).append(w)
        seen_after: set[float] = set()  # completion times of writes some earlier read already followed
        for start, digest, call in sorted(rs, key=lambda r: (r[0], r[2].client, r[2].ts)):
            done = bisect.bisect_right(ends, start)  # ws[:done] completed by the time the read started
            explain = list(by_digest.get(digest, ()))
            if digest == ABSENT:
                explain.append(_Write(-_INF, -_INF, ABSENT))
            if not explain:
                out.append(ReadJudgement(call, None, None, False))
                continue
            # stale iff every explaining write c was followed by a write that started after c ended and was done
            is_stale = done > 0 and all(top_start[done - 1] >= c.end and _followed(c, ws[:done]) for c in explain)
            lag = first = None
            if done:
                latest = ends[done - 1]
                lag, first = (start - latest) * 1000.0, latest not in seen_after
                seen_after.add(latest)
            out.append(ReadJudgement(call, is_stale, lag, bool(first)))
    return out


class StalenessOracle:
    def __init__(self, ctx: OracleContext) -> None:
        self.log = CallLog()

    def observe(self, t_ns: int, event: Any) -> None:
        self.log.observe(t_ns, event)

    def verdict(self) -> OracleVerdict:
        judged = judge_reads(self.log)
        lags = [(j.lag_ms, not j.stale, j.first) for j in judged if j.lag_ms is not None]
        stale = [j for j in judged if j.stale]
        section = {
            "reads": len(judged), "stale_reads": len(stale),
            "unknown_values": sum(1 for j in judged if j.stale is None),
            "stale_rate": round(len(stale) / len(judged), 6) if judged else None,
            "curve": _curve(lags),
            "t_visibility_ms": {"p99": _t_visibility(lags, 0.99), "p999": _t_visibility(lags, 0.999)},
            "first_read_consistent_rate": _rate([c for _, c, first in lags if first]),
            "first_reads": sum(1 for _, _, first in lags if first),
            "examples": [{"client": j.call.client, "ts": j.call.ts, "key": j.call.key.hex(), "start_s": j.call.start_s}
                         for j in stale[:EXAMPLES]],
        }
        return OracleVerdict(name="staleness", safe=None, live=None, section=section)


def _followed(c: _Write, done: list[_Write]) -> bool:
    """Some other completed write started after ``c`` ended (only a zero-length ``c`` needs the scan)."""
    return c.start < c.end or any(d is not c and d.start >= c.end for d in done)


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 6) if flags else None


def _curve(lags: list[tuple[float, bool, bool]]) -> list[dict[str, Any]]:
    out = []
    for i, lo in enumerate(LAG_EDGES_MS):
        hi = LAG_EDGES_MS[i + 1] if i + 1 < len(LAG_EDGES_MS) else _INF
        flags = [c for lag, c, _ in lags if lo <= lag < hi]
        if flags:
            out.append({"lag_ms_from": lo, "lag_ms_to": None if hi == _INF else hi, "reads": len(flags),
                        "consistent": _rate(flags)})
    return out


def _t_visibility(lags: list[tuple[float, bool, bool]], p: float) -> float | None:
    """The smallest bin edge t such that reads with lag >= t were consistent with probability >= p."""
    for lo in LAG_EDGES_MS:
        flags = [c for lag, c, _ in lags if lag >= lo]
        if flags and sum(flags) / len(flags) >= p:
            return lo
    return None


@dataclass(frozen=True)
class StalenessSection:
    key: str = "staleness"
    title: str = "Staleness (PBS t-visibility)"

    def markdown(self, data: Any) -> list[str]:
        if not data.get("reads"):
            return ["No completed reads to judge."]
        tv = data["t_visibility_ms"]
        out = [f"{data['stale_reads']:,} of {data['reads']:,} reads were stale "
               f"(a write completed before the read started superseded every write that could explain its value); "
               f"{data['unknown_values']:,} returned a value no write produced.",
               f"t-visibility: 99% of reads consistent from {tv['p99']} ms after the last write completed, "
               f"99.9% from {tv['p999']} ms.", "", "| lag since last completed write (ms) | reads | consistent |",
               "|---|---|---|"]
        for b in data["curve"]:
            to = "inf" if b["lag_ms_to"] is None else f"{b['lag_ms_to']:g}"
            out.append(f"| {b['lag_ms_from']:g} - {to} | {b['reads']:,} | {b['consistent']:.4f} |")
        return out

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        if not data.get("reads"):
            return [("stale reads", "no reads")]
        return [("stale reads", f"{data['stale_reads']:,} / {data['reads']:,} ({data['stale_rate']:.2%})")]


STALENESS = OraclePlugin(
    "staleness", StalenessOracle, StalenessSection(),
    "measures stale reads against completed writes and the probability of consistency by lag (PBS)",
)
