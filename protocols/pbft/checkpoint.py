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
a snapshot is the whole state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgpack

from bftlab.api import CancelTimer, Send, SetTimer, StateTransferred

from .kvstore import KvStore
from .messages import Checkpoint, FetchState, StateReply, checkpoint_body, well_formed

if TYPE_CHECKING:
    from .replica import PbftReplica


class CheckpointMixin:
    __slots__ = ()

    # ------------------------------------------------------------ snapshots
    def _snapshot(self: PbftReplica) -> bytes:
        replies = tuple((c, ts, res) for c, (ts, res) in sorted(self.replies.items()))
        return msgpack.packb((self.kv.items(), replies), use_bin_type=True)

    def _restore(self: PbftReplica, snapshot: bytes) -> None:
        """Replace the service state; raises ValueError on a malformed snapshot."""
        try:
            kv_items, reply_items = msgpack.unpackb(snapshot, use_list=False, raw=False)
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
        self.kv = kv
        self.replies = replies

    # ---------------------------------------------------------- checkpoints
    def _take_checkpoint(self: PbftReplica, s: int) -> None:
        snap = self._snapshot()
        d = self.crypto.digest(snap)
        self.own_ckpts[s] = (d, snap)
        me = self.node_id
        c = Checkpoint(s, d, me, self.auth.sign(checkpoint_body(s, d, me)))
        self._broadcast(c)
        self._add_ckpt_vote(c)

    def _on_checkpoint(self: PbftReplica, sender: int, m: Checkpoint) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.replica_set:
            return self._drop("drop.bad_sender")
        if m.seq <= self.h or m.seq % self.interval != 0:
            return self._drop("drop.stale_checkpoint")
        votes = self.ckpt_votes.get(m.seq)
        if votes is not None and sender in votes:
            return self._drop("drop.duplicate")
        if m.seq > self.h + self.window and self.far_ckpt.get(sender, -1) >= m.seq:
            return self._drop("drop.stale_checkpoint")
        if not self.auth.verify(sender, checkpoint_body(m.seq, m.state_digest, sender), m.sig):
            return self._drop("drop.bad_auth")
        self._add_ckpt_vote(m)

    def _add_ckpt_vote(self: PbftReplica, c: Checkpoint) -> None:
        s, r = c.seq, c.replica
        if s <= self.h:
            return
        if s > self.h + self.window:  # beyond H: keep only the newest per replica
            prev = self.far_ckpt.get(r)
            if prev is not None:
                if prev >= s:
                    return
                old = self.ckpt_votes.get(prev)
                if old is not None:
                    old.pop(r, None)
                    if not old:
                        del self.ckpt_votes[prev]
            self.far_ckpt[r] = s
        votes = self.ckpt_votes.setdefault(s, {})
        if r in votes:
            return
        votes[r] = c
        matching = tuple(v for v in votes.values() if v.state_digest == c.state_digest)
        if len(matching) >= self.q_ckpt:
            self._stable(s, c.state_digest, matching)

    def _valid_ckpt_proof(self: PbftReplica, s: int, proof: tuple[Checkpoint, ...]) -> bytes | None:
        """The digest proven by ``proof`` for checkpoint ``s``, or None if it is not a proof."""
        if s == 0:
            return self.genesis_digest if not proof else None
        if s < 0 or len(proof) < self.q_ckpt or len(proof) > self.n:
            return None
        if s == self.h and proof == self.stable_proof:
            return self.stable_digest
        d = proof[0].state_digest
        seen: set[int] = set()
        for c in proof:
            r = c.replica
            if c.seq != s or c.state_digest != d or r in seen or r not in self.replica_set:
                return None
            if not self.auth.verify(r, checkpoint_body(s, d, r), c.sig):
                return None
            seen.add(r)
        return d

    def _stable(self: PbftReplica, s: int, d: bytes, proof: tuple[Checkpoint, ...], snapshot: bytes | None = None) -> None:
        """Checkpoint ``s`` with digest ``d`` is stable (proven by ``proof``): move h, collect garbage."""
        if s <= self.h:
            return
        own = self.own_ckpts.get(s)
        self.h = s
        self.stable_digest = d
        self.stable_proof = proof
        self._gc(s)
        if snapshot is not None:
            self.stable_snapshot = snapshot
        elif self.last_exec >= s and own is not None and own[0] == d:
            self.stable_snapshot = own[1]
        else:
            self.stable_snapshot = None
            if self.last_exec >= s:
                self._drop("ckpt.state_mismatch")  # our state diverged from 2f+1 others
            self._start_fetch(s, d)
        if self.seq_next <= s:
            self.seq_next = s + 1
        self._try_propose()

    def _gc(self: PbftReplica, s: int) -> None:
        for key in [k for k in self.slots if k[1] <= s]:
            del self.slots[key]
        for table in (self.prepared_slots, self.committed, self.ckpt_votes, self.own_ckpts):
            for seq in [k for k in table if k <= s]:
                del table[seq]
        for r in [r for r, seq in self.far_ckpt.items() if seq <= s]:
            del self.far_ckpt[r]

    # ------------------------------------------------------- state transfer
    def _start_fetch(self: PbftReplica, s: int, d: bytes) -> None:
        self.fetch = (s, d)
        sources = tuple(c.replica for c in self.stable_proof if c.replica != self.node_id)
        self.fetch_sources = sources or self.others
        self.fetch_idx = self.node_id  # spread laggards over different sources
        self._send_fetch()

    def _send_fetch(self: PbftReplica) -> None:
        assert self.fetch is not None
        src = self.fetch_sources[self.fetch_idx % len(self.fetch_sources)]
        self.fetch_idx += 1
        self._out.append(Send(src, FetchState(self.fetch[0], self.node_id)))
        self._out.append(SetTimer("fetch", self.params.state_fetch_timeout_s))

    def _on_fetch_state(self: PbftReplica, sender: int, m: FetchState) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.replica_set or sender == self.node_id:
            return self._drop("drop.bad_sender")
        if self.stable_snapshot is not None and self.h >= m.seq and self.h > 0:
            self._out.append(Send(sender, StateReply(self.h, self.stable_snapshot, self.stable_proof, self.node_id)))
            return
        own = self.own_ckpts.get(m.seq)
        if own is not None:
            self._out.append(Send(sender, StateReply(m.seq, own[1], (), self.node_id)))
            return
        self._drop("fetch.unavailable")

    def _on_state_reply(self: PbftReplica, sender: int, m: StateReply) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.replica_set:
            return self._drop("drop.bad_sender")
        if self.fetch is None:
            return self._drop("drop.unsolicited_state")
        want_seq, want_digest = self.fetch
        if m.seq < want_seq:
            return self._drop("drop.stale_state")
        if m.proof:
            d = self._valid_ckpt_proof(m.seq, m.proof)
        else:
            d = want_digest if m.seq == want_seq else None
        if d is None:
            return self._drop("drop.bad_state_proof")
        if self.crypto.digest(m.snapshot) != d:
            return self._drop("drop.bad_state")
        try:
            self._restore(m.snapshot)
        except ValueError:
            return self._drop("drop.bad_state")
        self.fetch = None
        self._out.append(CancelTimer("fetch"))
        rolled_back = self.last_exec > m.seq
        self.last_exec = m.seq
        if m.seq > self.h:
            self._stable(m.seq, d, m.proof, m.snapshot)
        else:
            self.stable_snapshot = m.snapshot
        self._observe(StateTransferred(self.node_id, m.seq))
        if rolled_back:  # our state had diverged: re-execute what is committed above the checkpoint
            for (v, s), slot in sorted(self.slots.items()):
                if slot.committed and s > m.seq:
                    self.committed[s] = slot
        self._forget_executed_requests()
        self._execute_ready()
        self._after_progress()

    def _forget_executed_requests(self: PbftReplica) -> None:
        replies = self.replies
        for table in (self.pending, self.queue):
            for c in [c for c, req in table.items() if c in replies and req.ts <= replies[c][0]]:
                del table[c]
