"""Search for attacks: random fault schedules, checked runs, shrunk and replayable counterexamples.

In the spirit of ByzzFuzz (Winter, Rahli, Cardoso, Gavrilov, Dragoi, Krstic,
"Randomized Testing of Byzantine Fault Tolerant Algorithms", OOPSLA 2023) and
Twins (Bano et al. 2020). Each run ``i`` draws, from ``seeds.rng(S, "fuzz/schedule/i")``,
a *schedule*: a list of atoms, each one fault that fits in a spec --

- network atoms (``scripted-network``): partitions, and drops, delays and
  duplicates of one message type on one link, in windows of whole rounds
  (``round_s``) that all end by ``heal_s``;
- crash atoms, for a protocol whose budget counts replicas: a replica crashes
  at a round and restarts a few rounds later (from its disk, when the protocol
  is ``durable``), never more than the budget at once, each restart counted
  until its recovery allowance has passed (what ``validate`` checks); for a
  durable protocol a storage atom may change what a crash does to unsynced
  records (``storage.faults``). A protocol of the crash fault model gets only
  these: a Byzantine replica is outside its model, so a schedule with one
  would find no bug;
- node atoms, for at most the spec's fault budget of Byzantine replicas: a
  node strategy for that replica (the generic Twins, silent and crash-recover,
  and whatever the protocol lists in ``ProtocolSpec.fuzz_strategies``), or
  small-scope changes to what it sends (``scripted-node``: omit, delay, stale,
  and mutations derived from the message schemas -- one mutant instead of the
  message, both the message and a mutant to one receiver, or different mutants
  to complementary receiver sets: equivocation).

Options reach deeper crash-fault bugs, whose schedules need several faults
lined up (all off by default, so a pinned campaign draws what it always drew):
``isolate`` cuts a minority of replicas off from the rest, often as a rolling
chain of back-to-back isolations of different minorities (a lagging replica
rejoins just as the leader is cut off); ``anchor`` starts a fault where another
ends and puts crashes inside an isolation, on its majority side; ``off_grid``
lets a crash land anywhere in a round (inside an fsync, say); ``swarm`` gives
each run a random subset of the atom kinds (Groce, Zhang, Eide, Chen, Regehr,
"Swarm Testing", ISSTA 2012), so one kind of fault is not always diluted by the
others. ``react`` adds isolations placed at the instant of events of the run so
far, each found by simulating the schedule drawn until then
(:mod:`bftlab.fuzz_react`): the faults that need to land within a message
latency of a protocol step, like Raft's Figure 8.

The engine knows no protocol: message types come from the protocol's
``ProtocolSpec``, their mutations from the field types (see
``bftlab.adversary.scripted.mutation_sites``, reached through the strategy
registry as ``scripted-node``), and protocol-aware attacks from the names the
protocol registers.

The run (seed ``derive(S, "fuzz/i")``) is judged by the checker: any safety
violation, an internal error, or (unless ``safety_only``) requests still
pending at the end although every fault healed at ``heal_s``. The first run
with each distinct failure is shrunk by delta debugging (Zeller and Hildebrandt,
"Simplifying and Isolating Failure-Inducing Input", TSE 2002) over its atoms,
then by halving the workload, and written as a self-contained spec that
``bftlab run`` replays: shrinking only removes atoms, and nothing in a schedule
draws random numbers of its own, so what is written is exactly what failed.
The printed replay command sets ``PYTHONPATH`` when the spec names code by a
dotted path that is not installed (a protocol in a test folder, say).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import math
import os
import random
import shlex
import site
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bftlab.core import seeds
from bftlab.errors import ConfigError, UsageError
from bftlab.specs.spec import ExperimentSpec, spec_from_dict, spec_to_dict, spec_to_yaml

Atom = tuple
"""("net", NetFault) | ("node", nid, strategy, params) | ("act", nid, NodeFault)
| ("crash", nid, crash_at_s, recover_at_s) | ("storage", mode)"""


@dataclass(frozen=True)
class FuzzOptions:
    runs: int = 100
    seed: int = 1
    round_s: float = 0.1
    """Fault windows start and end on multiples of this."""
    heal_s: float = 2.0
    """Every fault ends by then; liveness is judged at the end of the run."""
    max_net_faults: int = 4
    max_node_faults: int = 3
    safety_only: bool = False
    shrink: bool = True
    max_shrink_runs: int = 300
    max_failures: int | None = None
    """Stop after this many distinct failures (None: run all ``runs``)."""
    strategies: tuple[str, ...] | None = None
    """Node strategies to try; None: the generic ones plus the protocol's ``fuzz_strategies``."""
    byzantine_from: tuple[int, ...] | None = None
    """Replicas the fuzzer may make Byzantine (to focus on a leader, say); None: any the spec leaves correct."""
    isolate: float = 0.0
    """Chance that a network atom cuts a minority of 1..f replicas off from the rest (the clients stay with the
    majority), as a chain of 1..3 back-to-back cuts of different minorities: the building block of
    leader-change bugs."""
    anchor: float = 0.0
    """Chance that an atom is placed against the schedule's others, so faults compose instead of rarely meeting
    by chance: a network fault starts as an earlier one ends; a crash falls inside an isolation (on its majority
    side) or where another atom starts or ends."""
    off_grid: bool = False
    """Crash times anywhere inside a round, not only on its boundary: a power cut can land inside an fsync."""
    react: int = 0
    """Reactive isolations per run (see :mod:`bftlab.fuzz_react`): each cuts off the replica that observed an event
    of the run so far (an election won, a leader's first commit), at the event's exact time. Each costs one extra
    simulation; 0 draws none."""
    swarm: bool = False
    """Swarm testing (Groce et al., ISSTA 2012): each run enables a random subset of the atom kinds, so a run is
    not always diluted by every kind of fault at once."""


