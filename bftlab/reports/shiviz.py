"""ShiViz export of a run's messages, with Fidge/Mattern vector clocks.

ShiViz (Beschastnikh et al., "Visualizing Distributed System Executions", TOSEM
2020; CACM 2020) reads a log where every event is two lines, a description and
``host {vector clock}``, parsed by the regular expression on the file's first
line. Clocks follow Fidge/Mattern: a send ticks the sender, a receive merges
the send's clock and ticks the receiver, so ShiViz can recover every message
edge from clocks alone. This is the view for runs too large to draw as a
space-time diagram (:mod:`bftlab.reports.spacetime`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bftlab.reports.runtrace import RunTrace

# ------------------------------------------------------------------ ShiViz
SHIVIZ_REGEX = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"
"""ShiViz's default parser: an event line, then ``host {"host": n, ...}`` on the next."""


@dataclass(frozen=True, slots=True)
class ClockedEvent:
    """One event of one host with its vector clock; ``msg`` pairs a send with its receives."""

    host: str
    clock: dict[str, int]
    text: str
    t_s: float
    kind: str  # send | recv | local
    msg: int | None = None


def vector_clocks(trace: RunTrace) -> list[ClockedEvent]:
    """The run's events with Fidge/Mattern vector clocks, in a causally consistent order.

    A broadcast's copies that leave one node at one instant are one send event.
    Messages a node sends to itself carry no causality and are left out. At one
    instant receives come before sends (a zero-cost step answers at the instant
    it receives), but never before the send of the message they receive.
    """
    groups: dict[tuple[int, float, str], int] = {}
    dsts: list[list[str]] = []
    items: list[tuple[float, int, int, str, Any]] = []
    for i, m in enumerate(trace.messages):
        if m.src == m.dst:
            continue
        gid = groups.setdefault((m.src, m.sent_s, m.kind), len(groups))
        if gid == len(dsts):
            dsts.append([])
            items.append((m.sent_s, 2, i, "send", gid))
        dsts[gid].append(trace.host(m.dst))
        items.append((max(m.recv_s, m.sent_s), 0, i, "recv", (gid, m)))
    for i, x in enumerate(trace.lost):
        if x.src == x.dst:
            continue
        gid = groups.setdefault((x.src, x.sent_s, x.kind), len(groups))
        if gid == len(dsts):
            dsts.append([])
            items.append((x.sent_s, 2, len(trace.messages) + i, "send", gid))
        dsts[gid].append(f"{trace.host(x.dst)}(lost: {x.reason})")
    for i, e in enumerate(trace.events):
        fields = " ".join(f"{k}={v}" for k, v in e.fields.items() if k not in ("node", "client")
                          and not isinstance(v, (list, dict)))
        items.append((e.t_s, 1, i, "local", (e.node, f"{e.name} {fields}".strip())))
    for i, o in enumerate(trace.outages):
        items.append((o.down_s, 1, -2 * i - 2, "local", (o.node, f"crash ({o.cause})")))
        if o.up_s is not None:
            items.append((o.up_s, 1, -2 * i - 1, "local", (o.node, "recover")))
    for i, v in enumerate(trace.violations):
        for node, t in v.points:
            if node is not None and t is not None:
                detail = " ".join(v.detail.split())
                items.append((t, 1, 10**9 + i, "local", (node, f"SAFETY VIOLATION {v.kind}: {detail}")))
    items.sort(key=lambda it: (it[0], it[1], it[2]))

    send_of: dict[int, tuple[int, str, float]] = {}  # gid -> (src, kind, sent_s)
    for (src, sent, kind), gid in groups.items():
        send_of[gid] = (src, kind, sent)
    clocks: dict[int, dict[int, int]] = {}
    sent_clock: dict[int, dict[int, int]] = {}
    out: list[ClockedEvent] = []

    def tick(node: int) -> dict[int, int]:
        c = clocks.setdefault(node, {})
        c[node] = c.get(node, 0) + 1
        return c

    def emit(node: int, c: dict[int, int], text: str, t: float, kind: str, msg: int | None) -> None:
        names = {trace.host(k): v for k, v in sorted(c.items())}
        out.append(ClockedEvent(trace.host(node), names, f"t={t:.9f}s {text}", t, kind, msg))

    def send(gid: int) -> None:
        src, kind, sent = send_of[gid]
        c = tick(src)
        sent_clock[gid] = dict(c)
        emit(src, c, f"send {kind} #{gid} to {' '.join(dsts[gid])}", sent, "send", gid)

    for t, _rank, _i, what, arg in items:
        if what == "send":
            if arg not in sent_clock:
                send(arg)
        elif what == "recv":
            gid, m = arg
            if gid not in sent_clock:  # delivered at the instant it was sent: the send comes first
                send(gid)
            c = clocks.setdefault(m.dst, {})
            for k, n in sent_clock[gid].items():
                if c.get(k, 0) < n:
                    c[k] = n
            c = tick(m.dst)
            emit(m.dst, c, f"recv {m.kind} #{gid} from {trace.host(m.src)}", t, "recv", gid)
        else:
            node, text = arg
            emit(node, tick(node), text, t, "local", None)
    return out


def shiviz_log(trace: RunTrace) -> str:
    """The run as a ShiViz log file: the parser regex, an empty execution delimiter, then two lines per event."""
    lines = [SHIVIZ_REGEX, ""]
    for ev in vector_clocks(trace):
        lines.append(ev.text)
        lines.append(f"{ev.host} {json.dumps(ev.clock, separators=(',', ':'))}")
    return "\n".join(lines) + "\n"
