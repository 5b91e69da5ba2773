"""Planted bugs: a Raft leader that commits an entry of an earlier term by counting replicas (Figure 8), a
replica that does not wait for its writes to be durable (for the fuzzer's crash schedules), and a leader that
answers clients before its log is replicated (for the partition oracle).

ATC'14 §5.4.2 / Figure 8: a leader may only count replicas for entries of its
own term; an older entry stored on a majority can still be overwritten by a
server that wins an election with a log ending in a higher term. The planted
leader drops the current-term condition, so it applies (and answers for) an
entry that a later leader replaces: tests/raft/test_raft_figure8.py must
catch it, and correct Raft must not trip on the same schedule.
"""

from __future__ import annotations

import dataclasses

from bftlab.api import Persist, ReadServed, Sync, observed_digest
from bftlab.core import kv
from bftlab.protocols.cft import ClientReply, ClientRequest
from bftlab.protocols.raft import PROTOCOL, RaftReplica
from bftlab.protocols.raft.core import LEADER


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


class LocalAnswerReplica(RaftReplica):
    """Answers a client as soon as it believes it leads: a get from its own state (no ReadIndex round, no
    lease), a put or del once it is in its own log, before any follower has it. A leader cut off from the
    majority keeps answering until check-quorum deposes it: stale reads, and writes that the next leader drops."""

    def _on_client_request(self, sender: int, m: ClientRequest) -> None:
        leads = self.role == LEADER and m.client == sender
        if leads and self.is_read(m.op):
            result = kv.get_result(self.machine.data.get(kv.decode_op(m.op)[1]))
            self._observe(ReadServed(self.node_id, m.client, m.ts, observed_digest(m.op), observed_digest(result)))
            self._send(m.client, ClientReply(m.client, m.ts, result, self.node_id, self.node_id))
            return None
        super()._on_client_request(sender, m)
        if leads and self.in_log.get(m.client) == m.ts:
            self._send(m.client, ClientReply(m.client, m.ts, kv.NIL, self.node_id, self.node_id))
        return None


LOCAL_ANSWERS = dataclasses.replace(PROTOCOL, name="raft-local-answers", make_replica=LocalAnswerReplica)
