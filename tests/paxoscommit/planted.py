"""A planted bug for the oracle to find: a coordinator whose higher ballot ignores what Phase 1 reported.

It proposes Aborted for every open instance, as if no acceptor had accepted a
vote. When it takes over a transaction the failed coordinator had already
decided Commit (and told some RMs), it chooses Aborted in a higher ballot, and
the RMs it tells abort what others committed.
"""

from __future__ import annotations

import dataclasses

from bftlab.api import NodeContext
from bftlab.protocols.paxoscommit import PROTOCOL as CORRECT
from bftlab.protocols.paxoscommit import AcceptorNode, PaxosCommitParams, ResourceManager
from bftlab.protocols.paxoscommit.coordinator import Coord
from bftlab.protocols.paxoscommit.messages import Phase2a


class ForgetfulCoordinator(AcceptorNode):
    def _send_2a(self, c: Coord) -> None:
        for rm in c.participants:
            if rm not in c.chosen and c.txn not in self.decided:
                self._to_acceptors(Phase2a(c.txn[0], c.txn[1], rm, c.ballot, False, c.participants, self.node_id,
                                           False))


def make_replica(ctx: NodeContext) -> ResourceManager | AcceptorNode:
    p = ctx.params if ctx.params is not None else PaxosCommitParams()
    return ResourceManager(ctx, p) if ctx.node_id < p.shards else ForgetfulCoordinator(ctx, p)


PROTOCOL = dataclasses.replace(CORRECT, name="paxoscommit-forgetful", make_replica=make_replica)
