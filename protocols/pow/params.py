"""PoW parameters (``protocol.params`` of a spec), validated with key paths.

Everything PoW-specific lives here; the generic spec keeps its meaning where it
has one: ``n`` is the number of nodes (miners and relay-only nodes), ``network``
gives the latency model and the bandwidth (each node's uplink, or each link's:
``bandwidth_model`` below), ``cpu`` prices block validation,
``seed`` drives every random stream. ``f``, ``workload``, ``faults`` and
``stop`` are not used by PoW runs: the transaction load is ``tx_rate_tps``
below (an open Poisson stream, like ``workload.rate_rps`` in open mode, but
PoW has no clients waiting for replies), and a run stops after ``blocks``
mined blocks (or ``max_time_s``).

Checks that need ``n`` (lengths of ``hash_shares``, node ids in ``edges``)
are done by :func:`check_against_n` when the spec is loaded (the protocol's
``extra["check_spec"]``) and name the same key paths.

Attackers are not here: a spec's ``adversary`` section selects one, like for
any protocol (see :mod:`bftlab.adversary.pow`), and ``byzantine: [v]`` names its node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bftlab.specs.schema import FieldError

_SHARE_TOL = 1e-6


@dataclass(frozen=True, kw_only=True)
class PowParams:
    """Nakamoto proof-of-work: chain, mining and relay settings (attackers are in the spec's adversary section)."""

    mode: Literal["realistic", "idealised"] = "realistic"
    """realistic: blocks propagate over the peer-to-peer topology; idealised: zero propagation delay, and in a tie a fraction gamma (a selfish-mining parameter) of honest hash power mines on the attacker's block."""
    engine: Literal["fast", "events"] = "fast"
    """fast: block arrival times computed over the topology by a shortest-path kernel, attackers event-driven; events: every inv/getdata/block message is a simulator event (honest miners only; slower, same model)."""
    blocks: int = 1000
    """Stop after this many blocks were mined (main chain and stale together)."""
    max_time_s: float = 0.0
    """Also stop at this simulated time; 0 = no limit."""
    block_interval_s: float = 600.0
    """Target mean time between blocks."""
    retarget_interval: int = 2016
    """Recompute difficulty every this many blocks (Bitcoin's rule, factor clamped to [1/4, 4]); 0 = fixed difficulty."""
    initial_interval_factor: float = 1.0
    """Genesis difficulty makes the first blocks come this many times the target interval apart (retargeting then corrects it)."""
    max_block_size_bytes: int = 1_000_000
    """Block size limit (header and transactions)."""
    tx_rate_tps: float = 0.0
    """Transactions per second arriving in the mempool (Poisson). 0 = empty blocks."""
    tx_size_bytes: int = 500
    """Size of every transaction."""
    hash_shares: tuple[float, ...] = ()
    """Explicit hash-power share of nodes 0, 1, ... (must sum to 1; nodes beyond the list only relay). Empty = use hash_distribution."""
    hash_distribution: Literal["uniform", "zipf"] = "uniform"
    """Shares when hash_shares is empty: equal, or proportional to 1/(i+1)^zipf_exponent (a few big pools)."""
    miners: int = 0
    """Number of mining nodes (0 .. miners-1) for hash_distribution; 0 = every node mines."""
    zipf_exponent: float = 1.0
    """Exponent of the zipf distribution."""
    topology: Literal["random_regular", "complete", "edges"] = "random_regular"
    """Peer-to-peer graph: a random regular graph of the given degree, all pairs, or the edge list."""
    degree: int = 8
    """Connections per node of the random regular graph (Bitcoin Core's default is 8 outbound)."""
    edges: tuple[tuple[int, int], ...] = ()
    """Undirected links [a, b] for topology: edges."""
    relay: Literal["inv", "push"] = "inv"
    """inv: announce, the peer requests with getdata, then the block is sent; push: send the whole block unsolicited."""
    bandwidth_model: Literal["uplink", "per_link"] = "uplink"
    """uplink: network.bandwidth_mbps is each node's upload capacity and its messages leave one after another, first come first served (as in the generic simulator and SimBlock), so serving a block to k peers takes k transfer times; per_link: every connection has the full bandwidth_mbps and a node's transfers do not slow each other (faster propagation, fewer stale blocks)."""
    tie_break: Literal["first_seen"] = "first_seen"
    """Among tips of equal cumulative work a node keeps the one it received first (Bitcoin Core's rule)."""
    confirmations: int = 6
    """k: a transaction is confirmed when its block has k blocks including itself; reversing such a block is a safety violation."""

    def __post_init__(self) -> None:
        _positive("blocks", self.blocks, 1)
        _positive("block_interval_s", self.block_interval_s, 0.0, strict=True)
        _positive("max_time_s", self.max_time_s, 0.0)
        _positive("retarget_interval", self.retarget_interval, 0)
        _positive("initial_interval_factor", self.initial_interval_factor, 0.0, strict=True)
        _positive("max_block_size_bytes", self.max_block_size_bytes, 81)
        _positive("tx_rate_tps", self.tx_rate_tps, 0.0)
        _positive("tx_size_bytes", self.tx_size_bytes, 1)
        if self.tx_size_bytes > self.max_block_size_bytes - 80:
            raise FieldError("tx_size_bytes", f"a transaction ({self.tx_size_bytes} B) must fit in a block "
                                              f"(max_block_size_bytes - 80 = {self.max_block_size_bytes - 80} B).")
        _positive("miners", self.miners, 0)
        _positive("zipf_exponent", self.zipf_exponent, 0.0)
        _positive("degree", self.degree, 1)
        _positive("confirmations", self.confirmations, 1)
        self._check_shares()
        if self.topology == "edges" and not self.edges:
            raise FieldError("edges", "topology: edges needs a non-empty edge list [[a, b], ...].")
        if self.topology != "edges" and self.edges:
            raise FieldError("edges", f"is set but topology is {self.topology!r}; set topology: edges to use it.")
        for i, (a, b) in enumerate(self.edges):
            if a < 0 or b < 0 or a == b:
                raise FieldError(f"edges[{i}]", f"must join two different node ids >= 0, got [{a}, {b}].")
        if self.engine == "events" and self.mode == "idealised":
            raise FieldError("engine", "mode: idealised has no messages to simulate; use engine: fast.")

    def _check_shares(self) -> None:
        for i, s in enumerate(self.hash_shares):
            if not (math.isfinite(s) and s >= 0):
                raise FieldError(f"hash_shares[{i}]", f"must be a number >= 0, got {s!r}.")
        if self.hash_shares:
            total = sum(self.hash_shares)
            if abs(total - 1.0) > _SHARE_TOL:
                raise FieldError("hash_shares", f"must sum to 1, got {total:.6g} (from {len(self.hash_shares)} shares).")


def _positive(name: str, value: float, low: float, strict: bool = False) -> None:
    if value < low or (strict and value <= low):
        raise FieldError(name, f"must be {'>' if strict else '>='} {low:g}, got {value!r}.")


def check_against_n(p: PowParams, n: int, where: str = "protocol.params") -> None:
    """Checks that need the node count; raise FieldError naming the key path from the spec's top."""

    def fail(key: str, msg: str) -> FieldError:
        return FieldError(f"{where}.{key}", msg)

    if len(p.hash_shares) > n:
        raise fail("hash_shares", f"has {len(p.hash_shares)} shares but there are only n={n} nodes.")
    if p.miners > n:
        raise fail("miners", f"must be <= n={n}, got {p.miners}.")
    if p.topology == "random_regular" and n > 1:
        if p.degree >= n:
            raise fail("degree", f"must be < n={n} for a random regular graph, got {p.degree}.")
        if (n * p.degree) % 2:
            raise fail("degree", f"n * degree must be even for a regular graph (n={n}, degree={p.degree}).")
    for i, (a, b) in enumerate(p.edges):
        if a >= n or b >= n:
            raise fail(f"edges[{i}]", f"names node {max(a, b)}, but nodes are 0..{n - 1}.")
