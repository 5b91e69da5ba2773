"""Blocks, headers, difficulty, hash shares and the transaction stream.

A block header is Bitcoin's 80 bytes (version, parent hash, Merkle root,
timestamp, compact target ``bits``, nonce); its id is the double SHA-256 of the
header. In simulation the nonce is not searched: discovery times are drawn
from the exponential distribution the search would give, so a header's hash
does not meet its target (real mode will search it with ``bftlab.crypto.pow_kernel``).

Difficulty ``D`` is relative: with all hash power on one chain the expected
time between blocks is ``block_interval_s * D``, so a miner with share ``s``
finds blocks at rate ``s / (block_interval_s * D)``. Genesis has
``D = initial_interval_factor``; every ``retarget_interval`` blocks ``D`` is
rescaled by (expected time / actual time of the last interval), clamped to
[1/4, 4] as in Bitcoin. A block's work is its ``D``; chain selection compares
cumulative work (:class:`Chain` keeps it per block).

Transactions arrive as one Poisson stream (:class:`TxStream`) that every miner
sees (their gossip is fast next to block intervals); a block takes the oldest
transactions its chain has not included yet, up to the size limit, so the
transactions of a chain are always a prefix of the stream and a block's
content is just a range ``[tx_start, tx_start + tx_count)``.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

HEADER_SIZE = 80
DIFF1_TARGET = 0xFFFF << 208
"""Bitcoin's difficulty-1 target; relative difficulty D maps to target DIFF1_TARGET / D."""
_HEADER = struct.Struct("<I32s32sIII")
GENESIS_HASH = hashlib.sha256(b"bftlab pow genesis").digest()


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def target_to_bits(target: int) -> int:
    """Bitcoin's compact encoding of a target (mantissa, exponent)."""
    size = (target.bit_length() + 7) // 8
    mant = target >> (8 * (size - 3)) if size > 3 else target << (8 * (3 - size))
    if mant & 0x800000:  # the sign bit must stay clear
        mant >>= 8
        size += 1
    return (size << 24) | mant


def header_bytes(parent: bytes, merkle_root: bytes, time_s: int, difficulty: float, nonce: int) -> bytes:
    bits = target_to_bits(max(1, int(DIFF1_TARGET / difficulty)))
    return _HEADER.pack(0x20000000, parent, merkle_root, time_s & 0xFFFFFFFF, bits, nonce & 0xFFFFFFFF)


def tx_ids(start: int, count: int) -> list[bytes]:
    """Ids of transactions ``start .. start+count-1`` of the stream.

    Their content is modelled, not stored, so an id only needs to be unique and
    reproducible: four rounds of the splitmix64 mixer of the index, vectorised.
    """
    words = np.arange(4, dtype=np.uint64)
    x: np.ndarray = np.arange(start, start + count, dtype=np.uint64)[:, None] * np.uint64(4) + words
    with np.errstate(over="ignore"):
        z = x * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    raw = z.astype("<u8").tobytes()
    return [raw[i:i + 32] for i in range(0, 32 * count, 32)]


def merkle_root(height: int, miner: int, tx_start: int, tx_count: int) -> bytes:
    """Bitcoin's Merkle root (double SHA-256, odd levels duplicate their last node) over a coinbase and the txs.

    Same result as ``bftlab.crypto.merkle.root(ids, BITCOIN)`` (tests check it); done
    with hashlib here because blocks have a few thousand leaves, where the
    batch kernel's per-call set-up costs more than it saves.
    """
    level = [hashlib.sha256(b"coinbase" + struct.pack("<qq", height, miner)).digest()]
    if tx_count:
        level += tx_ids(tx_start, tx_count)
    sha = hashlib.sha256
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha(sha(level[i] + level[i + 1]).digest()).digest() for i in range(0, len(level), 2)]
    return level[0]


def next_difficulty(parent_d: float, parent_height: int, parent_time_ns: int, epoch_start_ns: int,
                    retarget_interval: int, block_interval_s: float) -> float:
    """Difficulty of a child of ``parent``; ``epoch_start_ns`` is the time of block ``parent_height - N``."""
    n = retarget_interval
    if n == 0 or parent_height == 0 or parent_height % n:
        return parent_d
    actual = max(parent_time_ns - epoch_start_ns, 1) / 1e9
    factor = min(4.0, max(0.25, n * block_interval_s / actual))
    return parent_d * factor


def hash_shares(params, n: int, attacker=None) -> np.ndarray:
    """Each node's share of total hash power (length ``n``, sums to 1), attacker included.

    An ``attacker`` (:class:`~bftlab.protocols.pow.strategies.Attacker`) with a
    ``hash_share`` gets exactly that share; the other miners are scaled to the rest.
    """
    shares = np.zeros(n)
    if params.hash_shares:
        shares[: len(params.hash_shares)] = params.hash_shares
    else:
        m = params.miners or n
        if params.hash_distribution == "uniform":
            shares[:m] = 1.0
        else:
            shares[:m] = 1.0 / np.arange(1, m + 1) ** params.zipf_exponent
    att = attacker
    if att is not None and att.hash_share is not None:
        shares[att.node] = 0.0
        rest = shares.sum()
        shares = shares * ((1.0 - att.hash_share) / rest) if rest > 0 else shares
        shares[att.node] = att.hash_share
    total = shares.sum()
    return shares / total if total > 0 else shares