@dataclass
class Failure:
    signature: str
    run: int
    seed: int
    atoms: int
    shrunk_atoms: int
    path: str = ""
    replay: str = ""
    detail: str = ""
    occurrences: int = 1


@dataclass
class FuzzSummary:
    runs: int = 0
    failing_runs: int = 0
    failures: list[Failure] = field(default_factory=list)
    first_failure_run: int | None = None
    first_failure_s: float | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "distinct_failures": len(self.failures)}


# ------------------------------------------------------------------ schedules
GENERIC_STRATEGIES = ("twins", "silent", "crash-recover", "scripted-node")
"""Node strategies tried against every protocol; a protocol adds its own in ``ProtocolSpec.fuzz_strategies``."""

_NODE_KINDS = ("omit", "delay", "stale", "mutate", "mutate", "equivocate", "equivocate", "split")
"""Weights of scripted-node fault kinds; ``split`` is two mutations for complementary receiver sets."""


@dataclass(frozen=True)
class Toolkit:
    """What a schedule is drawn from, looked up once per fuzz from the protocol and the registry."""

    msg_types: tuple[type, ...]
    """The protocol's message classes, by name."""
    sites: Mapping[str, tuple[tuple[str, str], ...]]
    """Per message type name, its schema-derived ``(path, op)`` mutations."""
    strategies: tuple[str, ...]
    """Node strategies the fuzzer may give a Byzantine replica."""
    has_end: frozenset[str]
    """Strategies whose params have an ``end_s`` (set to the heal time so they stop)."""
    net_fault: type
    node_fault: type
    crashes: bool = False
    """Draw crash/restart atoms (the protocol persists its state)."""
    crash_only: bool = False
    """Draw only crash atoms, never a Byzantine strategy (the crash fault model)."""
    durable: bool = False
    """The protocol persists its state: a storage atom may make crashes lose or tear unsynced records."""
    recovery_s: float = 0.0
    """How long a restarted replica counts against the budget (the spec's default allowance)."""


def _strategy(name: str) -> Any:
    """The strategy class registered as ``name``.

    Plug-ins are found by name at run time, so their type is only known then:
    :func:`toolkit` checks ``kind`` before it relies on a node strategy's ``Params``.
    """
    from bftlab.specs.registry import GROUPS, resolve

    return resolve(GROUPS["adversary"], name, "adversary strategy")


