"""The convergence oracle on hand-built final states."""

from __future__ import annotations

from bftlab.api import FinalState
from bftlab.oracles.base import OracleContext
from bftlab.oracles.convergence import ConvergenceOracle


def verdict(states: dict[int, dict], later: dict[int, dict] | None = None):
    oracle = ConvergenceOracle(OracleContext((0, 1, 2, 3), (), (), 1, True))
    for node, st in states.items():
        oracle.observe(10, FinalState(node, st))
    for node, st in (later or {}).items():
        oracle.observe(20, FinalState(node, st))
    return oracle.verdict()


def state(store: dict, replicas_of: dict | None = None, hinted: list | None = None, changed: dict | None = None):
    return {"store": store, "replicas_of": replicas_of or {k: [0, 1, 2] for k in store},
            "hinted": hinted or [], "changed_at_s": changed or {}}


def test_agreeing_replicas_converge_and_the_latest_change_is_reported():
    v = verdict({0: state({"aa": ["x"]}, changed={"aa": 1.5}), 1: state({"aa": ["x"]}, changed={"aa": 2.5}),
                 2: state({"aa": ["x"]})})
    assert v.live is True and v.safe is None and v.section["converged_at_s"] == 2.5


def test_different_values_or_sibling_sets_diverge():
    v = verdict({0: state({"aa": ["x"]}), 1: state({"aa": ["x", "y"]}), 2: state({"aa": ["x"]})})
    assert v.live is False and v.violations[0]["kind"] == "divergence" and v.violations[0]["replicas"] == [0, 1, 2]


def test_a_responsible_replica_that_holds_nothing_diverges_but_a_crashed_one_is_not_judged():
    assert verdict({0: state({"aa": ["x"]}), 1: state({"aa": ["x"]}), 2: state({})}).live is False
    assert verdict({0: state({"aa": ["x"]}), 1: state({"aa": ["x"]})}).live is True  # replica 2 is down


def test_a_key_held_only_as_a_hint_is_reported_and_the_latest_final_state_counts():
    hint_only = {0: state({}), 1: state({}), 3: state({}, hinted=["bb"])}
    v = verdict(hint_only)
    assert v.live is False and v.violations[0]["kind"] == "undelivered_hint"
    v = verdict({0: state({"aa": ["x"]}), 1: state({"aa": ["y"]})}, later={1: state({"aa": ["x"]})})
    assert v.live is True


def test_time_to_converge_after_a_heal_counts_from_the_later_of_the_heal_and_the_keys_last_write():
    from bftlab.api import Accepted, Issued, Submitted, observed_digest
    from bftlab.core.kernel import NS
    from bftlab.core.kv import encode_op
    from bftlab.oracles.base import PartitionWindow

    ctx = OracleContext((0, 1, 2), (5,), (), 1, True, (PartitionWindow(1.0, 2.0, ((0, 5), (1, 2))),))
    oracle = ConvergenceOracle(ctx)
    for ts, (key, start, end) in enumerate([(b"\xaa", 1.2, 1.5), (b"\xbb", 2.4, 2.45)], start=1):
        op = encode_op("put", key, b"v")
        oracle.observe(int(start * NS), Submitted(5, op))
        oracle.observe(int(start * NS), Issued(5, ts, observed_digest(op)))
        oracle.observe(int(end * NS), Accepted(5, ts, observed_digest(b"")))
    # aa: written during the partition, converged 0.3 s after the heal; bb: written after it, 0.05 s later
    for node in (0, 1, 2):
        oracle.observe(3 * NS, FinalState(node, state({"aa": ["x"], "bb": ["y"]}, changed={"aa": 2.3, "bb": 2.5})))
    section = oracle.verdict().section
    assert section["converge_after_heal_s"] == 0.3
    assert section["last_write_s"] == 2.45
