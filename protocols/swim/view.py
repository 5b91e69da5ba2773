"""A member's view of the group, the precedence of membership updates, and the piggyback buffer.

Theory of operation
-------------------
A view maps each known member to ``(status, incarnation)``. The statuses are
the paper's (Das, Gupta & Motivala section 4.2): Alive, Suspect, Dead (after a
Confirm) and Left (a voluntary leave, section 4). Only a member raises its own
incarnation, to refute a suspicion about itself, so a higher incarnation is
always newer news. Between two claims about one member the one with the higher
``(incarnation, status rank)`` wins, ranks Alive < Suspect < Dead < Left:

* Alive(i) overrides Suspect(j) and Alive(j) when i > j;
* Suspect(i) overrides Suspect(j) when i > j, and Alive(j) when i >= j;
* Dead(i) overrides Alive(j)/Suspect(j) when i >= j.

The paper lets a Confirm override every other claim; here Alive with a higher
incarnation also overrides Dead, which is how a member that restarted, or was
declared dead by mistake, comes back (the paper has it rejoin as a new member).

:class:`Piggyback` holds the updates a member still has to spread: each is sent
on at most ``limit`` outgoing messages (lambda * log n, section 4.1), the least
sent first, and a newer update about a member replaces the older one.
"""

from __future__ import annotations

import math

ALIVE, SUSPECT, DEAD, LEFT = 0, 1, 2, 3
STATUS_NAMES = ("alive", "suspect", "dead", "left")
STATUSES = frozenset((ALIVE, SUSPECT, DEAD, LEFT))

Update = tuple[int, int, int]
"""``(status, member, incarnation)``."""


def overrides(new: tuple[int, int], old: tuple[int, int]) -> bool:
    """Whether claim ``new = (status, incarnation)`` supersedes ``old`` (see the module docstring)."""
    return (new[1], new[0]) > (old[1], old[0])


def retransmit_limit(mult: float, members: int) -> int:
    """ceil(lambda * ln(n + 1)): how many messages carry one update (section 4.1), at least 1."""
    return max(1, math.ceil(mult * math.log(members + 1)))


class Piggyback:
    """Updates waiting to be piggybacked: member -> [status, incarnation, times sent]."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[int, list[int]] = {}

    def add(self, status: int, member: int, inc: int) -> None:
        self.pending[member] = [status, inc, 0]

    def take(self, most: int, limit: int, first: Update | None = None) -> tuple[Update, ...]:
        """Up to ``most`` updates, least sent first; each counts one send and is dropped at ``limit`` sends."""
        out: list[Update] = [] if first is None else [first]
        if self.pending:
            chosen = sorted(self.pending.items(), key=lambda kv: (kv[1][2], kv[0]))[:most - len(out)]
            for member, rec in chosen:
                if first is not None and member == first[1]:
                    continue
                out.append((rec[0], member, rec[1]))
                rec[2] += 1
                if rec[2] >= limit:
                    del self.pending[member]
        return tuple(out)

    def __len__(self) -> int:
        return len(self.pending)
