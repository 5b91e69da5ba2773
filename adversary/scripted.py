"""Scripted strategies: explicit, finite fault lists that the fuzzer generates and shrinks.

A fuzzer's schedule must replay from a spec file alone, so every fault it can
inject is a plain item in the params of one of these two strategies:

- ``scripted-network``: partitions, and drops, delays or duplicates of messages
  on matching links (``src``/``dst``/``msg_type``, null = any) in a time window;
- ``scripted-node``: small-scope changes to what a controlled replica sends
  (ByzzFuzz, Winter, Rahli, Cardoso, Gavrilov, Dragoi, Krstic, CAV 2023): omit
  a message to some receivers, delay it, replace it by the sender's previous
  message of that type (a stale replay), replace it by a mutated copy
  (``mutate``), or send a mutated copy as well (``equivocate``: the receiver
  gets two conflicting messages for one slot).

Mutations know no protocol. They come from the message's schema: a message is
a dataclass registered with :mod:`bftlab.core.wire`, and :func:`mutation_sites`
lists, from its fields' type hints, every ``(path, op)`` that keeps the message
well typed -- ints ``inc``/``dec``/``zero``/``large``/``node`` (another
replica's id), bytes and strings ``flip``/``empty``/``other``, tuples
``drop``/``dup``/``empty``, enums and literals ``next``, optionals ``none``,
and nested messages (``batch.0.digest``) field by field or whole (``other``).
``other`` replaces a value by one the controlled replica saw at the same place
in an earlier message of that type, sent or received: a conflicting value that
is still valid (another request, another digest), which is what equivocation
needs. A mutant keeps its sender's authenticator; where a protocol
authenticates the mutated field the receivers must drop it, and that is tested
too. Protocol-aware forgeries (re-signed conflicting proposals) are the job of
the strategies a protocol lists in ``ProtocolSpec.fuzz_strategies``.

Nothing here draws random numbers: a schedule behaves the same whichever
other faults are removed while shrinking.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bftlab.api import Broadcast, Input, NodeId, Receive, Send
from bftlab.attack.api import DELIVER, DROP, AdversaryContext, Envelope, Later, NetworkStrategy, NodeStrategy, Route
from bftlab.specs.schema import FieldError


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
    src: int | None = None
    """Match messages from this node (null = any)."""
    dst: int | None = None
    """Match messages to this node (null = any)."""
    msg_type: str | None = None
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
    Fault = NetFault

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


# ------------------------------------------------------------------ mutations
Op = Literal["auto", "inc", "dec", "zero", "large", "node", "flip", "empty", "other", "drop", "dup", "next", "none"]
"""What a mutation does to the value at its path (see :func:`mutate`)."""

LARGE = 1 << 40
"""``large``: far beyond any window, sequence number or view a run reaches, and still an int64."""
MAX_DEPTH = 3
"""How deep :func:`mutation_sites` follows nested messages and tuples."""
HISTORY = 8
"""Distinct values remembered per (message type, path) for ``other``."""

_NUMBER_OPS = ("inc", "dec", "zero", "large")


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``Optional[X]``; ``(tp, False)`` otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return functools.reduce(operator.or_, args), True
    return tp, False


def _sites(tp: Any, path: str, depth: int) -> list[tuple[str, str]]:
    tp, optional = _strip_optional(tp)
    out = [(path, "none")] if optional else []
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        out.append((path, "flip"))
    elif tp is int:
        out += [(path, op) for op in (*_NUMBER_OPS, "node")]
    elif tp is float:
        out += [(path, op) for op in _NUMBER_OPS]
    elif tp in (bytes, str):
        out += [(path, op) for op in ("flip", "empty", "other")]
    elif origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        out.append((path, "next"))
    elif origin is tuple:
        homogeneous = len(args) == 2 and args[1] is Ellipsis
        out += [(path, op) for op in (("drop", "dup", "empty", "other") if homogeneous else ("other",))]
        if depth < MAX_DEPTH:
            items = [args[0]] if homogeneous else list(args)
            for i, item in enumerate(items):
                out += _sites(item, f"{path}.{i}", depth + 1)
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        out.append((path, "other"))
        if depth < MAX_DEPTH:
            out += _field_sites(tp, path + ".", depth + 1)
    else:  # Any, or a union of several types: only values seen elsewhere are sure to fit
        out.append((path, "other"))
    return out


def _field_sites(cls: type, prefix: str, depth: int) -> list[tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, str]] = []
    for f in dataclasses.fields(cls):
        out += _sites(hints[f.name], prefix + f.name, depth)
    return out


def mutation_sites(cls: type) -> tuple[tuple[str, str], ...]:
    """Every ``(path, op)`` mutation of message class ``cls`` that keeps it well typed, from its type hints.

    Paths are dotted field names; a number picks a tuple item (``batch.0.digest``).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"mutation_sites needs a dataclass message type, got {cls!r}")
    return tuple(_field_sites(cls, "", 0))


