"""Search for attacks: random fault schedules, checked runs, shrunk and replayable counterexamples.

In the spirit of ByzzFuzz (Winter, Rahli, Cardoso, Gavrilov, Dragoi, Krstic,
"Randomized Testing of Byzantine Fault Tolerant Algorithms", OOPSLA 2023) and
Twins (Bano et al. 2020). Each run ``i`` draws, from ``seeds.rng(S, "fuzz/schedule/i")``,
a *schedule*: a list of atoms, each one fault that fits in a spec --

- network atoms (``scripted-network``): partitions, and drops, delays and
  duplicates of one message type on one link, in windows of whole rounds
  (``round_s``) that all end by ``heal_s``;
- node atoms, for at most the spec's fault budget of Byzantine replicas: a
  built-in strategy for that replica (Twins, silent, crash-recover, and the PBFT
  ones when the protocol is PBFT), or small-scope changes to what it sends
  (``scripted-node``: omit, delay, stale, mutate).

The run (seed ``derive(S, "fuzz/i")``) is judged by the checker: any safety
violation, an internal error, or (unless ``safety_only``) requests still
pending at the end although every fault healed at ``heal_s``. The first run
with each distinct failure is shrunk by delta debugging (Zeller and Hildebrandt,
"Simplifying and Isolating Failure-Inducing Input", TSE 2002) over its atoms,
then by halving the workload, and written as a self-contained spec that
``bftlab run`` replays: shrinking only removes atoms, and nothing in a schedule
draws random numbers of its own, so what is written is exactly what failed.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bftlab.core import seeds
from bftlab.errors import UsageError
from bftlab.specs.spec import ExperimentSpec, spec_from_dict, spec_to_dict, spec_to_yaml

Atom = tuple  # ("net", NetFault) | ("node", nid, strategy, params) | ("act", nid, NodeFault)


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
_GENERIC = ("twins", "silent", "crash-recover", "scripted-node")
_PBFT = ("equivocating-primary", "censoring-primary", "conflicting-votes", "forged-auth", "stale-replay",
         "needless-view-change", "slow-primary")


def _is_pbft(spec: ExperimentSpec) -> bool:
    from bftlab.specs.registry import load_protocol

    try:
        from bftlab.protocols.pbft.messages import PrePrepare
    except ImportError:
        return False
    return PrePrepare in load_protocol(spec.protocol.name).message_types


def _window(rng: random.Random, opts: FuzzOptions) -> tuple[float, float]:
    rounds = max(1, int(round(opts.heal_s / opts.round_s)))
    start = rng.randrange(rounds)
    end = min(rounds, start + rng.randint(1, 5))
    return round(start * opts.round_s, 9), round(end * opts.round_s, 9)


def _split(rng: random.Random, nodes: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    side = [rng.randrange(2) for _ in nodes]
    return tuple(x for x, s in zip(nodes, side) if s == 0), tuple(x for x, s in zip(nodes, side) if s == 1)


def budget(spec: ExperimentSpec) -> int:
    """How many more replicas the fuzzer may make Byzantine."""
    taken = set(spec.byzantine) | {f.node for f in spec.faults}
    return max(0, spec.f + (1 if spec.allow_exceeding_f else 0) - len(taken))


def generate(spec: ExperimentSpec, rng: random.Random, opts: FuzzOptions, msg_types: Sequence[str],
             pbft: bool) -> list[Atom]:
    """One random schedule within the spec's fault budget."""
    from bftlab.adversary.scripted import NetFault, NodeFault

    nodes = spec.replicas + spec.clients
    atoms: list[Atom] = []
    for _ in range(rng.randint(0, opts.max_net_faults)):
        start, end = _window(rng, opts)
        kind = rng.choice(("partition", "partition", "drop", "delay", "duplicate"))
        if kind == "partition":
            a, b = _split(rng, nodes)
            atoms.append(("net", NetFault(kind=kind, start_s=start, end_s=end, groups=tuple(g for g in (a, b) if g))))
        else:
            atoms.append(("net", NetFault(kind=kind, start_s=start, end_s=end, src=rng.choice(spec.replicas),
                                          dst=rng.choice((None, *spec.replicas)),
                                          msg_type=rng.choice(msg_types) if msg_types else None,
                                          delay_s=round(rng.uniform(0, 4 * opts.round_s), 6))))
    free = [r for r in spec.replicas if r not in set(spec.byzantine) | {f.node for f in spec.faults}]
    k = min(len(free), budget(spec))
    k = k if rng.random() < 0.5 else rng.randint(0, k)
    for nid in sorted(rng.sample(free, k)):
        choice = rng.choice(_GENERIC + (_PBFT if pbft else ()))
        if choice == "scripted-node":
            for _ in range(rng.randint(1, opts.max_node_faults)):
                start, end = _window(rng, opts)
                others = [r for r in spec.replicas if r != nid]
                to = tuple(sorted(rng.sample(others, rng.randint(1, len(others))))) if others else ()
                atoms.append(("act", nid, NodeFault(
                    kind=rng.choice(("omit", "delay", "stale", "mutate")), start_s=start, end_s=end, to=to,
                    msg_type=rng.choice(msg_types) if msg_types and rng.random() < 0.8 else None,
                    delay_s=round(rng.uniform(0, 4 * opts.round_s), 6), field=rng.choice(("view", "seq", "digest")))))
        elif choice == "twins":
            a, b = _split(rng, [x for x in nodes if x != nid])
            atoms.append(("node", nid, "twins", {"side_a": list(a), "side_b": list(b), "end_s": opts.heal_s}))
        elif choice == "crash-recover":
            start, end = _window(rng, opts)
            atoms.append(("node", nid, choice, {"windows": [[start, end]]}))
        else:
            atoms.append(("node", nid, choice, {"end_s": opts.heal_s}))
    return atoms


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
    data["seed"] = seed
    return spec_from_dict(data, source="<fuzz schedule>")


