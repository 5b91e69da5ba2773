"""The VR recovery protocol (§4.3) for replicas without stable storage.

Theory of operation
-------------------
VR Revisited keeps nothing on disk: a replica that crashes loses its log, its
view and its state. What it must not do is come back and answer as if it had
never crashed: its PREPAREOKs and DOVIEWCHANGEs would vouch for ops it no
longer holds, and with the wrong f others a committed op can vanish. So a
restarted replica first learns where the group is:

1. It sets its status to *recovering* and sends RECOVERY <i, x> to all, with a
   fresh nonce ``x`` (so answers to an earlier recovery cannot be mistaken for
   answers to this one). While recovering it takes part in nothing: no
   PREPAREOK, no view change, no client REQUEST, no state transfer.
2. A replica in normal status answers RECOVERYRESPONSE <v, x, l, n, k, j>; only
   the primary of ``v`` includes its log ``l``, op-number and commit-number.
3. With f+1 answers carrying ``x`` from different replicas, one of them from
   the primary of the latest view among them, the replica takes the primary's
   view, log and commit-number, and becomes normal.

Its state machine is rebuilt by running the committed prefix of that log
without observing it (those executions happened in its previous life or at
the others), reported as one :class:`~bftlab.api.StateTransferred` to the
commit-number, followed by :class:`~bftlab.api.Recovered`.

How a replica knows it restarted. Per the paper a recovering replica needs no
disk; it only needs to know that it is recovering. Here it persists a single
record, ``booted``, at its first boot (and acts only after that is synced):
``Start.recovered`` is empty on a first boot and holds the marker on every
restart. Nothing else is ever persisted.

Deviation. A primary answers RECOVERY only once it has committed every op of
the log it started its view with. Ops the recovering replica executed before
its crash were committed, hence in that log; so the commit-number it adopts is
never below what it already executed, and it never executes an op twice
(which the exactly-once oracle would rightly count). The paper's recovering
replica simply re-executes; the delay is at most the primary's first
PREPAREOK round of the view.
"""

from __future__ import annotations

from bftlab.api import Broadcast, CancelTimer, Recovered, Send, SetTimer, StateTransferred, ViewChanged

from .base import NORMAL, RECOVERING, RECOVERY_TIMER, ReplicaBase
from .messages import Recovery, RecoveryResponse


class RecoveryMixin(ReplicaBase):
    """Recovery state and handlers; mixed into :class:`~.replica.VrReplica`."""

    def _init_recovery(self) -> None:
        self.nonce: int | None = None
        self.responses: dict[int, RecoveryResponse] = {}

    def _start_recovery(self) -> None:
        self.status = RECOVERING
        self.nonce = self.rng.getrandbits(62)
        self.responses = {}
        self._send_recovery()

    def _send_recovery(self) -> None:
        assert self.nonce is not None
        self._out += [Broadcast(self.others, Recovery(self.node_id, self.nonce)),
                      SetTimer(RECOVERY_TIMER, self.params.recovery_retry_s)]

    def _on_recovery_timer(self) -> None:
        if self.status == RECOVERING:
            self._send_recovery()

    def _on_recovery(self, sender: int, m: Recovery) -> None:
        if self.status != NORMAL:
            return self._drop("drop.recovery_not_normal")
        if self.is_primary:
            if self.commit < self.view_start_op:
                return self._drop("drop.recovery_view_not_settled")
            resp = RecoveryResponse(self.view, m.nonce, True, tuple(self.log), len(self.log), self.commit,
                                    self.node_id)
        else:
            resp = RecoveryResponse(self.view, m.nonce, False, (), 0, 0, self.node_id)
        self._out.append(Send(sender, resp))
        return None

    def _on_recovery_response(self, sender: int, m: RecoveryResponse) -> None:
        if self.status != RECOVERING or m.nonce != self.nonce:
            return self._drop("drop.stale_recovery_response")
        if m.has_log and (len(m.log) != m.op_number or not 0 <= m.commit <= m.op_number):
            return self._drop("drop.malformed")
        prev = self.responses.get(sender)
        if prev is None or (m.view, m.op_number) >= (prev.view, prev.op_number):
            self.responses[sender] = m
        if len(self.responses) < self.f + 1:
            return None
        latest = max(r.view for r in self.responses.values())
        chief = self.responses.get(self.primary_of(latest))
        if chief is None or chief.view != latest or not chief.has_log:
            return None  # wait for the primary of the latest view we heard of
        self.log = list(chief.log)
        self.view = self.last_normal = latest
        self.commit = chief.commit
        for e in self.log[: self.commit]:  # rebuild the state machine; these executions are not new
            self.machine.apply(e.client, e.ts, e.op, self.now)
        self.executed = self.commit
        self.known_commit = self.commit
        self.status, self.nonce, self.responses = NORMAL, None, {}
        self._out.append(CancelTimer(RECOVERY_TIMER))
        self._observe(StateTransferred(self.node_id, self.commit))
        self._observe(ViewChanged(self.node_id, self.view))
        self._observe(Recovered(self.node_id))
        self._arm_role_timers()
        return None
