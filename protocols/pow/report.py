"""How a PoW run's ``metrics.pow`` data is shown in report.md and the terminal summary.

The engine lays out every report the same way and asks each protocol's
:class:`~bftlab.api.ReportSection` for its part; PoW's replaces the request
rows (committed, request latency), which mean little for a blockchain, by
chain, stale-rate, propagation and transaction rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bftlab.reports.report import cell as _cell
from bftlab.reports.report import num as _num


def _pow_stats(stats: Mapping[str, Any], unit: str = " s") -> str:
    return ", ".join(f"{k} {_num(stats.get(k), 3)}{unit}" for k in ("mean", "p50", "p90", "p99"))


def _pow_section(p: Mapping[str, Any]) -> list[str]:
    """Chain, propagation, transactions, revenue and attack outcome of a PoW run."""
    prop, tx, rev = p["propagation_s"], p["transactions"], p["revenue"]
    rows = [
        ("Main chain length", _num(p["main_chain_length"])),
        ("Blocks mined / published", f"{_num(p['blocks_mined'])} / {_num(p['blocks_published'])}"),
        ("Stale rate", f"{100 * p['stale_rate']:.3f}%" if p["stale_rate"] is not None else "n/a"),
        ("Forks (depth: count)", f"{_num(p['forks'])} ({_cell(p['fork_depths']) if p['fork_depths'] else '-'})"),
        ("Deepest reorganisation", f"{_num(p['deepest_reorg'])} block(s)"),
        ("Mean block interval", f"{_num(p['mean_block_interval_s'], 1)} s"),
        ("Propagation to 50% of nodes", _pow_stats(prop["to_50pct"])),
        ("Propagation to 90% of nodes", _pow_stats(prop["to_90pct"])),
        (f"Confirmation latency (k={p['confirmations_k']})", _pow_stats(tx["confirmation_latency_s"])),
        ("Transaction throughput", f"{_num(tx['throughput_tps'], 2)} tx/s"),
    ]
    out = ["| Metric | Value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows), ""]
    miners = sorted(rev["miners"], key=lambda r: (-r["hash_share"], r["miner"]))[:20]
    out += [f"Revenue (top {len(miners)} of {rev['mining_nodes']} mining nodes by hash share):", "",
            "| Miner | Hash share | Main-chain blocks | Revenue share |", "|---:|---:|---:|---:|",
            *(f"| {r['miner']} | {r['hash_share']:.4f} | {r['blocks']:,} | {r['revenue_share']:.4f} |"
              for r in miners), ""]
    if "attack" in p:
        items = ", ".join(f"{k}: {_cell(v)}" for k, v in p["attack"].items())
        out += [f"Attack: {items}.", ""]
    return out


def _pow_rows(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Terminal rows for a PoW run: chain, stale rate, propagation, transactions."""
    prop, tx = p["propagation_s"], p["transactions"]
    stale = f"{100 * p['stale_rate']:.3f}%" if p["stale_rate"] is not None else "n/a"
    rows = [
        ("main chain", f"{_num(p['main_chain_length'])} blocks ({_num(p['blocks_mined'])} mined), "
                       f"{_num(p['mean_block_interval_s'], 1)} s apart"),
        ("stale rate", f"{stale}, {_num(p['forks'])} forks, deepest reorg {_num(p['deepest_reorg'])}"),
        ("propagation", f"50% of nodes {_num(prop['to_50pct'].get('mean'), 3)} s, "
                        f"90% {_num(prop['to_90pct'].get('mean'), 3)} s (mean)"),
        ("transactions", f"{_num(tx['throughput_tps'], 2)} tx/s, confirmed at k={p['confirmations_k']} "
                         f"after {_num(tx['confirmation_latency_s'].get('p50'), 1)} s (p50)"),
    ]
    if "attack" in p:
        rows.append(("attack", ", ".join(f"{k} {_cell(v)}" for k, v in p["attack"].items())))
    return rows


@dataclass(frozen=True)
class PowSection:
    """The ``ReportSection`` for ``report["metrics"]["pow"]``."""

    key: str = "pow"
    title: str = "Proof of work"
    replaces_generic: bool = True

    def markdown(self, data: Any) -> list[str]:
        return _pow_section(data)

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        return _pow_rows(data)


SECTION = PowSection()