_MISSING = object()


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def value_at(msg: Any, path: str) -> Any:
    """The value at ``path`` in ``msg``, or None when the path does not exist in it."""
    v = _get(msg, _parts(path))
    return None if v is _MISSING else v


def _get(obj: Any, parts: list[str | int]) -> Any:
    for p in parts:
        if isinstance(p, int):
            if type(obj) is not tuple or p >= len(obj):
                return _MISSING
            obj = obj[p]
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type) and p in _field_names(type(obj)):
            obj = getattr(obj, p)
        else:
            return _MISSING
    return obj


def _set(obj: Any, parts: list[str | int], value: Any) -> Any:
    head, rest = parts[0], parts[1:]
    if isinstance(head, int):
        new = _set(obj[head], rest, value) if rest else value
        return obj[:head] + (new,) + obj[head + 1:]
    new = _set(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: new})


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _hint_at(msg: Any, parts: list[str | int]) -> Any:
    """The declared type of the value at ``parts`` (Any where it cannot be told)."""
    tp: Any = type(msg)
    for p in parts:
        tp, _ = _strip_optional(tp)
        if isinstance(p, int):
            args = typing.get_args(tp)
            if typing.get_origin(tp) is not tuple or not args:
                return Any
            tp = args[0] if len(args) == 2 and args[1] is Ellipsis else args[p]
        elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp)[p]
        else:
            return Any
    return tp


def _flip(v: Any, arg: int) -> Any:
    if type(v) is bool:
        return not v
    if type(v) is bytes:
        if not v:
            return b"\xff"
        i = arg % len(v)
        return v[:i] + bytes([v[i] ^ 0xFF]) + v[i + 1:]
    if type(v) is str:
        return v.swapcase() if v.swapcase() != v else v + "~"
    return _MISSING


def _new_value(msg: Any, parts: list[str | int], v: Any, op: str, arg: int,
               replicas: tuple[NodeId, ...], seen: Iterable[Any]) -> Any:
    """The mutated value, or _MISSING when ``op`` does not apply to ``v``."""
    number = type(v) in (int, float)
    if op == "auto":
        op = ("flip" if type(v) in (bool, bytes, str) else "inc" if number else "drop" if type(v) is tuple
              else "next" if isinstance(v, enum.Enum) else "other")
    if op == "other":
        return next((s for s in seen if s != v and type(s) is type(v)), _MISSING)
    if number and op in _NUMBER_OPS:
        return {"inc": v + 1, "dec": v - 1, "zero": type(v)(0), "large": type(v)(LARGE)}[op]
    if type(v) is int and op == "node":
        if not replicas:
            return _MISSING
        target = replicas[arg % len(replicas)]
        return target if target != v else replicas[(arg + 1) % len(replicas)]
    if op == "flip":
        return _flip(v, arg)
    if op == "empty" and type(v) in (bytes, str, tuple):
        return type(v)()
    if type(v) is tuple and v and op in ("drop", "dup"):
        i = arg % len(v)
        return v[:i] + v[i + 1:] if op == "drop" else v[:i + 1] + v[i:]
    if op == "none":
        _, optional = _strip_optional(_hint_at(msg, parts))
        return None if optional and v is not None else _MISSING
    if op == "next":
        if isinstance(v, enum.Enum):
            members = list(type(v))
            return members[(members.index(v) + 1) % len(members)]
        hint, _ = _strip_optional(_hint_at(msg, parts))
        if typing.get_origin(hint) is Literal:
            values = typing.get_args(hint)
            if v in values and len(values) > 1:
                return values[(values.index(v) + 1) % len(values)]
    return _MISSING


