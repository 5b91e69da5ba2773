"""Built-in node strategies that need no protocol knowledge.

==============  ==============================================================
silent          the replica runs but sends nothing (a fail-silent/mute replica)
crash-recover   the replica is down during each window, then restarts (Start) with its state
twins           two copies of each controlled replica share its keys, each talking to one side
==============  ==============================================================

Twins follows Bano, Sonnino, Chursin, Perelman, Li, Ching, Malkhi, "Twins:
BFT Systems Made Robust" (OPODIS 2021; arXiv 2004.10617, 2020): instead of
writing Byzantine code, run two honest instances of a node with the same keys
and let the network place them in different partitions; every equivocation a
Byzantine node could do then happens naturally.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, cast

from bftlab.adversary.checks import nonempty, nonnegative, time_window
from bftlab.api import Action, Broadcast, CancelTimer, Input, NodeId, Receive, Send, SetTimer, Start, TimerFired
from bftlab.attack.api import AdversaryContext, Controlled, NodeStrategy
from bftlab.specs.schema import FieldError


# ----------------------------------------------------------------------- silent
@dataclass(frozen=True, kw_only=True)
class SilentParams:
    start_s: float = 0.0
    """Silent from this time ..."""
    end_s: float | None = None
    """... until this time (null: for good)."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)


class Silent(NodeStrategy):
    """A mute replica: processes everything, sends nothing (the benign-Byzantine baseline of
    Castro & Liskov, OSDI'99, whose liveness argument must survive f silent replicas)."""

    Params = SilentParams

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        p = self.params
        if now >= p.start_s and (p.end_s is None or now < p.end_s):
            return [a for a in actions if type(a) not in (Send, Broadcast)]
        return actions


# ---------------------------------------------------------------- crash-recover
@dataclass(frozen=True, kw_only=True)
class CrashRecoverParams:
    windows: tuple[tuple[float, float], ...] = ((1.0, 2.0),)
    """[crash_s, recover_s] pairs, in order; while down the replica hears and says nothing."""

    def __post_init__(self) -> None:
        nonempty("windows", self.windows, "[crash_s, recover_s] pair")
        last = 0.0
        for i, (down, up) in enumerate(self.windows):
            nonnegative(f"windows[{i}][0]", down)
            nonnegative(f"windows[{i}][1]", up)
            if not last <= down < up:
                raise FieldError(f"windows[{i}]", f"needs increasing, non-overlapping [crash_s, recover_s], "
                                                  f"got {[down, up]}.")
            last = up


_WAKE = "bftlab.adversary.crash-recover"


class CrashRecover(NodeStrategy):
    """Crash and recovery of the wrapped replica, state kept (the proactive-recovery setting of
    Castro & Liskov, "Practical Byzantine Fault Tolerance and Proactive Recovery", TOCS 2002)."""

    Params = CrashRecoverParams

    def _down(self, now: float) -> bool:
        return any(a <= now < b for a, b in self.params.windows)

    def step(self, nid: NodeId, now: float, inp: Input) -> list:
        if type(inp) is Start:  # the runtime's boot: arm one wake-up per recovery
            wakes = [SetTimer((_WAKE, i), up - now) for i, (_, up) in enumerate(self.params.windows)]
            return [*self.nodes[nid].honest.step(now, inp), *wakes]
        if type(inp) is TimerFired and type(inp.name) is tuple and inp.name[0] == _WAKE:
            return self.nodes[nid].honest.step(now, Start())  # reboot: protocols re-arm their timers
        if self._down(now):
            return []
        return self.nodes[nid].honest.step(now, inp)


# ------------------------------------------------------------------------ twins
@dataclass(frozen=True, kw_only=True)
class TwinsParams:
    side_a: tuple[int, ...] = ()
    """Nodes (replicas, clients) that only the first twin talks to."""
    side_b: tuple[int, ...] = ()
    """Nodes that only the second twin talks to. Nodes on neither side talk to both twins.
    If both sides are empty, the other replicas are split in half."""
    end_s: float | None = None
    """After this time both twins talk to everyone; null: the split lasts the whole run."""

    def __post_init__(self) -> None:
        if self.end_s is not None:
            nonnegative("end_s", self.end_s)
        for side in ("side_a", "side_b"):
            bad = [x for x in getattr(self, side) if x < 0]
            if bad:
                raise FieldError(side, f"node ids are >= 0, got {bad}.")
        both = set(self.side_a) & set(self.side_b)
        if both:
            raise FieldError("side_b", f"nodes {sorted(both)} are on both sides.")


class Twins(NodeStrategy):
    """Two honest copies per controlled replica, sharing its keys, on different sides (Bano et al. 2020)."""

    Params = TwinsParams

    def __init__(self, params: TwinsParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        a, b = set(params.side_a), set(params.side_b)
        if not a and not b:
            others = [r for r in ctx.replicas if r not in ctx.byzantine]
            half = (len(others) + 1) // 2
            a, b = set(others[:half]), set(others[half:])
        self.sides = (a, b)
        self.twins: dict[NodeId, tuple[Any, Any]] = {}
        self._origin: dict[int, tuple[Any, int]] = {}  # id(msg) -> (msg, twin) for traffic among controlled nodes

    def control(self, c: Controlled) -> None:
        super().control(c)
        self.twins[c.node_id] = (c.honest, c.make_honest())

    def _split(self, now: float) -> bool:
        return self.params.end_s is None or now < self.params.end_s

    def _hears(self, twin: int, src: NodeId) -> bool:
        return src not in self.sides[1 - twin]

    def step(self, nid: NodeId, now: float, inp: Input) -> list:
        pair = self.twins[nid]
        if isinstance(inp, TimerFired):  # timer names are namespaced per twin by _out
            twin, name = cast(tuple[int, Hashable], inp.name)
            return self._out(nid, twin, now, pair[twin].step(now, TimerFired(name)))
        targets: tuple[int, ...] = (0, 1)
        if isinstance(inp, Receive) and self._split(now):
            if inp.sender in self.nodes:
                origin = self._origin.get(id(inp.msg))
                targets = (origin[1],) if origin is not None and origin[0] is inp.msg else (0, 1)
            else:
                targets = tuple(t for t in (0, 1) if self._hears(t, inp.sender))
        out: list = []
        for t in targets:
            out += self._out(nid, t, now, pair[t].step(now, inp))
        return out

    def _out(self, nid: NodeId, twin: int, now: float, actions: list[Action]) -> list[Action]:
        split = self._split(now)
        out: list[Action] = []
        for a in actions:
            if isinstance(a, SetTimer):
                out.append(SetTimer((twin, a.name), a.delay_s))
            elif isinstance(a, CancelTimer):
                out.append(CancelTimer((twin, a.name)))
            elif isinstance(a, (Send, Broadcast)):
                dsts = (a.to,) if isinstance(a, Send) else a.to
                keep = tuple(d for d in dsts if not split or self._hears(twin, d))
                if any(d in self.nodes for d in keep):
                    self._origin[id(a.msg)] = (a.msg, twin)
                if keep:
                    out.append(Broadcast(keep, a.msg) if len(keep) > 1 else Send(keep[0], a.msg))
            else:
                out.append(a)
        return out
