"""The coordinator's view of one transaction: which instance chose what, and the ballot it runs.

Theory of operation
-------------------
Gray & Lamport's leader (§4.2) learns each RM's instance from the acceptors'
Phase 2b messages: an instance's value is **chosen** once F+1 acceptors
accepted it in the same ballot. The transaction **commits** when every
instance chose Prepared and **aborts** as soon as one chose Aborted (the
paper's "Commit iff all RMs are Prepared" as a consensus on each RM's state).

Phases of a coordinator for one transaction:

* ``fast``: waiting for the ballot-0 Phase 2b messages the RMs' votes cause;
  it resends Prepare to the RMs whose instance is not chosen yet;
* ``p1``: it runs Phase 1 of its own ballot ``b > 0`` for every instance not
  known chosen (after ``abort_after_s`` without a decision, or when it takes
  over for a silent coordinator);
* ``p2``: with F+1 promises it proposes, per open instance, the value
  accepted in the highest ballot any promise reports, or **Aborted** where
  none reports one (the only value a coordinator may invent, as in the paper);
* ``wait``: a Nack showed a higher ballot; another acceptor is finishing the
  transaction, and this one tries again with a higher ballot only if nothing is
  decided after a while;
* ``done``: decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .durability import Txn
from .messages import Writes


@dataclass
class Coord:
    """A coordinator's state for one transaction (memory only: the acceptors hold what matters)."""

    txn: Txn
    participants: tuple[int, ...]
    writes: Writes | None
    started: float
    ballot: int = 0
    phase: str = "fast"
    votes: dict[tuple[int, int, bool], set[int]] = field(default_factory=dict)  # (rm, ballot, value) -> acceptors
    chosen: dict[int, bool] = field(default_factory=dict)
    promises: dict[int, tuple[tuple[int, int, bool], ...]] = field(default_factory=dict)

    def count_2b(self, acceptor: int, rm: int, ballot: int, prepared: bool, quorum: int) -> None:
        """Record a Phase 2b; the instance is chosen once ``quorum`` acceptors accepted the same ballot."""
        if rm not in self.participants or rm in self.chosen:
            return
        who = self.votes.setdefault((rm, ballot, prepared), set())
        who.add(acceptor)
        if len(who) >= quorum:
            self.chosen[rm] = prepared

    def outcome(self) -> bool | None:
        """True (commit), False (abort) or None (not known yet)."""
        if any(v is False for v in self.chosen.values()):
            return False
        if all(self.chosen.get(rm) is True for rm in self.participants):
            return True
        return None

    def proposals(self) -> dict[int, bool]:
        """Phase 2 values for the open instances from the promises (highest accepted ballot, else Aborted)."""
        best: dict[int, tuple[int, bool]] = {}
        for accepted in self.promises.values():
            for rm, vbal, value in accepted:
                if rm not in best or vbal > best[rm][0]:
                    best[rm] = (vbal, value)
        return {rm: best[rm][1] if rm in best else False for rm in self.participants if rm not in self.chosen}