class TxStream:
    """Arrival times (ns) of the Poisson transaction stream, generated on demand.

    The times live in a buffer that doubles when it fills, so a run that asks
    for N arrivals copies O(N) values in all (appending to a fresh array on
    every refill copied the whole history each time: quadratic in the run's
    length). Refills draw exactly what they drew before (same chunk sizes from
    the same stream), so a seed gives the same transactions.
    """

    __slots__ = ("_rng", "_mean_ns", "_buf", "_size", "_last")

    def __init__(self, rng: np.random.Generator, rate_tps: float) -> None:
        self._rng = rng
        self._mean_ns = 1e9 / rate_tps if rate_tps > 0 else 0.0
        self._buf = np.zeros(0, dtype=np.int64)
        self._size = 0
        self._last = 0

    def _append(self, new: np.ndarray) -> None:
        end = self._size + new.shape[0]
        if end > self._buf.shape[0]:
            grown = np.empty(max(end, 2 * self._buf.shape[0]), dtype=np.int64)
            grown[: self._size] = self._buf[: self._size]
            self._buf = grown
        self._buf[self._size: end] = new
        self._size = end

    def count_until(self, t_ns: int) -> int:
        """Number of transactions that arrived at or before ``t_ns``."""
        if not self._mean_ns:
            return 0
        while self._last <= t_ns:
            k = max(1024, int((t_ns - self._last) / self._mean_ns * 1.2) + 64)
            gaps = self._rng.exponential(self._mean_ns, k)
            new = self._last + np.cumsum(gaps).astype(np.int64)
            self._append(new)
            self._last = int(new[-1])
        return int(np.searchsorted(self._buf[: self._size], t_ns, side="right"))

    def times(self, start: int, stop: int) -> np.ndarray:
        """Arrival times of transactions ``start .. stop-1`` (all already counted by :meth:`count_until`)."""
        return self._buf[start: min(stop, self._size)]


class Chain:
    """Every block of a run, by integer id (0 = genesis), in creation order.

    Columns are plain lists (append-only, cheap per block). ``published_ns`` is
    -1 for a block its (attacking) miner never released.
    """

    def __init__(self, genesis_difficulty: float) -> None:
        self.parent: list[int] = [-1]
        self.height: list[int] = [0]
        self.miner: list[int] = [-1]
        self.t_ns: list[int] = [0]
        self.difficulty: list[float] = [genesis_difficulty]
        self.cumwork: list[float] = [0.0]
        self.epoch_ns: list[int] = [0]
        self.tx_start: list[int] = [0]
        self.tx_count: list[int] = [0]
        self.size: list[int] = [HEADER_SIZE]
        self.hash: list[bytes] = [GENESIS_HASH]
        self.published_ns: list[int] = [0]
        self.by_attacker: list[bool] = [False]

    def __len__(self) -> int:
        return len(self.parent)

    def next_difficulty(self, p: int, retarget_interval: int, block_interval_s: float) -> float:
        gp = self.parent[p]
        epoch = self.epoch_ns[gp] if gp >= 0 else 0
        return next_difficulty(self.difficulty[p], self.height[p], self.t_ns[p], epoch, retarget_interval,
                               block_interval_s)

    def add(self, parent: int, miner: int, t_ns: int, difficulty: float, tx_start: int, tx_count: int,
            size: int, nonce: int, by_attacker: bool, retarget_interval: int) -> int:
        """Append a block mined on ``parent``; returns its id."""
        b = len(self.parent)
        h = self.height[parent] + 1
        self.parent.append(parent)
        self.height.append(h)
        self.miner.append(miner)
        self.t_ns.append(t_ns)
        self.difficulty.append(difficulty)
        self.cumwork.append(self.cumwork[parent] + difficulty)
        n = retarget_interval
        self.epoch_ns.append(t_ns if n and h % n == 0 else self.epoch_ns[parent])
        self.tx_start.append(tx_start)
        self.tx_count.append(tx_count)
        self.size.append(size)
        root = merkle_root(h, miner, tx_start, tx_count)
        self.hash.append(sha256d(header_bytes(self.hash[parent], root, t_ns // 1_000_000_000, difficulty, nonce)))
        self.published_ns.append(-1)
        self.by_attacker.append(by_attacker)
        return b

    def ancestor_at(self, b: int, height: int) -> int:
        while self.height[b] > height:
            b = self.parent[b]
        return b

    def fork_point(self, a: int, b: int) -> int:
        """The last common ancestor of blocks ``a`` and ``b``."""
        while a != b:
            if self.height[a] >= self.height[b]:
                a = self.parent[a]
            else:
                b = self.parent[b]
        return a

    def path(self, tip: int) -> list[int]:
        """Block ids from genesis to ``tip``."""
        out = []
        while tip >= 0:
            out.append(tip)
            tip = self.parent[tip]
        return out[::-1]


def block_content(chain: Chain, parent: int, t_ns: int, txs: TxStream, params) -> tuple[int, int, int]:
    """(tx_start, tx_count, size_bytes) of a block mined on ``parent`` at ``t_ns``."""
    start = chain.tx_start[parent] + chain.tx_count[parent]
    cap = (params.max_block_size_bytes - HEADER_SIZE) // params.tx_size_bytes
    count = max(0, min(cap, txs.count_until(t_ns) - start))
    return start, count, HEADER_SIZE + count * params.tx_size_bytes
