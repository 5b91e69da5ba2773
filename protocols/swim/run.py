"""SWIM runs from a spec to a report (declared as ``ProtocolSpec.run``), and the measurements of a run.

Every member runs in the engine's discrete-event simulator
(:class:`~bftlab.sim.runner.Simulation`: the spec's network, loss, partitions,
crashes and adversaries). SWIM has no requests to answer, so the run lasts
until ``stop.time_limit_s``. Afterwards :func:`measure` reads what each member
recorded (its view changes, its probe outcomes, the messages it sent) against
the spec's schedule of crashes, joins and leaves, into ``metrics.swim``:

* per crash: time to first detection (the first member whose own probe fails
  and that suspects it, or declares it dead without suspicion), in seconds and,
  with aligned phases, in protocol periods counted from the first period that
  starts after the crash (the paper's G), with the closed form for that crash;
  and the time until every live member holds it dead;
* false positives: probes of members that were up throughout that failed (the
  basic protocol's false detections, section 3.1), suspicions and deaths of
  members that were up, and live members still held dead at the end;
* message load: messages each member sent per protocol period, by type.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from statistics import mean, stdev
from typing import Any

from bftlab.api import RunOptions
from bftlab.errors import ConfigError
from bftlab.specs.schema import FieldError

from . import theory
from .params import SwimParams, check_against_n
from .view import DEAD, SUSPECT, retransmit_limit

INF = math.inf


def resolve_params(spec: Any) -> SwimParams:
    params = spec.protocol.params
    if isinstance(params, dict) or params is None:
        params = SwimParams(**(params or {}))
    return params


def check_spec(spec: Any) -> None:
    """``ProtocolSpec.check_spec``: the member count and member ids for the engine; the simulator only."""
    params = resolve_params(spec)
    check_against_n(params, spec.n)
    if params.engine == "periods" and (spec.faults or spec.network.partitions or spec.adversary):
        raise FieldError("faults", "engine: periods is the paper's round model: it crashes protocol.params.failed "
                                   "members itself and models only message loss; drop faults, partitions and "
                                   "adversaries, or use engine: messages.")
    if spec.transport.kind != "sim":
        raise FieldError("transport.kind", "SWIM runs on the simulator only so far (its measurements read what "
                                           "each member recorded); use transport.kind: sim.")


def build(spec: Any) -> Any:
    """The wired simulation of ``spec`` (for tests): call ``.run()`` or drive ``.kernel``, then read ``.nodes``."""
    from bftlab.sim.runner import Simulation

    if spec.transport.kind != "sim":
        raise ConfigError("swim: build() is for the simulator")
    return Simulation(spec)


def run(spec: Any, options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Run a SWIM spec in the simulator and add ``metrics.swim``."""
    params = resolve_params(spec)
    try:
        check_against_n(params, spec.n)
    except FieldError as exc:
        raise ConfigError(f"{exc.field}: {exc.message}") from None
    if spec.transport.kind != "sim":
        raise ConfigError("transport.kind: SWIM runs on the simulator only so far; use transport.kind: sim.")
    if params.engine == "periods":
        return run_periods(spec, params)
    return simulate(spec, params, options)[1]


# ------------------------------------------------------------------ fast path
def simulate_periods(n: int, params: SwimParams, loss: float, seed: int) -> dict[str, Any]:
    """``metrics.swim`` of a fast-path run: first detection and dissemination over ``trials`` failures."""
    from bftlab.core import seeds

    from . import periods

    rng = seeds.np_rng(seed, "swim/periods")
    trials = [periods.run_trial(rng, n, params.failed, loss, params.retransmit_mult, params.max_periods)
              for _ in range(params.trials)]
    live = n - params.failed
    return {"engine": "periods", "n": n, "trials": len(trials), "failed": params.failed, "loss": loss,
            **periods.summarise(trials),
            "retransmit_limit": retransmit_limit(params.retransmit_mult, n - 1),
            "theory": {"detection_periods": theory.first_detection_periods_exact(n - 1, live),
                       "detection_periods_limit": theory.first_detection_periods(live / n),
                       "dissemination_periods_push_pull": theory.push_pull_periods(live)},
            "digest": hashlib.sha256(repr(trials).encode()).hexdigest()[:32]}