def mutate(msg: Any, path: str, op: str, arg: int = 0, replicas: tuple[NodeId, ...] = (),
           seen: Iterable[Any] = ()) -> Any:
    """``msg`` with the value at ``path`` changed by ``op``; ``msg`` itself when the mutation does not apply.

    ``inc``/``dec``/``zero``/``large`` for numbers; ``node`` sets an int to
    ``replicas[arg]`` (the next replica if it already is that one); ``flip``
    inverts byte ``arg`` (bytes), the case (str) or a bool; ``empty`` empties
    bytes, a string or a tuple; ``drop``/``dup`` remove or repeat tuple item
    ``arg``; ``next`` moves to the next enum member or literal value; ``none``
    sets an optional field to None; ``other`` takes the first value in ``seen``
    (most recent first) that differs; ``auto`` picks by the value's type. A path
    that is not in this message, or a mutant the message class rejects, leaves
    the message unchanged: the message is one of a type the schedule did not
    aim at, or one a peer could not have decoded either.
    """
    parts = _parts(path)
    v = _get(msg, parts)
    if v is _MISSING:
        return msg
    new = _new_value(msg, parts, v, op, arg, replicas, seen)
    if new is _MISSING:
        return msg
    try:
        return _set(msg, parts, new)
    except (TypeError, ValueError):  # the class's own validation refused it; a decoder would too
        return msg


# ------------------------------------------------------------- node faults
@dataclass(frozen=True, kw_only=True)
class NodeFault:
    kind: Literal["omit", "delay", "stale", "mutate", "equivocate"]
    """omit: do not send; delay: send later; stale: send the previous message of that type instead;
    mutate: send a mutated copy instead; equivocate: send the message and a mutated copy."""
    start_s: float
    """Window start."""
    end_s: float
    """Window end."""
    node: int | None = None
    """Which controlled replica (null = every one)."""
    to: tuple[int, ...] = ()
    """Receivers affected (empty = all): the others still get the honest message."""
    msg_type: str | None = None
    """Message type affected (null = any)."""
    delay_s: float = 0.0
    """delay only."""
    field: str = "seq"
    """mutate, equivocate: the value's path in the message (``seq``, ``req.op``, ``batch.0.digest``)."""
    op: Op = "auto"
    """mutate, equivocate: what to do to it (see :func:`mutate`); auto: by the value's type."""
    arg: int = 0
    """mutate, equivocate: the replica index for ``node``, the byte for ``flip``, the item for ``drop``/``dup``."""
    first: bool = False
    """equivocate: the mutant goes before the message (a receiver that keeps the first of two keeps it)."""

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s or self.start_s < 0:
            raise FieldError("end_s", f"needs 0 <= start_s < end_s, got {self.start_s!r}, {self.end_s!r}.")
        if self.delay_s < 0:
            raise FieldError("delay_s", f"must be >= 0, got {self.delay_s!r}.")
        if not self.field or any(not (p.isdigit() or p.isidentifier()) for p in self.field.split(".")):
            raise FieldError("field", f"must be a dotted path of field names and item numbers (like seq or "
                                      f"batch.0.digest), got {self.field!r}.")
        if self.arg < 0:
            raise FieldError("arg", f"must be >= 0, got {self.arg!r}.")


@dataclass(frozen=True, kw_only=True)
class ScriptedNodeParams:
    faults: tuple[NodeFault, ...] = ()
    """The fault list, applied in order to each outgoing message."""


