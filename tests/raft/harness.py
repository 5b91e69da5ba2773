"""Step-by-step helpers for Raft scenarios on :class:`bftlab.testing.Harness` (no timer fires unless asked)."""

from __future__ import annotations

from bftlab.api import TimerFired
from bftlab.protocols.raft.replica import ELECTION_TIMER, HEARTBEAT_TIMER
from bftlab.testing import Harness


def elect(h: Harness, node: int, tries: int = 3, silent: bool = False) -> None:
    """Let leases lapse, then fire ``node``'s election timer until it leads (a failed pre-vote teaches it the
    term, so a second try may be needed). ``silent``: it wins, but nothing it sends as leader leaves."""
    for _ in range(tries):
        h.now += 1.0
        h._step(node, TimerFired(ELECTION_TIMER))
        for _ in range(1000):
            if h.nodes[node].role == "leader" or not h.queue:
                break
            h.deliver(max_msgs=1)
        if h.nodes[node].role == "leader":
            if silent:
                h.drop(lambda e: e.sender == node)
            h.deliver_all()
            return
    raise AssertionError(f"replica {node} did not win an election")


def heartbeat(h: Harness, leader: int) -> None:
    """One heartbeat round of ``leader``, delivered."""
    h._step(leader, TimerFired(HEARTBEAT_TIMER))
    h.deliver_all()
