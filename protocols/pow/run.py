"""A PoW run from a spec to a report (registered as ``ProtocolSpec.extra["run"]``).

The report has the runner's top-level keys. The generic metric keys are
filled with their PoW meaning (``committed``/``issued``: transactions
confirmed at depth k / arrived; ``latency_s``: confirmation latency;
``messages``: block relay messages, estimated from the relay kernel on the
fast engine) and everything PoW-specific is under ``metrics.pow``.
``trace_digest`` hashes, in order, every published block's id and time and
its arrival time at every node.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from bftlab import __version__ as VERSION
from bftlab import seeds
from bftlab.errors import ConfigError
from protocols.pow import theory, topology
from protocols.pow.chain import hash_shares
from protocols.pow.engine import Engine, Outcome
from protocols.pow.metrics import summarise
from protocols.pow.params import PowParams, check_against_n


def resolve_params(spec: Any) -> PowParams:
    params = spec.protocol.params
    if isinstance(params, dict) or params is None:
        params = PowParams(**(params or {}))
    check_against_n(params, spec.n)
    if getattr(spec, "adversary", ()):
        raise ConfigError("adversary: PoW attackers are configured under protocol.params.attacker "
                          "(selfish, double_spend, majority, eclipse); remove the adversary section.")
    if spec.transport.kind != "sim":
        raise ConfigError(f"transport.kind: PoW runs in simulation only for now, got {spec.transport.kind!r}.")
    return params


def build_engine(spec: Any, params: PowParams) -> Engine:
    n = spec.n
    shares = hash_shares(params, n)
    topo = None
    if params.mode == "realistic":
        topo = topology.build(params, n, spec.network, seeds.rng(spec.seed, "pow/topology"),
                              seeds.rng(spec.seed, "network/latency"))
    return Engine(params, n, shares, topo, spec.cpu, spec.network.bandwidth_mbps,
                  seeds.rng(spec.seed, "pow/mining"), seeds.np_rng(spec.seed, "pow/txs"))


def simulate(spec: Any) -> tuple[Outcome, PowParams]:
    params = resolve_params(spec)
    if params.engine == "events":
        from protocols.pow.eventsim import run_events

        return run_events(spec, params), params
    return build_engine(spec, params).run(), params


def run(spec: Any) -> dict[str, Any]:
    """Run a PoW spec; the report keys are those of :func:`bftlab.runner.run`."""
    from bftlab.spec import spec_to_dict

    t0 = time.perf_counter()
    out, params = simulate(spec)
    pow_metrics, generic, safety = summarise(out, params)
    wall = time.perf_counter() - t0
    _add_theory(pow_metrics, params, out)
    pow_metrics["wall_blocks_per_s"] = round((len(out.chain) - 1) / wall, 1) if wall > 0 else None
    return {
        "spec": spec_to_dict(spec),
        "seed": spec.seed,
        "version": VERSION,
        "protocol": "pow",
        "transport": "sim",
        "trace_digest": out.digest,
        "metrics": {**generic, "pow": pow_metrics},
        "safety": safety,
        "liveness": {"ok": pow_metrics["main_chain_length"] > 0, "pending_count": 0, "pending": []},
        "run": {"wall_s": round(wall, 4), "events": out.candidates, "events_per_s": None,
                "messages_delivered": generic["messages"]["total"], "sim_time_s": out.end_ns / 1e9},
    }


def _add_theory(m: dict[str, Any], params: PowParams, out: Outcome) -> None:
    """Closed-form expectations next to the measured attack outcome (idealised assumptions)."""
    att = params.attacker
    if att is None or "attack" not in m:
        return
    share = float(out.shares[att.node])
    if att.kind == "selfish":
        m["attack"]["expected_revenue_share"] = round(theory.selfish_revenue(share, params.gamma), 6)
        m["attack"]["revenue_share"] = m["revenue"]["attacker"]["revenue_share"]
    elif att.kind == "double_spend" and att.give_up == 0:
        m["attack"]["expected_success_rate"] = round(theory.double_spend_success(share, att.z, att.premine), 6)


def with_params(spec: Any, **changes: Any) -> Any:
    """A copy of ``spec`` with some PoW parameters changed (for tests and benchmarks)."""
    params = resolve_params(spec)
    proto = dataclasses.replace(spec.protocol, params=dataclasses.replace(params, **changes))
    return dataclasses.replace(spec, protocol=proto)


__all__ = ["build_engine", "resolve_params", "run", "simulate", "with_params"]
