"""Planted bug for the VR tests: a replica that rejoins after a crash without running the recovery protocol.

``AmnesiacReplica`` is VR except on a restart: finding its ``booted`` marker it
does not run §4.3 but comes straight back in status normal, in view 0, with an
empty log, and answers PREPAREs and view changes as if it had never crashed.
Its STARTVIEWCHANGE/DOVIEWCHANGE then vouch for a log that lacks ops it
acknowledged before the crash; with the wrong f others (the one replica that
did not see those ops) a view change installs a log without them, and the
acknowledged writes are lost. tests/vr/test_vr_amnesia.py must catch that, and
must not fire on :data:`bftlab.protocols.vr.PROTOCOL` on the same schedules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bftlab.protocols.vr import PROTOCOL, VrReplica
from bftlab.protocols.vr.replica import BOOT_KEY, NORMAL


class AmnesiacReplica(VrReplica):
    def _on_start(self, recovered: Any) -> None:
        if BOOT_KEY in recovered:  # the bug: a restart is treated as if nothing had been lost
            self.status = NORMAL
            self._arm_role_timers()
            return
        super()._on_start(recovered)


AMNESIAC = dataclasses.replace(PROTOCOL, name="vr-amnesiac", make_replica=AmnesiacReplica)
