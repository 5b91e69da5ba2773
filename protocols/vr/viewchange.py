"""The VR view change (§4.2): STARTVIEWCHANGE, DOVIEWCHANGE, STARTVIEW.

Theory of operation
-------------------
A backup that hears nothing from the primary for ``view_change_timeout_s``
(or learns of a later view from a STARTVIEWCHANGE or DOVIEWCHANGE) advances
its view-number, sets its status to *view-change* and sends STARTVIEWCHANGE
<v, i> to all. In that status it accepts no PREPARE of the old view, so the
log it reports next is final for the old view.

Once it has STARTVIEWCHANGE for ``v`` from f other replicas it sends
DOVIEWCHANGE <v, l, v', n, k, i> to the new primary, ``v mod n``, where v' is
the latest view in which its status was normal. The new primary, with f+1
DOVIEWCHANGEs (its own counts), takes the log of the one with the largest
(v', n): every op committed in an earlier view sits in f+1 logs, one of which
is in any f+1 DOVIEWCHANGEs, and the largest v' wins over logs of views whose
ops the later view may have replaced. Its commit-number becomes the largest k
reported. It sets status normal, sends STARTVIEW <v, l, n, k>, executes the
committed ops it had not executed and replies to their clients.

A replica receiving STARTVIEW replaces its log, becomes normal in ``v``,
executes up to ``k``, and, if the log has uncommitted ops, sends PREPAREOK
<v, n, i> for them, so the new primary commits the old view's tail.

While changing view a replica repeats its STARTVIEWCHANGE (and DOVIEWCHANGE)
every ``commit_interval_s``, and a DOVIEWCHANGE counts as its sender's
STARTVIEWCHANGE, so one lost message does not cost a view. A view change that
does not finish within the timeout moves on to ``v+1``
(the paper's "if it doesn't receive ... it starts a view change for the next
view"); the timeout grows by one step per consecutive failed view so that
views with a slow link still finish.
"""

from __future__ import annotations

from bftlab.api import Broadcast, Send, SetTimer, ViewChanged

from .base import HB_TIMER, NORMAL, VC_TIMER, VIEW_CHANGE, ReplicaBase
from .messages import DoViewChange, PrepareOk, StartView, StartViewChange

MAX_BACKOFF = 8  # the view-change timeout grows at most to (1 + MAX_BACKOFF) times its base


