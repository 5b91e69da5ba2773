"""Block arrival times over the topology, in one numba kernel (``cache=True``).

Honest relay is deterministic once a block exists: every node validates it and
forwards it to its neighbours (all of them but the one it came from; a node
waits for nothing but the block's parent). So the time each node has a block
ready is a shortest-path problem, which :func:`propagate` solves with a
Dijkstra-style label-setting loop instead of simulating each message. In
integer nanoseconds, with ``tx(m) = size(m) * 8 / bandwidth``:

* ``push``: u sends the block to each neighbour;
* ``inv``: u announces it (inv); v asks the *first* announcer (getdata), which
  sends the block: the inv reaches v at its send time + latency, the getdata is
  answered ``cpu(inv) + tx(getdata) + latency + cpu(getdata)`` later;
* ready(v) = max(arrival + validation, ready of the parent block at v): an
  orphan waits for its parent before it is connected and relayed.

**Bandwidth** (``protocol.params.bandwidth_model``). ``uplink`` (the default):
``network.bandwidth_mbps`` is each node's upload capacity, and a node's
messages leave one after another, first come first served, as in the generic
simulator (:mod:`bftlab.sim.network`) and in SimBlock (Aoki et al. 2019, whose
nodes queue block requests and send one block at a time). A node serving a
block to k peers needs k transfer times for the last one: u sends its invs (or
pushed blocks) in neighbour-id order at ready(u) + i * tx, and answers
getdatas in the order they arrive, each after the previous transfer ended.
Because who asks u, and when, depends on other nodes' announcements, ``inv``
mode runs the getdata as a heap event of its own: when it is popped every
announcement that could come earlier has been made, so the first announcer
and u's queue are exact. ``per_link``: every connection carries the full
``bandwidth_mbps`` and a node's transfers do not slow each other (each hop
costs one ``tx``; a lower bound on propagation time).

These are exactly the rules of :class:`bftlab.protocols.pow.miner.Miner` run message by
message on the simulator (the ``events`` engine, which applies the same
bandwidth model); ``tests/pow/test_relay.py`` compares both. Like the CPU, a
node's uplink is modelled per block: transfers of two different blocks in
flight at once do not queue behind each other here (they do on the events
engine). A link held by an eclipse attacker (``open_ns``) delays that one
transfer without holding up the node's other ones.
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
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        r = left + 1
        if r < size and (hk[r] < hk[left] or (hk[r] == hk[left] and hv[r] < hv[left])):
            c = r
        if hk[i] < hk[c] or (hk[i] == hk[c] and hv[i] <= hv[c]):
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, size


@njit(cache=True)
def _propagate(indptr, indices, lat_ns, open_ns, src, src_t, parent_ready, val_ns, blk_ns, inv_mode, ctrl_ns,
               inv_ns, no_relay, uplink, out):
    # Heap entries are (time, v): v < n is "v has the block ready", v >= n is "v - n's getdata is answered".
    n = indptr.shape[0] - 1
    inf = np.int64(1 << 60)
    best = np.full(n, inf, np.int64)  # push: earliest block arrival; inv: earliest inv arrival
    pred = np.full(n, -1, np.int64)  # who v got that from (the Miner relays to everyone else)
    pred_e = np.full(n, -1, np.int64)  # the edge pred -> v
    gd_at = np.full(n, inf, np.int64)  # inv + uplink: when v's getdata is answered (stale heap entries differ)
    free = np.zeros(n, np.int64)  # uplink: when the node's last queued transfer ends
    done = np.zeros(n, np.bool_)
    is_src = np.zeros(n, np.bool_)
    cap = indices.shape[0] + n + src.shape[0] + 1
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
    per_msg = inv_ns if inv_mode else blk_ns
    while size > 0:
        k, u, size = _pop(hk, hv, size)
        if u >= n:  # the announcer of v answers v's getdata: the block joins its upload queue
            v = u - n
            if done[v] or k != gd_at[v]:
                continue  # a better announcer replaced this one
            a = pred[v]
            start = k if k > free[a] else free[a]
            free[a] = start + blk_ns
            c = free[a] + lat_ns[pred_e[v]] + val_ns
            if parent_ready[v] > c:
                c = parent_ready[v]
            if c < out[v] and c < inf:
                out[v] = c
                size = _push(hk, hv, size, c, v)
            continue
        if done[u] or k != out[u]:
            continue
        done[u] = True
        if no_relay[u] and not is_src[u]:
            continue
        i = 0
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v == pred[u]:
                continue  # not sent back to where it came from
            i += 1
            sent = k + (i - 1) * per_msg if uplink else k  # when this message can start on u's uplink
            if sent < open_ns[e]:
                sent = open_ns[e]
            if done[v]:
                continue
            if inv_mode:
                ia = sent + inv_ns + lat_ns[e]
                if ia >= best[v]:
                    continue
                best[v] = ia
                pred[v] = u
                pred_e[v] = e
                if uplink:
                    gd_at[v] = ia + 2 * ctrl_ns + inv_ns + lat_ns[e]
                    size = _push(hk, hv, size, gd_at[v], n + v)
                    continue
                c = ia + 2 * ctrl_ns + inv_ns + blk_ns + 2 * lat_ns[e] + val_ns
                if parent_ready[v] > c:
                    c = parent_ready[v]
                if c >= inf:
                    continue
                out[v] = c  # inv: the first announcer decides, even if its block comes later than another's would
                size = _push(hk, hv, size, c, v)
            else:
                arrival = sent + blk_ns + lat_ns[e]
                if arrival >= best[v]:
                    continue
                best[v] = arrival
                c = arrival + val_ns
                if parent_ready[v] > c:
                    c = parent_ready[v]
                if c < out[v] and c < inf:
                    out[v] = c
                    pred[v] = u
                    size = _push(hk, hv, size, c, v)
                elif not is_src[v]:
                    pred[v] = u  # same ready time (it waits for the parent), but u's copy came first
        if uplink:
            free[u] = k + i * per_msg


def propagate(topo, sources: list[tuple[int, int]], parent_ready: np.ndarray | None, val_ns: int, blk_ns: int,
              inv_mode: bool, ctrl_ns: int, inv_ns: int, no_relay: np.ndarray, uplink: bool = True) -> np.ndarray:
    """Ready time (ns) of a block at every node; ``INF`` where it never arrives.

    ``sources`` are (node, time) pairs holding the block first (its miner, or an
    attacker publishing it); ``parent_ready`` is the parent's array (None when
    every node already has the parent); ``uplink`` selects the bandwidth
    model (False: ``per_link``).
    """
    n = topo.n
    out = np.empty(n, dtype=np.int64)
    src = np.asarray([s for s, _ in sources], dtype=np.int64)
    src_t = np.asarray([t for _, t in sources], dtype=np.int64)
    pr = parent_ready if parent_ready is not None else np.zeros(n, dtype=np.int64)
    _propagate(topo.indptr, topo.indices, topo.lat_ns, topo.open_ns, src, src_t, pr, np.int64(val_ns),
               np.int64(blk_ns), inv_mode, np.int64(ctrl_ns), np.int64(inv_ns), no_relay, bool(uplink), out)
    return out
