"""ZAB wire messages (codes 0x2A0-0x2CF) and the zxid arithmetic.

A zxid is ``(epoch, counter)``: the epoch of the leader that proposed the
transaction and its position among that leader's proposals; zxids compare
lexicographically. Histories are also indexed by position (1-based), which is
the ``seq`` of the ``Executed`` events: ZAB's committed histories are prefixes
of one another (Junqueira et al., DSN'11, §III, "prefix" and "primary order"),
so one index names one transaction on every replica.

Message names follow the paper (§IV) and ZooKeeper's code where the paper has
none: NOTIFICATION (Fast Leader Election), FOLLOWERINFO (CEPOCH), NEWEPOCH,
ACKEPOCH, NEWLEADER (with the DIFF / TRUNC / SNAP sync of ZooKeeper),
ACKLEADER (the ACK of NEWLEADER), PROPOSAL, ACK, COMMIT, and PING/PONG, the
heartbeats ZooKeeper runs over its TCP links (they also repair lost
messages here, where links may lose and reorder).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bftlab.core.wire import message

Zxid = tuple[int, int]
ZERO: Zxid = (0, 0)

# Server states of Fast Leader Election.
LOOKING, FOLLOWING, LEADING = 0, 1, 2

# NEWLEADER sync modes (ZooKeeper's names for what the follower must do before appending ``entries``).
DIFF, TRUNC, SNAP = 0, 1, 2


@message(0x2A0)
@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction of a history: zxid ``(epoch, counter)`` and the client command."""

    epoch: int
    counter: int
    client: int
    ts: int
    op: bytes

    @property
    def zxid(self) -> Zxid:
        return (self.epoch, self.counter)


@message(0x2A1)
@dataclass(frozen=True, slots=True)
class Notification:
    """FLE vote: ``sender`` in ``state`` during election ``round`` votes for ``leader`` whose
    (currentEpoch, lastZxid) is ``(peer_epoch, (zxid_epoch, zxid_counter))``."""

    sender: int
    round: int
    state: int
    leader: int
    peer_epoch: int
    zxid_epoch: int
    zxid_counter: int


@message(0x2A2)
@dataclass(frozen=True, slots=True)
class FollowerInfo:
    """CEPOCH: a follower's acceptedEpoch, currentEpoch and lastZxid (Phase 1 of the paper).

    ``attempt`` is a fresh random number per discovery attempt, echoed in NEWEPOCH, ACKEPOCH and NEWLEADER:
    a replayed or late NEWLEADER of an earlier attempt must not roll the follower back to an older history
    (ZooKeeper gets this from its TCP connection, which a new attempt replaces)."""

    replica: int
    accepted_epoch: int
    current_epoch: int
    last_epoch: int
    last_counter: int
    length: int
    attempt: int


@message(0x2A3)
@dataclass(frozen=True, slots=True)
class NewEpoch:
    """NEWEPOCH(e'): the prospective leader's new epoch, and its own (currentEpoch, lastZxid) so that only a
    follower whose history is more recent ships it back in ACKEPOCH."""

    epoch: int
    leader_current_epoch: int
    leader_last_epoch: int
    leader_last_counter: int
    attempt: int


@message(0x2A4)
@dataclass(frozen=True, slots=True)
class AckEpoch:
    """ACKEPOCH(e', currentEpoch, lastZxid, history): the history only when it beats the leader's. ``fresh``
    is 1 when the sender accepted e' from this leader, 0 when it had accepted e' from another replica (then
    it may be synced but does not count towards the quorum that establishes e')."""

    epoch: int
    current_epoch: int
    last_epoch: int
    last_counter: int
    length: int
    history: tuple[Txn, ...]
    attempt: int
    fresh: int


@message(0x2A5)
@dataclass(frozen=True, slots=True)
class NewLeader:
    """NEWLEADER(e', I) as a ZooKeeper-style sync: keep the first ``base`` entries (their last one has zxid
    ``(base_epoch, base_counter)``; TRUNC drops what lies above), or drop everything (SNAP), then append
    ``entries``."""

    epoch: int
    mode: int
    base: int
    base_epoch: int
    base_counter: int
    entries: tuple[Txn, ...]
    attempt: int


@message(0x2A6)
@dataclass(frozen=True, slots=True)
class AckLeader:
    """The follower accepted the initial history (durably) and set currentEpoch = ``epoch``."""

    epoch: int
    length: int


@message(0x2A7)
@dataclass(frozen=True, slots=True)
class Proposal:
    epoch: int
    index: int
    txn: Txn


@message(0x2A8)
@dataclass(frozen=True, slots=True)
class Ack:
    """The follower logged (durably) every entry up to ``index`` of ``epoch``'s history."""

    epoch: int
    index: int


@message(0x2A9)
@dataclass(frozen=True, slots=True)
class Commit:
    """Everything up to ``index`` is committed."""

    epoch: int
    index: int


@message(0x2AA)
@dataclass(frozen=True, slots=True)
class Ping:
    """Leader heartbeat with its commit index and history length (a follower that missed something resyncs)."""

    epoch: int
    commit: int
    length: int


@message(0x2AB)
@dataclass(frozen=True, slots=True)
class Pong:
    """Follower heartbeat reply: its durable history length in ``epoch`` (a lost ACK is repeated here)."""

    epoch: int
    length: int


MESSAGE_TYPES: tuple[type, ...] = (Txn, Notification, FollowerInfo, NewEpoch, AckEpoch, NewLeader, AckLeader,
                                   Proposal, Ack, Commit, Ping, Pong)

_SCALARS = {"int": int, "bytes": bytes}


def well_formed(m: Any) -> bool:
    """Every field has its annotated type (ints are ints, not bools; nested Txns are Txns)."""
    for f in dataclasses.fields(m):
        v = getattr(m, f.name)
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if ann in _SCALARS:
            if type(v) is not _SCALARS[ann]:
                return False
        elif ann == "Txn":
            if type(v) is not Txn or not well_formed(v):
                return False
        elif ann == "tuple[Txn, ...]":
            if type(v) is not tuple or not all(type(t) is Txn and well_formed(t) for t in v):
                return False
    return True
