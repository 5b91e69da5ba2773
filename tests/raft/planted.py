"""Planted bugs: a Raft leader that commits an entry of an earlier term by counting replicas (Figure 8), and a
replica that does not wait for its writes to be durable (for the fuzzer's crash schedules).

ATC'14 §5.4.2 / Figure 8: a leader may only count replicas for entries of its
own term; an older entry stored on a majority can still be overwritten by a
server that wins an election with a log ending in a higher term. The planted
leader drops the current-term condition, so it applies (and answers for) an
entry that a later leader replaces: tests/raft/test_raft_figure8.py must
catch it, and correct Raft must not trip on the same schedule.
"""

from __future__ import annotations

import dataclasses

from bftlab.api import Persist, Sync
from bftlab.protocols.raft import PROTOCOL, RaftReplica


class EagerCommitReplica(RaftReplica):
    def _can_commit(self, index: int) -> bool:
        return True  # the bug: a majority of copies is enough, whatever the entry's term


FIGURE8 = dataclasses.replace(PROTOCOL, name="raft-figure8", make_replica=EagerCommitReplica)


class EagerSyncReplica(RaftReplica):
    """Persists what Raft persists but does not wait for the Sync: votes, acknowledgements, replies and
    ``Executed`` leave at once, so a crash that loses unsynced records makes it contradict what it said."""

    def _write_ahead(self, out: list) -> list:
        if any(type(a) is Persist for a in out):
            self.token += 1
            self.sync_last[self.token] = self.log.last
            out.append(Sync(self.token))
        return out


EAGER = dataclasses.replace(PROTOCOL, name="raft-eager", make_replica=EagerSyncReplica)
