"""Gossip runs from a spec to a report (declared as ``ProtocolSpec.run``).

``engine: rounds`` runs :mod:`~bftlab.protocols.gossip.rounds` (``trials``
epidemics on ``n`` sites); its measurements, each a mean with its standard
error over the trials, and the closed forms for the same ``n`` and ``k`` are
under ``metrics.gossip``.

``engine: messages`` runs every replica and client in the discrete-event
simulator, through the engine's own :class:`~bftlab.sim.runner.Simulation`
(same network, faults, partitions, adversaries and oracles). One thing
differs: the generic simulator stops as soon as every request is answered,
and a gossip replica answers at once, before its update has spread. So the run
goes on after that in steps of ``settle_check_s`` until every live replica
holds the same store, no client waits for an answer, and no scheduled crash,
recovery or partition is still to come (or ``stop.time_limit_s``); only then are the final states handed to the
oracles. ``metrics.gossip`` says whether and when the replicas converged.
A client still waiting for an answer (its replica crashed, or it is cut off)
may yet write, so convergence also waits for every live client to be idle.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bftlab.api import RunOptions
from bftlab.core import seeds
from bftlab.core.kernel import NS, to_ns
from bftlab.errors import ConfigError
from bftlab.reports.metrics import Metrics
from bftlab.reports.report import make_report
from bftlab.specs.schema import FieldError

from . import rounds, theory
from .params import GossipParams, check_against_n


def resolve_params(spec: Any) -> GossipParams:
    params = spec.protocol.params
    if isinstance(params, dict) or params is None:
        params = GossipParams(**(params or {}))
    return params


def check_spec(spec: Any) -> None:
    """``ProtocolSpec.check_spec``: the size limits of the chosen engine."""
    params = resolve_params(spec)
    check_against_n(params, spec.n)
    if params.engine == "rounds" and spec.transport.kind != "sim":
        raise FieldError("transport.kind", "engine: rounds is a model, not a deployment; use transport.kind: sim.")


def run(spec: Any, options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Run a gossip spec on the engine its parameters name."""
    params = resolve_params(spec)
    try:
        check_against_n(params, spec.n)
    except FieldError as exc:
        raise ConfigError(f"{exc.field}: {exc.message}") from None
    if params.engine == "rounds":
        return run_rounds(spec, params)
    if spec.transport.kind == "real":
        from bftlab.transport import run_real

        return run_real(spec, options=options)
    return run_messages(spec, params, options)


# ------------------------------------------------------------------ fast path
def expected(n: int, params: GossipParams) -> dict[str, float | None]:
    """The closed forms that apply to this algorithm at this n (None where none does)."""
    out: dict[str, float | None] = {"push_rounds": None, "push_pull_rounds": None, "rumor_residue": None}
    if params.algorithm == "push":
        out["push_rounds"] = theory.push_rounds(n)
    elif params.algorithm == "push-pull":
        out["push_pull_rounds"] = theory.push_pull_rounds(n)
    elif params.algorithm == "rumor" and params.feedback and not params.counter:
        out["rumor_residue"] = theory.rumor_residue(params.k)
    return out


def simulate_rounds(n: int, params: GossipParams, seed: int) -> dict[str, Any]:
    """``metrics.gossip`` of a fast-path run: every measurement's mean and standard error over the trials."""
    rng = seeds.np_rng(seed, "gossip/rounds")
    trials = rounds.run_trials(n, params.algorithm, params.trials, rng, k=params.k, feedback=params.feedback,
                               counter=params.counter, resets=params.counter_resets, schedule=params.schedule,
                               max_rounds=params.max_rounds)
    total_rounds = sum(t.rounds for t in trials)
    digest = hashlib.sha256(repr(trials).encode()).hexdigest()[:32]  # every trial's outcome, in order
    return {"engine": "rounds", "algorithm": params.algorithm, "n": n, "trials": len(trials),
            **rounds.summarise(trials), "theory": expected(n, params),
            "total_rounds": total_rounds, "node_rounds": total_rounds * n, "digest": digest}


