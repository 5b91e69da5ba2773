"""A deliberately broken PBFT for tests: it prepares and commits with f+1 votes instead of 2f+1.

With f+1-sized quorums two quorums need not share a correct replica, so a
Byzantine primary that equivocates gets two different batches committed at one
sequence number. The fuzzer must find that; correct PBFT must survive it.
"""

from __future__ import annotations

from bftlab.api import NodeContext, ProtocolSpec
from bftlab.protocols.pbft import PROTOCOL as PBFT
from bftlab.protocols.pbft import PbftReplica


class F1Replica(PbftReplica):
    __slots__ = ()

    def prepare_quorum(self) -> int:
        return self.f  # PRE-PREPARE + f PREPAREs: f+1 votes

    def commit_quorum(self) -> int:
        return self.f + 1


def make_replica(ctx: NodeContext) -> F1Replica:
    return F1Replica(ctx)


PROTOCOL = ProtocolSpec("pbft-f1", PBFT.params, make_replica, PBFT.make_client, PBFT.message_types,
                        "PBFT with f+1 quorums (broken on purpose)", fuzz_strategies=PBFT.fuzz_strategies)