# ------------------------------------------------------------------- judging
def judge(spec: ExperimentSpec, safety_only: bool) -> tuple[str | None, str]:
    """Run ``spec``; return (failure signature or None, a one-line detail)."""
    from bftlab.sim import runner

    try:
        report = runner.run(spec)
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


# ---------------------------------------------------------------------- loop
def fuzz(spec: ExperimentSpec, opts: FuzzOptions, out_dir: str | Path, *, progress: bool = True,
         echo: Callable[[str], None] = print) -> FuzzSummary:
    """Run ``opts.runs`` random schedules against ``spec``; write a counterexample per distinct failure."""
    from tqdm import tqdm

    from bftlab.specs.registry import load_protocol
    from bftlab.reports.report import replay_command

    if opts.runs < 1:
        raise UsageError(f"--runs must be >= 1, got {opts.runs}.")
    if spec.stop.time_limit_s <= opts.heal_s:
        raise UsageError(f"stop.time_limit_s ({spec.stop.time_limit_s:g}) must exceed the heal time "
                         f"{opts.heal_s:g} s, so liveness can be judged after the faults heal.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    proto = load_protocol(spec.protocol.name)
    msg_types = sorted({t.__name__ for t in proto.message_types})
    pbft = _is_pbft(spec)
    summary = FuzzSummary()
    seen: dict[str, Failure] = {}
    t0 = time.perf_counter()
    bar = tqdm(range(opts.runs), desc="fuzz", unit="run", disable=not progress, leave=False)
    for i in bar:
        rng = seeds.rng(opts.seed, f"fuzz/schedule/{i}")
        run_seed = seeds.derive(opts.seed, f"fuzz/{i}") % (1 << 31)
        atoms = generate(spec, rng, opts, msg_types, pbft)
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
        replay = replay_command(path, minimal.seed)
        header = (f"# bftlab fuzz counterexample {k}: {sig} (run {i} of seed {opts.seed}, "
                  f"{len(kept)} of {len(atoms)} faults kept)\n# {detail}\n# replay: {replay}\n")
        path.write_text(header + spec_to_yaml(minimal), encoding="utf-8")
        fail = Failure(sig, i, run_seed, len(atoms), len(kept), str(path), replay, detail)
        seen[sig] = fail
        summary.failures.append(fail)
        bar.set_postfix(failures=len(seen))
        echo(f"failure {k}: {sig} in run {i} -- {detail}\n  shrunk to {len(kept)} of {len(atoms)} faults; "
             f"replay: {replay}")
    bar.close()
    summary.wall_s = round(time.perf_counter() - t0, 3)
    (out / "fuzz-summary.json").write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    return summary
