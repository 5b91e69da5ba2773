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

Limits: every size has a cap, stated in its field docstring (which ``bftlab
validate --explain`` prints) and as a ``MAX_*`` constant below, so a valid
spec cannot ask for more memory than a laptop has: at most
:data:`MAX_NODES` nodes (:data:`MAX_EVENTS_NODES` on the events engine,
:data:`MAX_COMPLETE_NODES` with a complete graph), at most
:data:`MAX_LINK_ENDS` link ends (n x degree), and at most :data:`MAX_TXS`
transactions over the expected run (the mempool keeps every arrival time).

Attackers are not here: a spec's ``adversary`` section selects one, like for
any protocol (see :mod:`bftlab.adversary.pow`), and ``byzantine: [v]`` names its node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bftlab.specs.schema import FieldError

_SHARE_TOL = 1e-6

MAX_NODES = 100_000
"""Most nodes (the spec's ``n``) of a PoW run (n=10^6 took over 300 s and 1.3 GB per run)."""
MAX_EVENTS_NODES = 5_000
"""Most nodes on ``engine: events``, which builds every node and simulates every message."""
MAX_COMPLETE_NODES = 2_000
"""Most nodes with ``topology: complete`` (n^2/2 links)."""
MAX_LINK_ENDS = 2_000_000
"""Most link ends of a random regular graph: n x degree."""
MAX_BLOCKS = 1_000_000
"""Most blocks per run."""
MAX_BLOCK_INTERVAL_S = 86_400.0
"""Longest target block interval: one day."""
MAX_INTERVAL_FACTOR = 100.0
"""Largest ``initial_interval_factor``."""
MAX_BLOCK_BYTES = 268_435_456
"""Largest ``max_block_size_bytes``: 256 MiB."""
MAX_TX_RATE_TPS = 1_000_000.0
"""Highest transaction arrival rate."""
MAX_TXS = 50_000_000
"""Most transactions expected over a run (tx_rate_tps x expected duration): 8 bytes of memory each."""
MAX_DEGREE = 125
"""Most connections per node (Bitcoin Core's default connection limit)."""
MAX_CONFIRMATIONS = 10_000
"""Largest ``confirmations``."""
MAX_SPEC_TIME_S = 1e9
"""Longest expected run (blocks x block_interval_s x initial_interval_factor, or max_time_s): times are 64-bit ns."""


