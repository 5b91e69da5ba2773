"""What the parts of a VR replica share: its state, named once so that each part can be read alone.

:class:`~.replica.VrReplica` sets every attribute in its constructor and
defines every method; the view-change and recovery mixins use them through
this base, which only declares them.
"""

from __future__ import annotations

from typing import Any

from bftlab.protocols.cft import KvMachine

from .messages import Entry
from .params import VrParams

BOOTING, NORMAL, VIEW_CHANGE, RECOVERING = "booting", "normal", "view-change", "recovering"
"""A replica's status: ``booting`` until its boot marker is durable, then the paper's three."""
HB_TIMER, VC_TIMER, STATE_TIMER, RECOVERY_TIMER = "commit", "view-change", "state", "recovery"


class ReplicaBase:
    """Declarations only; see :class:`~.replica.VrReplica`."""

    node_id: int
    n: int
    f: int
    replicas: tuple[int, ...]
    others: tuple[int, ...]
    params: VrParams
    rng: Any
    now: float
    _out: list[Any]
    status: str
    view: int
    last_normal: int
    log: list[Entry]
    commit: int
    executed: int
    known_commit: int
    machine: KvMachine
    acked: dict[int, int]
    prepared_at: dict[int, float]
    proposed: dict[int, int]
    sent_prepare: bool
    view_start_op: int
    ahead: dict[int, Entry]
    fetch_at: float | None

    def primary_of(self, view: int) -> int:
        raise NotImplementedError

    @property
    def is_primary(self) -> bool:
        raise NotImplementedError

    def _drop(self, reason: str) -> None:
        raise NotImplementedError

    def _observe(self, ev: Any) -> None:
        raise NotImplementedError

    def _arm_role_timers(self) -> None:
        raise NotImplementedError

    def _execute(self) -> None:
        raise NotImplementedError

    def _advance_commit(self) -> None:
        raise NotImplementedError
