"""The peer-to-peer graph and its links.

A link's one-way latency is drawn once per link from the spec's network model
(:func:`bftlab.sim.network.latency_sampler`): in a peer-to-peer overlay a
connection's delay is mostly geography, so it is a property of the link,
not of each message. Bandwidth (``network.bandwidth_mbps``) is not stored
here: a block of ``size`` bytes takes ``size * 8 / bandwidth`` seconds to
send, on the sender's shared uplink or on each link alone depending on
``protocol.params.bandwidth_model`` (see :mod:`bftlab.protocols.pow.relay`).

The graph is stored as CSR arrays (``indptr``, ``indices``) with neighbours in
increasing id order, so iteration order never depends on hashing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bftlab.core.kernel import NS
from bftlab.errors import ConfigError
from bftlab.sim.network import latency_sampler


@dataclass(frozen=True)
class Topology:
    """An undirected graph with per-link latency, as directed CSR arrays."""

    n: int
    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int64, one entry per directed edge
    lat_ns: np.ndarray  # int64, latency of each directed edge (symmetric)
    open_ns: np.ndarray  # int64, nothing crosses the edge before this time (eclipse); 0 normally

    def neighbours(self, v: int) -> np.ndarray:
        return self.indices[self.indptr[v]: self.indptr[v + 1]]

    def edge_latency_ns(self) -> dict[tuple[int, int], int]:
        out = {}
        for u in range(self.n):
            for e in range(self.indptr[u], self.indptr[u + 1]):
                out[(u, int(self.indices[e]))] = int(self.lat_ns[e])
        return out


def random_regular(n: int, degree: int, rng: random.Random) -> set[tuple[int, int]]:
    """A uniform-ish random ``degree``-regular simple graph: random pairing, then edge swaps to fix clashes."""
    stubs = [v for v in range(n) for _ in range(degree)]
    rng.shuffle(stubs)
    edges: set[tuple[int, int]] = set()
    bad: list[tuple[int, int]] = []
    for i in range(0, len(stubs), 2):
        a, b = stubs[i], stubs[i + 1]
        e = (min(a, b), max(a, b))
        if a == b or e in edges:
            bad.append((a, b))
        else:
            edges.add(e)
    for _ in range(100 * len(bad) + 100):
        if not bad:
            break
        a, b = bad.pop()
        x, y = _any_edge(edges, rng)
        if rng.random() < 0.5:
            x, y = y, x
        e1, e2 = (min(a, x), max(a, x)), (min(b, y), max(b, y))
        if a == x or b == y or e1 in edges or e2 in edges or e1 == e2:
            bad.insert(0, (a, b))
            continue
        edges.discard((min(x, y), max(x, y)))
        edges.add(e1)
        edges.add(e2)
    if bad:
        raise ConfigError(f"could not build a {degree}-regular graph on {n} nodes; try another degree.")
    return edges


def _any_edge(edges: set[tuple[int, int]], rng: random.Random) -> tuple[int, int]:
    # Sampling a set needs an order; keep a sorted snapshot per call site instead of relying on hashing.
    lst = sorted(edges)
    return lst[rng.randrange(len(lst))]


def build(params, n: int, network, seed_rng: random.Random, lat_rng: random.Random, attacker=None) -> Topology:
    """The run's graph: the configured topology, the ``attacker``'s links, then per-link latencies."""
    if n == 1:
        edges: set[tuple[int, int]] = set()
    elif params.topology == "complete":
        edges = {(a, b) for a in range(n) for b in range(a + 1, n)}
    elif params.topology == "edges":
        edges = {(min(a, b), max(a, b)) for a, b in params.edges}
    else:
        edges = random_regular(n, params.degree, seed_rng)
    open_at: dict[tuple[int, int], int] = {}
    att = attacker
    if att is not None:
        node = att.node
        mine = sorted(b if a == node else a for a, b in edges if node in (a, b))
        linked = set(mine)
        others = [v for v in range(n) if v != node and v not in linked]
        extra = max(0, att.degree - len(mine))
        for v in seed_rng.sample(others, min(extra, len(others))):
            edges.add((min(v, node), max(v, node)))
        ecl = att.eclipse
        if ecl is not None:
            # The attacker takes over every connection of the victim, and holds blocks both ways until end_s.
            edges = {e for e in edges if ecl.victim not in e}
            edges.add((min(node, ecl.victim), max(node, ecl.victim)))
            t = int(ecl.end_s * NS)
            open_at[(node, ecl.victim)] = open_at[(ecl.victim, node)] = t
    return _csr(n, sorted(edges), network, lat_rng, open_at)


def _csr(n: int, edges: list[tuple[int, int]], network, rng: random.Random,
         open_at: dict[tuple[int, int], int]) -> Topology:
    region_of = matrix = None
    if network.regions is not None:
        names = list(network.regions.names)
        region_of = [names.index(r) for r in network.regions.nodes]
        matrix = network.regions.latency_ms
    sample = latency_sampler(network.latency_model, rng, network.latency_ms, network.jitter_ms,
                             network.lognormal_sigma, region_of, matrix)
    lat = {e: int(round(sample(e[0], e[1]) * NS)) for e in edges}
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices, lat_ns, open_ns = [], [], []
    for u in range(n):
        for v in sorted(adj[u]):
            indices.append(v)
            lat_ns.append(lat[(min(u, v), max(u, v))])
            open_ns.append(open_at.get((u, v), 0))
        indptr[u + 1] = len(indices)
    return Topology(n, indptr, np.asarray(indices, dtype=np.int64), np.asarray(lat_ns, dtype=np.int64),
                    np.asarray(open_ns, dtype=np.int64))
