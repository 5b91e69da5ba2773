"""The ZAB client: the shared crash-fault client of :mod:`bftlab.protocols.cft`."""

from __future__ import annotations

from bftlab.api import NodeContext
from bftlab.protocols.cft import CftClient

from .params import ZabParams


def make_client(ctx: NodeContext) -> CftClient:
    params = ctx.params if isinstance(ctx.params, ZabParams) else ZabParams()
    return CftClient(ctx, params.client_retry_timeout_s)
