"""A PoW run from a spec to a report (declared as ``ProtocolSpec.run``).

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
from typing import Any

from bftlab.api import HASH_POWER, RunOptions
from bftlab.core import seeds
from bftlab.core.kernel import NS
from bftlab.errors import ConfigError
from bftlab.oracles.base import OracleVerdict
from bftlab.protocols.pow import topology
from bftlab.protocols.pow.chain import hash_shares
from bftlab.protocols.pow.engine import Engine, Outcome
from bftlab.protocols.pow.metrics import main_tip, summarise
from bftlab.protocols.pow.params import PowParams, check_against_n
from bftlab.protocols.pow.strategies import Attacker
from bftlab.reports.report import make_report
from bftlab.specs.schema import FieldError


def check_spec(spec: Any) -> None:
    """``ProtocolSpec.check_spec``: the checks that need ``n`` or the adversary section.

    Run when the spec is loaded (so ``bftlab validate`` and sweeps catch them);
    raises :class:`~bftlab.specs.schema.FieldError` naming the key path.
    """
    _checked_attacker(spec, spec.protocol.params)


def _checked_attacker(spec: Any, params: PowParams) -> Attacker | None:
    from bftlab.protocols.pow.attacker import attacker_for

    check_against_n(params, spec.n)
    if spec.transport.kind != "sim":
        raise FieldError("transport.kind", f"PoW runs in simulation only for now, got {spec.transport.kind!r}.")
    return attacker_for(spec, params)


def resolve(spec: Any) -> tuple[PowParams, Attacker | None]:
    """The spec's PoW parameters and attacker (None: an honest network), checked; ConfigError naming the key."""
    params = spec.protocol.params
    if isinstance(params, dict) or params is None:
        params = PowParams(**(params or {}))
    try:
        return params, _checked_attacker(spec, params)
    except FieldError as exc:
        raise ConfigError(f"{exc.field}: {exc.message}") from None


def resolve_params(spec: Any) -> PowParams:
    """The spec's PoW parameters, checked against ``n`` and the adversary section."""
    return resolve(spec)[0]


def build_engine(spec: Any, params: PowParams | None = None) -> Engine:
    """The fast engine for ``spec`` (its attacker included), ready to :meth:`~Engine.run`.

    ``params`` replaces ``spec.protocol.params`` (as :func:`resolve_params` returns them).
    """
    resolved, attacker = resolve(spec)
    params = params if params is not None else resolved
    n = spec.n
    shares = hash_shares(params, n, attacker)
    topo = None
    if params.mode == "realistic":
        topo = topology.build(params, n, spec.network, seeds.rng(spec.seed, "pow/topology"),
                              seeds.rng(spec.seed, "network/latency"), attacker)
    return Engine(params, n, shares, topo, spec.cpu, spec.network.bandwidth_mbps,
                  seeds.rng(spec.seed, "pow/mining"), seeds.np_rng(spec.seed, "pow/txs"), attacker)


def simulate(spec: Any) -> tuple[Outcome, PowParams, Attacker | None]:
    """Run ``spec`` on its engine: the outcome, the parameters and the attacker it ran with."""
    params, _ = resolve(spec)
    if params.engine == "events":
        from bftlab.protocols.pow.eventsim import run_events

        return run_events(spec, params), params, None
    engine = build_engine(spec, params)
    return engine.run(), params, engine.attacker


def run(spec: Any, options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Run a PoW spec (``ProtocolSpec.run``); the report has the layout of every other run path."""
    from bftlab.specs.spec import spec_to_dict

    out, params, attacker = simulate(spec)
    pow_metrics, generic, safety = summarise(out, params, attacker)
    _add_theory(pow_metrics, params, out, attacker)
    # The chain's own safety property (no block with k confirmations reversed) is judged by the
    # protocol from its block tree, so it enters the report as one more oracle verdict.
    chain = OracleVerdict(
        name="k-deep-finality", safe=safety["ok"], live=pow_metrics["main_chain_length"] > 0,
        violation_count=safety["violation_count"], violations=tuple(safety["violations"]),
        section={"confirmations_k": params.confirmations},
    )
    report = make_report(
        spec=spec_to_dict(spec),
        protocol="pow",
        fault_model=HASH_POWER.name,
        transport="sim",
        trace_digest=out.digest,
        metrics={**generic, "pow": pow_metrics},
        verdicts=[chain],
        run={"wall_s": None, "events": out.candidates, "events_per_s": None,  # timed by bftlab.pipeline
             "messages_delivered": generic["messages"]["total"], "sim_time_s": out.end_ns / 1e9},
    )
    if options.timeline_bin_s is not None:
        report["timeline"] = timeline(out, params, options.timeline_bin_s)
    return report


def timeline(out: Outcome, params: PowParams, bin_s: float) -> list[dict[str, float]]:
    """Transactions confirmed (k deep) and their mean confirmation latency, per bin of confirmation time."""
    ch = out.chain
    main = ch.path(main_tip(out))
    k = params.confirmations
    width = int(bin_s * NS)
    bins: dict[int, list[float]] = {}  # bin -> [count, latency sum]
    for i in range(1, len(main) - k + 1):
        b = main[i]
        count = int(ch.tx_count[b])
        if not count:
            continue
        conf_ns = int(ch.t_ns[main[i + k - 1]])  # the k-th block (counting b itself) was found
        arrivals = out.txs.times(ch.tx_start[b], ch.tx_start[b] + count)
        cell = bins.setdefault(conf_ns // width, [0, 0.0])
        cell[0] += count
        cell[1] += float(((conf_ns - arrivals) / NS).sum())
    return [{"t_s": b * bin_s, "accepted": c, "latency_mean_s": s / c} for b, (c, s) in sorted(bins.items())]


def _add_theory(m: dict[str, Any], params: PowParams, out: Outcome, attacker: Attacker | None) -> None:
    """Closed-form expectations next to the measured attack outcome (idealised assumptions)."""
    if attacker is None or "attack" not in m:
        return
    m["attack"].update(attacker.expected(float(out.shares[attacker.node]), params))
    m["attack"]["revenue_share"] = m["revenue"]["attacker"]["revenue_share"]


def with_params(spec: Any, **changes: Any) -> Any:
    """A copy of ``spec`` with some PoW parameters changed (for tests and benchmarks)."""
    params = resolve_params(spec)
    proto = dataclasses.replace(spec.protocol, params=dataclasses.replace(params, **changes))
    return dataclasses.replace(spec, protocol=proto)


__all__ = ["build_engine", "check_spec", "resolve", "resolve_params", "run", "simulate", "with_params"]
