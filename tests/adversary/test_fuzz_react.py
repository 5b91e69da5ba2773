"""Reactive fault schedules (bftlab.fuzz_react): isolations placed at events the run itself produced."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from adversary.scripted import NetFault
from bftlab.fuzz import assemble
from bftlab.fuzz_react import probe, react
from bftlab.specs.spec import spec_from_dict

RAFT = {"name": "react", "seed": 3, "n": 5,
        "protocol": {"name": "raft", "params": {"election_timeout_s": 0.05, "heartbeat_s": 0.01,
                                                "client_retry_timeout_s": 0.1}},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": 2, "requests": 120}, "stop": {"time_limit_s": 3}}

marks_st = st.lists(st.tuples(st.floats(0.0, 2.0), st.sampled_from(["LeaderElected", "Executed", "ViewChanged"]),
                              st.integers(0, 4)), max_size=30).map(sorted)


@settings(max_examples=200, deadline=None)
@given(marks=marks_st, seed=st.integers(0, 10**6), count=st.integers(1, 4),
       interest=st.sampled_from([(), ("LeaderElected", "Executed")]))
def test_each_reaction_cuts_off_the_replica_that_observed_the_event_at_its_instant(marks, seed, count, interest):
    spec = spec_from_dict(RAFT)
    out = react(spec, random.Random(seed), [], count=count, round_s=0.05, heal_s=1.5, net_fault=NetFault,
                assemble=lambda atoms: spec, kinds_of_interest=interest, probe_fn=lambda _spec, _until: marks)
    assert len(out) <= count
    previous: list[NetFault] = []
    for atom in out:
        fault = atom[1]
        assert atom[0] == "net" and fault.kind == "partition" and len(fault.groups) == 1
        group = fault.groups[0]
        assert 1 <= len(group) and 2 * len(group) < spec.n  # a minority: the majority side can go on
        seen = [m for m in marks if m[0] < 1.45 and (not interest or m[1] in interest)]
        if previous:  # at the first event of its kind after the latest fault began, cutting off its observer
            ref = max(p.start_s for p in previous)
            later = [m for m in seen if m[0] > ref]
            firsts = {k: next(m for m in later if m[1] == k) for k in {m[1] for m in later}}
            assert any(m[0] == fault.start_s and m[2] in group for m in firsts.values()), (fault, marks)
        else:  # at a round of the first half, cutting off whoever observed the latest event before it
            assert abs(fault.start_s / 0.05 - round(fault.start_s / 0.05)) < 1e-9 and fault.start_s < 0.75
            assert [m for m in seen if m[0] <= fault.start_s][-1][2] in group
        assert fault.start_s < fault.end_s <= 1.5
        assert fault.end_s == 1.5 or all(fault.end_s > p.end_s for p in previous)  # it outlasts its causes
        previous.append(fault)


def test_reactions_land_on_their_events_in_the_run_that_replays_them():
    """The run up to a fault's start does not depend on the fault, so the event each reaction was placed at
    still happens, at the same instant and replica, in the final schedule's run (here Raft reacts to every
    event kind, so a chain never runs dry)."""
    spec = spec_from_dict(RAFT)
    seen = 0
    for seed in range(4):
        out = react(spec, random.Random(seed), [], count=3, round_s=0.05, heal_s=1.5, net_fault=NetFault,
                    assemble=lambda atoms: assemble(spec, atoms, 11), kinds_of_interest=())
        final = probe(assemble(spec, out, 11), 1.5)
        for atom in out[1:]:  # the first is at a round; the others at events
            fault = atom[1]
            assert any(t == fault.start_s and node in fault.groups[0] for t, _, node in final), fault
            seen += 1
    assert seen >= 3


def test_a_run_that_fails_while_probing_ends_the_reactions_and_is_left_to_the_judge():
    spec = spec_from_dict(RAFT)

    def broken(_spec, _until):
        raise RuntimeError("protocol bug")

    first = ("net", NetFault(kind="partition", start_s=0.1, end_s=0.2, groups=((0,),)))
    out = react(spec, random.Random(1), [first], count=3, round_s=0.05, heal_s=1.5, net_fault=NetFault,
                assemble=lambda atoms: spec, probe_fn=broken)
    assert out == [first]


def test_react_is_refused_for_a_protocol_with_no_event_history(tmp_path):
    import pytest

    from bftlab.errors import UsageError
    from bftlab.fuzz import FuzzOptions, fuzz
    from bftlab.specs.spec import load_spec

    with pytest.raises(UsageError, match="--react"):
        fuzz(load_spec("configs/pow-selfish-mining.yaml"), FuzzOptions(runs=1, react=1), tmp_path, progress=False)