def toolkit(spec: ExperimentSpec, strategies: Sequence[str] | None = None) -> Toolkit:
    """The fuzzer's material for ``spec``: message schemas, mutation sites and node strategies.

    ``strategies`` None means :data:`GENERIC_STRATEGIES` plus the protocol's
    ``fuzz_strategies``; the scripted strategies are reached through the
    registry like any other, so the engine names no protocol and no module.
    """
    from bftlab.specs.registry import load_protocol
    from bftlab.specs.spec import RECOVERY_ALLOWANCE_S

    proto = load_protocol(spec.protocol.name)
    crash_only = proto.fault_model.counted and not proto.fault_model.byzantine
    default = () if crash_only else (*GENERIC_STRATEGIES, *proto.fuzz_strategies)
    names = tuple(dict.fromkeys(strategies if strategies is not None else default))
    has_end = set()
    for name in names:
        try:
            cls = _strategy(name)
        except ConfigError as exc:
            whose = "--strategies" if strategies is not None else f"protocol {proto.name!r} fuzz_strategies"
            raise UsageError(f"{whose}: {exc}") from None
        if getattr(cls, "kind", None) != "node":
            raise UsageError(f"fuzz strategy {name!r} is not a node strategy (kind {getattr(cls, 'kind', None)!r}); "
                             f"the fuzzer draws its network faults itself.")
        if "end_s" in {f.name for f in dataclasses.fields(cls.Params)}:
            has_end.add(name)
    scripted_node = _strategy("scripted-node")
    types = tuple(sorted(proto.message_types, key=lambda t: t.__name__))
    crashes = proto.fault_model.counted and (proto.durable or crash_only)
    return Toolkit(types, {t.__name__: scripted_node.sites(t) for t in types}, names, frozenset(has_end),
                   _strategy("scripted-network").Fault, scripted_node.Fault, crashes=crashes,
                   crash_only=crash_only and crashes, durable=proto.durable,
                   recovery_s=RECOVERY_ALLOWANCE_S[spec.transport.kind] if proto.durable else 0.0)


def _window(rng: random.Random, opts: FuzzOptions, anchors: Sequence[float] = (), fine: bool = False
            ) -> tuple[float, float]:
    """A fault window of 1..5 rounds that ends by the heal time.

    On the round grid unless the options say otherwise: with ``anchor`` it may
    start at one of ``anchors`` (times where the schedule's other atoms start or
    end); with ``off_grid`` a ``fine`` (crash) start may fall anywhere inside a
    round, anchored or not.
    """
    rounds = max(1, int(round(opts.heal_s / opts.round_s)))
    if not (opts.anchor > 0 or opts.off_grid):  # the original grid draw, kept so pinned seeds replay
        first = rng.randrange(rounds)
        last = min(rounds, first + rng.randint(1, 5))
        return round(first * opts.round_s, 9), round(last * opts.round_s, 9)
    usable = [a for a in anchors if a < opts.heal_s - 1e-4]
    if usable and opts.anchor > 0 and rng.random() < opts.anchor:
        t = rng.choice(usable)
        if fine and opts.off_grid and rng.random() < 0.5:
            t += rng.uniform(0, opts.round_s)
    else:
        t = rng.randrange(rounds) * opts.round_s
        if fine and opts.off_grid:
            t += rng.uniform(0, opts.round_s)
    start = round(min(t, opts.heal_s - 1e-4), 4)
    return start, round(max(start + 1e-4, min(opts.heal_s, start + rng.randint(1, 5) * opts.round_s)), 4)


