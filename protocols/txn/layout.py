"""One coordinator and ``shards`` participants: the node layout two- and three-phase commit share.

Participants are replicas ``0 .. shards-1`` and the coordinator is replica
``shards``, so a spec must set ``n = shards + 1``. The protocol package names
its params type and its two node classes; :class:`OneCoordinator` builds the
``ProtocolSpec`` callables from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import NodeContext

from .client import TxnClient


@dataclass(frozen=True)
class OneCoordinator:
    """The factories and spec check of a protocol laid out as ``shards`` participants plus one coordinator."""

    protocol: str
    """The protocol's name as a sentence says it (e.g. "two-phase commit"), for the spec error."""
    params: type[Any]
    participant: type[Any]
    coordinator: type[Any]

    def _params(self, ctx: NodeContext) -> Any:
        return ctx.params if ctx.params is not None else self.params()

    def make_replica(self, ctx: NodeContext) -> Any:
        """Participant for ids below ``shards``, the coordinator for id ``shards``."""
        params = self._params(ctx)
        if ctx.node_id < params.shards:
            return self.participant(ctx, params, coordinator=params.shards)
        return self.coordinator(ctx, params)

    def make_client(self, ctx: NodeContext) -> TxnClient:
        params = self._params(ctx)
        return TxnClient(ctx, params, coordinators=(params.shards,))

    def final_state(self, replica: Any) -> dict[str, Any]:
        """The participant's store for the atomicity oracle; the coordinator holds no data."""
        if isinstance(replica, self.participant):
            state: dict[str, Any] = replica.store.final_state()
            return state
        return {"applied": [], "uncertain": []}

    def check_spec(self, spec: Any) -> None:
        """n must be shards + 1: the participants and one coordinator."""
        from bftlab.specs.schema import FieldError

        params = spec.protocol.params
        shards = params.shards if params is not None else self.params().shards
        if spec.n != shards + 1:
            raise FieldError("n", f"{self.protocol} runs {shards} participant shards and one coordinator, so n "
                                  f"must be shards + 1 = {shards + 1}, got {spec.n}.")
