"""Planted bug: an acceptor that forgets its promise on restart.

``AmnesiacReplica`` is Multi-Paxos except that it never persists its promised
ballot: it answers Prepare with a Promise at once (there is nothing to sync)
and, after a restart, believes it promised only the highest ballot it accepted
a value in. Lamport ("Paxos Made Simple" §2.2, last paragraph) requires the
promise to survive; without it, a restarted acceptor accepts an old leader's
value after promising a newer leader that already counted on it, and two
values can be chosen for one slot.
"""

from __future__ import annotations

import dataclasses

from bftlab.api import Persist
from bftlab.protocols.multipaxos import PROTOCOL, MultiPaxosReplica


class AmnesiacReplica(MultiPaxosReplica):
    def _promise_records(self, ballot: int) -> list[Persist]:
        return []


AMNESIAC = dataclasses.replace(PROTOCOL, name="multipaxos-amnesiac", make_replica=AmnesiacReplica)
