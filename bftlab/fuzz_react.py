"""Reactive fault schedules: isolations placed at events the run itself produced.

A schedule drawn before the run places its faults on a time grid, so a fault
meant to hit "the new leader, between winning its votes and sending its first
entry" lands there only by chance (Raft's Figure 8 needs two such hits in a
row). The simulator is deterministic, so the fuzzer can do better: run the
schedule drawn so far, look at what the replicas observed (history events
such as ``ViewChanged``, ``Executed`` or a protocol's own leader event, each
with the replica that observed it and its simulated time), and start the next
fault exactly then. A fault of the spec acts only on messages sent from its
start on, so the run up to that instant is the same with or without it, and
the schedule written to the counterexample is an ordinary one with absolute
times: ``bftlab run`` replays it without any of this.

Each reactive atom isolates a minority of replicas from everything else:

- *when and whom*: the replica that observed the first event of a kind drawn
  from the kinds seen since the latest fault began ("whoever wins the next
  election", "whoever commits first once the cut heals"), at that event's
  instant; with no fault yet, the replica that observed the latest event
  before a random round of the schedule's first half (the leader, say), at
  that round;
- *with whom*: alone, or with the replicas it was cut off with before (a
  flapping partition), or with random others;
- *how long*: until every fault drawn so far has ended, and some rounds more
  (a reaction outlasts its cause).

The engine stays protocol-agnostic: any history event with a replica ``node``
field can anchor a fault, and a protocol may name the ones worth it in
``ProtocolSpec.fuzz_events`` (Raft: ``LeaderElected`` and ``FirstCommit``).
Probing costs one simulation per reactive atom.
Protocols that run on a path of their own (``ProtocolSpec.run``) have no
event history to react to: the fuzzer refuses ``react`` for them. With n < 3
no minority exists and a cut takes half the replicas.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence

from bftlab.specs.spec import ExperimentSpec

Mark = tuple[float, str, int]
"""``(t_s, event kind, replica)``: one history event a replica observed."""


def probe(spec: ExperimentSpec, until_s: float) -> list[Mark]:
    """Run ``spec`` in the simulator up to ``until_s`` and list the events its replicas observed, in time order."""
    from bftlab.sim import runner

    sim = runner.build(dataclasses.replace(spec, stop=dataclasses.replace(spec.stop, time_limit_s=until_s)),
                       keep_history=True)
    sim.run()
    replicas = set(spec.replicas)
    out: list[Mark] = []
    for t, ev in sim.history:
        node = getattr(ev, "node", None)
        if type(node) is int and node in replicas:
            out.append((t / 1e9, type(ev).__name__, node))
    return out


def _cuts(atoms: Sequence[tuple], replicas: set[int]) -> list[tuple[int, ...]]:
    """The replica groups that earlier single-group partitions cut off."""
    return [g for a in atoms if a[0] == "net" and a[1].kind == "partition" and len(a[1].groups) == 1
            for g in a[1].groups if set(g) <= replicas]


def react(spec: ExperimentSpec, rng: random.Random, atoms: list[tuple], *, count: int, round_s: float,
          heal_s: float, net_fault: type, assemble: Callable[[list[tuple]], ExperimentSpec],
          kinds_of_interest: Sequence[str] = (), probe_fn: Callable[[ExperimentSpec, float], list[Mark]] = probe
          ) -> list[tuple]:
    """``atoms`` plus up to ``count`` isolations, each placed at an event of the run so far (see the module).

    ``kinds_of_interest``: the event names to react to (the protocol's ``fuzz_events``); empty: all."""
    top = max(1, (spec.n - 1) // 2)
    out = list(atoms)
    for _ in range(count):
        nets = [a[1] for a in out if a[0] == "net"]
        schedule = assemble(out)
        try:
            seen = probe_fn(schedule, heal_s)
        except Exception:  # the run itself fails: the fuzzer's judge reports that as the finding
            break
        marks = [m for m in seen if m[0] < heal_s - round_s and (not kinds_of_interest or m[1] in kinds_of_interest)]
        if nets:  # react to the first event of a drawn kind since the latest fault began
            ref = max(fault.start_s for fault in nets)
            later = [m for m in marks if m[0] > ref]
            kinds = sorted({m[1] for m in later})
            if not kinds:
                break
            kind = rng.choice(kinds)
            t, _, node = next(m for m in later if m[1] == kind)
        else:  # nothing to react to yet: at a random round, cut off whoever acted last (the leader, say)
            t = round(rng.randrange(1, max(2, round(heal_s / round_s / 2))) * round_s, 9)
            before = [m for m in marks if m[0] <= t]
            if not before:
                break
            node = before[-1][2]
        group = {node}
        way = rng.randrange(3)
        if way == 1:  # with the replicas it was cut off with before: the same side flaps
            group |= {r for g in _cuts(out, set(spec.replicas)) if node in g for r in g}
        elif way == 2 and top > 1:
            others = [r for r in spec.replicas if r != node]
            group |= set(rng.sample(others, rng.randint(1, top - 1)))
        if 2 * len(group) >= spec.n:
            group = {node}
        # Until every fault drawn so far has healed, and some rounds more: a reaction outlasts its cause.
        end = round(min(heal_s, max([t, *(fault.end_s for fault in nets)]) + rng.randint(1, 6) * round_s), 9)
        if end <= t:
            break
        out.append(("net", net_fault(kind="partition", start_s=t, end_s=end, groups=(tuple(sorted(group)),))))
    return out
