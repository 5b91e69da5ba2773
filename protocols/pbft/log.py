"""The message log and the agreement rules (TOCS'02 §4.2).

Theory of operation
-------------------
The log holds one :class:`Slot` per ``(view, seq)``: the PRE-PREPARE accepted
for it and the PREPAREs and COMMITs received for it. A backup accepts a
PRE-PREPARE if it is in view ``v``, the sender is primary(v), ``h < seq <= H``,
the digest matches the batch, every request in the batch is authentic and it
has not accepted a different one for ``(v, seq)``; it then multicasts
<PREPARE, v, seq, d, i>. A slot is *prepared* once it holds the PRE-PREPARE
and ``2f`` matching PREPAREs from distinct backups; the replica then multicasts
<COMMIT, v, seq, d, i>. It is *committed-local* once prepared with ``2f+1``
matching COMMITs, and waits in :attr:`MessageLog.committed` until the replica
executes it in ``seq`` order.

PREPARE and COMMIT are the same kind of vote in two phases (:data:`PREPARE_PHASE`,
:data:`COMMIT_PHASE`): one handler, :meth:`MessageLog.on_vote`, validates
them, counts the ones matching the accepted digest and advances the slot.
Votes may arrive before their PRE-PREPARE; they are counted when it is
accepted. PRE-PREPAREs of the view being installed that overtake its NEW-VIEW
are kept (one window's worth) and replayed once the view is installed, else
their slots could never prepare.

The log knows nothing of views changing or checkpoints becoming stable: the
replica passes the current ``view``, ``active``, ``h`` and ``last_exec`` in and
tells it when to drop old views (:meth:`MessageLog.drop_views_below`) or collect
garbage (:meth:`MessageLog.gc`). A peer's bad message is counted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import Broadcast

from . import durability
from .config import Drop, ReplicaConfig
from .messages import (
    COMMIT,
    PREPARE,
    Commit,
    Prepare,
    PreparedCert,
    PrePrepare,
    Request,
    batch_bytes,
    pre_prepare_body,
    request_body,
    vote_body,
    well_formed,
)


@dataclass(frozen=True, slots=True)
class Phase:
    """One of the two voting phases: which vote table of a slot it fills and how it is authenticated."""

    index: int
    code: int
    name: str


PREPARE_PHASE = Phase(0, PREPARE, "prepare")
COMMIT_PHASE = Phase(1, COMMIT, "commit")


class Slot:
    """Log entry for one ``(view, seq)``: the PRE-PREPARE and the votes for it."""

    __slots__ = ("view", "seq", "pp", "digest", "votes", "matching", "prepared", "committed")

    def __init__(self, view: int, seq: int) -> None:
        self.view = view
        self.seq = seq
        self.pp: PrePrepare | None = None
        self.digest = b""
        self.votes: tuple[dict[int, Any], dict[int, Any]] = ({}, {})  # by phase index: replica -> vote
        self.matching = [0, 0]  # by phase index: votes matching the pre-prepare's digest
        self.prepared = False
        self.committed = False

    @property
    def prepares(self) -> dict[int, Prepare]:
        return self.votes[0]

    @property
    def commits(self) -> dict[int, Commit]:
        return self.votes[1]


class MessageLog:
    """The slots of a replica and the pre-prepare/prepare/commit rules over them."""

    __slots__ = ("cfg", "drop", "window", "slots", "prepared_slots", "committed", "future_pp")

    def __init__(self, cfg: ReplicaConfig, drop: Drop) -> None:
        self.cfg = cfg
        self.drop = drop
        self.window = cfg.window
        self.slots: dict[tuple[int, int], Slot] = {}
        self.prepared_slots: dict[int, Slot] = {}  # seq -> highest-view prepared slot (the P set)
        self.committed: dict[int, Slot] = {}  # committed-local, not yet executed
        # PRE-PREPAREs of the view we are changing to that overtook its NEW-VIEW on the network.
        self.future_pp: dict[tuple[int, int], tuple[int, PrePrepare]] = {}

    def slot(self, view: int, seq: int) -> Slot:
        slot = self.slots.get((view, seq))
        if slot is None:
            slot = self.slots[(view, seq)] = Slot(view, seq)
        return slot

    # ---------------------------------------------------------- PRE-PREPARE
    def on_pre_prepare(self, sender: int, m: PrePrepare, view: int, active: bool, h: int) -> Slot | None:
        """Validate a PRE-PREPARE from ``sender``; return the slot to accept it into, or None."""
        v, s, d, batch = m.view, m.seq, m.digest, m.batch
        if type(v) is not int or type(s) is not int or type(d) is not bytes or type(batch) is not tuple:
            return self.drop("drop.malformed")
        if type(m.auth) is not tuple or not all(type(r) is Request and well_formed(r) for r in batch):
            return self.drop("drop.malformed")
        cfg, window = self.cfg, self.window
        if v != view or not active:
            if (v == view + 1 or (v == view and not active)) and sender == v % cfg.n \
                    and h < s <= h + window and len(self.future_pp) < window:
                self.future_pp[(v, s)] = (sender, m)
                return self.drop("drop.early_pre_prepare")
            return self.drop("drop.wrong_view")
        if sender != v % cfg.n or sender == cfg.node_id:
            return self.drop("drop.not_primary")
        if not h < s <= h + window:
            return self.drop("drop.out_of_window")
        slot = self.slots.get((v, s))
        if slot is not None and slot.pp is not None:
            return self.drop("drop.duplicate" if slot.digest == d else "drop.equivocation")
        if len(batch) > cfg.batch_max:
            return self.drop("drop.batch_too_large")
        auth = cfg.auth
        if not auth.check(sender, pre_prepare_body(v, s, d), m.auth):
            return self.drop("drop.bad_auth")
        if cfg.crypto.digest(batch_bytes(batch)) != d:
            return self.drop("drop.bad_digest")
        check, client_set = auth.check, cfg.client_set
        for r in batch:
            if r.client not in client_set or not check(r.client, request_body(r.op, r.ts, r.client), r.auth):
                return self.drop("drop.bad_request_in_batch")
        return slot if slot is not None else self.slot(v, s)

    def accept(self, slot: Slot, pp: PrePrepare, last_exec: int) -> list[Any]:
        """Log ``pp`` (already validated) and, as a backup, multicast PREPARE."""
        d = pp.digest
        slot.pp = pp
        slot.digest = d
        prepares, commits = slot.votes
        slot.matching[0] = sum(1 for p in prepares.values() if p.digest == d)
        slot.matching[1] = sum(1 for c in commits.values() if c.digest == d)
        cfg = self.cfg
        s, v, me = pp.seq, pp.view, cfg.node_id
        # Stable before our PREPARE (or, as primary, our PRE-PREPARE) leaves: see durability.
        out: list[Any] = [durability.pp_record(pp)]
        if v % cfg.n != me and me not in prepares:
            prep = Prepare(v, s, d, me, cfg.auth.seal(vote_body(PREPARE, v, s, d, me)))
            prepares[me] = prep
            slot.matching[0] += 1
            out.append(Broadcast(cfg.others, prep))
        out += self.check_slot(slot, last_exec)
        return out

    def take_future(self, view: int) -> list[tuple[int, PrePrepare]]:
        """The early PRE-PREPAREs of ``view`` (as ``(sender, pp)``, in seq order); forgets all others."""
        early = sorted((k, val) for k, val in self.future_pp.items() if k[0] == view)
        self.future_pp = {}
        return [val for _key, val in early]

    # ------------------------------------------------------- PREPARE/COMMIT
    def on_vote(
        self, sender: int, m: Prepare | Commit, phase: Phase, view: int, active: bool, h: int, last_exec: int
    ) -> tuple[list[Any], int]:
        """Handle a PREPARE or COMMIT. Returns the actions and the view the voter claims to be in
        if that is above ours and worth a view hint (else -1)."""
        v, s, r = m.view, m.seq, m.replica
        cfg = self.cfg
        if type(v) is not int or type(s) is not int or type(r) is not int:
            return self._no("drop.malformed")
        if type(m.digest) is not bytes or type(m.auth) is not tuple:
            return self._no("drop.malformed")
        if r != sender or r not in cfg.replica_set:
            return self._no("drop.bad_sender")
        if not h < s <= h + self.window:
            return self._no("drop.out_of_window")
        if v < view:
            return self._no("drop.wrong_view")
        if v > view + 1:
            self.drop("drop.wrong_view")
            authentic = cfg.auth.check(r, vote_body(phase.code, v, s, m.digest, r), m.auth)
            return [], v if authentic else -1
        hint = v if v > view and active else -1
        if phase is PREPARE_PHASE and r == v % cfg.n:
            self.drop("drop.prepare_from_primary")
            return [], hint
        slot = self.slots.get((v, s))
        if slot is None:
            slot = self.slots[(v, s)] = Slot(v, s)
        elif r in slot.votes[phase.index]:
            self.drop("drop.duplicate")
            return [], hint
        if not cfg.auth.check(r, vote_body(phase.code, v, s, m.digest, r), m.auth):
            self.drop("drop.bad_auth")
            return [], hint
        slot.votes[phase.index][r] = m
        if slot.pp is not None and m.digest == slot.digest:
            slot.matching[phase.index] += 1
            return self.check_slot(slot, last_exec), hint
        return [], hint

    def _no(self, reason: str) -> tuple[list[Any], int]:
        self.drop(reason)
        return [], -1

    def check_slot(self, slot: Slot, last_exec: int) -> list[Any]:
        """Advance ``slot`` through prepared -> committed-local as far as its votes allow."""
        out: list[Any] = []
        if slot.pp is None:
            return out
        cfg = self.cfg
        if not slot.prepared:
            if slot.matching[0] < cfg.q_prepare:
                return out
            slot.prepared = True
            old = self.prepared_slots.get(slot.seq)
            if old is None or old.view <= slot.view:
                self.prepared_slots[slot.seq] = slot
            v, s, d, me = slot.view, slot.seq, slot.digest, cfg.node_id
            commits = slot.votes[1]
            if me not in commits:
                out.append(durability.cert_record(self.cert(slot)))  # stable before our COMMIT
                c = Commit(v, s, d, me, cfg.auth.seal(vote_body(COMMIT, v, s, d, me)))
                commits[me] = c
                slot.matching[1] += 1
                out.append(Broadcast(cfg.others, c))
        if not slot.committed and slot.matching[1] >= cfg.q_commit:
            slot.committed = True
            if slot.seq > last_exec:
                self.committed[slot.seq] = slot
        return out

    def pop_committed(self, seq: int) -> Slot | None:
        """The committed-local slot at ``seq``, if any, removed from the to-execute set."""
        return self.committed.pop(seq, None)

    # ------------------------------------------------------- views and GC
    def prepared_certs(self, h: int) -> tuple[PreparedCert, ...]:
        """The P set of a VIEW-CHANGE: for each seq above ``h``, the highest-view prepared certificate."""
        return tuple(self.cert(self.prepared_slots[s]) for s in sorted(self.prepared_slots)
                     if s > h and self.prepared_slots[s].pp is not None)

    def cert(self, slot: Slot) -> PreparedCert:
        """The prepared certificate of a prepared ``slot``: its PRE-PREPARE and 2f matching PREPAREs."""
        d, prim = slot.digest, slot.view % self.cfg.n
        preps = tuple(p for r, p in slot.prepares.items() if p.digest == d and r != prim)
        return PreparedCert(slot.pp, preps[: self.cfg.q_prepare])  # type: ignore[arg-type]

    def restore(self, pp: PrePrepare, cert: PreparedCert | None) -> None:
        """Rebuild a slot from our stable records after a restart: the PRE-PREPARE we accepted (and our
        PREPARE for it) and, if we were prepared, the certificate and our COMMIT. Nothing is sent: it only
        makes us refuse another batch for that ``(v, n)`` and report the certificate in a VIEW-CHANGE."""
        cfg = self.cfg
        v, s, d, me = pp.view, pp.seq, pp.digest, cfg.node_id
        slot = self.slot(v, s)
        slot.pp, slot.digest = pp, d
        if v % cfg.n != me:
            slot.prepares[me] = Prepare(v, s, d, me, cfg.auth.seal(vote_body(PREPARE, v, s, d, me)))
        if cert is not None and cert.pre_prepare.view == v and cert.pre_prepare.digest == d:
            for p in cert.prepares:
                slot.prepares[p.replica] = p
            slot.commits[me] = Commit(v, s, d, me, cfg.auth.seal(vote_body(COMMIT, v, s, d, me)))
        slot.matching = [sum(1 for p in slot.prepares.values() if p.digest == d), 1 if me in slot.commits else 0]
        if slot.matching[0] >= cfg.q_prepare:
            slot.prepared = True
        if cert is not None:
            cs = cert.pre_prepare
            cslot = slot if cs.view == v else self.slot(cs.view, s)
            if cslot is not slot:
                cslot.pp, cslot.digest, cslot.prepared = cs, cs.digest, True
                for p in cert.prepares:
                    cslot.prepares[p.replica] = p
            old = self.prepared_slots.get(s)
            if old is None or old.view <= cslot.view:
                self.prepared_slots[s] = cslot

    def forget_committed_upto(self, seq: int) -> None:
        """Executed (by catch-up) up to ``seq``: committed slots at or below it will never be popped."""
        for s in [k for k in self.committed if k <= seq]:
            del self.committed[s]

    def drop_views_below(self, view: int) -> None:
        for key in [k for k in self.slots if k[0] < view]:
            del self.slots[key]

    def gc(self, s: int) -> None:
        """Checkpoint ``s`` is stable: forget everything at or below it."""
        for key in [k for k in self.slots if k[1] <= s]:
            del self.slots[key]
        for table in (self.prepared_slots, self.committed):
            for seq in [k for k in table if k <= s]:
                del table[seq]

    def recommit_above(self, seq: int) -> None:
        """After a state transfer rolled our state back to ``seq``: execute again what is committed above it."""
        for (_v, s), slot in sorted(self.slots.items()):
            if slot.committed and s > seq:
                self.committed[s] = slot
