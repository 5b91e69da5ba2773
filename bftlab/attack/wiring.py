"""Wiring strategies into a simulated run.

:class:`Attack` is built by the runner from ``spec.adversary``. It gives each
strategy its context and random stream, wraps every controlled replica in a
:class:`ByzantineNode`, and composes the network strategies into the
simulator's router: the network model decides first (its partitions, loss,
latency and bandwidth), then each network strategy in list order transforms
every surviving copy. What the adversary did is counted in :meth:`Attack.summary`
(the network counts, and each strategy's own counters from
:meth:`~bftlab.adversary.api.AdversaryContext.count`); messages it dropped also
appear in the report's ``dropped`` as ``adversary``.
"""

from __future__ import annotations

from typing import Any, Callable

from bftlab.core import seeds
from bftlab.api import Node, NodeContext, NodeId, SetTimer, TimerFired
from bftlab.core.kernel import NS

from bftlab.adversary.api import AdversaryContext, Controlled, Envelope, Later, NetworkStrategy, NodeStrategy
from bftlab.adversary.config import load_strategy

_TIMER = "bftlab.adversary.later"


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
    """All strategies of one run, instantiated and ready to wire."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.network: list[NetworkStrategy] = []
        self.by_node: dict[NodeId, NodeStrategy] = {}
        self.strategies: list[NetworkStrategy | NodeStrategy] = []
        """Every strategy, in spec order."""
        self.counts = {"dropped": 0, "delayed": 0, "copies": 0}
        n = spec.n
        replicas = tuple(range(n))
        clients = tuple(range(n, n + spec.workload.clients))
        used: dict[str, int] = {}
        for entry in spec.adversary:
            cls = load_strategy(entry.strategy)
            params = entry.params if isinstance(entry.params, cls.Params) else cls.Params(**(entry.params or {}))
            k = used[entry.strategy] = used.get(entry.strategy, 0) + 1
            name = entry.strategy if k == 1 else f"{entry.strategy}#{k}"  # distinct streams for repeats
            ctx = AdversaryContext(name, n, spec.f, replicas, clients, tuple(entry.byzantine),
                                   seeds.rng(spec.seed, f"adversary/{name}"), spec.protocol.name,
                                   spec.stop.time_limit_s)
            strategy = cls(params, ctx)
            self.strategies.append(strategy)
            if cls.kind == "network":
                self.network.append(strategy)
            else:
                for nid in entry.byzantine:
                    self.by_node[nid] = strategy

    @property
    def byzantine(self) -> tuple[NodeId, ...]:
        return tuple(sorted(self.by_node))

    def wrap(self, nid: NodeId, ctx: NodeContext, node: Node, make: Callable[[NodeContext], Node]) -> Node:
        """Replace a controlled replica by its :class:`ByzantineNode`; others pass through."""
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

    def router(self, network: Any) -> Callable[[int, int, Any, bytes, int], list[int] | None]:
        """The simulator's router: the network model, then each network strategy."""
        arrival = network.arrival
        strategies = [s.route for s in self.network]
        counts = self.counts
        dropped = network.dropped

        def route(src: int, dst: int, msg: Any, data: bytes, t: int) -> list[int] | None:
            size = len(data)
            at = arrival(src, dst, size, t)
            if at is None:
                return None
            times = [at]
            sent_s = t / NS
            for decide in strategies:
                nxt = []
                for a in times:
                    for extra in decide(Envelope(src, dst, msg, size, sent_s, a / NS)):
                        nxt.append(a + int(extra * NS) if extra > 0 else a)
                times = nxt
                if not times:
                    break
            if not times:
                counts["dropped"] += 1
                dropped["adversary"] = dropped.get("adversary", 0) + 1
                return None
            counts["copies"] += len(times) - 1
            if times[0] != at or len(times) > 1:
                counts["delayed"] += sum(1 for x in times if x != at)
            return times

        return route

    def summary(self) -> dict[str, Any]:
        """Counts for the report: what the network adversary did, who was Byzantine, and each
        strategy's own counters (by strategy name, ``name#2`` for a repeat; only those that counted)."""
        counters = {s.ctx.name: dict(sorted(s.ctx.counters.items())) for s in self.strategies if s.ctx.counters}
        return {"strategies": [e.strategy for e in self.spec.adversary], "byzantine": list(self.byzantine),
                "network": dict(self.counts), "counters": counters}
