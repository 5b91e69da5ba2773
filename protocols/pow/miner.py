"""The honest PoW node as a sans-IO state machine (Nakamoto 2008, sections 4-5).

Inputs: ``Start`` arms the mining timer; ``TimerFired("mine")`` is a block
found on the current tip (the delay was exponential with rate
``share / (block_interval_s * D)``, drawn from the node's own ``ctx.rng``, so
mining is a Poisson process; on a tip change with another difficulty the
timer is re-armed, which memorylessness allows); ``Receive`` of
:class:`Inv`, :class:`GetData` or :class:`BlockMsg` is relay;
``Submit(STOP)`` ends mining (the run's block budget is spent).

Relay: a connected block is announced (``inv``) or pushed (``push``) to
every neighbour but the one it came from; an inv is answered with a getdata
to the first announcer only. A block whose parent is unknown waits as an
orphan and is connected (and relayed) when the parent is. Chain selection:
most cumulative work; a tip of equal work does not replace the one seen
first. Validation cost (per byte, plus one signature check and one hash per
transaction) is charged to the node's cost meter, so the simulator delays
the node's next actions by it.

Outputs to the metrics: :class:`BlockFound` and :class:`BlockReady` history
events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import Broadcast, CancelTimer, Observe, Receive, Send, SetTimer, Start, Submit, TimerFired
from bftlab.core.kernel import NS
from bftlab.core.wire import message
from bftlab.protocols.pow.chain import GENESIS_HASH, HEADER_SIZE, header_bytes, merkle_root, next_difficulty, sha256d

STOP = b"pow:stop-mining"
_MINE = "mine"


@message(0x600)
@dataclass(frozen=True, slots=True)
class Inv:
    block: bytes


@message(0x601)
@dataclass(frozen=True, slots=True)
class GetData:
    block: bytes


@message(0x602)
@dataclass(frozen=True, slots=True)
class BlockMsg:
    """A block: its header and its (modelled) content. ``size_bytes`` is what the links carry."""

    header: bytes
    miner: int
    difficulty: float
    time_ns: int
    tx_start: int
    tx_count: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class BlockFound:
    node: int
    block: bytes
    parent: bytes
    time_ns: int
    difficulty: float
    tx_start: int
    tx_count: int
    size_bytes: int
    nonce: int


@dataclass(frozen=True, slots=True)
class BlockReady:
    """``node`` validated and connected ``block`` (it may relay and mine on it)."""

    node: int
    block: bytes
    time_ns: int


@dataclass(slots=True)
class _Info:
    msg: BlockMsg | None
    parent: bytes
    height: int
    cumwork: float
    difficulty: float
    time_ns: int
    epoch_ns: int
    tx_end: int


class Miner:
    """One honest node: chain, relay and (if its share is > 0) mining."""

    def __init__(self, ctx: Any, params: Any, share: float, neighbours: tuple[int, ...], txs: Any, cpu: Any) -> None:
        self.node_id = ctx.node_id
        self.rng = ctx.rng
        self.meter = ctx.crypto.meter
        self.p = params
        self.share = share
        self.neighbours = neighbours
        self.txs = txs
        self.cpu = cpu
        d0 = params.initial_interval_factor
        self.blocks: dict[bytes, _Info] = {GENESIS_HASH: _Info(None, b"", 0, 0.0, d0, 0, 0, 0)}
        self.tip = GENESIS_HASH
        self.requested: set[bytes] = set()
        self.orphans: dict[bytes, list[tuple[int, BlockMsg]]] = {}
        self.orphan_ids: set[bytes] = set()
        self.mining = False
        self.mining_d = 0.0
        self.counters = {"duplicate_blocks": 0}

    # ------------------------------------------------------------ entry point
    def step(self, now: float, inp: Any) -> list[Any]:
        t = int(round(now * NS))
        kind = type(inp)
        if kind is Receive:
            msg = inp.msg
            if type(msg) is Inv:
                return self._on_inv(inp.sender, msg)
            if type(msg) is GetData:
                info = self.blocks.get(msg.block)
                return [Send(inp.sender, info.msg)] if info is not None and info.msg is not None else []
            if type(msg) is BlockMsg:
                return self._on_block(inp.sender, msg, t)
            return []
        if kind is TimerFired and inp.name == _MINE:
            return self._mine(t) if self.mining else []
        if kind is Start:
            self.mining = self.share > 0
            return self._arm()
        if kind is Submit and inp.op == STOP:
            self.mining = False
            return [CancelTimer(_MINE)]
        return []

    # ------------------------------------------------------------ mining
    def _next_d(self, h: bytes) -> float:
        info = self.blocks[h]
        gp = self.blocks.get(info.parent)
        return next_difficulty(info.difficulty, info.height, info.time_ns, gp.epoch_ns if gp else 0,
                               self.p.retarget_interval, self.p.block_interval_s)

    def _arm(self) -> list[Any]:
        if not self.mining:
            return []
        self.mining_d = self._next_d(self.tip)
        rate = self.share / (self.p.block_interval_s * self.mining_d)
        return [SetTimer(_MINE, self.rng.expovariate(rate))]

    def _mine(self, t: int) -> list[Any]:
        parent = self.tip
        pinfo = self.blocks[parent]
        d = self._next_d(parent)
        cap = (self.p.max_block_size_bytes - HEADER_SIZE) // self.p.tx_size_bytes
        count = max(0, min(cap, self.txs.count_until(t) - pinfo.tx_end))
        size = HEADER_SIZE + count * self.p.tx_size_bytes
        nonce = self.rng.getrandbits(32)
        root = merkle_root(pinfo.height + 1, self.node_id, pinfo.tx_end, count)
        header = header_bytes(parent, root, t // NS, d, nonce)
        msg = BlockMsg(header, self.node_id, d, t, pinfo.tx_end, count, size)
        h = sha256d(header)
        found = BlockFound(self.node_id, h, parent, t, d, pinfo.tx_end, count, size, nonce)
        return [Observe(found), *self._connect(h, msg, t, -1, rearm=False), *self._arm()]

    # ------------------------------------------------------------ relay
    def _on_inv(self, sender: int, msg: Inv) -> list[Any]:
        h = msg.block
        if h in self.blocks or h in self.requested or h in self.orphan_ids:
            return []
        self.requested.add(h)
        return [Send(sender, GetData(h))]

    def _on_block(self, sender: int, msg: BlockMsg, t: int) -> list[Any]:
        h = sha256d(msg.header)
        if h in self.blocks or h in self.orphan_ids:
            self.counters["duplicate_blocks"] += 1
            return []
        cpu = self.cpu
        self.meter.charge("validate", msg.size_bytes * cpu.per_byte_ns * 1e-9
                          + msg.tx_count * (cpu.verify_us * 1e-6 + cpu.hash_s(64)))
        parent = msg.header[4:36]
        if parent not in self.blocks:
            self.orphan_ids.add(h)
            self.orphans.setdefault(parent, []).append((sender, msg))
            return []
        return self._connect(h, msg, t, sender)

    def _connect(self, h: bytes, msg: BlockMsg, t: int, sender: int, rearm: bool = True) -> list[Any]:
        out: list[Any] = []
        todo = [(h, msg, sender)]
        old_tip = self.tip
        while todo:
            h, msg, sender = todo.pop()
            pinfo = self.blocks[msg.header[4:36]]
            height = pinfo.height + 1
            n = self.p.retarget_interval
            epoch = msg.time_ns if n and height % n == 0 else pinfo.epoch_ns
            info = _Info(msg, msg.header[4:36], height, pinfo.cumwork + msg.difficulty, msg.difficulty,
                         msg.time_ns, epoch, msg.tx_start + msg.tx_count)
            self.blocks[h] = info
            self.requested.discard(h)
            self.orphan_ids.discard(h)
            if info.cumwork > self.blocks[self.tip].cumwork:
                self.tip = h
            out.append(Observe(BlockReady(self.node_id, h, t)))
            to = tuple(v for v in self.neighbours if v != sender)
            if to:
                out.append(Broadcast(to, Inv(h) if self.p.relay == "inv" else msg))
            for s2, m2 in self.orphans.pop(h, ()):
                todo.append((sha256d(m2.header), m2, s2))
        if rearm and self.tip != old_tip and self.mining and self._next_d(self.tip) != self.mining_d:
            out.extend(self._arm())  # another difficulty on the new tip: another rate
        return out
