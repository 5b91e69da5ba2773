"""What a Multi-Paxos replica keeps on stable storage, and the write-ahead rule for its messages.

Theory of operation
-------------------
Paxos is safe across crashes only if an acceptor never contradicts what it
said (Lamport, "Paxos Made Simple" §2.2 end: "an acceptor must remember this
information even if it fails and then restarts"; "Paxos Made Live" §4 makes the
same point for its log). So before an acceptor sends

* a Promise for ballot b, its promised ballot b is durable (``promise``), or a
  restarted acceptor could accept a value from a lower ballot after promising
  a leader that then counted on it;
* an Accepted for (b, slot), the pair (b, value) is durable (``acc/<slot>``),
  or a new leader's phase 1 could miss a value that was chosen.

A learner also persists each decision it learns (``dec/<slot>``) before it
executes the slot in anyone's sight (its ``Executed`` event and the client's
reply wait for it): after a restart it replays the decided prefix into the KV
machine instead of executing those slots a second time. This is not needed for
Paxos' safety (acceptors could re-teach the decisions) but for exactly-once
execution. ``boot`` marks a replica that has booted before: only a first boot
of replica 0 may lead ballot 0 without phase 1.

**Write-ahead (group commit).** :class:`WriteAhead` holds a step's sends and
observations until the ``Sync`` covering its writes completes, and queues later
steps' sends behind them, so no message overtakes a write it may depend on;
one Sync covers every write of a step.

Records are never deleted (the storage seam has no compaction yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bftlab.api import Broadcast, Observe, Persist, Send, Sync
from bftlab.core import wire

from .messages import Cmds

BOOT = "boot"
PROMISE = "promise"
_HELD = (Send, Broadcast, Observe)


def promise_record(ballot: int) -> Persist:
    return Persist(PROMISE, wire.encode(ballot))


def accepted_record(slot: int, ballot: int, cmds: Cmds) -> Persist:
    return Persist(f"acc/{slot}", wire.encode((ballot, cmds)))


def decision_record(slot: int, ballot: int, cmds: Cmds) -> Persist:
    return Persist(f"dec/{slot}", wire.encode((ballot, cmds)))


@dataclass
class Stable:
    """What a replica finds on its disk when it boots (decoded ``Start.recovered``)."""

    booted: bool = False
    promised: int = 0
    accepted: dict[int, tuple[int, Cmds]] = field(default_factory=dict)
    decided: dict[int, tuple[int, Cmds]] = field(default_factory=dict)


def load(recovered: dict[str, bytes]) -> Stable:
    """Decode the records; raises ValueError when one is unreadable (the runtime's checksums passed)."""
    st = Stable(booted=bool(recovered))
    for key, value in recovered.items():
        try:
            if key == BOOT:
                continue
            if key == PROMISE:
                st.promised = int(wire.decode(value))
                continue
            kind, _, slot = key.partition("/")
            table = {"acc": st.accepted, "dec": st.decided}.get(kind)
            if table is None or not slot.isdigit():
                raise ValueError("unknown key")
            ballot, cmds = wire.decode(value)
            table[int(slot)] = (int(ballot), tuple(cmds))
        except Exception as exc:
            raise ValueError(f"multipaxos: unreadable stable record {key!r}: {exc}") from None
    return st


class WriteAhead:
    """Holds each step's messages until the Sync of its writes completes (see the module docstring)."""

    __slots__ = ("held", "token")

    def __init__(self) -> None:
        self.held: list[tuple[int, list[Any]]] = []  # (sync token, actions waiting for it), oldest first
        self.token = 0

    def filter(self, out: list[Any]) -> list[Any]:
        """The actions to run now for one step's ``out``; the rest wait for :meth:`synced`."""
        if not any(type(a) is Persist for a in out):
            if not self.held:
                return out
            self.held[-1][1].extend(a for a in out if type(a) in _HELD)
            return [a for a in out if type(a) not in _HELD]
        self.token += 1
        self.held.append((self.token, [a for a in out if type(a) in _HELD]))
        return [*(a for a in out if type(a) not in _HELD), Sync(self.token)]

    def synced(self, token: Any) -> list[Any]:
        """The writes up to ``token`` are durable: the held actions they covered, in order."""
        if type(token) is not int:
            return []
        out: list[Any] = []
        while self.held and self.held[0][0] <= token:
            out += self.held.pop(0)[1]
        return out
