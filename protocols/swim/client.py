"""SWIM has no clients: membership is the service. The spec still names clients (the workload needs one),
so they are inert nodes that accept no operation; a SWIM run lasts until ``stop.time_limit_s``."""

from __future__ import annotations

from typing import Any

from bftlab.api import NodeContext


class InertClient:
    """A client that does nothing: it never issues what the workload submits."""

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id

    def step(self, now: float, inp: Any) -> list[Any]:
        return []
