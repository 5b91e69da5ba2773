"""Checkpoints, garbage collection and state transfer (TOCS'02 §4.3; state transfer after §5.3).

Theory of operation
-------------------
After executing a sequence number that is a multiple of ``checkpoint_interval``
a replica snapshots its service state (the key-value store plus the last-reply
table, so exactly-once survives a state transfer), digests it, and multicasts a
signed <CHECKPOINT, n, d, i>. A checkpoint with ``2f+1`` matching CHECKPOINT
messages is *stable*; those messages are its proof. The low watermark ``h``
becomes its ``n`` and everything in the log at or below ``h`` is discarded
(PRE-PREPAREs, votes, certificates, older checkpoints), so memory stays bounded
by the window ``H - h = log_window``. Checkpoint messages above ``H`` are kept
only one per replica (the newest), which still lets a lagging replica see a
stable checkpoint ahead of it.

A replica learns that a stable checkpoint exists beyond what it has executed
from 2f+1 CHECKPOINTs, from a VIEW-CHANGE's proof or from a NEW-VIEW. It then
adopts the checkpoint as its low watermark and asks one of the proof's signers
for the snapshot (FETCH-STATE), rotating through them on a timer. The
STATE-REPLY is accepted only if its digest matches the proven digest; the
replica restores it, reports :class:`~bftlab.api.StateTransferred` and resumes
executing from there. The paper's incremental partition tree is not modelled:
a snapshot is the whole state. Batches committed above the stable checkpoint
that a replica missed (a restart, lost messages) come from FETCH-LOG instead
(see :mod:`.replica`), so it need not wait for the next checkpoint; that fetch
waits while a state transfer is in flight, which would otherwise roll back
what it executed.

After a restart the replica boots from the stable checkpoint it persisted
(:meth:`CheckpointManager.restore`, see :mod:`.durability`) and rebuilds the
snapshots of the checkpoints it replays over (:meth:`CheckpointManager.keep_own`).

:class:`CheckpointManager` owns the watermark ``h``, the CHECKPOINT votes, our
own snapshots and the state-transfer progress. It does not own the service
state: the replica hands it snapshots (:func:`snapshot`) and restores the ones
it accepts (:func:`restore`). When ``h`` moves, the replica collects the log's
garbage and may propose again (the window moved).
"""

from __future__ import annotations

from typing import Any

import msgpack

from bftlab.api import Broadcast, CancelTimer, Send, SetTimer

from .config import Drop, ReplicaConfig
from .kvstore import KvStore
from .messages import Checkpoint, FetchState, StateReply, checkpoint_body, well_formed

FETCH_TIMER = "fetch"


# ---------------------------------------------------------------- snapshots
def snapshot(kv: KvStore, replies: dict[int, tuple[int, bytes]]) -> bytes:
    """The service state checkpointed: the store and the last-reply table (exactly-once survives a transfer)."""
    table = tuple((c, ts, res) for c, (ts, res) in sorted(replies.items()))
    return msgpack.packb((kv.items(), table), use_bin_type=True)


def restore(snap: bytes) -> tuple[KvStore, dict[int, tuple[int, bytes]]]:
    """The service state in ``snap``; raises ValueError on a malformed snapshot."""
    try:
        kv_items, reply_items = msgpack.unpackb(snap, use_list=False, raw=False)
    except Exception as exc:
        raise ValueError(f"bad snapshot: {exc}") from None
    kv = KvStore.from_items(kv_items)
    if type(reply_items) is not tuple:
        raise ValueError("bad snapshot: reply table")
    replies: dict[int, tuple[int, bytes]] = {}
    for item in reply_items:
        if type(item) is not tuple or len(item) != 3:
            raise ValueError("bad snapshot: reply entry")
        c, ts, res = item
        if type(c) is not int or type(ts) is not int or type(res) is not bytes:
            raise ValueError("bad snapshot: reply entry")
        replies[c] = (ts, res)
    return kv, replies


