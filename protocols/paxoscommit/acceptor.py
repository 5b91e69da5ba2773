"""The acceptor's rules: one Paxos acceptor per RM instance, one promise per transaction.

Theory of operation
-------------------
Each of the 2F+1 acceptors runs the Paxos acceptor (Lamport, "Paxos Made
Simple" §2.2; Gray & Lamport §3.2 and the TLA+ spec of the appendix) for every
instance of every transaction it hears of. For a transaction it keeps one
promised ballot ``mbal`` shared by all the transaction's instances (a
coordinator's Phase 1a always covers every instance; promising for more
instances than asked only makes an acceptor refuse more, never accept what
plain Paxos would not) and, per instance, the ballot and value it last
accepted:

* Phase 1a(b) with ``b > mbal``: promise b and answer Phase 1b with every
  accepted ``(rm, vbal, value)``; otherwise Nack with ``mbal``.
* Phase 2a(b, rm, v) with ``b >= mbal``: accept (mbal = vbal = b, value v) and
  answer Phase 2b; otherwise Nack. Ballot 0 is the RM's own: accepted only
  while no higher ballot was promised.

Every change is forced to disk before the answer leaves (:mod:`.durability`),
so a restarted acceptor never contradicts what it said. The functions here
return the answer and whether the state changed; the node sends and persists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bftlab.api import Persist

from . import durability
from .durability import Txn


@dataclass
class Instances:
    """An acceptor's state for one transaction."""

    mbal: int = 0
    accepted: dict[int, tuple[int, bool]] = field(default_factory=dict)  # rm -> (vbal, prepared)
    participants: tuple[int, ...] = ()


class AcceptorState:
    """All transactions one acceptor has heard of (what it persists, plus nothing else)."""

    def __init__(self) -> None:
        self.txns: dict[Txn, Instances] = {}

    def get(self, txn: Txn, participants: tuple[int, ...]) -> Instances:
        st = self.txns.get(txn)
        if st is None:
            st = self.txns[txn] = Instances(participants=participants)
        elif not st.participants:
            st.participants = participants
        return st

    def phase1a(self, txn: Txn, ballot: int, participants: tuple[int, ...]) -> tuple[bool, Instances]:
        """Promise ``ballot`` if it is above every promise: (promised?, state)."""
        st = self.get(txn, participants)
        if ballot <= st.mbal:
            return False, st
        st.mbal = ballot
        return True, st

    def phase2a(self, txn: Txn, rm: int, ballot: int, prepared: bool,
                participants: tuple[int, ...]) -> tuple[str, Instances]:
        """Accept: ``"accepted"`` (state changed), ``"again"`` (already accepted just that), ``"nack"`` or
        ``"conflict"`` (a different value in the same ballot: impossible unless a proposer is broken)."""
        st = self.get(txn, participants)
        if ballot < st.mbal:
            return "nack", st
        if rm not in st.participants:
            return "conflict", st
        prev = st.accepted.get(rm)
        if prev is not None and prev[0] == ballot:
            return ("again" if prev[1] == prepared else "conflict"), st
        st.mbal = ballot
        st.accepted[rm] = (ballot, prepared)
        return "accepted", st

    def record(self, txn: Txn) -> Persist:
        st = self.txns[txn]
        return durability.acceptor_record(txn, st.mbal, st.accepted, st.participants)

    def restore(self, disk: durability.AcceptorDisk) -> None:
        for txn, (mbal, accepted, parts) in disk.txns.items():
            self.txns[txn] = Instances(mbal, dict(accepted), parts)
