"""Wiring a run's strategies into a runtime: the one place, for the simulator and the real transport.

:class:`Attack` is built from ``spec.adversary``. It gives each strategy its
context and random stream, wraps every controlled replica in a
:class:`ByzantineNode`, and composes the network strategies: the runtime's
own network decides first (in the simulator the network model's partitions,
loss, latency and bandwidth; on the real transport nothing, so a message
"arrives" when it is sent), then each network strategy in list order
transforms every surviving copy (:meth:`Attack.fan_out`).

What differs between runtimes is passed in, not re-implemented:

- the simulator builds one ``Attack(spec)`` for the whole run and plugs
  :meth:`Attack.router` into its network;
- each process of a real cluster builds ``Attack(spec, hosted=ids, process=name)``:
  node strategies are instantiated only where they control a hosted replica,
  network strategies everywhere (they act on the sender's side), each with a
  per-process stream ``adversary/<name>/node<process>``; the transport adapts
  :meth:`Attack.fan_out` to its clock (:mod:`bftlab.transport.adversary`).

What the adversary did is counted by :meth:`Attack.tally` (the network counts,
and each strategy's own counters from
:meth:`~bftlab.attack.api.AdversaryContext.count`); :func:`summarize` sums the
tallies of one or many processes into the report's ``adversary`` section.
Messages the adversary dropped also appear in the report's ``dropped`` as
``adversary`` (simulator) or ``drop.adversary`` (real transport).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from bftlab.api import Node, NodeContext, NodeId, SetTimer, TimerFired
from bftlab.attack.api import (
    AdversaryContext,
    Controlled,
    Envelope,
    Later,
    NetworkStrategy,
    NodeStrategy,
)
from bftlab.attack.config import load_strategy
from bftlab.core import seeds
from bftlab.core.kernel import NS

if TYPE_CHECKING:  # annotations only: bftlab.specs imports engine modules, so a run-time import could cycle
    from bftlab.specs.spec import ExperimentSpec

_TIMER = "bftlab.adversary.later"
NETWORK_COUNTS = ("dropped", "delayed", "copies")
"""What :meth:`Attack.fan_out` counts, in the report's ``adversary.network``."""

FanOut = Callable[[int, int, Any, int, int, int], list[int]]
"""``(src, dst, msg, size_bytes, sent_ns, arrival_ns) -> arrival_ns`` of each copy; empty: dropped."""


class ByzantineNode:
    """A controlled replica as the runtime sees it: every input goes to its strategy."""

    def __init__(self, node_id: NodeId, strategy: NodeStrategy) -> None:
        self.node_id = node_id
        self.strategy = strategy
        self._held: dict[int, tuple] = {}
        self._next = 0

    def step(self, now: float, inp: Any) -> list[Any]:
        if type(inp) is TimerFired and type(inp.name) is tuple and inp.name[0] == _TIMER:
            return self._expand(self._held.pop(inp.name[1], ()))
        return self._expand(self.strategy.step(self.node_id, now, inp))

    def _expand(self, actions: Any) -> list[Any]:
        out = []
        for a in actions:
            if type(a) is Later:
                self._next += 1
                self._held[self._next] = a.actions
                out.append(SetTimer((_TIMER, self._next), max(0.0, a.delay_s)))
            else:
                out.append(a)
        return out


