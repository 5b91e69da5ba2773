"""What the commit-protocol tests share: a harness of n = shards + 1, its atomicity verdict, small specs."""

from __future__ import annotations

from typing import Any

from bftlab.api import Decided, FinalState, ProtocolSpec, TxnBegan, Voted
from bftlab.core.kv import encode_op
from bftlab.oracles.atomicity import AtomicityOracle
from bftlab.oracles.base import OracleContext, OracleVerdict
from bftlab.testing import Harness

TWOPC = "bftlab.protocols.twopc:PROTOCOL"
THREEPC = "bftlab.protocols.threepc:PROTOCOL"


def harness(proto: ProtocolSpec, params: Any, clients: int = 1, **kw: Any) -> Harness:
    return Harness(proto, n=params.shards + 1, clients=clients, params=params, **kw)


def put(key: str, value: str = "v") -> bytes:
    return encode_op("put", key.encode(), value.encode())


def judge(h: Harness, faults: bool = True) -> OracleVerdict:
    """The atomicity oracle over the harness's history and the final states of the replicas that are up."""
    oracle = AtomicityOracle(OracleContext(h.replicas, h.clients, (), h.f, faults))
    for i, ev in enumerate(h.history):
        oracle.observe(i, ev)
    assert h.spec.final_state is not None
    for nid in h.replicas:
        if nid not in h.crashed:
            oracle.observe(len(h.history), FinalState(nid, h.spec.final_state(h.nodes[nid])))
    return oracle.verdict()


def votes(h: Harness, yes: bool | None = None) -> list[Voted]:
    return [e for e in h.events(Voted) if yes is None or e.yes == yes]


def decisions(h: Harness, node: int | None = None) -> list[Decided]:
    return [e for e in h.events(Decided) if node is None or e.node == node]


def began(h: Harness) -> list[TxnBegan]:
    return h.events(TxnBegan)


def spec(proto: str, shards: int = 3, k: int = 2, **over: Any) -> dict[str, Any]:
    """A small simulated run: constant 5 ms links, 1 ms fsync, a closed-loop workload on few keys."""
    params = {"shards": shards, "shards_per_txn": k, **over.pop("params", {})}
    base: dict[str, Any] = {
        "name": "commit-test", "seed": 1, "n": shards + 1,
        "protocol": {"name": proto, "params": params},
        "network": {"latency_model": "constant", "latency_ms": 5.0},
        "workload": {"clients": 2, "requests": 10, "keys": 5},
        "stop": {"time_limit_s": 20.0},
    }
    base.update(over)
    return base


def run_drained(data: dict[str, Any], drain_s: float = 1.0) -> dict[str, Any]:
    """Run a spec that keeps going ``drain_s`` after the last answer (``stop.settle_s``) before it is judged.

    Otherwise the simulator stops once the last request is answered, and a
    participant may still be uncertain about an attempt the client has long
    given up on (an abort it learns at its next inquiry): "blocked at the end"
    then means "the run stopped", not blocked.
    """
    from bftlab.sim import runner
    from bftlab.specs.spec import spec_from_dict

    stop = {"time_limit_s": 20.0, **data.get("stop", {}), "settle_s": drain_s}
    return runner.run(spec_from_dict({**data, "stop": stop}))
