"""The safety/liveness checker judges histories; each property can fail."""

from hypothesis import given
from hypothesis import strategies as st

from bftlab.api import Accepted, Executed, ExecutedEntry, Issued, StateTransferred
from bftlab.oracles.smr import check

OP = b"op"
RES = b"res"


def issued(c, ts, op=OP):
    return Issued(c, ts, op)


def entry(c, ts, op=OP, res=RES):
    return ExecutedEntry(c, ts, op, res)


def ex(node, seq, *entries, view=0):
    return Executed(node, seq, view, tuple(entries))


def kinds(verdict):
    return sorted({v.kind for v in verdict.violations})


def test_clean_history_is_safe_and_live():
    h = [issued(4, 1), issued(5, 1)]
    h += [ex(r, 0, entry(4, 1), entry(5, 1)) for r in range(4)]
    h += [Accepted(4, 1, RES), Accepted(5, 1, RES)]
    v = check(h)
    assert v.safe and v.live and v.violations == []


def test_agreement_violation_names_seq_replicas_and_requests():
    h = [issued(4, 1), issued(5, 1), ex(0, 3, entry(4, 1)), ex(1, 3, entry(5, 1))]
    v = check(h)
    assert kinds(v) == ["agreement"]
    (bad,) = v.violations
    assert bad.seq == 3 and bad.replicas == [0, 1] and bad.requests == [[4, 1], [5, 1]]


def test_null_versus_request_at_same_seq_is_disagreement():
    v = check([issued(4, 1), ex(0, 2), ex(1, 2, entry(4, 1))])
    assert kinds(v) == ["agreement"]


def test_byzantine_replicas_are_not_judged():
    h = [issued(4, 1), issued(5, 1), ex(0, 3, entry(4, 1)), ex(1, 3, entry(5, 1))]
    assert check(h, byzantine=[1]).safe


def test_order_exactly_once_validity_divergence_and_client_consistency():
    h = [
        issued(4, 1),
        ex(0, 5, entry(4, 1)),
        ex(0, 4),  # goes backwards
        ex(0, 6, entry(4, 1)),  # executes (4, 1) again
        ex(0, 7, entry(9, 9)),  # never issued
        ex(1, 5, entry(4, 1, res=b"other")),  # different result
        Accepted(4, 1, b"third"),  # result nobody computed
    ]
    v = check(h)
    assert kinds(v) == ["client_consistency", "divergence", "exactly_once", "order", "validity"]


def test_pending_requests_break_liveness_not_safety():
    v = check([issued(4, 1), issued(4, 2), ex(0, 0, entry(4, 1)), Accepted(4, 1, RES)])
    assert v.safe and not v.live and v.pending == [(4, 2)]
    assert v.liveness_dict()["pending"] == [{"client": 4, "ts": 2}]


@given(st.lists(st.lists(st.integers(0, 30), max_size=5), min_size=1, max_size=30), st.integers(1, 6))
def test_replicas_executing_one_log_never_disagree(log, replicas):
    """Any log executed identically by every replica (gaps allowed) is safe."""
    h = []
    ts = {}
    slots = []
    for seq, batch in enumerate(log):
        entries = []
        for c in batch:
            ts[c] = ts.get(c, 0) + 1
            h.append(issued(100 + c, ts[c]))
            entries.append(entry(100 + c, ts[c]))
        slots.append((seq, entries))
    for r in range(replicas):
        for seq, entries in slots:
            if (seq + r) % 7 != 3:  # some replicas skip some slots by state transfer
                h.append(ex(r, seq, *entries))
            else:
                h.append(StateTransferred(r, seq))
    assert check(h).safe


def test_a_gap_is_only_allowed_after_a_state_transfer():
    from bftlab.api import StateTransferred

    base_h = [issued(4, 1), issued(4, 2)]
    skipped = base_h + [ex(3, 1, entry(4, 1)), ex(3, 3, entry(4, 2))]
    v = check(skipped)
    assert kinds(v) == ["order"] and "skipped seqs 2..2" in v.violations[0].detail
    jumped = base_h + [ex(3, 1, entry(4, 1)), StateTransferred(3, 2), ex(3, 3, entry(4, 2))]
    assert check(jumped).safe


def test_one_timestamp_issued_with_two_operations_is_invalid():
    v = check([issued(4, 1, op=b"a"), issued(4, 1, op=b"b")])
    assert kinds(v) == ["validity"]