class ViewChangeMixin(ReplicaBase):
    """View-change state and handlers; mixed into :class:`~.replica.VrReplica`."""

    def _init_view_change(self) -> None:
        self.svc_from: set[int] = set()  # STARTVIEWCHANGE senders for self.view
        self.dvcs: dict[int, DoViewChange] = {}  # as the new primary: DOVIEWCHANGEs for self.view
        self.sent_dvc = False
        self.last_dvc: DoViewChange | None = None
        self.failed_views = 0  # consecutive view changes that timed out

    def _reset_view_change(self) -> None:
        self.svc_from, self.dvcs, self.sent_dvc, self.failed_views = set(), {}, False, 0

    def _start_view_change(self, view: int) -> None:
        self.view, self.status = view, VIEW_CHANGE
        self.svc_from, self.dvcs, self.sent_dvc = set(), {}, False
        self.ahead.clear()
        timeout = self.params.view_change_timeout_s * (1 + min(self.failed_views, MAX_BACKOFF))
        self._out += [Broadcast(self.others, StartViewChange(view, self.node_id)),
                      SetTimer(HB_TIMER, self.params.commit_interval_s), SetTimer(VC_TIMER, timeout)]
        self._maybe_send_dvc()

    def _resend_view_change(self) -> None:
        """On the commit tick while changing view: a lost STARTVIEWCHANGE or DOVIEWCHANGE would otherwise cost a
        whole view-change timeout (and a view)."""
        self._out.append(Broadcast(self.others, StartViewChange(self.view, self.node_id)))
        new_primary = self.primary_of(self.view)
        if self.sent_dvc and self.last_dvc is not None and new_primary != self.node_id:
            self._out.append(Send(new_primary, self.last_dvc))
        self._out.append(SetTimer(HB_TIMER, self.params.commit_interval_s))

    def _on_view_change_timer(self) -> None:
        if self.status == NORMAL and not self.is_primary:
            self._start_view_change(self.view + 1)
        elif self.status == VIEW_CHANGE:
            self.failed_views += 1
            self._start_view_change(self.view + 1)

    def _can_change_view(self) -> bool:
        return self.status in (NORMAL, VIEW_CHANGE)

    def _on_start_view_change(self, sender: int, m: StartViewChange) -> None:
        if not self._can_change_view() or m.view < self.view:
            return
        if m.view > self.view:
            self._start_view_change(m.view)
        if self.status == VIEW_CHANGE and m.view == self.view:
            self.svc_from.add(sender)
            self._maybe_send_dvc()

    def _maybe_send_dvc(self) -> None:
        if self.sent_dvc or len(self.svc_from) < self.f:
            return
        self.sent_dvc = True
        dvc = DoViewChange(self.view, tuple(self.log), self.last_normal, len(self.log), self.commit, self.node_id)
        self.last_dvc = dvc
        new_primary = self.primary_of(self.view)
        if new_primary == self.node_id:
            self.dvcs[self.node_id] = dvc
            self._maybe_start_view()
        else:
            self._out.append(Send(new_primary, dvc))

    def _on_do_view_change(self, sender: int, m: DoViewChange) -> None:
        if not self._can_change_view() or m.view < self.view:
            return
        if len(m.log) != m.op_number or m.last_normal > m.view or not 0 <= m.commit <= m.op_number:
            return self._drop("drop.malformed")
        if m.view > self.view:
            self._start_view_change(m.view)
        if self.status == VIEW_CHANGE and m.view == self.view and self.primary_of(m.view) == self.node_id:
            self.dvcs[sender] = m
            self.svc_from.add(sender)  # it sent STARTVIEWCHANGE for this view before its DOVIEWCHANGE
            self._maybe_send_dvc()
            self._maybe_start_view()
        return None

    def _maybe_start_view(self) -> None:
        """§4.2 step 3-4: with f+1 DOVIEWCHANGEs, install the log with the largest (v', n) and start the view."""
        if len(self.dvcs) < self.f + 1:
            return
        best = max(self.dvcs.values(), key=lambda d: (d.last_normal, d.op_number))
        top = max(d.commit for d in self.dvcs.values())
        self.log = list(best.log)
        self.commit = max(self.commit, min(top, len(self.log)))
        self.status, self.last_normal = NORMAL, self.view
        self.view_start_op = len(self.log)
        self.acked, self.ahead = {}, {}
        self.proposed = {}
        for e in self.log:
            self.proposed[e.client] = max(e.ts, self.proposed.get(e.client, -1))
        self.prepared_at = {op: self.now for op in range(self.commit + 1, len(self.log) + 1)}
        self.sent_prepare = True
        self._reset_view_change()
        self._out.append(Broadcast(self.others, StartView(self.view, tuple(self.log), len(self.log), self.commit)))
        self._observe(ViewChanged(self.node_id, self.view))
        self._arm_role_timers()
        self._execute()
        self._advance_commit()

    def _on_start_view(self, sender: int, m: StartView) -> None:
        if sender != self.primary_of(m.view):
            return self._drop("drop.bad_sender")
        if not self._can_change_view() or m.view < self.view or (m.view == self.view and self.status != VIEW_CHANGE):
            return self._drop("drop.stale_view")
        if len(m.log) != m.op_number or not 0 <= m.commit <= m.op_number or m.op_number < self.commit:
            return self._drop("drop.malformed")
        self.log = list(m.log)
        self.view, self.status, self.last_normal = m.view, NORMAL, m.view
        self.commit = max(self.commit, m.commit)
        self.known_commit = self.commit
        self.ahead = {}
        self.fetch_at = None
        self._reset_view_change()
        self._observe(ViewChanged(self.node_id, self.view))
        self._arm_role_timers()
        if len(self.log) > self.commit:
            self._out.append(Send(sender, PrepareOk(self.view, len(self.log), self.node_id)))
        self._execute()
        return None
