"""Scripted strategies: explicit, finite fault lists that the fuzzer generates and shrinks.

A fuzzer's schedule must replay from a spec file alone, so every fault it can
inject is a plain item in the params of one of these two strategies:

- ``scripted-network``: partitions, and drops, delays or duplicates of messages
  on matching links (``src``/``dst``/``msg_type``, null = any) in a time window;
- ``scripted-node``: small-scope changes to what a controlled replica sends
  (ByzzFuzz, Winter, Rahli, Cardoso, Gavrilov, Dragoi, Krstic, CAV 2023): omit
  a message to some receivers, delay it, replace it by the sender's previous
  message of that type (a stale replay), or mutate one field (``mutate``;
  PBFT messages are re-authenticated with the sender's own keys, see
  :func:`bftlab.adversary.pbft.mutate`).

Nothing here draws random numbers: a schedule behaves the same whichever
other faults are removed while shrinking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from bftlab.api import Broadcast, Input, NodeId, Send
from bftlab.specs.schema import FieldError

from bftlab.adversary.api import DELIVER, DROP, AdversaryContext, Envelope, Later, NetworkStrategy, NodeStrategy, Route


@dataclass(frozen=True, kw_only=True)
class NetFault:
    kind: Literal["partition", "drop", "delay", "duplicate"]
    """partition: cut between groups; drop/delay/duplicate: act on matching messages."""
    start_s: float
    """Window start (by send time)."""
    end_s: float
    """Window end."""
    groups: tuple[tuple[int, ...], ...] = ()
    """partition only: groups of node ids; unlisted nodes form one more group."""
    src: Optional[int] = None
    """Match messages from this node (null = any)."""
    dst: Optional[int] = None
    """Match messages to this node (null = any)."""
    msg_type: Optional[str] = None
    """Match this message type name (null = any)."""
    delay_s: float = 0.0
    """delay: extra delay; duplicate: when the copy arrives after the original."""

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s or self.start_s < 0:
            raise FieldError("end_s", f"needs 0 <= start_s < end_s, got {self.start_s!r}, {self.end_s!r}.")
        if self.kind == "partition" and not self.groups:
            raise FieldError("groups", "a partition needs at least one group.")
        if self.delay_s < 0:
            raise FieldError("delay_s", f"must be >= 0, got {self.delay_s!r}.")

    def matches(self, env: Envelope) -> bool:
        return (self.start_s <= env.sent_s < self.end_s and (self.src is None or env.src == self.src)
                and (self.dst is None or env.dst == self.dst) and (self.msg_type is None or env.kind == self.msg_type))


@dataclass(frozen=True, kw_only=True)
class ScriptedNetworkParams:
    faults: tuple[NetFault, ...] = ()
    """The fault list; all matching faults apply (drop wins, delays add up, each duplicate adds a copy)."""


class ScriptedNetwork(NetworkStrategy):
    """An explicit list of network faults (ByzzFuzz's network faults, in time windows)."""

    Params = ScriptedNetworkParams

    def __init__(self, params: ScriptedNetworkParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self._groups = [{node: g for g, ms in enumerate(f.groups) for node in ms} for f in params.faults]

    def route(self, env: Envelope) -> Route:
        delay = 0.0
        copies: list[float] = []
        for fault, group_of in zip(self.params.faults, self._groups):
            if fault.kind == "partition":
                if fault.start_s <= env.sent_s < fault.end_s and group_of.get(env.src, -1) != group_of.get(env.dst, -1):
                    return DROP
            elif fault.matches(env):
                if fault.kind == "drop":
                    return DROP
                if fault.kind == "delay":
                    delay += fault.delay_s
                else:
                    copies.append(fault.delay_s)
        if not delay and not copies:
            return DELIVER
        return (delay, *(delay + c for c in copies))


@dataclass(frozen=True, kw_only=True)
class NodeFault:
    kind: Literal["omit", "delay", "stale", "mutate"]
    """omit: do not send; delay: send later; stale: send the previous message of that type instead;
    mutate: change one field (view, seq, digest) and re-authenticate with the sender's keys."""
    start_s: float
    """Window start."""
    end_s: float
    """Window end."""
    node: Optional[int] = None
    """Which controlled replica (null = every one)."""
    to: tuple[int, ...] = ()
    """Receivers affected (empty = all): the others still get the honest message."""
    msg_type: Optional[str] = None
    """Message type affected (null = any)."""
    delay_s: float = 0.0
    """delay only."""
    field: str = "seq"
    """mutate only: view, seq or digest."""

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s or self.start_s < 0:
            raise FieldError("end_s", f"needs 0 <= start_s < end_s, got {self.start_s!r}, {self.end_s!r}.")


@dataclass(frozen=True, kw_only=True)
class ScriptedNodeParams:
    faults: tuple[NodeFault, ...] = ()
    """The fault list, applied in order to each outgoing message."""


class ScriptedNode(NodeStrategy):
    """Small-scope message mutations by controlled replicas (ByzzFuzz, CAV 2023)."""

    Params = ScriptedNodeParams

    def __init__(self, params: ScriptedNodeParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self._last: dict[tuple[NodeId, str], Any] = {}

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        faults = [f for f in self.params.faults if f.start_s <= now < f.end_s and f.node in (None, nid)]
        out: list = []
        for a in actions:
            kind = type(a)
            if kind not in (Send, Broadcast):
                out.append(a)
                continue
            dsts = (a.to,) if kind is Send else a.to
            name = type(a.msg).__name__
            prev = self._last.get((nid, name))
            self._last[(nid, name)] = a.msg
            # each receiver gets its own version of the message: that is how omissions
            # and mutations to some receivers become equivocation
            plan: dict[NodeId, tuple[Any, float]] = {d: (a.msg, 0.0) for d in dsts}
            for fault in faults:
                if fault.msg_type not in (None, name):
                    continue
                for d in dsts:
                    if (fault.to and d not in fault.to) or d not in plan:
                        continue
                    msg, delay = plan[d]
                    if fault.kind == "omit":
                        del plan[d]
                    elif fault.kind == "delay":
                        plan[d] = (msg, delay + fault.delay_s)
                    elif fault.kind == "stale" and prev is not None:
                        plan[d] = (prev, delay)
                    elif fault.kind == "mutate":
                        plan[d] = (_mutate(self, nid, msg, fault.field), delay)
            out += _regroup(plan)
        return out


def _mutate(strategy: NodeStrategy, nid: NodeId, msg: Any, field: str) -> Any:
    from bftlab.adversary import pbft  # protocol-aware re-authentication, if the message is PBFT's

    return pbft.mutate(strategy.nodes[nid], msg, field)


def _regroup(plan: dict[NodeId, tuple[Any, float]]) -> list:
    """Receivers sharing the same (message, delay) get one Broadcast, as the honest node would send."""
    groups: dict[tuple[int, float], tuple[Any, list[NodeId]]] = {}
    for d, (msg, delay) in plan.items():
        groups.setdefault((id(msg), delay), (msg, []))[1].append(d)
    out: list = []
    for (_, delay), (msg, dsts) in groups.items():
        act = Send(dsts[0], msg) if len(dsts) == 1 else Broadcast(tuple(dsts), msg)
        out.append(act if delay <= 0 else Later(delay, (act,)))
    return out