def run_periods(spec: Any, params: SwimParams) -> dict[str, Any]:
    from bftlab.reports.metrics import Metrics
    from bftlab.reports.report import make_report
    from bftlab.specs.spec import spec_to_dict

    from . import SWIM_FAULTS

    s = simulate_periods(spec.n, params, spec.network.loss, spec.seed)
    periods_run = int(s["trials"] * ((s["detection_periods"]["mean"] or 0) + (s["dissemination_periods"]["mean"] or 0)))
    return make_report(
        spec=spec_to_dict(spec), protocol="swim", fault_model=SWIM_FAULTS.name, transport="sim",
        trace_digest=s.pop("digest"),
        metrics={**Metrics().summary(), "messages": {"total": 0, "by_type": {}}, "swim": s},
        verdicts=[],
        run={"wall_s": None, "events": periods_run, "events_per_s": None, "messages_delivered": 0,
             "sim_time_s": periods_run * params.period_s},
    )


def simulate(spec: Any, params: SwimParams | None = None,
             options: RunOptions = RunOptions()) -> tuple[Any, dict[str, Any]]:
    """Run ``spec`` in the simulator: the finished simulation (its ``nodes`` are the members) and the report."""
    params = resolve_params(spec) if params is None else params
    sim = build(spec)
    sim.run()
    report = sim.report()
    report["metrics"]["swim"] = measure(spec, params, [sim.nodes[r] for r in sim.replicas], sim.kernel.now / 1e9)
    if options.timeline_bin_s is not None:
        report["timeline"] = sim.metrics.timeline(options.timeline_bin_s)
    return sim, report


# ------------------------------------------------------------------ the schedule
class Schedule:
    """When each member was up and in the group, from the spec (crashes) and the params (joins, leaves)."""

    def __init__(self, spec: Any, params: SwimParams, end_s: float) -> None:
        self.end_s = end_s
        self.down: dict[int, list[tuple[float, float]]] = {}
        for f in spec.faults:
            self.down.setdefault(f.node, []).append((f.crash_at_s, INF if f.recover_at_s is None else f.recover_at_s))
        for m in params.leavers:
            self.down.setdefault(m, []).append((params.leave_at_s, INF))
        self.joined_at = {m: (params.join_at_s if m in params.joiners else 0.0) for m in range(spec.n)}

    def up(self, m: int, t0: float, t1: float | None = None) -> bool:
        """Whether ``m`` was in the group and running throughout ``[t0, t1]``."""
        t1 = t0 if t1 is None else t1
        if t0 < self.joined_at[m]:
            return False
        return all(t1 < a or t0 >= b for a, b in self.down.get(m, ()))

    def up_at_end(self, m: int) -> bool:
        return self.up(m, self.end_s)


def _stats(xs: Sequence[float]) -> dict[str, Any]:
    if not xs:
        return {"mean": None, "se": None, "count": 0}
    se = stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else None
    return {"mean": mean(xs), "se": se, "count": len(xs)}


# ------------------------------------------------------------------ measurements
def _detections(spec: Any, params: SwimParams, members: Sequence[Any], sched: Schedule) -> list[dict[str, Any]]:
    period = params.period_s
    out = []
    for f in spec.faults:
        c, t0 = f.node, f.crash_at_s
        t1 = INF if f.recover_at_s is None else f.recover_at_s
        first = min((t for mem in members for t, who, st, _, how in mem.log
                     if who == c and how == "probe" and st in (SUSPECT, DEAD) and t0 <= t < t1), default=None)
        live = [mem for mem in members if mem.node_id != c and sched.up(mem.node_id, t0)]
        row: dict[str, Any] = {"member": c, "crash_at_s": t0, "detected": first is not None,
                               "detection_s": None if first is None else first - t0, "live": len(live)}
        if params.phase == "aligned" and first is not None:
            boundary = math.ceil(t0 / period - 1e-9) * period
            row["detection_periods"] = (first - boundary) / period
            row["detection_from_boundary_s"] = first - boundary
        # each live member picks among the other live ones and the crashed one (earlier failures are assumed
        # already confirmed and out of the lists; space crashes by more than the suspicion timeout)
        row["expected_periods"] = theory.first_detection_periods_exact(len(live), len(live)) if live else None
        if t1 == INF:  # every member up at the end should hold it dead: when did the last one learn?
            ends = [sched.up_at_end(mem.node_id) for mem in members]
            last = 0.0
            for mem, at_end in zip(members, ends):
                if not at_end or mem.node_id == c:
                    continue
                rec = mem.view.get(c)
                if rec is None or rec[0] < DEAD:
                    last = INF
                    break
                last = max(last, max((t for t, who, st, _, _ in mem.log if who == c and st >= DEAD), default=0.0))
            row["all_dead_s"] = None if last == INF else last - t0
        out.append(row)
    return out


