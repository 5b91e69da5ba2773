"""Driving gossip replicas in the simulator with hand-placed operations, crashes and partitions."""

from __future__ import annotations

from typing import Any

from bftlab.api import Submit
from bftlab.core import kv
from bftlab.core.kernel import PRIO_CONTROL, to_ns
from bftlab.protocols.gossip import run as gossip_run
from bftlab.specs.spec import ExperimentSpec, spec_from_dict

PROTO = "bftlab.protocols.gossip:PROTOCOL"


def gossip_spec(n: int = 6, seed: int = 1, clients: int = 2, partitions: list[dict[str, Any]] | None = None,
                loss: float = 0.0, engine: str = "messages", **params: Any) -> ExperimentSpec:
    # An open workload that is never started: the tests submit their own operations.
    return spec_from_dict({
        "name": "gossip-test", "seed": seed, "n": n,
        "protocol": {"name": PROTO, "params": {"engine": engine, **params}},
        "workload": {"clients": clients, "mode": "open", "rate_rps": 1.0, "requests": 1},
        "network": {"latency_ms": 5.0, "jitter_ms": 2.0, "loss": loss, "partitions": partitions or []},
        "stop": {"time_limit_s": 600.0},
    })


class Harness:
    """A wired simulation whose operations, crashes and recoveries are placed by hand."""

    def __init__(self, spec: ExperimentSpec) -> None:
        self.spec = spec
        self.sim = gossip_run.build(spec)
        self.n = spec.n
        self.sim.runtime.start_all()

    def client(self, i: int) -> int:
        return self.n + i

    def submit(self, at_s: float, client: int, op: bytes) -> None:
        rt = self.sim.runtime
        self.sim.kernel.schedule(to_ns(at_s), lambda _: rt.inject(self.client(client), Submit(op)), None,
                                 PRIO_CONTROL)

    def put(self, at_s: float, client: int, key: bytes, value: bytes) -> None:
        self.submit(at_s, client, kv.encode_op("put", key, value))

    def delete(self, at_s: float, client: int, key: bytes) -> None:
        self.submit(at_s, client, kv.encode_op("del", key))

    def crash(self, at_s: float, node: int) -> None:
        self.sim.kernel.schedule(to_ns(at_s), self.sim.runtime.crash, node, PRIO_CONTROL)

    def recover(self, at_s: float, node: int) -> None:
        self.sim.kernel.schedule(to_ns(at_s), self.sim.runtime.recover, node, PRIO_CONTROL)

    def run_until(self, t_s: float) -> None:
        self.sim.kernel.run(until_ns=to_ns(t_s), max_events=5_000_000)

    def alive(self) -> list[int]:
        return [r for r in range(self.n) if self.sim.runtime.hosts[r].alive]

    def entries(self, node: int) -> dict[str, Any]:
        return self.sim.nodes[node].store.final_state()["entries"]

    def read(self, node: int, key: bytes) -> bytes | None:
        return self.sim.nodes[node].store.read(key)

    def has(self, node: int, key: bytes) -> bool:
        return key in self.sim.nodes[node].store.data

    def distinct_stores(self) -> int:
        return len({repr(self.entries(r)) for r in self.alive()})

    def accepted(self) -> int:
        return self.sim._accepted
