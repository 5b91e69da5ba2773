"""What Paxos Commit forces to disk, and the write-ahead rule for the messages that depend on it.

Theory of operation
-------------------
Gray & Lamport count the forced writes of Paxos Commit (in the cost comparison):
each RM writes its Prepared (or Aborted) vote before sending its ballot-0
Phase 2a, and each acceptor writes what it accepts before sending its Phase 2b;
the coordinator (leader) writes nothing, because the outcome is a function of
the instances' chosen values, which the acceptors keep. Here, in records of the
storage seam (latest value per key wins):

* an RM: ``v/<seq>`` its vote on a transaction (with the prepared writes and
  the participants), **forced** before its Phase 2a leaves and before its
  ``Voted`` event; ``o/<seq>`` each outcome it applied, not forced (a lost
  outcome record only makes the restarted RM uncertain again, and it asks);
  ``seq`` orders the replay of commits after a restart;
* an acceptor: ``a/<client>/<ts>`` its promise and accepted values for every
  instance of the transaction, **forced** before its Phase 1b or Phase 2b (and
  before a coordinator's Phase 1a leaves, since the coordinator's own acceptor
  promises its ballot first: a restarted coordinator then never reuses a ballot).

:class:`WriteAhead` holds a step's messages and events until the ``Sync`` that
covers its forced writes completes (one Sync per step: group commit), and
queues later steps' messages behind held ones, so nothing overtakes a write it
may depend on. Records are never deleted (the storage seam has no compaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from bftlab.api import Broadcast, Observe, Persist, Send, Sync

Txn = tuple[int, int]
_HELD = (Send, Broadcast, Observe)


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def vote_record(seq: int, txn: Txn, yes: bool, participants: tuple[int, ...], prepared: bytes) -> Persist:
    """An RM's vote; ``prepared`` is :meth:`ShardStore.prepared_record` for a yes vote, empty for a no."""
    return Persist(f"v/{seq}", _pack([txn[0], txn[1], yes, list(participants), prepared]))


def outcome_record(seq: int, txn: Txn, commit: bool) -> Persist:
    return Persist(f"o/{seq}", _pack([txn[0], txn[1], commit]))


def acceptor_record(txn: Txn, mbal: int, accepted: dict[int, tuple[int, bool]],
                    participants: tuple[int, ...]) -> Persist:
    acc = [[rm, vbal, val] for rm, (vbal, val) in sorted(accepted.items())]
    return Persist(f"a/{txn[0]}/{txn[1]}", _pack([mbal, acc, list(participants)]))


@dataclass
class RmDisk:
    """An RM's records, decoded: votes and outcomes in the order they were made."""

    votes: list[tuple[Txn, bool, tuple[int, ...], bytes]] = field(default_factory=list)
    outcomes: list[tuple[Txn, bool]] = field(default_factory=list)
    next_seq: int = 0


@dataclass
class AcceptorDisk:
    """An acceptor's records: per transaction ``(mbal, {rm: (vbal, prepared)}, participants)``."""

    txns: dict[Txn, tuple[int, dict[int, tuple[int, bool]], tuple[int, ...]]] = field(default_factory=dict)


def load_rm(recovered: dict[str, bytes]) -> RmDisk:
    """Decode an RM's records; raises ValueError on a record it cannot read."""
    disk, votes, outs = RmDisk(), [], []
    for key, value in recovered.items():
        kind, _, seq = key.partition("/")
        try:
            if not seq.isdigit():
                raise ValueError("bad key")
            rec = msgpack.unpackb(value, raw=False)
            if kind == "v":
                c, ts, yes, parts, prepared = rec
                votes.append((int(seq), ((int(c), int(ts)), bool(yes), tuple(int(p) for p in parts), bytes(prepared))))
            elif kind == "o":
                c, ts, commit = rec
                outs.append((int(seq), ((int(c), int(ts)), bool(commit))))
            else:
                raise ValueError("unknown key")
        except Exception as exc:
            raise ValueError(f"paxoscommit: unreadable RM record {key!r}: {exc}") from None
        disk.next_seq = max(disk.next_seq, int(seq) + 1)
    disk.votes = [v for _, v in sorted(votes)]
    disk.outcomes = [o for _, o in sorted(outs)]
    return disk


def load_acceptor(recovered: dict[str, bytes]) -> AcceptorDisk:
    """Decode an acceptor's records; raises ValueError on a record it cannot read."""
    disk = AcceptorDisk()
    for key, value in recovered.items():
        try:
            kind, c, ts = key.split("/")
            if kind != "a":
                raise ValueError("unknown key")
            mbal, acc, parts = msgpack.unpackb(value, raw=False)
            disk.txns[(int(c), int(ts))] = (int(mbal), {int(rm): (int(vb), bool(v)) for rm, vb, v in acc},
                                            tuple(int(p) for p in parts))
        except Exception as exc:
            raise ValueError(f"paxoscommit: unreadable acceptor record {key!r}: {exc}") from None
    return disk


class WriteAhead:
    """Holds a step's messages until the Sync of its forced writes completes (see the module docstring)."""

    __slots__ = ("held", "token")

    def __init__(self) -> None:
        self.held: list[tuple[int, list[Any]]] = []  # (sync token, actions waiting for it), oldest first
        self.token = 0

    def filter(self, out: list[Any], forced: bool) -> list[Any]:
        """The actions to run now for one step's ``out``; the rest wait for :meth:`synced`."""
        if not forced:
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
