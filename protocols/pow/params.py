"""PoW parameters (``protocol.params`` of a spec), validated with key paths.

Everything PoW-specific lives here; the generic spec keeps its meaning where it
has one: ``n`` is the number of nodes (miners and relay-only nodes), ``network``
gives the latency model and per-link bandwidth, ``cpu`` prices block validation,
``seed`` drives every random stream. ``f``, ``workload``, ``faults`` and
``stop`` are not used by PoW runs: the transaction load is ``tx_rate_tps``
below (an open Poisson stream, like ``workload.rate_rps`` in open mode, but
PoW has no clients waiting for replies), and a run stops after ``blocks``
mined blocks (or ``max_time_s``).

Checks that need ``n`` (lengths of ``hash_shares``, node ids in ``edges``,
``attacker.node``) are done when the run is built, by :func:`check_against_n`,
and name the same key paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

from bftlab.errors import ConfigError
from bftlab.schema import FieldError

_SHARE_TOL = 1e-6


@dataclass(frozen=True, kw_only=True)
class AttackerParams:
    """One attacking miner (node ``node``) and its strategy."""

    kind: Literal["selfish", "double_spend", "majority", "eclipse"]
    """selfish: SM1 of Eyal & Sirer (FC'14); double_spend: private-fork race against a merchant waiting z confirmations (Rosenfeld 2012); majority: private fork that overrides z-deep blocks (needs hash_share > 0.5 to win surely); eclipse: the attacker holds every connection of ``victim`` between start_s and end_s."""
    node: int = 0
    """Node id of the attacker."""
    hash_share: Optional[float] = None
    """The attacker's share of total hash power (alpha / q). Other miners keep their relative shares, scaled to 1 - hash_share. null: take it from hash_shares."""
    z: int = 6
    """double_spend / majority: confirmations the merchant waits for (depth of the reversed blocks)."""
    give_up: int = 0
    """double_spend: abandon an attempt when the honest chain leads by this many blocks; 0 = never give up (simulated with a cut-off where catching up has probability < 1e-9)."""
    premine: bool = True
    """double_spend: pay only after the first private block is found (Rosenfeld's assumption; success = I_{4pq}(z, 1/2))."""
    victim: int = 1
    """eclipse: the isolated node."""
    start_s: float = 0.0
    """eclipse: when the attacker starts withholding blocks from and to the victim."""
    end_s: float = 3600.0
    """eclipse: when the victim's connections work again."""
    degree: int = 0
    """Realistic mode: connections of the attacker node (a well-connected attacker wins more ties); 0 = like any node."""

    def __post_init__(self) -> None:
        if self.node < 0:
            raise FieldError("node", f"must be a node id >= 0, got {self.node!r}.")
        if self.hash_share is not None and not 0.0 <= self.hash_share < 1.0:
            raise FieldError("hash_share", f"must be in [0, 1), got {self.hash_share!r}.")
        if self.z < 1:
            raise FieldError("z", f"must be >= 1, got {self.z!r}.")
        if self.give_up < 0:
            raise FieldError("give_up", f"must be >= 0 (0 = never), got {self.give_up!r}.")
        if self.victim < 0 or (self.kind == "eclipse" and self.victim == self.node):
            raise FieldError("victim", f"must be a node id other than the attacker's ({self.node}), got {self.victim!r}.")
        if self.start_s < 0 or self.end_s <= self.start_s:
            raise FieldError("end_s", f"needs 0 <= start_s < end_s, got start_s={self.start_s!r}, end_s={self.end_s!r}.")
        if self.degree < 0:
            raise FieldError("degree", f"must be >= 0, got {self.degree!r}.")


@dataclass(frozen=True, kw_only=True)
class PowParams:
    """Nakamoto proof-of-work: chain, mining, relay and attacker settings."""

    mode: Literal["realistic", "idealised"] = "realistic"
    """realistic: blocks propagate over the peer-to-peer topology; idealised: zero propagation delay, and in a tie a fraction gamma of honest hash power mines on the attacker's block."""
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
    tie_break: Literal["first_seen"] = "first_seen"
    """Among tips of equal cumulative work a node keeps the one it received first (Bitcoin Core's rule)."""
    gamma: float = 0.0
    """Idealised mode: fraction of honest hash power that mines on the attacker's block in a tie."""
    confirmations: int = 6
    """k: a transaction is confirmed when its block has k blocks including itself; reversing such a block is a safety violation."""
    attacker: Optional[AttackerParams] = None
    """An attacking miner, or null for an honest network."""

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
        if not 0.0 <= self.gamma <= 1.0:
            raise FieldError("gamma", f"must be in [0, 1], got {self.gamma!r}.")
        if self.gamma and self.mode != "idealised":
            raise FieldError("gamma", "applies to mode: idealised only; in realistic mode gamma arises from the network.")
        self._check_shares()
        if self.topology == "edges" and not self.edges:
            raise FieldError("edges", "topology: edges needs a non-empty edge list [[a, b], ...].")
        if self.topology != "edges" and self.edges:
            raise FieldError("edges", f"is set but topology is {self.topology!r}; set topology: edges to use it.")
        for i, (a, b) in enumerate(self.edges):
            if a < 0 or b < 0 or a == b:
                raise FieldError(f"edges[{i}]", f"must join two different node ids >= 0, got [{a}, {b}].")
        att = self.attacker
        if att is not None:
            if att.kind == "eclipse" and self.mode == "idealised":
                raise FieldError("attacker.kind", "eclipse needs mode: realistic (idealised mode has no connections).")
            if self.engine == "events":
                raise FieldError("attacker", "attackers run on engine: fast only (the events engine is honest-only).")
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
    """Checks that need the node count; raise ConfigError naming the key path."""

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}.{key}: {msg}")

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
    att = p.attacker
    if att is not None:
        if att.node >= n:
            raise fail("attacker.node", f"must be a node id 0..{n - 1}, got {att.node}.")
        if att.kind == "eclipse" and att.victim >= n:
            raise fail("attacker.victim", f"must be a node id 0..{n - 1}, got {att.victim}.")
        if att.degree >= n:
            raise fail("attacker.degree", f"must be < n={n}, got {att.degree}.")
