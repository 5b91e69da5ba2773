"""Planted bug for the recovery tests: a PBFT replica that sends before its writes are durable.

``EagerPbftReplica`` persists exactly what PBFT persists but does not wait for
the Sync: its PRE-PREPAREs, PREPAREs, COMMITs, REPLYs and ``Executed``
observations leave at once. Under ``storage.faults: lose-unsynced`` a crash
loses what it said in its last millisecond, and after the restart it says (or
executes) it again: tests/pbft/test_pbft_recovery.py must catch that, and must
not fire on :data:`bftlab.protocols.pbft.PROTOCOL` on the same seeds.
"""

from __future__ import annotations

import dataclasses

from bftlab.protocols.pbft import PROTOCOL, PbftReplica


class EagerPbftReplica(PbftReplica):
    eager_writes = True


EAGER = dataclasses.replace(PROTOCOL, name="pbft-eager", make_replica=EagerPbftReplica)