class Attack:
    """All strategies of one run (or of one process of a real run), instantiated and ready to wire.

    ``hosted``: the replicas this runtime runs (None: all of them, the
    simulator); a node strategy controlling none of them is not built here.
    ``process``: the name of the real-transport process this instance serves
    (None in the simulator); it gives each process its own random streams.
    """

    def __init__(self, spec: ExperimentSpec, hosted: Collection[NodeId] | None = None,
                 process: str | None = None) -> None:
        self.spec = spec
        self.network: list[NetworkStrategy] = []
        self.by_node: dict[NodeId, NodeStrategy] = {}
        self.strategies: list[NetworkStrategy | NodeStrategy] = []
        """Every strategy built here, in spec order."""
        self.counts = dict.fromkeys(NETWORK_COUNTS, 0)
        n, f = spec.n, spec.f
        assert f is not None, "a validated spec has resolved f from its protocol's fault model"
        replicas = tuple(range(n))
        clients = tuple(range(n, n + spec.workload.clients))
        stream = "" if process is None else f"/node{process}"
        for name, entry in zip(strategy_names(spec), spec.adversary):
            cls = load_strategy(entry.strategy)
            mine = [nid for nid in entry.byzantine if hosted is None or nid in hosted]
            if cls.kind == "node" and not mine:
                continue
            params = entry.params if isinstance(entry.params, cls.Params) else cls.Params(**(entry.params or {}))
            ctx = AdversaryContext(name, n, f, replicas, clients, tuple(entry.byzantine),
                                   seeds.rng(spec.seed, f"adversary/{name}{stream}"), spec.protocol.name,
                                   spec.stop.time_limit_s)
            strategy = cls(params, ctx)
            self.strategies.append(strategy)
            if cls.kind == "network":  # a class checked by load_strategy, maybe duck-typed: trust its kind
                self.network.append(cast(NetworkStrategy, strategy))
            else:
                for nid in mine:
                    self.by_node[nid] = cast(NodeStrategy, strategy)

    @property
    def byzantine(self) -> tuple[NodeId, ...]:
        """The controlled replicas wired here."""
        return tuple(sorted(self.by_node))

    def wrap(self, nid: NodeId, ctx: NodeContext, node: Node, make: Callable[[NodeContext], Node]) -> Node:
        """Replace a controlled replica by its :class:`ByzantineNode`; others pass through.

        ``make`` builds an honest replica from a context (the protocol's
        ``make_replica``): the strategy's twins come from it.
        """
        strategy = self.by_node.get(nid)
        if strategy is None:
            return node
        twins = [0]

        def make_honest() -> Node:
            twins[0] += 1
            rng = seeds.rng(self.spec.seed, f"node/{nid}/twin{twins[0]}")
            return make(NodeContext(nid, ctx.n, ctx.f, ctx.replicas, ctx.clients, ctx.crypto, rng, ctx.params))

        strategy.control(Controlled(nid, node, ctx.crypto, ctx, make_honest))
        return ByzantineNode(nid, strategy)

    def fan_out(self) -> FanOut:
        """The network strategies composed, counting in :attr:`counts`: each transforms every surviving copy.

        Times are integer nanoseconds on the runtime's clock, so the simulator's
        arithmetic is exact; a strategy sees them as seconds in its :class:`Envelope`.
        """
        strategies = [s.route for s in self.network]
        counts = self.counts

        def fan_out(src: int, dst: int, msg: Any, size: int, sent: int, at: int) -> list[int]:
            times = [at]
            sent_s = sent / NS
            for decide in strategies:
                nxt = []
                for a in times:
                    for extra in decide(Envelope(src, dst, msg, size, sent_s, a / NS)):
                        nxt.append(a + int(extra * NS) if extra > 0 else a)
                times = nxt
                if not times:
                    counts["dropped"] += 1
                    return times
            counts["copies"] += len(times) - 1
            counts["delayed"] += sum(1 for x in times if x != at)
            return times

        return fan_out

    def router(self, network: Any) -> Callable[[int, int, Any, bytes, int], list[int] | None]:
        """The simulator's router: the network model (``network.arrival``), then :meth:`fan_out`."""
        arrival = network.arrival
        dropped = network.dropped
        fan_out = self.fan_out()

        def route(src: int, dst: int, msg: Any, data: bytes, t: int) -> list[int] | None:
            size = len(data)
            at = arrival(src, dst, size, t)
            if at is None:
                return None
            times = fan_out(src, dst, msg, size, t, at)
            if not times:
                dropped["adversary"] = dropped.get("adversary", 0) + 1
                return None
            return times

        return route

    def tally(self) -> dict[str, Any]:
        """What happened here, as plain JSON: ``{"network": counts, "counters": {strategy: {name: k}}}``.

        Only strategies that counted something are listed; a real-transport
        process sends this in its stats, and :func:`summarize` sums them.
        """
        counters = {s.ctx.name: dict(sorted(s.ctx.counters.items())) for s in self.strategies if s.ctx.counters}
        return {"network": dict(self.counts), "counters": counters}

    def summary(self) -> dict[str, Any]:
        """The report's ``adversary`` section for this instance alone (a simulated run)."""
        return summarize(self.spec, [self.tally()], self.byzantine)


def strategy_names(spec: ExperimentSpec) -> list[str]:
    """Each adversary entry's name in reports and stream names: the strategy, ``name#2`` for its second use..."""
    used: dict[str, int] = {}
    out = []
    for entry in spec.adversary:
        k = used[entry.strategy] = used.get(entry.strategy, 0) + 1
        out.append(entry.strategy if k == 1 else f"{entry.strategy}#{k}")  # distinct streams for repeats
    return out


def summarize(spec: ExperimentSpec, tallies: Iterable[Mapping[str, Any] | None],
              byzantine: Iterable[NodeId]) -> dict[str, Any]:
    """The report's ``adversary`` section: the strategies, the Byzantine replicas, the network counts and
    each strategy's own counters (by strategy name, ``name#2`` for a repeat), summed over ``tallies``."""
    net = dict.fromkeys(NETWORK_COUNTS, 0)
    counters: dict[str, dict[str, int]] = {}
    for t in tallies:
        for k, v in ((t or {}).get("network") or {}).items():
            net[k] = net.get(k, 0) + v
        for name, mine in ((t or {}).get("counters") or {}).items():
            into = counters.setdefault(name, {})
            for k, v in mine.items():
                into[k] = into.get(k, 0) + v
    order = {name: i for i, name in enumerate(strategy_names(spec))}  # spec order, as the simulator lists them
    ranked = sorted(counters, key=lambda name: (order.get(name, len(order)), name))
    return {"strategies": [e.strategy for e in spec.adversary], "byzantine": sorted(byzantine), "network": net,
            "counters": {name: dict(sorted(counters[name].items())) for name in ranked}}
