"""What a ZAB replica keeps on stable storage, and the write-ahead rule for what it sends.

Theory of operation
-------------------
The paper's persistent state of a process (DSN'11 §IV, Medeiros §3) is its
history ``h`` (the transactions it accepted), ``acceptedEpoch`` (the last
NEWEPOCH it acknowledged) and ``currentEpoch`` (the last NEWLEADER it
accepted). Its promises depend on them: ACKEPOCH promises not to accept an older
epoch, ACKLEADER and ACK say that the history is logged, and the leader counts
an ACK towards a quorum that makes the transaction committed. A process that
forgot any of them after a crash could break a quorum it was part of. Keys:

* ``ae``: acceptedEpoch, with the replica whose NEWEPOCH it was (one record,
  so a torn write cannot pair an epoch with the wrong leader); ``ce``:
  currentEpoch;
* ``h/<i>``: the transaction at history index ``i``; ``len``: the history's
  length (a TRUNC rewrites ``len`` and later appends overwrite ``h/<i>``);
* ``commit``: the highest index this replica executed. Not part of the paper's
  state (a restarted process learns what is committed from its leader), but the
  history oracle forbids executing an index twice, so a restarted replica
  replays up to it silently instead of executing it again in everyone's sight.

**Write-ahead.** :class:`WriteAhead` holds a step's messages and observations
once the step persisted anything: it appends one ``Sync`` and releases them on
its ``Synced`` (several Syncs may share one fsync); later steps queue behind
held ones so nothing overtakes a write it may depend on. Held items may also be
:class:`SelfAck` markers: the leader counts its own acknowledgement only once
its own log write is durable, like any follower's.

The planted bug of the tests (a follower that ACKs a PROPOSAL before its
write is durable) bypasses the hold for that one message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bftlab.api import Broadcast, Observe, Persist, Send, Sync
from bftlab.core import wire

from .messages import Txn

ACCEPTED_EPOCH = "ae"
CURRENT_EPOCH = "ce"
LENGTH = "len"
COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class SelfAck:
    """Released when the leader's own write of its history up to ``index`` (of ``epoch``) is durable."""

    epoch: int
    index: int
    leader_sync: bool = False  # the write was the initial history (NEWLEADER), not a proposal


_HELD = (Send, Broadcast, Observe, SelfAck)


def int_record(key: str, value: int) -> Persist:
    return Persist(key, value.to_bytes(8, "big"))


def accepted_record(epoch: int, leader: int) -> Persist:
    return Persist(ACCEPTED_EPOCH, epoch.to_bytes(8, "big") + (leader + 1).to_bytes(8, "big"))


def txn_record(index: int, txn: Txn) -> Persist:
    return Persist(f"h/{index}", wire.encode(txn))


@dataclass
class Stable:
    """What a replica finds on its disk when it boots (decoded ``Start.recovered``)."""

    accepted_epoch: int = 0
    accepted_from: int = -1
    current_epoch: int = 0
    commit: int = 0
    history: list[Txn] = field(default_factory=list)


def load(recovered: Mapping[str, bytes]) -> Stable:
    """Decode the records; raises ValueError when they do not form a history (our own disk is corrupt)."""
    st = Stable()
    ints = {k: int.from_bytes(v, "big") for k, v in recovered.items() if not k.startswith("h/") and k != ACCEPTED_EPOCH}
    ae = recovered.get(ACCEPTED_EPOCH, bytes(16))
    if len(ae) != 16:
        raise ValueError("zab: malformed acceptedEpoch record")
    st.accepted_epoch, st.accepted_from = int.from_bytes(ae[:8], "big"), int.from_bytes(ae[8:], "big") - 1
    st.current_epoch = ints.get(CURRENT_EPOCH, 0)
    length = ints.get(LENGTH, 0)
    for i in range(1, length + 1):
        raw = recovered.get(f"h/{i}")
        if raw is None:
            raise ValueError(f"zab: history entry {i} of {length} missing")
        txn = wire.decode(raw)
        if type(txn) is not Txn:
            raise ValueError(f"zab: history entry {i} is not a transaction")
        st.history.append(txn)
    # A commit record is written after the entries it covers, so it never exceeds a durable prefix; min() is a guard.
    st.commit = min(ints.get(COMMIT, 0), length)
    return st


class WriteAhead:
    """Holds each step's messages until the Sync of its writes completes (see the module docstring)."""

    __slots__ = ("held", "token")

    def __init__(self) -> None:
        self.held: list[tuple[int, list[Any]]] = []  # (sync token, actions waiting for it), oldest first
        self.token = 0

    def filter(self, out: list[Any], eager: list[Any]) -> list[Any]:
        """The actions to run now for one step's ``out`` (``eager`` ones go out at once whatever was written)."""
        if not any(type(a) is Persist for a in out):
            if not self.held:
                return [*eager, *out]
            self.held[-1][1].extend(a for a in out if type(a) in _HELD)
            return [*eager, *(a for a in out if type(a) not in _HELD)]
        self.token += 1
        self.held.append((self.token, [a for a in out if type(a) in _HELD]))
        return [*(a for a in out if type(a) not in _HELD), Sync(self.token), *eager]

    def synced(self, token: Any) -> list[Any]:
        """The writes up to ``token`` are durable: the held items they covered, in order."""
        if type(token) is not int:
            return []
        out: list[Any] = []
        while self.held and self.held[0][0] <= token:
            out += self.held.pop(0)[1]
        return out
