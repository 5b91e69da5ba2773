"""Fast Leader Election (FLE), ZooKeeper's election (Medeiros 2012, §4.1; Junqueira et al., DSN'11 §V).

Theory of operation
-------------------
A LOOKING replica votes for the candidate with the highest
``(currentEpoch, lastZxid, id)`` it has heard of, starting with itself, and
broadcasts its vote in a NOTIFICATION tagged with its election ``round``
(ZooKeeper's logical clock). A notification from a higher round makes it join
that round with a fresh tally; one from a lower round is answered with its own
vote so the laggard catches up; a better vote in the same round is adopted and
re-broadcast. Once a quorum's latest votes in its round equal its own vote it
waits ``finalize_s`` for a better one (a vote from every replica decides at
once) and then decides: LEADING if the vote names itself, else FOLLOWING.

A replica that is FOLLOWING or LEADING answers a LOOKING notification with its
current leader; a LOOKING replica follows a replica that says it LEADS, or a
leader named by a quorum of established replicas, without a new round (the
``outofelection`` path of ZooKeeper). A round that decides nothing within a
randomised timeout starts the next round, which only helps liveness.

Election only proposes a leader, it never makes it one: safety rests on the
epochs of discovery (:mod:`.replica`), which is why joining an established
leader without a full round is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import LEADING, LOOKING, Notification, Zxid

Vote = tuple[int, Zxid, int]  # (peer epoch, zxid, leader id): compared as a tuple, the FLE total order


def vote_of(m: Notification) -> Vote:
    return (m.peer_epoch, (m.zxid_epoch, m.zxid_counter), m.leader)


@dataclass
class Fle:
    """One replica's election state; :meth:`receive` says what to broadcast and whether it decided."""

    me: int
    n: int
    quorum: int
    round: int = 0
    vote: Vote = (0, (0, 0), 0)
    votes: dict[int, Vote] = field(default_factory=dict)  # latest vote per replica in ``round``
    outside: dict[int, int] = field(default_factory=dict)  # established replica -> the leader it names

    def start(self, own: Vote) -> Notification:
        """A new round, voting for ourselves."""
        self.round += 1
        self.vote = own
        self.votes = {self.me: own}
        self.outside = {}
        return self.note()

    def note(self, state: int = LOOKING, vote: Vote | None = None) -> Notification:
        pe, (ze, zc), leader = self.vote if vote is None else vote
        return Notification(self.me, self.round, state, leader, pe, ze, zc)

    def receive(self, m: Notification, own: Vote) -> tuple[bool, bool]:
        """Count a LOOKING peer's notification: ``(broadcast our vote again, answer the sender only)``."""
        v = vote_of(m)
        if m.round > self.round:
            self.round = m.round
            self.vote = max(own, v)
            self.votes = {self.me: self.vote, m.sender: v}
            return True, False
        if m.round < self.round:
            return False, True
        self.votes[m.sender] = v
        if v > self.vote:
            self.vote = v
            self.votes[self.me] = v
            return True, False
        return False, False

    def agreed(self) -> int:
        """How many replicas' latest votes in this round equal ours."""
        return sum(1 for v in self.votes.values() if v == self.vote)

    def established_leader(self, m: Notification) -> int | None:
        """A leader to join from an established replica's notification, or None."""
        self.outside[m.sender] = m.leader
        if m.leader == m.sender and m.state == LEADING and m.leader != self.me:
            return m.leader  # it says it leads: try it (discovery refuses us if it is stale)
        backers = sum(1 for ld in self.outside.values() if ld == m.leader)
        return m.leader if backers >= self.quorum and m.leader != self.me else None
