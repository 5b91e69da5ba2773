"""PoW metrics and the PoW safety check, computed from the block tree of a run.

The main chain is the published chain with the most work at the end (ties to
the earlier published tip). A published block off it is stale. A fork is a
stale subtree hanging off the main chain; its depth is its longest branch.
Every published block was some honest node's tip (its miner's, or the nodes
that adopted an attacker block), so a fork of depth d is a reorganisation of
depth d at some node, and reversing a block that had ``k`` confirmations
(a fork of depth >= k) is the PoW safety violation: a transaction a user
treated as final was undone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bftlab.core.kernel import NS
from bftlab.protocols.pow.engine import Outcome

MAX_VIOLATIONS = 50
MAX_MINERS = 100


def _stats(values: list[float] | np.ndarray) -> dict[str, float | None]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if not a.size:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": round(float(a.mean()), 6), "p50": round(float(p50), 6), "p90": round(float(p90), 6),
            "p99": round(float(p99), 6), "max": round(float(a.max()), 6)}


def main_tip(out: Outcome) -> int:
    ch = out.chain
    best = 0
    for b in range(1, len(ch)):
        pb = ch.published_ns[b]
        if pb < 0:
            continue
        if ch.cumwork[b] > ch.cumwork[best] or (ch.cumwork[b] == ch.cumwork[best] and pb < ch.published_ns[best]):
            best = b
    return best


def summarise(out: Outcome, params: Any, attacker: Any = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(metrics.pow, the generic metrics keys, safety) for a finished run; ``attacker`` as given to the engine."""
    ch = out.chain
    nblocks = len(ch)
    tip = main_tip(out)
    main = ch.path(tip)
    on_main = np.zeros(nblocks, dtype=bool)
    on_main[main] = True
    published = np.asarray(ch.published_ns) >= 0
    published[0] = False
    n_pub = int(published.sum())
    stale = published & ~on_main
    forks, depth_of, txs_of = _forks(ch, on_main, stale)
    k = params.confirmations
    violations = [
        {"kind": "confirmed_block_reversed", "seq": ch.height[ch.parent[root]] + 1, "replicas": [],
         "requests": [],
         "detail": f"a fork of {depth_of[root]} block(s) from height {ch.height[root]} was abandoned; its first "
                   f"block had {depth_of[root]} >= k={k} confirmations and {txs_of[root]} transaction(s)"}
        for root in forks if depth_of[root] >= k
    ]
    end_s = out.end_ns / NS
    height = ch.height[tip]
    tx = _transactions(out, main, k, end_s)
    revenue = _revenue(out, main, attacker)
    depth_hist: dict[str, int] = {}
    for root in forks:
        key = str(depth_of[root])
        depth_hist[key] = depth_hist.get(key, 0) + 1
    pow_metrics = {
        "main_chain_length": height,
        "blocks_mined": nblocks - 1,
        "blocks_published": n_pub,
        "blocks_withheld": int(nblocks - 1 - n_pub),
        "stale_blocks": int(stale.sum()),
        "stale_rate": round(int(stale.sum()) / n_pub, 6) if n_pub else None,
        "forks": len(forks),
        "fork_depths": dict(sorted(depth_hist.items(), key=lambda kv: int(kv[0]))),
        "deepest_reorg": max(depth_of.values(), default=0),
        "confirmations_k": k,
        "chain_growth_blocks_per_hour": round(height / end_s * 3600, 6) if end_s > 0 else None,
        "mean_block_interval_s": round(end_s / height, 3) if height else None,
        "final_difficulty": round(ch.difficulty[tip], 6),
        "propagation_s": {
            "to_50pct": _stats(out.prop50_s),
            "to_90pct": _stats(out.prop90_s),
            "blocks_measured": len(out.prop50_s),
            "blocks_not_reaching_90pct": int(sum(1 for x in out.prop90_s if not math.isfinite(x))),
        },
        "transactions": tx["summary"],
        "revenue": revenue,
        "mining_candidates": out.candidates,
    }
    if out.attack:
        pow_metrics["attack"] = out.attack
    generic = {
        "committed": tx["confirmed"],
        "issued": tx["issued"],
        "throughput_rps": tx["summary"]["throughput_tps"],
        "latency_s": tx["summary"]["confirmation_latency_s"],
        "messages": {"total": sum(out.msgs.values()), "by_type": dict(sorted(out.msgs.items()))},
        "bytes_total": out.bytes_total,
        "view_changes": 0,
        "dropped": {},
    }
    safety = {"ok": not violations, "violation_count": len(violations), "violations": violations[:MAX_VIOLATIONS]}
    return pow_metrics, generic, safety