def _false_positives(params: SwimParams, members: Sequence[Any], sched: Schedule) -> dict[str, Any]:
    period = params.period_s
    live_probes = failed = 0
    for mem in members:
        for start, target, ok in mem.outcomes:
            if sched.up(target, start, start + period) and sched.up(mem.node_id, start, start + period):
                live_probes += 1
                failed += not ok
    # distinct (member, incarnation) claims, so a suspicion that several members time out on counts once
    suspected: set[tuple[int, int]] = set()
    removed: set[tuple[int, int]] = set()
    for mem in members:
        for t, who, st, inc, how in mem.log:
            if how in ("probe", "timeout") and sched.up(who, t - period, t):
                (suspected if st == SUSPECT else removed).add((who, inc))
    suspicions, deaths = len(suspected), len(removed)
    member_periods = sum(mem.periods for mem in members)
    up_end = [mem for mem in members if sched.up_at_end(mem.node_id)]
    wrongly_dead = sorted({m for mem in up_end for m, rec in mem.view.items()
                           if rec[0] >= DEAD and sched.up_at_end(m)})
    return {"live_probes": live_probes, "failed_live_probes": failed,
            "failed_probe_rate": failed / live_probes if live_probes else None,
            "false_suspicions": suspicions, "false_deaths": deaths,
            "false_deaths_per_member_period": deaths / member_periods if member_periods else None,
            "live_held_dead_at_end": wrongly_dead}


def _load(params: SwimParams, members: Sequence[Any]) -> dict[str, Any]:
    periods = sum(mem.periods for mem in members)
    by_type: dict[str, int] = {}
    for mem in members:
        for name, v in mem.sent.items():
            by_type[name] = by_type.get(name, 0) + v
    total = sum(by_type.values())
    per = [sum(mem.sent.values()) / mem.periods for mem in members if mem.periods]
    return {"messages": total, "member_periods": periods,
            "per_member_period": total / periods if periods else None,
            "max_member_per_period": max(per, default=None),
            "by_type_per_member_period": {k: v / periods for k, v in sorted(by_type.items())} if periods else {}}


def measure(spec: Any, params: SwimParams, members: Sequence[Any], end_s: float) -> dict[str, Any]:
    """``metrics.swim`` from the members' records and the run's schedule (see the module docstring)."""
    sched = Schedule(spec, params, end_s)
    detections = _detections(spec, params, members, sched)
    fp = _false_positives(params, members, sched)
    missed = sorted({f.node for f in spec.faults if f.recover_at_s is None
                     for mem in members if sched.up_at_end(mem.node_id) and mem.node_id != f.node
                     and mem.view.get(f.node, [0])[0] < DEAD})
    counters: dict[str, int] = {}
    for mem in members:
        for key, v in mem.counters.items():
            counters[key] = counters.get(key, 0) + v
    secs = [d["detection_s"] for d in detections if d["detection_s"] is not None]
    pers = [d["detection_periods"] for d in detections if d.get("detection_periods") is not None]
    from_boundary = [d["detection_from_boundary_s"] for d in detections if "detection_from_boundary_s" in d]
    spread = [d["all_dead_s"] for d in detections if d.get("all_dead_s") is not None]
    exp = [d["expected_periods"] for d in detections if d["expected_periods"] is not None]
    q = spec.network.loss
    return {
        "n": spec.n, "period_s": params.period_s, "k": params.k, "suspicion": params.suspicion, "loss": q,
        "suspicion_timeout_s": members[0].suspicion_timeout_s if members else None,
        "detection_s": _stats(secs), "detection_periods": _stats(pers),
        "detection_from_boundary_s": _stats(from_boundary), "all_dead_s": _stats(spread),
        "undetected_at_end": missed, "detections": detections[:50],
        "false_positives": fp, "load": _load(params, members),
        "theory": {"detection_periods": mean(exp) if exp else None,
                   "detection_periods_limit": theory.first_detection_periods(1.0),
                   "false_positive_probability": theory.false_positive_probability(q, params.k),
                   "message_load": theory.message_load(q, params.k, params.sync_periods)},
        "counters": dict(sorted(counters.items())),
    }
