"""The acceptor: promised ballot and accepted (ballot, value) per slot.

Theory of operation
-------------------
Lamport's acceptor ("Paxos Made Simple" §2.2, multi-decree §3): it promises a
ballot b (phase 1b) only if it has not promised a higher one, and then never
accepts a proposal numbered below b; it accepts (b, v) for a slot (phase 2b)
unless it has promised a higher ballot. One promise covers every slot, which is
what lets a stable leader run phase 1 once for all the instances above its log
(§3: "phase 1 for infinitely many instances"). The promise answers with the
values accepted in every slot from the leader's first undecided one on, so the
new leader re-proposes them (van Renesse & Altinbuken's ``pvalues``).

This object only decides; the replica persists the records (see
:mod:`.durability`) and sends the answer once they are durable.
"""

from __future__ import annotations

from .messages import Cmds, Slot


class Acceptor:
    """One replica's acceptor state (all of it must be on disk before the replica answers)."""

    __slots__ = ("promised", "accepted")

    def __init__(self, promised: int = 0, accepted: dict[int, tuple[int, Cmds]] | None = None) -> None:
        self.promised = promised
        self.accepted: dict[int, tuple[int, Cmds]] = dict(accepted or {})

    def prepare(self, ballot: int) -> bool:
        """Phase 1b: promise ``ballot`` unless a higher one was promised."""
        if ballot < self.promised:
            return False
        self.promised = ballot
        return True

    def accept(self, ballot: int, slot: int, cmds: Cmds) -> bool:
        """Phase 2b: accept ``cmds`` in ``slot`` under ``ballot`` unless a higher ballot was promised."""
        if ballot < self.promised:
            return False
        self.promised = ballot
        self.accepted[slot] = (ballot, cmds)
        return True

    def accepted_from(self, first: int) -> tuple[Slot, ...]:
        """The values accepted in slots ``>= first`` (what a Promise reports)."""
        return tuple(Slot(s, b, c) for s, (b, c) in sorted(self.accepted.items()) if s >= first)
