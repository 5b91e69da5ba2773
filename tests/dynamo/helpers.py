"""What the Dynamo tests share: a harness, key helpers, simulated runs through the protocol's run path."""

from __future__ import annotations

from typing import Any

from bftlab.api import FinalState, RunOptions
from bftlab.core.kv import encode_op
from bftlab.oracles.base import OracleContext, OracleVerdict
from bftlab.oracles.convergence import ConvergenceOracle
from bftlab.protocols.dynamo import PROTOCOL, DynamoParams
from bftlab.protocols.dynamo.messages import Version
from bftlab.protocols.dynamo.run import run
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness

DYNAMO = "bftlab.protocols.dynamo:PROTOCOL"


def harness(n: int = 5, clients: int = 2, **params: Any) -> Harness:
    return Harness(PROTOCOL, n=n, clients=clients, params=DynamoParams(**params))


def put(key: bytes, value: bytes) -> bytes:
    return encode_op("put", key, value)


def get(key: bytes) -> bytes:
    return encode_op("get", key)


def home(h: Harness, key: bytes) -> tuple[int, ...]:
    """The key's N replicas, then the substitutes."""
    return h.nodes[0].ring.preference(key)


def held(h: Harness, node: int, key: bytes) -> list[bytes]:
    """The values (siblings) ``node`` stores for ``key`` as its home."""
    vs: tuple[Version, ...] = h.nodes[node].store.data.get(key, ())
    return sorted(v.value for v in vs)


def judge(h: Harness) -> OracleVerdict:
    """The convergence oracle over the final states of the replicas that are up."""
    oracle = ConvergenceOracle(OracleContext(h.replicas, h.clients, (), h.f, True))
    for i, ev in enumerate(h.history):
        oracle.observe(i, ev)
    assert PROTOCOL.final_state is not None
    for nid in h.replicas:
        if nid not in h.crashed:
            oracle.observe(len(h.history), FinalState(nid, PROTOCOL.final_state(h.nodes[nid])))
    return oracle.verdict()


def spec(seed: int = 1, n: int = 5, **over: Any) -> dict[str, Any]:
    """A small simulated run: lognormal 5 ms links, a closed-loop read/write workload on few keys."""
    params = {"settle_s": 3.0, **over.pop("params", {})}
    base: dict[str, Any] = {
        "name": "dynamo-test", "seed": seed, "n": n,
        "protocol": {"name": DYNAMO, "params": params},
        "network": {"latency_model": "lognormal", "latency_ms": 5.0, "lognormal_sigma": 0.5},
        "workload": {"clients": 3, "requests": 150, "keys": 8, "read_fraction": 0.5},
        "stop": {"time_limit_s": 60.0},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return base


def simulate(data: dict[str, Any]) -> dict[str, Any]:
    """Run a spec dict through Dynamo's run path (simulator + settling period); the report."""
    return run(spec_from_dict(data), RunOptions())


def settle(h: Harness, seconds: float, step_s: float = 0.005) -> None:
    """Let ``seconds`` of harness time pass, delivering every message as soon as it is sent."""
    for _ in range(int(round(seconds / step_s))):
        h.deliver_all()
        h.advance(step_s)
    h.deliver_all()
