"""FirstCommit: once per term, from that term's leader, when its commit index first moves in the term."""

from __future__ import annotations

from bftlab.protocols.raft.election import FirstCommit, LeaderElected
from bftlab.sim import runner
from bftlab.specs.spec import load_spec


def test_each_leader_observes_its_first_commit_once_per_term_and_followers_never_do():
    spec = load_spec("configs/raft-crash-leader.yaml")
    sim = runner.build(spec, keep_history=True)
    sim.run()
    elected = {(ev.term, ev.node): t for t, ev in sim.history if type(ev) is LeaderElected}
    firsts = [(t, ev) for t, ev in sim.history if type(ev) is FirstCommit]
    assert len(elected) >= 2  # the leader crashes: a second term has a leader
    assert len(firsts) >= 2
    terms = [ev.term for _, ev in firsts]
    assert len(terms) == len(set(terms))  # at most one per term
    for t, ev in firsts:
        assert (ev.term, ev.node) in elected and elected[(ev.term, ev.node)] <= t  # its term's leader, once elected
        assert ev.index >= 1
