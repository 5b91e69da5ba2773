"""A restarted client numbers its requests above everything its earlier incarnation used."""

from __future__ import annotations

import random

from bftlab.api import NodeContext, Start, Submit
from bftlab.core.costs import ZERO_COSTS
from bftlab.protocols.pbft import PbftParams, op_put
from bftlab.protocols.pbft.client import PbftClient
from bftlab.protocols.pbft.messages import Request
from bftlab.specs.registry import load_crypto


def _first_request_ts(incarnation_us: int) -> int:
    crypto = load_crypto("ideal")(list(range(5)), 0, ZERO_COSTS)
    ctx = NodeContext(4, 4, 1, (0, 1, 2, 3), (4,), crypto[4], random.Random(0), PbftParams(),
                      incarnation_us=incarnation_us)
    client = PbftClient(ctx)
    client.step(0.0, Start())
    actions = client.step(0.0, Submit(op_put(b"k", b"v")))
    (request,) = {a.msg for a in actions if isinstance(getattr(a, "msg", None), Request)}
    return request.ts


def test_timestamps_start_above_the_incarnation():
    assert _first_request_ts(0) == 1  # the simulator: deterministic, as before
    assert _first_request_ts(1_700_000_000_000_000) == 1_700_000_000_000_001
