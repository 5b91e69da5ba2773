"""Planted bug: a ZAB follower that acknowledges a PROPOSAL before its log write is durable.

``AckFirstReplica`` logs exactly what ZAB logs but sends its ACK at once
instead of after the Sync. The leader may then count the ACK towards the quorum
that commits a transaction the follower loses in a power failure
(``storage.faults: lose-unsynced``): once the leader is cut off, the follower
and a replica that never saw the transaction form a quorum without it, and a
different transaction takes its index. tests/zab/test_zab_planted.py must catch
that with the oracles, and must not fire on :data:`bftlab.protocols.zab.PROTOCOL`.
"""

from __future__ import annotations

import dataclasses

from bftlab.protocols.zab import PROTOCOL, ZabReplica


class AckFirstReplica(ZabReplica):
    ack_before_sync = True


ACK_FIRST = dataclasses.replace(PROTOCOL, name="zab-ack-first", make_replica=AckFirstReplica)