@dataclass(frozen=True, kw_only=True)
class PowParams:
    """Nakamoto proof-of-work: chain, mining and relay settings (attackers are in the spec's adversary section)."""

    mode: Literal["realistic", "idealised"] = "realistic"
    """realistic: blocks propagate over the peer-to-peer topology; idealised: zero propagation delay, and in a tie a
    fraction gamma (a selfish-mining parameter) of honest hash power mines on the attacker's block."""
    engine: Literal["fast", "events"] = "fast"
    """fast: block arrival times computed over the topology by a shortest-path kernel, attackers event-driven; events:
    every inv/getdata/block message is a simulator event (honest miners only; slower, same model)."""
    blocks: int = 1000
    """Stop after this many blocks were mined (main chain and stale together); at most 1,000,000."""
    max_time_s: float = 0.0
    """Also stop at this simulated time; 0 = no limit."""
    block_interval_s: float = 600.0
    """Target mean time between blocks, at most 86,400 (one day). The expected run, blocks x block_interval_s x
    initial_interval_factor (or max_time_s if shorter), must be at most 10^9 s."""
    retarget_interval: int = 2016
    """Recompute difficulty every this many blocks (Bitcoin's rule, factor clamped to [1/4, 4]);
    0 = fixed difficulty."""
    initial_interval_factor: float = 1.0
    """Genesis difficulty makes the first blocks come this many times the target interval apart (retargeting then
    corrects it); at most 100."""
    max_block_size_bytes: int = 1_000_000
    """Block size limit (header and transactions), at most 268,435,456 (256 MiB)."""
    tx_rate_tps: float = 0.0
    """Transactions per second arriving in the mempool (Poisson), at most 1,000,000; tx_rate_tps x the expected run
    must be at most 50,000,000 transactions. 0 = empty blocks."""
    tx_size_bytes: int = 500
    """Size of every transaction."""
    hash_shares: tuple[float, ...] = ()
    """Explicit hash-power share of nodes 0, 1, ... (must sum to 1; nodes beyond the list only relay). Empty = use
    hash_distribution."""
    hash_distribution: Literal["uniform", "zipf"] = "uniform"
    """Shares when hash_shares is empty: equal, or proportional to 1/(i+1)^zipf_exponent (a few big pools)."""
    miners: int = 0
    """Number of mining nodes (0 .. miners-1) for hash_distribution; 0 = every node mines."""
    zipf_exponent: float = 1.0
    """Exponent of the zipf distribution."""
    topology: Literal["random_regular", "complete", "edges"] = "random_regular"
    """Peer-to-peer graph: a random regular graph of the given degree, all pairs, or the edge list."""
    degree: int = 8
    """Connections per node of the random regular graph (Bitcoin Core's default is 8 outbound), at most 125; n x degree
    at most 2,000,000."""
    edges: tuple[tuple[int, int], ...] = ()
    """Undirected links [a, b] for topology: edges."""
    relay: Literal["inv", "push"] = "inv"
    """inv: announce, the peer requests with getdata, then the block is sent; push: send the whole block unsolicited."""
    bandwidth_model: Literal["uplink", "per_link"] = "uplink"
    """uplink: network.bandwidth_mbps is each node's upload capacity and its messages leave one after another, first
    come first served (as in the generic simulator and SimBlock), so serving a block to k peers takes k transfer
    times; per_link: every connection has the full bandwidth_mbps and a node's transfers do not slow each other
    (faster propagation, fewer stale blocks)."""
    tie_break: Literal["first_seen"] = "first_seen"
    """Among tips of equal cumulative work a node keeps the one it received first (Bitcoin Core's rule)."""
    confirmations: int = 6
    """k: a transaction is confirmed when its block has k blocks including itself; reversing such a block is a safety
    violation. At most 10,000."""

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
        self._check_caps()
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

    def _check_caps(self) -> None:
        _at_most("blocks", self.blocks, MAX_BLOCKS)
        _at_most("block_interval_s", self.block_interval_s, MAX_BLOCK_INTERVAL_S, " (one day)")
        _at_most("initial_interval_factor", self.initial_interval_factor, MAX_INTERVAL_FACTOR)
        _at_most("max_block_size_bytes", self.max_block_size_bytes, MAX_BLOCK_BYTES, " (256 MiB)")
        _at_most("tx_rate_tps", self.tx_rate_tps, MAX_TX_RATE_TPS)
        _at_most("degree", self.degree, MAX_DEGREE, " (Bitcoin Core's default connection limit)")
        _at_most("confirmations", self.confirmations, MAX_CONFIRMATIONS)
        duration = self.expected_duration_s
        if duration > MAX_SPEC_TIME_S:
            raise FieldError("blocks", f"the expected run, blocks x block_interval_s x initial_interval_factor = "
                                       f"{duration:.3g} s, is longer than {MAX_SPEC_TIME_S:.0e} s (times are 64-bit "
                                       f"nanoseconds); mine fewer blocks, shorten the interval or set max_time_s.")
        if self.tx_rate_tps * duration > MAX_TXS:
            raise FieldError("tx_rate_tps", f"{self.tx_rate_tps:g} tx/s over the expected run of {duration:.3g} s "
                                            f"is {self.tx_rate_tps * duration:.3g} transactions, more than {MAX_TXS:,} "
                                            f"(the mempool keeps every arrival time); lower the rate or mine fewer "
                                            f"blocks.")

    @property
    def expected_duration_s(self) -> float:
        """Simulated seconds the run is expected to last (capped by max_time_s when it is set)."""
        expected = self.blocks * self.block_interval_s * max(1.0, self.initial_interval_factor)
        return min(expected, self.max_time_s) if self.max_time_s else expected

    def _check_shares(self) -> None:
        for i, s in enumerate(self.hash_shares):
            if not (math.isfinite(s) and s >= 0):
                raise FieldError(f"hash_shares[{i}]", f"must be a number >= 0, got {s!r}.")
        if self.hash_shares:
            total = sum(self.hash_shares)
            if abs(total - 1.0) > _SHARE_TOL:
                raise FieldError("hash_shares",
                                 f"must sum to 1, got {total:.6g} (from {len(self.hash_shares)} shares).")


def _positive(name: str, value: float, low: float, strict: bool = False) -> None:
    if value < low or (strict and value <= low):
        raise FieldError(name, f"must be {'>' if strict else '>='} {low:g}, got {value!r}.")


def _at_most(name: str, value: float, high: float, why: str = "") -> None:
    if value > high:
        limit = f"{int(high):,}" if float(high).is_integer() else f"{high:g}"
        raise FieldError(name, f"must be at most {limit}{why}, got {value!r}.")


def check_against_n(p: PowParams, n: int, where: str = "protocol.params") -> None:
    """Checks that need the node count; raise FieldError naming the key path from the spec's top."""

    def fail(key: str, msg: str) -> FieldError:
        return FieldError(f"{where}.{key}", msg)

    if n > MAX_NODES:
        raise FieldError("n", f"must be at most {MAX_NODES:,} for a PoW run, got {n}.")
    if p.engine == "events" and n > MAX_EVENTS_NODES:
        raise FieldError("n", f"must be at most {MAX_EVENTS_NODES:,} on protocol.params.engine: events (every node "
                              f"and message is simulated), got {n}; use engine: fast.")
    if p.topology == "complete" and n > MAX_COMPLETE_NODES:
        raise fail("topology", f"complete needs n^2/2 links; n must be at most {MAX_COMPLETE_NODES:,} for it, got {n}.")
    if p.topology == "random_regular" and n * p.degree > MAX_LINK_ENDS:
        raise fail("degree", f"n x degree must be at most {MAX_LINK_ENDS:,} (n={n}, degree={p.degree}).")

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
