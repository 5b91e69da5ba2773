"""Dynamo's run path (``ProtocolSpec.run``): the simulator, then a settling period, then the judges.

The simulator stops a run once the last request is answered, but eventual
consistency is judged after the system had time to repair itself: this path
runs the same wired simulation (:func:`bftlab.sim.runner.build`), lets it go
on for ``params.settle_s`` with no client traffic (anti-entropy, hinted handoff
and read-repair messages still flow), hands the oracles every running replica's
final state again (the convergence oracle keeps the latest), and adds the
store's own measurements under ``report["metrics"]["dynamo"]``:
the replicas' counters (sloppy-quorum hints, handoffs, read repairs,
anti-entropy rounds, siblings), and when each key last changed at any replica
compared with the end of the workload and the last fault (partition end or
restart), i.e. the measured time to converge. The real transport has no
settling period and goes through the usual path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import RunOptions
from bftlab.core.kernel import NS
from bftlab.errors import ConfigError

from .params import DynamoParams


def params_of(spec: Any) -> DynamoParams:
    p = spec.protocol.params
    if isinstance(p, DynamoParams):
        return p
    return DynamoParams(**(p or {}))


def check_spec(spec: Any) -> None:
    """``ProtocolSpec.check_spec``: N (and a proxy coordinator) must fit in n."""
    from bftlab.specs.schema import FieldError

    try:
        params_of(spec).check_n(spec.n)
    except ConfigError as exc:
        raise FieldError("protocol.params.replicas_per_key", str(exc)) from None


def run(spec: Any, options: RunOptions) -> dict[str, Any]:
    if spec.transport.kind == "real":
        from bftlab.transport import run_real

        return run_real(spec, options=options)
    from bftlab.sim import runner

    params = params_of(spec)
    sim = runner.build(spec)
    sim.run()
    workload_end = sim.kernel.now / NS
    if params.settle_s > 0:
        sim.settle(params.settle_s)
    report = sim.report()
    report["metrics"]["dynamo"] = measurements(sim, spec, workload_end)
    report["metrics"]["dynamo"]["quorum"] = f"N={params.replicas_per_key} R={params.r} W={params.w}"
    if options.timeline_bin_s is not None:
        report["timeline"] = sim.metrics.timeline(options.timeline_bin_s)
    return report


def measurements(sim: Any, spec: Any, workload_end: float) -> dict[str, Any]:
    """The replicas' summed counters and the measured convergence times (see the module docstring)."""
    counters: dict[str, int] = {}
    last_change: dict[bytes, float] = {}
    for nid in sim.replicas:
        node = sim.nodes[nid]
        for k, v in node.counters.items():
            counters[k] = counters.get(k, 0) + v
        if sim.runtime.hosts[nid].alive:
            for key, t in node.store.changed_at.items():
                last_change[key] = max(last_change.get(key, 0.0), t)
    heals = [p.end_s for p in spec.network.partitions] + [f.recover_at_s for f in spec.faults
                                                          if f.recover_at_s is not None]
    last_fault = max(heals) if heals else None
    settled = max(last_change.values()) if last_change else None
    quiet = max(workload_end, last_fault or 0.0)
    return {
        "counters": dict(sorted(counters.items())),
        "workload_end_s": round(workload_end, 6),
        "last_heal_s": last_fault,
        "last_change_s": None if settled is None else round(settled, 6),
        "converge_after_quiet_s": None if settled is None else round(max(0.0, settled - quiet), 6),
        "keys_changed_after_quiet": sum(1 for t in last_change.values() if t > quiet),
        "siblings_at_end": sum(1 for nid in sim.replicas if sim.runtime.hosts[nid].alive
                               for vs in sim.nodes[nid].store.data.values() if len(vs) > 1),
    }


@dataclass(frozen=True)
class DynamoSection:
    """Report section for ``report["metrics"]["dynamo"]``."""

    key: str = "dynamo"
    title: str = "Dynamo store"

    def markdown(self, data: Any) -> list[str]:
        c = data.get("counters", {})
        last = data["last_heal_s"]
        heal = "no fault healed" if last is None else f"the last fault healed at {last:g} s"
        out = [f"Workload ended at {data['workload_end_s']:.3f} s and {heal}; the last change of any replica's "
               f"state was at {data['last_change_s']} s, {data['converge_after_quiet_s']} s after both "
               f"(the measured time to converge; {data['quorum']}).", "",
               "| counter | value |", "|---|---|"]
        out += [f"| {k} | {v:,} |" for k, v in c.items()]
        return out

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        c = data.get("counters", {})
        return [("dynamo", f"converged {data['converge_after_quiet_s']} s after quiet; "
                           f"hinted writes {c.get('sloppy.hinted_write', 0)}, read repairs "
                           f"{c.get('read_repair.sent', 0)}, anti-entropy repairs {c.get('anti_entropy.repaired', 0)}")]