_CHANGES = ("mutate", "equivocate")


class ScriptedNode(NodeStrategy):
    """Small-scope message omissions, delays, replays, mutations and equivocation (ByzzFuzz, CAV 2023)."""

    Params = ScriptedNodeParams
    Fault = NodeFault
    sites = staticmethod(mutation_sites)

    def __init__(self, params: ScriptedNodeParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self._last: dict[tuple[NodeId, str], Any] = {}
        # (node, message type or None, path) -> values seen there, most recent first, for op "other"
        self._watch = sorted({(f.msg_type, f.field) for f in params.faults if f.kind in _CHANGES and f.op == "other"},
                             key=repr)
        self._seen: dict[tuple[NodeId, str | None, str], list[Any]] = {}

    def _remember(self, nid: NodeId, msg: Any) -> None:
        name = type(msg).__name__
        for msg_type, path in self._watch:
            if msg_type not in (None, name):
                continue
            v = _get(msg, _parts(path))
            if v is _MISSING:
                continue
            hist = self._seen.setdefault((nid, msg_type, path), [])
            if v in hist:
                hist.remove(v)
            hist.insert(0, v)
            del hist[HISTORY:]

    def on_input(self, nid: NodeId, now: float, inp: Input) -> Input | None:
        if self._watch and type(inp) is Receive:
            self._remember(nid, inp.msg)
        return inp

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
            if self._watch:
                self._remember(nid, a.msg)
            # each receiver gets its own list of (message, delay): that is how omissions and
            # mutations to some receivers, or two copies to one, become equivocation
            plan: dict[NodeId, list[tuple[Any, float]]] = {d: [(a.msg, 0.0)] for d in dsts}
            memo: dict[tuple[int, int], Any] = {}  # receivers with the same mutant share one object
            for i, fault in enumerate(faults):
                if fault.msg_type not in (None, name):
                    continue
                for d in dsts:
                    if fault.to and d not in fault.to:
                        continue
                    copies = plan[d]
                    if fault.kind == "omit":
                        copies.clear()
                    elif fault.kind == "delay":
                        copies[:] = [(m, delay + fault.delay_s) for m, delay in copies]
                    elif fault.kind == "stale" and prev is not None:
                        copies[:] = [(prev, delay) for _, delay in copies]
                    elif fault.kind == "mutate":
                        copies[:] = [(self._mutant(nid, i, fault, m, memo), delay) for m, delay in copies]
                    elif fault.kind == "equivocate" and copies:
                        m, delay = copies[0]
                        other = self._mutant(nid, i, fault, m, memo)
                        if other is not m:
                            copies.insert(0 if fault.first else len(copies), (other, delay))
            out += _regroup(plan)
        return out

    def _mutant(self, nid: NodeId, i: int, fault: NodeFault, msg: Any, memo: dict[tuple[int, int], Any]) -> Any:
        key = (i, id(msg))
        if key not in memo:
            seen = self._seen.get((nid, fault.msg_type, fault.field), ())
            memo[key] = mutate(msg, fault.field, fault.op, fault.arg, self.ctx.replicas, seen)
        return memo[key]


def _regroup(plan: dict[NodeId, list[tuple[Any, float]]]) -> list:
    """Receivers sharing the same (message, delay) at the same place in their lists get one Broadcast,
    as the honest node would send; the n-th copies go out before the (n+1)-th, so each receiver
    gets its copies in its list's order."""
    groups: dict[tuple[int, int, float], tuple[Any, list[NodeId]]] = {}
    for d, copies in plan.items():
        for pos, (msg, delay) in enumerate(copies):
            groups.setdefault((pos, id(msg), delay), (msg, []))[1].append(d)
    out: list = []
    for (_, _, delay), (msg, dsts) in sorted(groups.items(), key=lambda kv: kv[0][0]):
        act = Send(dsts[0], msg) if len(dsts) == 1 else Broadcast(tuple(dsts), msg)
        out.append(act if delay <= 0 else Later(delay, (act,)))
    return out