class CheckpointManager:
    """Checkpoints, the low watermark ``h`` and state transfer of one replica."""

    __slots__ = (
        "cfg", "drop", "window", "h", "votes", "far", "own", "genesis_digest",
        "stable_digest", "stable_proof", "stable_snapshot", "fetch", "fetch_idx", "fetch_sources",
    )  # fmt: skip

    def __init__(self, cfg: ReplicaConfig, drop: Drop, genesis: bytes) -> None:
        self.cfg = cfg
        self.drop = drop
        self.window = cfg.window
        self.h = 0  # low watermark = seq of the stable checkpoint
        self.votes: dict[int, dict[int, Checkpoint]] = {}  # seq -> replica -> CHECKPOINT
        self.far: dict[int, int] = {}  # replica -> seq of its newest CHECKPOINT above H
        self.own: dict[int, tuple[bytes, bytes]] = {}  # seq -> (digest, snapshot) we took
        self.genesis_digest = cfg.crypto.digest(genesis)
        self.stable_digest = self.genesis_digest
        self.stable_proof: tuple[Checkpoint, ...] = ()
        self.stable_snapshot: bytes | None = genesis
        self.fetch: tuple[int, bytes] | None = None  # (seq, digest) of the state we are fetching
        self.fetch_idx = 0
        self.fetch_sources: tuple[int, ...] = ()

    # ---------------------------------------------------------- checkpoints
    def take(self, s: int, snap: bytes, last_exec: int) -> list[Any]:
        """We executed ``s`` (a multiple of the interval) and our state is ``snap``: multicast CHECKPOINT."""
        cfg = self.cfg
        d = cfg.crypto.digest(snap)
        self.own[s] = (d, snap)
        me = cfg.node_id
        c = Checkpoint(s, d, me, cfg.auth.sign(checkpoint_body(s, d, me)))
        return [Broadcast(cfg.others, c), *self._add_vote(c, last_exec)]

    def on_checkpoint(self, sender: int, m: Checkpoint, last_exec: int) -> list[Any]:
        cfg = self.cfg
        if not well_formed(m):
            return self._no("drop.malformed")
        if m.replica != sender or sender not in cfg.replica_set:
            return self._no("drop.bad_sender")
        if m.seq <= self.h or m.seq % cfg.interval != 0:
            return self._no("drop.stale_checkpoint")
        votes = self.votes.get(m.seq)
        if votes is not None and sender in votes:
            return self._no("drop.duplicate")
        if m.seq > self.h + self.window and self.far.get(sender, -1) >= m.seq:
            return self._no("drop.stale_checkpoint")
        if not cfg.auth.verify(sender, checkpoint_body(m.seq, m.state_digest, sender), m.sig):
            return self._no("drop.bad_auth")
        return self._add_vote(m, last_exec)

    def _no(self, reason: str) -> list[Any]:
        self.drop(reason)
        return []

    def _add_vote(self, c: Checkpoint, last_exec: int) -> list[Any]:
        s, r = c.seq, c.replica
        if s <= self.h:
            return []
        if s > self.h + self.window:  # beyond H: keep only the newest per replica
            prev = self.far.get(r)
            if prev is not None:
                if prev >= s:
                    return []
                old = self.votes.get(prev)
                if old is not None:
                    old.pop(r, None)
                    if not old:
                        del self.votes[prev]
            self.far[r] = s
        votes = self.votes.setdefault(s, {})
        if r in votes:
            return []
        votes[r] = c
        matching = tuple(v for v in votes.values() if v.state_digest == c.state_digest)
        if len(matching) >= self.cfg.q_ckpt:
            return self.stable(s, c.state_digest, matching, last_exec)
        return []

    def valid_proof(self, s: int, proof: tuple[Checkpoint, ...]) -> bytes | None:
        """The digest proven by ``proof`` for checkpoint ``s``, or None if it is not a proof."""
        if s == 0:
            return self.genesis_digest if not proof else None
        cfg = self.cfg
        if s < 0 or len(proof) < cfg.q_ckpt or len(proof) > cfg.n:
            return None
        if s == self.h and proof == self.stable_proof:
            return self.stable_digest
        d = proof[0].state_digest
        seen: set[int] = set()
        for c in proof:
            r = c.replica
            if c.seq != s or c.state_digest != d or r in seen or r not in cfg.replica_set:
                return None
            if not cfg.auth.verify(r, checkpoint_body(s, d, r), c.sig):
                return None
            seen.add(r)
        return d

    def stable(
        self, s: int, d: bytes, proof: tuple[Checkpoint, ...], last_exec: int, snap: bytes | None = None
    ) -> list[Any]:
        """Checkpoint ``s`` with digest ``d`` is stable (proven by ``proof``): move h, collect our garbage,
        and fetch the state if we do not hold it. The caller collects the log's garbage when ``h`` moved."""
        if s <= self.h:
            return []
        own = self.own.get(s)
        self.h = s
        self.stable_digest = d
        self.stable_proof = proof
        self._gc(s)
        if snap is not None:
            self.stable_snapshot = snap
        elif last_exec >= s and own is not None and own[0] == d:
            self.stable_snapshot = own[1]
        else:
            self.stable_snapshot = None
            if last_exec >= s:
                self.drop("ckpt.state_mismatch")  # our state diverged from 2f+1 others
            return self._start_fetch(s, d)
        return []

    def _gc(self, s: int) -> None:
        for table in (self.votes, self.own):
            for seq in [k for k in table if k <= s]:
                del table[seq]
        for r in [r for r, seq in self.far.items() if seq <= s]:
            del self.far[r]

    # ------------------------------------------------------------ restart
    def restore(self, s: int, d: bytes, proof: tuple[Checkpoint, ...], snap: bytes) -> None:
        """Boot from our persisted stable checkpoint ``s`` (no messages: we proved it stable before)."""
        self.h, self.stable_digest, self.stable_proof, self.stable_snapshot = s, d, proof, snap

    def keep_own(self, s: int, snap: bytes) -> None:
        """Remember our snapshot at ``s`` without announcing it (rebuilt by replay after a restart; we sent
        its CHECKPOINT before the crash), so that it can become stable without a state transfer."""
        self.own[s] = (self.cfg.crypto.digest(snap), snap)

    # ------------------------------------------------------- state transfer
    def _start_fetch(self, s: int, d: bytes) -> list[Any]:
        cfg = self.cfg
        self.fetch = (s, d)
        sources = tuple(c.replica for c in self.stable_proof if c.replica != cfg.node_id)
        self.fetch_sources = sources or cfg.others
        self.fetch_idx = cfg.node_id  # spread laggards over different sources
        return self.send_fetch()

    def send_fetch(self) -> list[Any]:
        """Ask the next source for the state we lack (on start, reboot and each fetch timeout)."""
        if self.fetch is None:
            return []
        src = self.fetch_sources[self.fetch_idx % len(self.fetch_sources)]
        self.fetch_idx += 1
        return [Send(src, FetchState(self.fetch[0], self.cfg.node_id)),
                SetTimer(FETCH_TIMER, self.cfg.params.state_fetch_timeout_s)]

    def on_fetch_state(self, sender: int, m: FetchState) -> list[Any]:
        cfg = self.cfg
        if not well_formed(m):
            return self._no("drop.malformed")
        if m.replica != sender or sender not in cfg.replica_set or sender == cfg.node_id:
            return self._no("drop.bad_sender")
        if self.stable_snapshot is not None and self.h >= m.seq and self.h > 0:
            return [Send(sender, StateReply(self.h, self.stable_snapshot, self.stable_proof, cfg.node_id))]
        own = self.own.get(m.seq)
        if own is not None:
            return [Send(sender, StateReply(m.seq, own[1], (), cfg.node_id))]
        return self._no("fetch.unavailable")

    def check_state_reply(self, sender: int, m: StateReply) -> bytes | None:
        """The proven digest of a STATE-REPLY that answers our fetch and matches it, else None (dropped)."""
        if not well_formed(m):
            return self.drop("drop.malformed")
        if m.replica != sender or sender not in self.cfg.replica_set:
            return self.drop("drop.bad_sender")
        if self.fetch is None:
            return self.drop("drop.unsolicited_state")
        want_seq, want_digest = self.fetch
        if m.seq < want_seq:
            return self.drop("drop.stale_state")
        if m.proof:
            d = self.valid_proof(m.seq, m.proof)
        else:
            d = want_digest if m.seq == want_seq else None
        if d is None:
            return self.drop("drop.bad_state_proof")
        if self.cfg.crypto.digest(m.snapshot) != d:
            return self.drop("drop.bad_state")
        return d

    def state_installed(self, m: StateReply, d: bytes, last_exec: int) -> list[Any]:
        """The replica restored the state of ``m`` (digest ``d``): stop fetching, make it our stable checkpoint."""
        self.fetch = None
        out: list[Any] = [CancelTimer(FETCH_TIMER)]
        if m.seq > self.h:
            out += self.stable(m.seq, d, m.proof, last_exec, m.snapshot)
        else:
            self.stable_snapshot = m.snapshot
        return out