def run_rounds(spec: Any, params: GossipParams) -> dict[str, Any]:
    from bftlab.specs.spec import spec_to_dict

    g = simulate_rounds(spec.n, params, spec.seed)
    messages = int(round(g["traffic"]["mean"] * spec.n * g["trials"]))
    return make_report(
        spec=spec_to_dict(spec), protocol="gossip", fault_model=_fault_model_name(), transport="sim",
        trace_digest=g.pop("digest"),
        metrics={**Metrics().summary(), "messages": {"total": messages, "by_type": {}}, "gossip": g},
        verdicts=[],
        run={"wall_s": None, "events": g["total_rounds"], "events_per_s": None, "messages_delivered": messages,
             "sim_time_s": float(g["total_rounds"])},
    )


def _fault_model_name() -> str:
    from . import GOSSIP_FAULTS

    return GOSSIP_FAULTS.name


# ------------------------------------------------------------------ message level
def _stores(sim: Any) -> list[bytes]:
    """The store roots of the live correct replicas.

    Once every request is answered no new write can appear, and merging is idempotent, so equal stores
    stay equal: only a replica that is down now and recovers later (``_last_change_s``) can differ again.
    """
    byzantine = set(sim.byzantine)
    return [sim.nodes[r].store.root() for r in sim.replicas if sim.runtime.hosts[r].alive and r not in byzantine]


def _last_change_s(spec: Any) -> float:
    """When the last scheduled recovery or partition ends: convergence before then proves nothing."""
    times = [f.recover_at_s for f in spec.faults if f.recover_at_s is not None]
    times += [f.crash_at_s for f in spec.faults]
    times += [p.end_s for p in spec.network.partitions if p.end_s is not None]
    return max(times, default=0.0)


def _make_simulation(spec: Any, params: GossipParams) -> Any:
    from bftlab.sim.runner import Simulation

    class GossipSimulation(Simulation):
        """The engine's simulation, with a settling phase before the final states (see the module docstring)."""

        converged_at_s: float | None = None
        workload_done_s: float | None = None
        not_before_s: float = 0.0
        """Convergence is not declared before this time (a caller that schedules inputs of its own sets it)."""

        def _clients_idle(self) -> bool:
            return all(self.nodes[c].outstanding is None and not self.nodes[c].ops for c in self.clients
                       if self.runtime.hosts[c].alive)

        def _final_states(self) -> None:
            self.workload_done_s = self.kernel.now / NS
            limit = to_ns(self.spec.stop.time_limit_s)
            after = max(to_ns(_last_change_s(self.spec)), to_ns(self.not_before_s))
            step = to_ns(params.settle_check_s)
            for _ in range(int(limit // max(step, 1)) + 2):  # bounded: each pass advances the clock by a step
                if self.kernel.now >= after and self._clients_idle() and len(set(_stores(self))) <= 1:
                    self.converged_at_s = self.kernel.now / NS
                    break
                if self.kernel.now >= limit:
                    break
                self.kernel.run(until_ns=min(self.kernel.now + step, limit), max_events=self.spec.stop.max_events)
            super()._final_states()

    return GossipSimulation(spec)


def build(spec: Any) -> Any:
    """The wired message-level simulation of ``spec`` (for tests): call ``.run()``, then read ``.nodes``."""
    if spec.transport.kind != "sim":
        raise ConfigError("gossip: build() is for the simulator")
    return _make_simulation(spec, resolve_params(spec))


def run_messages(spec: Any, params: GossipParams, options: RunOptions) -> dict[str, Any]:
    sim = _make_simulation(spec, params)
    sim.run()
    report = sim.report()
    counters: dict[str, int] = {}
    for r in sim.replicas:
        for key, v in sim.nodes[r].counters.items():
            counters[key] = counters.get(key, 0) + v
    report["metrics"]["gossip"] = {
        "engine": "messages", "mode": params.mode, "anti_entropy": params.anti_entropy,
        "converged": sim.converged_at_s is not None, "converged_at_s": sim.converged_at_s,
        "workload_done_s": sim.workload_done_s, "distinct_stores": len(set(_stores(sim))),
        "counters": dict(sorted(counters.items())),
    }
    if options.timeline_bin_s is not None:
        report["timeline"] = sim.metrics.timeline(options.timeline_bin_s)
    return report
