"""The spec's adversary section on the real transport, built per process.

Network strategies run inside the *sending* process: the runtime asks them
about every message it is about to put on a connection (see
:meth:`bftlab.transport.runtime.Host._send`) and then drops it, sends it,
holds copies in a bounded delay queue, or sends several copies. There is no
network model, so an envelope's ``arrival_s`` equals its ``sent_s``; both are
seconds on the runtime clock, which starts at the launcher's ``go`` (or at
process start for a node started by hand), so the strategies' time windows mean
the same as in the simulator.

Each process builds its own instances, with its own stream
``seeds.rng(seed, "adversary/<name>/node<ids>")``: strategies keep no state
across processes (a partition schedule is the same everywhere; random choices
are per sender). Node strategies wrap the controlled replica in the same
:class:`bftlab.adversary.runtime.ByzantineNode` as the simulator, inside that replica's
process; a strategy controlling several replicas therefore gets one instance
per replica and cannot coordinate them through shared memory.

What happens is real time, not simulated time: runs are not reproducible from
the seed, and delays add to the real network's own.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from bftlab.core import seeds
from bftlab.api import Node, NodeContext
from bftlab.transport.runtime import Router


def _entries(spec: Any) -> list[tuple[str, Any, type]]:
    """``(unique name, entry, class)`` per adversary entry, named like :class:`bftlab.adversary.runtime.Attack` names them."""
    from bftlab.adversary.config import load_strategy

    used: dict[str, int] = {}
    out = []
    for entry in spec.adversary:
        k = used[entry.strategy] = used.get(entry.strategy, 0) + 1
        out.append((entry.strategy if k == 1 else f"{entry.strategy}#{k}", entry, load_strategy(entry.strategy)))
    return out


def _context(spec: Any, name: str, entry: Any, proc_name: str) -> Any:
    from bftlab.adversary.api import AdversaryContext

    n = spec.n
    return AdversaryContext(name, n, spec.f, tuple(range(n)), tuple(range(n, n + spec.workload.clients)),
                            tuple(entry.byzantine), seeds.rng(spec.seed, f"adversary/{name}/node{proc_name}"),
                            spec.protocol.name, spec.stop.time_limit_s)


def _params(cls: type, entry: Any) -> Any:
    return entry.params if isinstance(entry.params, cls.Params) else cls.Params(**(entry.params or {}))


def network_router(spec: Any, proc_name: str, counts: dict[str, int]) -> Router | None:
    """The composed network strategies of the spec for one process, or None if there are none.

    Like the simulator's router, each strategy in list order transforms every
    surviving copy; ``counts`` gets ``dropped``/``delayed``/``copies``.
    """
    decide = [cls(_params(cls, e), _context(spec, name, e, proc_name)).route
              for name, e, cls in _entries(spec) if cls.kind == "network"]
    if not decide:
        return None
    from bftlab.adversary.api import Envelope

    for key in ("dropped", "delayed", "copies"):
        counts.setdefault(key, 0)

    def route(src: int, dst: int, msg: Any, size: int, now_s: float) -> list[float]:
        extra = [0.0]
        for d in decide:
            nxt = []
            for e in extra:
                at = now_s + e
                nxt.extend(e + x if x > 0 else e for x in d(Envelope(src, dst, msg, size, now_s, at)))
            extra = nxt
            if not extra:
                counts["dropped"] += 1
                return extra
        counts["copies"] += len(extra) - 1
        counts["delayed"] += sum(1 for e in extra if e > 0)
        return extra

    return route


def wrap_byzantine(spec: Any, nodes: dict[int, Node], contexts: dict[int, NodeContext],
                   make: Callable[[NodeContext], Node], proc_name: str) -> dict[int, Node]:
    """Replace every local replica a node strategy controls by its :class:`~bftlab.adversary.runtime.ByzantineNode`."""
    from bftlab.adversary.api import Controlled
    from bftlab.adversary.runtime import ByzantineNode

    out = dict(nodes)
    for name, entry, cls in _entries(spec):
        mine = [nid for nid in entry.byzantine if nid in nodes]
        if cls.kind != "node" or not mine:
            continue
        strategy = cls(_params(cls, entry), _context(spec, name, entry, proc_name))
        for nid in mine:
            ctx = contexts[nid]
            strategy.control(Controlled(nid, nodes[nid], ctx.crypto, ctx, _twin_factory(spec, ctx, make)))
            out[nid] = ByzantineNode(nid, strategy)
    return out


def _twin_factory(spec: Any, ctx: NodeContext, make: Callable[[NodeContext], Node]) -> Callable[[], Node]:
    twins = [0]

    def make_honest() -> Node:
        twins[0] += 1
        rng = seeds.rng(spec.seed, f"node/{ctx.node_id}/twin{twins[0]}")
        return make(NodeContext(ctx.node_id, ctx.n, ctx.f, ctx.replicas, ctx.clients, ctx.crypto, rng, ctx.params))

    return make_honest


def summary(spec: Any, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``adversary`` entry: the strategies, the Byzantine replicas, and the summed network counts."""
    net = {"dropped": 0, "delayed": 0, "copies": 0}
    for st in stats:
        for k, v in (st.get("adversary") or {}).items():
            net[k] = net.get(k, 0) + v
    return {"strategies": [e.strategy for e in spec.adversary], "byzantine": list(spec.byzantine), "network": net}