def _forks(ch, on_main: np.ndarray, stale: np.ndarray) -> tuple[list[int], dict[int, int], dict[int, int]]:
    """Roots of stale subtrees, each one's depth and the transactions in its first block."""
    root_of: dict[int, int] = {}
    depth: dict[int, int] = {}
    roots: list[int] = []
    for b in np.flatnonzero(stale).tolist():  # ids grow along every branch, so parents come first
        p = ch.parent[b]
        r = b if on_main[p] else root_of.get(p, b)
        if r == b:
            roots.append(b)
            depth[b] = 0
        root_of[b] = r
        depth[r] = max(depth[r], ch.height[b] - ch.height[ch.parent[r]])
    return roots, depth, {r: ch.tx_count[r] for r in roots}


def _transactions(out: Outcome, main: list[int], k: int, end_s: float) -> dict[str, Any]:
    ch = out.chain
    lat: list[np.ndarray] = []
    confirmed = 0
    for i in range(1, len(main) - k + 1):
        b = main[i]
        c = ch.tx_count[b]
        if not c:
            continue
        conf_ns = ch.t_ns[main[i + k - 1]]  # the k-th block (counting b itself) was found
        arrivals = out.txs.times(ch.tx_start[b], ch.tx_start[b] + c)
        lat.append((conf_ns - arrivals) / NS)
        confirmed += c
    issued = out.txs.count_until(out.end_ns)
    in_main = sum(ch.tx_count[b] for b in main)
    lat_all = np.concatenate(lat) if lat else np.zeros(0)
    sizes = [ch.size[b] for b in main[1:]]
    summary = {
        "issued": issued,
        "in_main_chain": in_main,
        "confirmed_k": confirmed,
        "throughput_tps": round(confirmed / end_s, 6) if end_s > 0 else 0.0,
        "confirmation_latency_s": _stats(lat_all),
        "mean_block_size_bytes": round(float(np.mean(sizes)), 1) if sizes else None,
    }
    return {"summary": summary, "confirmed": confirmed, "issued": issued}


def _revenue(out: Outcome, main: list[int], attacker: Any) -> dict[str, Any]:
    ch = out.chain
    shares = out.shares
    n = len(shares)
    miners_of_main = np.asarray([ch.miner[b] for b in main[1:]], dtype=np.int64)
    counts = np.bincount(miners_of_main, minlength=n) if miners_of_main.size else np.zeros(n, dtype=np.int64)
    total = max(1, len(main) - 1)
    mining = [i for i in range(n) if shares[i] > 0]
    top = sorted(mining, key=lambda i: (-shares[i], i))[:MAX_MINERS]
    rows = [{"miner": i, "hash_share": round(float(shares[i]), 6), "blocks": int(counts[i]),
             "revenue_share": round(int(counts[i]) / total, 6)} for i in sorted(top)]
    res: dict[str, Any] = {"miners": rows, "mining_nodes": len(mining)}
    if attacker is not None:
        res["attacker"] = _miner_row(attacker.node, shares, counts, total)
        if attacker.eclipse is not None:
            res["victim"] = _miner_row(attacker.eclipse.victim, shares, counts, total)
    return res


def _miner_row(v: int, shares: np.ndarray, counts: np.ndarray, total: int) -> dict[str, Any]:
    return {"node": v, "hash_share": round(float(shares[v]), 6), "blocks": int(counts[v]),
            "revenue_share": round(int(counts[v]) / total, 6)}
