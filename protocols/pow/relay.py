"""Block arrival times over the topology, in one numba kernel (``cache=True``).

Honest relay is deterministic once a block exists: every node validates it and
forwards it to its neighbours (all of them; a node does not wait for anything
but the block's parent). So the time each node has a block ready is a
shortest-path problem, which :func:`propagate` solves with Dijkstra's algorithm
instead of simulating each message. Per hop, in integer nanoseconds:

* ``push``: arrival = ready(u) + size * 8 / bandwidth + latency(u, v);
* ``inv``: the inv reaches v at ready(u) + tx(inv) + latency; v asks the *first*
  announcer (getdata), which sends the block: arrival = inv + cpu(inv) +
  tx(getdata) + latency + cpu(getdata) + tx(block) + latency;
* ready(v) = max(arrival + validation, ready of the parent block at v): an
  orphan waits for its parent before it is connected and relayed.

These are exactly the rules of :class:`bftlab.protocols.pow.miner.Miner` run message by
message on the simulator (the ``events`` engine); ``tests/pow/test_relay.py``
compares both. Dijkstra stays exact for ``inv`` although a later-popped
announcer can change v's tentative time: announcers are settled in time order
and an inv is never earlier than its sender's ready time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.int64(1 << 60)
"""Arrival time of a node the block never reaches."""


@njit(cache=True)
def _push(hk, hv, size, key, val):
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] < hk[i] or (hk[p] == hk[i] and hv[p] <= hv[i]):
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit(cache=True)
def _pop(hk, hv, size):
    key, val = hk[0], hv[0]
    size -= 1
    hk[0], hv[0] = hk[size], hv[size]
    i = 0
    while True:
        l = 2 * i + 1
        if l >= size:
            break
        c = l
        r = l + 1
        if r < size and (hk[r] < hk[l] or (hk[r] == hk[l] and hv[r] < hv[l])):
            c = r
        if hk[i] < hk[c] or (hk[i] == hk[c] and hv[i] <= hv[c]):
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, size


@njit(cache=True)
def _propagate(indptr, indices, lat_ns, open_ns, src, src_t, parent_ready, val_ns, blk_ns, inv_mode, ctrl_ns,
               inv_ns, no_relay, out):
    n = indptr.shape[0] - 1
    inf = np.int64(1 << 60)
    best_ia = np.full(n, inf, np.int64)
    done = np.zeros(n, np.bool_)
    is_src = np.zeros(n, np.bool_)
    cap = indices.shape[0] + src.shape[0] + 1
    hk = np.empty(cap, np.int64)
    hv = np.empty(cap, np.int64)
    size = 0
    for i in range(n):
        out[i] = inf
    for i in range(src.shape[0]):
        s = src[i]
        is_src[s] = True
        if src_t[i] < out[s]:
            out[s] = src_t[i]
            size = _push(hk, hv, size, src_t[i], s)
    while size > 0:
        k, u, size = _pop(hk, hv, size)
        if done[u] or k != out[u]:
            continue
        done[u] = True
        if no_relay[u] and not is_src[u]:
            continue
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if done[v]:
                continue
            start = k if k > open_ns[e] else open_ns[e]
            if inv_mode:
                ia = start + inv_ns + lat_ns[e]
                if ia >= best_ia[v]:
                    continue
                best_ia[v] = ia
                c = ia + 2 * ctrl_ns + inv_ns + blk_ns + 2 * lat_ns[e] + val_ns
            else:
                c = start + blk_ns + lat_ns[e] + val_ns
                if c >= out[v]:
                    continue
            if parent_ready[v] > c:
                c = parent_ready[v]
            if c >= inf:
                continue
            out[v] = c  # inv: the first announcer decides, even if its block comes later than another's would
            size = _push(hk, hv, size, c, v)


def propagate(topo, sources: list[tuple[int, int]], parent_ready: np.ndarray | None, val_ns: int, blk_ns: int,
              inv_mode: bool, ctrl_ns: int, inv_ns: int, no_relay: np.ndarray) -> np.ndarray:
    """Ready time (ns) of a block at every node; ``INF`` where it never arrives.

    ``sources`` are (node, time) pairs holding the block first (its miner, or an
    attacker publishing it); ``parent_ready`` is the parent's array (None when
    every node already has the parent).
    """
    n = topo.n
    out = np.empty(n, dtype=np.int64)
    src = np.asarray([s for s, _ in sources], dtype=np.int64)
    src_t = np.asarray([t for _, t in sources], dtype=np.int64)
    pr = parent_ready if parent_ready is not None else np.zeros(n, dtype=np.int64)
    _propagate(topo.indptr, topo.indices, topo.lat_ns, topo.open_ns, src, src_t, pr, np.int64(val_ns),
               np.int64(blk_ns), inv_mode, np.int64(ctrl_ns), np.int64(inv_ns), no_relay, out)
    return out
