"""The two adversary seams: what a strategy sees and what it may do.

Users import these names from :mod:`bftlab.adversary`, which re-exports them.

A **network strategy** (``kind = "network"``) sees every envelope the network
model would deliver (sender, receiver, message, encoded size, send time and the
model's arrival time) and returns a :data:`Route`: the extra delays, in
seconds after that arrival, of each copy to deliver. ``()`` drops the message,
``(0.0,)`` delivers it unchanged, ``(0.0, 2.5)`` also replays it 2.5 s later,
``(hold,)`` reorders it behind later traffic. It never sees node state and
cannot make a message up: it can only move, copy or drop what nodes sent.

A **node strategy** (``kind = "node"``) controls the replicas listed under
``byzantine``; one object sees all of them, so they can coordinate. For each
controlled replica it gets a :class:`Controlled` bundle: the honest replica
built as usual, that replica's own :class:`~bftlab.api.NodeCrypto` (so it can
sign with those keys and no others) and a factory for more honest copies
(Twins). By default the strategy wraps the honest replica: :meth:`NodeStrategy.on_input`
filters what reaches it and :meth:`NodeStrategy.on_actions` rewrites what it
does (withhold, redirect, send different messages to different peers, or
:class:`Later` to delay). A strategy that overrides :meth:`NodeStrategy.step`
replaces the replica entirely.

Every strategy declares its parameters as a frozen dataclass ``Params`` (typed
fields with defaults), validated like the rest of the spec (range checks go in
its ``__post_init__``; :mod:`bftlab.adversary.checks` has helpers), and gets its own
random stream ``seeds.rng(spec.seed, "adversary/<name>")``.

What a strategy did shows in the report's ``adversary`` section: the network
counts (``dropped``, ``delayed``, ``copies``) come from the routes, and any
strategy may add its own counters with :meth:`AdversaryContext.count`
(``self.ctx.count("withheld")``), reported under ``counters.<strategy name>``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bftlab.api import Action, Input, Node, NodeContext, NodeCrypto, NodeId
from bftlab.errors import UsageError

Route = tuple[float, ...]
"""Extra delay (seconds, >= 0) of each delivered copy; empty means drop."""

DELIVER: Route = (0.0,)
DROP: Route = ()


@dataclass(frozen=True)
class NoParams:
    """A strategy without parameters."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on one link, as the network adversary sees it."""

    src: NodeId
    dst: NodeId
    msg: Any
    size: int
    """Encoded size in bytes."""
    sent_s: float
    """When the sender's step finished and the message left."""
    arrival_s: float
    """When the network model (latency, bandwidth) would deliver it."""

    @property
    def kind(self) -> str:
        """The message's type name (``PrePrepare``, ``Order``...)."""
        return type(self.msg).__name__

    def until(self, t_s: float) -> float:
        """The extra delay that holds this message until time ``t_s`` (0 if already later)."""
        return max(0.0, t_s - self.arrival_s)


@dataclass(frozen=True)
class AdversaryContext:
    """What every strategy knows about the run: sizes, roles, its stream. No node state.

    It also keeps the strategy's own counters (:meth:`count`), which the report
    lists under ``adversary.counters.<name>``.
    """

    name: str
    n: int
    f: int
    replicas: tuple[NodeId, ...]
    clients: tuple[NodeId, ...]
    byzantine: tuple[NodeId, ...]
    """The replicas this strategy controls (empty for network strategies)."""
    rng: random.Random
    protocol: str
    time_limit_s: float
    counters: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    """What this strategy counted, by counter name (read it; add with :meth:`count`)."""

    def count(self, name: str, k: int = 1) -> None:
        """Add ``k`` to this strategy's counter ``name`` (``count("withheld")``); ``k=0`` shows it at 0.

        Counters are namespaced by the strategy's name in the report, so two
        strategies may both count ``"dropped"`` without mixing their numbers.
        """
        if type(name) is not str or not name:
            raise UsageError(f"AdversaryContext.count: name must be a non-empty string, got {name!r}.")
        if type(k) is not int:
            raise UsageError(f"AdversaryContext.count({name!r}, k): k must be an int, got {k!r}.")
        self.counters[name] = self.counters.get(name, 0) + k


@dataclass(frozen=True, slots=True)
class Later:
    """A pseudo-action a node strategy may return: run ``actions`` after ``delay_s``.

    The wrapper turns it into a private timer of the controlled node, so the
    delay is simulated time like any other and the node stays sans-IO.
    """

    delay_s: float
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Controlled:
    """One controlled replica: the honest core, its keys and a way to build twins."""

    node_id: NodeId
    honest: Node
    crypto: NodeCrypto
    context: NodeContext
    make_honest: Callable[[], Node] = field(repr=False)
    """Build another honest replica with the same id and keys (a twin)."""


class NetworkStrategy:
    """Base of network strategies: override :meth:`route`."""

    kind: ClassVar[str] = "network"
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any, ctx: AdversaryContext) -> None:
        self.params = params
        self.ctx = ctx
        self.rng = ctx.rng

    def route(self, env: Envelope) -> Route:
        """Decide the fate of one envelope."""
        return DELIVER


class NodeStrategy:
    """Base of node (Byzantine) strategies: override the hooks you need."""

    kind: ClassVar[str] = "node"
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any, ctx: AdversaryContext) -> None:
        self.params = params
        self.ctx = ctx
        self.rng = ctx.rng
        self.nodes: dict[NodeId, Controlled] = {}

    def control(self, c: Controlled) -> None:
        """Called once per controlled replica, before the run starts."""
        self.nodes[c.node_id] = c

    def step(self, nid: NodeId, now: float, inp: Input) -> list[Any]:
        """One input to controlled replica ``nid``; the default wraps the honest core."""
        inp2 = self.on_input(nid, now, inp)
        if inp2 is None:
            return []
        return self.on_actions(nid, now, inp2, self.nodes[nid].honest.step(now, inp2))

    def on_input(self, nid: NodeId, now: float, inp: Input) -> Input | None:
        """Filter (or rewrite) an input before the honest core sees it; None swallows it."""
        return inp

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list[Action]) -> list[Any]:
        """Rewrite the honest core's actions; may return :class:`Later` items."""
        return actions


def strategy_kind(cls: Any) -> str | None:
    """``"network"``/``"node"`` for a strategy class, None if it is not one."""
    if not isinstance(cls, type):
        return None
    kind = getattr(cls, "kind", None)
    return kind if kind in ("network", "node") else None