def _split(rng: random.Random, nodes: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    side = [rng.randrange(2) for _ in nodes]
    return tuple(x for x, s in zip(nodes, side) if s == 0), tuple(x for x, s in zip(nodes, side) if s == 1)


def budget(spec: ExperimentSpec) -> int:
    """How many more replicas the fuzzer may make Byzantine."""
    taken = set(spec.byzantine) | {f.node for f in spec.faults}
    assert spec.f is not None, "a validated spec has resolved f from its protocol's fault model"
    return max(0, spec.f + (1 if spec.allow_exceeding_f else 0) - len(taken))


def _site(rng: random.Random, sites: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """A field path, each equally likely, then one of its operations: a field with many ways to
    change (an int) is not tried more often than one with few (a digest)."""
    paths = list(dict.fromkeys(p for p, _ in sites))
    path = rng.choice(paths)
    return path, rng.choice([op for p, op in sites if p == path])


def _node_faults(spec: ExperimentSpec, rng: random.Random, opts: FuzzOptions, kit: Toolkit, nid: int) -> list[Atom]:
    """Scripted faults of replica ``nid``: omissions, delays, replays and schema-derived mutations."""
    others = [r for r in spec.replicas if r != nid]
    atoms: list[Atom] = []
    for _ in range(rng.randint(1, opts.max_node_faults)):
        start, end = _window(rng, opts)
        to = tuple(sorted(rng.sample(others, rng.randint(1, len(others))))) if others else ()
        cls = rng.choice(kit.msg_types) if kit.msg_types else None
        msg_type = cls.__name__ if cls is not None and rng.random() < 0.8 else None
        sites = kit.sites[cls.__name__] if cls is not None else ()
        kind = rng.choice(_NODE_KINDS)
        if kind in ("omit", "delay", "stale") or not sites:
            atoms.append(("act", nid, kit.node_fault(kind=kind if kind in ("omit", "delay", "stale") else "omit",
                                                      start_s=start, end_s=end, to=to, msg_type=msg_type,
                                                      delay_s=round(rng.uniform(0, 4 * opts.round_s), 6))))
            continue
        groups = [to]
        if kind == "split":  # one mutant to some receivers, another to the rest: equivocation
            a, b = _split(rng, others)
            groups, kind = [g for g in (a, b) if g], "mutate"
        for group in groups:
            path, op = _site(rng, sites)
            arg = rng.randrange(len(spec.replicas)) if op == "node" else rng.randrange(32)
            atoms.append(("act", nid, kit.node_fault(kind=kind, start_s=start, end_s=end, to=group, msg_type=msg_type,
                                                      field=path, op=op, arg=arg,
                                                      first=kind == "equivocate" and rng.random() < 0.5)))
    return atoms


NET_KINDS = ("partition", "partition", "drop", "delay", "duplicate")
"""Weights of network atom kinds."""

SWARM_KINDS = ("partition", "drop", "delay", "duplicate", "crash", "storage", "byzantine")
"""What a swarm run switches on or off (``FuzzOptions.swarm``)."""


def _swarm(rng: random.Random, opts: FuzzOptions, kit: Toolkit) -> frozenset[str]:
    """The atom kinds this run may draw: all of them, or with ``swarm`` a random non-empty subset."""
    pool = [k for k in SWARM_KINDS
            if (k in NET_KINDS and opts.max_net_faults > 0) or (k in ("crash", "storage") and kit.crashes)
            or (k == "byzantine" and bool(kit.strategies) and not kit.crash_only)]
    if not opts.swarm or not pool:
        return frozenset(SWARM_KINDS)
    on = [k for k in pool if rng.random() < 0.5]
    return frozenset(on or [rng.choice(pool)])


def _times(atoms: Sequence[Atom]) -> list[float]:
    """Where the atoms drawn so far start and end: the anchors of the next ones."""
    out: list[float] = []
    for a in atoms:
        if a[0] == "net":
            out += [a[1].start_s, a[1].end_s]
        elif a[0] == "crash":
            out += [a[2], a[3]]
    return sorted(set(out))


def _minority(rng: random.Random, spec: ExperimentSpec, before: Sequence[tuple[int, ...]] = ()
              ) -> tuple[int, ...]:
    """1..f replicas (at least one, fewer than half) to cut off from the rest; a cut that follows another
    (``before``: the groups of isolations ending as it starts) takes others, so the isolation rolls on."""
    top = max(1, (spec.n - 1) // 2)
    prev = {r for g in before for r in g}
    pool = [r for r in spec.replicas if r not in prev] or list(spec.replicas)
    return tuple(sorted(rng.sample(pool, rng.randint(1, min(top, len(pool))))))


def _cut(spec: ExperimentSpec, fault: Any) -> list[tuple[int, ...]]:
    """``[group]`` when ``fault`` isolates a minority of replicas from everything else, else ``[]``."""
    if fault.kind != "partition" or len(fault.groups) != 1:
        return []
    group = fault.groups[0]
    return [group] if set(group) <= set(spec.replicas) and 2 * len(group) < spec.n else []


def _rolling(spec: ExperimentSpec, rng: random.Random, opts: FuzzOptions, kit: Toolkit, start: float, end: float,
             before: Sequence[tuple[int, ...]] = ()) -> list[Atom]:
    """1..3 back-to-back isolations, each of a different minority: the first heals as the next begins, the
    way a leader is cut off just when a lagging replica rejoins (Jepsen's rolling partitions)."""
    atoms: list[Atom] = []
    prev = list(before)
    for _ in range(rng.randint(1, 3)):
        cut = _minority(rng, spec, prev)
        prev = [cut]
        atoms.append(("net", kit.net_fault(kind="partition", start_s=start, end_s=end, groups=(cut,))))
        if end >= opts.heal_s:
            break
        start, end = end, round(min(opts.heal_s, end + rng.randint(1, 5) * opts.round_s), 4)
    return atoms


def generate(spec: ExperimentSpec, rng: random.Random, opts: FuzzOptions, kit: Toolkit) -> list[Atom]:
    """One random schedule within the spec's fault budget."""
    nodes = spec.replicas + spec.clients
    names = [t.__name__ for t in kit.msg_types]
    on = _swarm(rng, opts, kit)
    net_kinds = [k for k in NET_KINDS if k in on]
    atoms: list[Atom] = []
    for _ in range(rng.randint(0, opts.max_net_faults) if net_kinds else 0):
        start, end = _window(rng, opts, [a[1].end_s for a in atoms if a[0] == "net"])  # one fault rolls on
        if "partition" in net_kinds and opts.isolate > 0 and rng.random() < opts.isolate:
            before = [g for a in atoms if a[0] == "net" and a[1].end_s == start for g in _cut(spec, a[1])]
            atoms += _rolling(spec, rng, opts, kit, start, end, before)
            continue
        kind = rng.choice(net_kinds if opts.swarm else NET_KINDS)
        if kind == "partition":
            a, b = _split(rng, nodes)
            atoms.append(("net", kit.net_fault(kind=kind, start_s=start, end_s=end,
                                               groups=tuple(g for g in (a, b) if g))))
        else:
            atoms.append(("net", kit.net_fault(kind=kind, start_s=start, end_s=end, src=rng.choice(spec.replicas),
                                               dst=rng.choice((None, *spec.replicas)),
                                               msg_type=rng.choice(names) if names else None,
                                               delay_s=round(rng.uniform(0, 4 * opts.round_s), 6))))
    if kit.crashes and "crash" in on and (kit.crash_only or not kit.strategies or "byzantine" not in on
                                          or rng.random() < 0.5):  # crashes, not Byzantine nodes
        cuts = [(a[1].start_s, a[1].end_s, g) for a in atoms if a[0] == "net" for g in _cut(spec, a[1])]
        return atoms + _crashes(spec, rng, opts, kit, _times(atoms), storage="storage" in on, cuts=cuts)
    if kit.crash_only or "byzantine" not in on or opts.max_node_faults <= 0:  # 0: no node faults at all
        return atoms
    taken = set(spec.byzantine) | {f.node for f in spec.faults}
    free = [r for r in spec.replicas if r not in taken and (opts.byzantine_from is None or r in opts.byzantine_from)]
    k = min(len(free), budget(spec)) if kit.strategies else 0
    k = k if rng.random() < 0.5 else rng.randint(0, k)
    for nid in sorted(rng.sample(free, k)):
        choice = rng.choice(kit.strategies)
        if choice == "scripted-node":
            atoms += _node_faults(spec, rng, opts, kit, nid)
        elif choice == "twins":
            a, b = _split(rng, [x for x in nodes if x != nid])
            atoms.append(("node", nid, "twins", {"side_a": list(a), "side_b": list(b), "end_s": opts.heal_s}))
        elif choice == "crash-recover":
            start, end = _window(rng, opts)
            atoms.append(("node", nid, choice, {"windows": [[start, end]]}))
        else:  # a protocol's own strategy: its defaults, stopped at the heal time when it has an end
            atoms.append(("node", nid, choice, {"end_s": opts.heal_s} if choice in kit.has_end else {}))
    return atoms


def _crashes(spec: ExperimentSpec, rng: random.Random, opts: FuzzOptions, kit: Toolkit,
             anchors: Sequence[float] = (), storage: bool = True,
             cuts: Sequence[tuple[float, float, tuple[int, ...]]] = ()) -> list[Atom]:
    """Crash/restart windows within the budget, and maybe a storage mode that makes crashes harsher.

    With ``anchor`` a crash may fall inside one of the isolations ``cuts`` and hit a replica on its majority
    side, one that is still taking part (a power cut while the leader counts on it)."""
    assert spec.f is not None, "a validated spec has resolved f from its protocol's fault model"
    limit = spec.f + (1 if spec.allow_exceeding_f else 0) - len(spec.byzantine)
    windows = [(f.crash_at_s, f.recover_at_s if f.recover_at_s is not None else math.inf, f.node)
               for f in spec.faults]
    pool = [r for r in spec.replicas if opts.byzantine_from is None or r in opts.byzantine_from]
    atoms: list[Atom] = []
    for _ in range(rng.randint(1, opts.max_node_faults) if limit > 0 and pool and opts.max_node_faults > 0 else 0):
        for _attempt in range(4):  # a window that overlaps the others too much is drawn again, a few times
            if cuts and opts.anchor > 0 and rng.random() < opts.anchor:
                a, b, cut = rng.choice(cuts)
                t = rng.uniform(a, b) if opts.off_grid else a + rng.randrange(max(1, round((b - a) / opts.round_s))
                                                                             ) * opts.round_s
                start = round(min(t, opts.heal_s - 1e-4), 4)
                end = round(max(start + 1e-4, min(opts.heal_s, start + rng.randint(1, 5) * opts.round_s)), 4)
                nid = rng.choice([r for r in pool if r not in cut] or pool)
            else:
                start, end = _window(rng, opts, sorted({*anchors, *_times(atoms)}), fine=True)
                nid = rng.choice(pool)
            if _fits([*windows, (start, end, nid)], limit, kit.recovery_s):
                windows.append((start, end, nid))
                atoms.append(("crash", nid, start, end))
                break
    modes = [m for m in ("none", "lose-unsynced", "torn-tail") if m != spec.storage.faults]
    if atoms and kit.durable and storage and rng.random() < 0.5:
        atoms.append(("storage", rng.choice(modes)))
    return atoms


def _fits(windows: Sequence[tuple[float, float, int]], limit: int, recovery_s: float) -> bool:
    """No replica crashes while down, and at most ``limit`` are down or recovering at once."""
    by_node: dict[int, list[tuple[float, float]]] = {}
    for a, b, n in windows:
        by_node.setdefault(n, []).append((a, b))
    for spans in by_node.values():
        spans.sort()
        if any(nxt[0] < cur[1] for cur, nxt in zip(spans, spans[1:])):
            return False
    edges = sorted([(a, 1) for a, _, _ in windows] + [(b + recovery_s, -1) for _, b, _ in windows])
    down = 0
    for _, delta in edges:  # recoveries sort before crashes at the same instant
        down += delta
        if down > limit:
            return False
    return True


def assemble(base: ExperimentSpec, atoms: Sequence[Atom], seed: int) -> ExperimentSpec:
    """The base spec plus a schedule, validated like any spec (so it is exactly what a file replays)."""
    data = spec_to_dict(base)
    adv = list(data.get("adversary") or [])
    net = [dataclasses.asdict(a[1]) for a in atoms if a[0] == "net"]
    if net:
        adv.append({"strategy": "scripted-network", "params": {"faults": net}})
    acts: dict[int, list] = {}
    for a in atoms:
        if a[0] == "act":
            acts.setdefault(a[1], []).append(dataclasses.asdict(a[2]))
        elif a[0] == "node":
            adv.append({"strategy": a[2], "byzantine": [a[1]], "params": dict(a[3])})
    for nid, faults in sorted(acts.items()):
        adv.append({"strategy": "scripted-node", "byzantine": [nid], "params": {"faults": faults}})
    data["adversary"] = adv
    crashes = [{"node": a[1], "crash_at_s": a[2], "recover_at_s": a[3]} for a in atoms if a[0] == "crash"]
    if crashes:
        data["faults"] = [*(data.get("faults") or []), *crashes]
    for a in atoms:
        if a[0] == "storage":
            data["storage"] = {**(data.get("storage") or {}), "faults": a[1]}
    data["seed"] = seed
    return spec_from_dict(data, source="<fuzz schedule>")


def _assemble_with(base: ExperimentSpec, seed: int, atoms: Sequence[Atom]) -> ExperimentSpec:
    return assemble(base, atoms, seed)


# ------------------------------------------------------------------- judging
def judge(spec: ExperimentSpec, safety_only: bool) -> tuple[str | None, str]:
    """Run ``spec``; return (failure signature or None, a one-line detail)."""
    from bftlab.pipeline import execute

    try:
        report = execute(spec)
    except Exception as exc:  # a protocol or engine bug is a finding too
        return f"error:{type(exc).__name__}", " ".join(str(exc).split())[:300]
    safety = report["safety"]
    if not safety["ok"]:
        kinds = sorted({v["kind"] for v in safety["violations"]})
        detail = safety["violations"][0]["detail"] if safety["violations"] else ""
        return "safety:" + ",".join(kinds), detail
    if not safety_only and not report["liveness"]["ok"]:
        return "liveness", f"{report['liveness']['pending_count']} requests pending at the end of the run"
    return None, ""


def _same(sig: str | None, target: str) -> bool:
    if sig is None:
        return False
    if target.startswith("safety:") and sig.startswith("safety:"):
        return bool(set(sig[7:].split(",")) & set(target[7:].split(",")))
    return sig == target


def ddmin(items: list, fails: Callable[[list], bool]) -> list:
    """A 1-minimal sub-list of ``items`` for which ``fails`` still holds (Zeller's ddmin)."""
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        for i in range(len(parts)):
            rest = [x for j, p in enumerate(parts) if j != i for x in p]
            if fails(rest):
                items, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    if len(items) == 1 and fails([]):
        return []
    return items


def shrink(base: ExperimentSpec, atoms: list[Atom], seed: int, target: str, opts: FuzzOptions
           ) -> tuple[ExperimentSpec, list[Atom]]:
    """Fewest atoms, then the smallest workload, that still fail with ``target``."""
    budget_left = [opts.max_shrink_runs]

    def fails(spec_base: ExperimentSpec, sub: Sequence[Atom]) -> bool:
        if budget_left[0] <= 0:
            return False
        budget_left[0] -= 1
        try:
            spec = assemble(spec_base, sub, seed)
        except Exception:
            return False
        return _same(judge(spec, opts.safety_only)[0], target)

    atoms = ddmin(list(atoms), lambda sub: fails(base, sub))
    wl = base.workload
    while wl.requests > 1:
        smaller = dataclasses.replace(base, workload=dataclasses.replace(wl, requests=max(1, wl.requests // 2)))
        if not fails(smaller, atoms):
            break
        base, wl = smaller, smaller.workload
    return assemble(base, atoms, seed), atoms


# -------------------------------------------------------------------- replay
def _dotted_paths(spec: ExperimentSpec) -> list[str]:
    names = [spec.protocol.name, spec.crypto, *(a.strategy for a in spec.adversary)]
    return [n for n in names if ":" in n]


def _installed_roots() -> set[Path]:
    paths = [*site.getsitepackages(), site.getusersitepackages()]
    return {Path(p).resolve() for p in paths}


def _import_root(module: str) -> Path | None:
    """The folder to put on ``sys.path`` so that a fresh interpreter imports ``module``; None if installed."""
    top = module.split(".")[0]
    if top in importlib.metadata.packages_distributions():
        return None
    mod = sys.modules.get(top)
    spec = getattr(mod, "__spec__", None)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        where = Path(next(iter(spec.submodule_search_locations))).resolve().parent
    elif spec.origin and os.path.isfile(spec.origin):
        where = Path(spec.origin).resolve().parent
    else:
        return None  # built in or frozen
    return None if where in _installed_roots() else where


def import_path(spec: ExperimentSpec, cwd: Path | None = None) -> str:
    """``PYTHONPATH`` for a shell in ``cwd`` to import the dotted-path plug-ins of ``spec`` ("" if none needed).

    The spec's modules are imported by the time a counterexample is written, so
    the folder each was found in is known. Folders inside ``cwd`` are given
    relative to it (``.`` for ``tests.engine.buggyproto`` run from the checkout),
    others absolute; installed packages need nothing.
    """
    here = (cwd or Path.cwd()).resolve()
    shown: list[str] = []
    for name in _dotted_paths(spec):
        root = _import_root(name.partition(":")[0])
        if root is None:
            continue
        text = os.path.relpath(root, here) if root == here or here in root.parents else str(root)
        if text not in shown:
            shown.append(text)
    return os.pathsep.join(shown)


def replay_command(path: str | Path, spec: ExperimentSpec) -> str:
    """The shell command, for the working directory, that replays counterexample ``path`` of ``spec``."""
    from bftlab.reports.report import replay_command as run_command

    pythonpath = import_path(spec)
    command = run_command(path, spec.seed)
    return f"PYTHONPATH={shlex.quote(pythonpath)} {command}" if pythonpath else command


# ---------------------------------------------------------------------- loop
def fuzz(spec: ExperimentSpec, opts: FuzzOptions, out_dir: str | Path, *, progress: bool = True,
         echo: Callable[[str], None] = print) -> FuzzSummary:
    """Run ``opts.runs`` random schedules against ``spec``; write a counterexample per distinct failure."""
    from tqdm import tqdm

    from bftlab.fuzz_react import react
    from bftlab.specs.registry import load_protocol

    if opts.runs < 1:
        raise UsageError(f"--runs must be >= 1, got {opts.runs}.")
    if opts.max_failures is not None and opts.max_failures < 1:
        raise UsageError(f"--max-failures must be >= 1, got {opts.max_failures}.")
    if opts.byzantine_from is not None and not set(opts.byzantine_from) <= set(spec.replicas):
        raise UsageError(f"--byzantine-from {list(opts.byzantine_from)}: not all are replicas of the spec "
                         f"(0..{spec.n - 1}).")
    if spec.stop.time_limit_s <= opts.heal_s:
        raise UsageError(f"stop.time_limit_s ({spec.stop.time_limit_s:g}) must exceed the heal time "
                         f"{opts.heal_s:g} s, so liveness can be judged after the faults heal.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kit = toolkit(spec, opts.strategies)
    proto = load_protocol(spec.protocol.name)
    if opts.react > 0 and proto.run is not None:
        raise UsageError(f"--react places faults at events of a simulated run; protocol {proto.name!r} runs on a "
                         f"path of its own, with no event history to react to.")
    summary = FuzzSummary()
    seen: dict[str, Failure] = {}
    t0 = time.perf_counter()
    bar = tqdm(range(opts.runs), desc="fuzz", unit="run", disable=not progress, leave=False)
    for i in bar:
        rng = seeds.rng(opts.seed, f"fuzz/schedule/{i}")
        run_seed = seeds.derive(opts.seed, f"fuzz/{i}") % (1 << 31)
        atoms = generate(spec, rng, opts, kit)
        if opts.react > 0:
            atoms = react(spec, rng, atoms, count=opts.react, round_s=opts.round_s, heal_s=opts.heal_s,
                          net_fault=kit.net_fault, assemble=functools.partial(_assemble_with, spec, run_seed),
                          kinds_of_interest=proto.fuzz_events)
        sig, detail = judge(assemble(spec, atoms, run_seed), opts.safety_only)
        summary.runs += 1
        if sig is None:
            continue
        summary.failing_runs += 1
        if summary.first_failure_run is None:
            summary.first_failure_run, summary.first_failure_s = i, round(time.perf_counter() - t0, 3)
        if sig in seen:
            seen[sig].occurrences += 1
            continue
        minimal, kept = shrink(spec, atoms, run_seed, sig, opts) if opts.shrink else (
            assemble(spec, atoms, run_seed), atoms)
        k = len(seen) + 1
        path = out / f"counterexample-{k}.yaml"
        replay = replay_command(path, minimal)
        header = (f"# bftlab fuzz counterexample {k}: {sig} (run {i} of seed {opts.seed}, "
                  f"{len(kept)} of {len(atoms)} faults kept)\n# {detail}\n# replay: {replay}\n")
        path.write_text(header + spec_to_yaml(minimal), encoding="utf-8")
        fail = Failure(sig, i, run_seed, len(atoms), len(kept), str(path), replay, detail)
        seen[sig] = fail
        summary.failures.append(fail)
        bar.set_postfix(failures=len(seen))
        echo(f"failure {k}: {sig} in run {i} -- {detail}\n  shrunk to {len(kept)} of {len(atoms)} faults; "
             f"replay: {replay}")
        if opts.max_failures is not None and len(seen) >= opts.max_failures:
            break
    bar.close()
    summary.wall_s = round(time.perf_counter() - t0, 3)
    (out / "fuzz-summary.json").write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    return summary
