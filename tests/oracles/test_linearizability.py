"""The WGL linearizability checker: hand-made scenarios, then generated histories."""

import dataclasses
import itertools
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bftlab.oracles.linearizability import KV, Operation, check, random_history, render


def op(client, call, ret, kind, value=None, key=b"x"):
    return Operation(client, call, ret, kind, key, value)


def violation(history, *expected):
    """Assert a violation on key ``x`` whose minimal counterexample is exactly ``expected``."""
    r = check(history)
    assert (r.verdict, r.ok, r.timed_out, r.failing_key) == ("violation", False, False, b"x")
    assert set(r.minimal) == set(expected) and len(r.minimal) == len(expected)
    return r


BUDGET = 30.0  # seconds; a safety net so that a regression fails as "unknown" instead of hanging
NOISE = [op(5, 0, 100, "put", b"9", key=b"y"), op(6, 200, 300, "get", b"9", key=b"y")]


# --- scenarios ---------------------------------------------------------------------------------------------------

def test_sequential_history_passes():
    h = [op(0, 0, 10, "put", b"1"), op(1, 20, 30, "get", b"1"), op(0, 40, 50, "put", b"2"),
         op(1, 60, 70, "get", b"2"), op(0, 80, 90, "del"), op(1, 100, 110, "get", None)] + NOISE
    r = check(h)
    assert (r.verdict, r.ok, r.checked_keys, r.operations, r.minimal) == ("ok", True, 2, 8, ())


def test_empty_history_passes():
    assert check([]).ok


def test_stale_read_of_absent_fails_with_the_two_ops_that_matter():
    put, stale = op(0, 0, 10, "put", b"1"), op(1, 20, 30, "get", None)
    violation([put, stale, op(2, 40, 50, "get", b"1"), op(2, 60, 70, "get", b"1")] + NOISE, put, stale)


def test_stale_read_of_old_value_fails_with_the_three_ops_that_matter():
    p1, p2, stale = op(0, 0, 10, "put", b"1"), op(0, 20, 30, "put", b"2"), op(1, 40, 50, "get", b"1")
    violation([op(2, 0, 5, "get", None), p1, p2, op(2, 35, 38, "get", b"2"), stale, op(3, 60, 70, "get", None),
               op(3, 55, 58, "del")] + NOISE, p1, p2, stale)


def test_overlapping_ops_may_take_effect_in_any_order_inside_their_intervals():
    # the put is concurrent with both gets: one sees it, the other does not, in an order the intervals allow
    assert check([op(0, 0, 100, "put", b"1"), op(1, 5, 15, "get", None), op(2, 10, 20, "get", b"1")]).ok
    # two concurrent puts: later reads fix which one took effect last
    puts = [op(0, 0, 50, "put", b"1"), op(1, 0, 50, "put", b"2")]
    assert check(puts + [op(2, 60, 70, "get", b"1"), op(2, 80, 90, "get", b"1")]).ok
    # ... but once both are done the value cannot flip without another write
    flip = [op(2, 60, 70, "get", b"1"), op(2, 80, 90, "get", b"2")]
    violation(puts + flip, *puts, *flip)


def test_returning_at_the_instant_another_op_is_invoked_means_happened_before():
    put = op(0, 0, 10, "put", b"1")
    violation([put, op(1, 10, 20, "get", None)], put, op(1, 10, 20, "get", None))
    assert check([put, op(1, 9, 20, "get", None)]).ok  # one nanosecond of overlap: concurrent
    assert check([op(0, 10, 10, "put", b"1"), op(1, 10, 20, "get", None)]).ok  # instantaneous: concurrent at t


def test_pending_put_may_have_taken_effect_at_any_later_time_or_never():
    pending = op(0, 0, None, "put", b"1")
    assert check([pending, op(1, 50, 60, "get", b"1")]).ok
    assert check([pending, op(1, 50, 60, "get", None), op(1, 70, 80, "get", b"1")]).ok  # took effect late
    assert check([pending, op(1, 50, 60, "get", None)]).ok  # never took effect
    seen, gone = op(1, 50, 60, "get", b"1"), op(1, 70, 80, "get", None)
    violation([pending, seen, gone], pending, seen, gone)  # once observed, it cannot be undone without a del
    assert check([pending, seen, op(2, 61, None, "del"), gone]).ok  # ... a pending del may be that del


def test_pending_put_cannot_take_effect_before_it_is_invoked():
    early, late = op(1, 0, 10, "get", b"1"), op(0, 20, None, "put", b"1")
    violation([early, late], early, late)


def test_pending_get_observed_nothing_and_is_dropped():
    r = check([op(0, 0, 10, "put", b"1"), op(1, 20, None, "get", b"garbage")])
    assert r.ok and r.operations == 1


def test_read_of_a_value_never_written_fails_alone():
    ghost = op(1, 40, 50, "get", b"ghost")
    violation([op(0, 0, 10, "put", b"1"), op(0, 20, 30, "get", b"1"), ghost, op(0, 60, 70, "del")], ghost)


def test_del_semantics():
    put, dele = op(0, 0, 10, "put", b"1"), op(0, 20, 30, "del")
    assert check([put, dele, op(1, 40, 50, "get", None)]).ok
    assert check([put, dele, op(1, 25, 35, "get", b"1")]).ok  # concurrent with the del: may precede it
    assert check([dele, op(1, 40, 50, "get", None)]).ok  # deleting an absent key is fine
    resurrected = op(1, 40, 50, "get", b"1")
    violation([put, dele, resurrected], put, dele, resurrected)


def test_keys_are_independent():
    h = [op(0, 0, 10, "put", b"1", key=b"a"), op(1, 20, 30, "get", None, key=b"b"),
         op(1, 40, 50, "get", b"1", key=b"a")]
    assert check(h).checked_keys == 2 and check(h).ok
    r = check(h + [op(2, 60, 70, "get", b"1", key=b"b")])
    assert r.failing_key == b"b" and r.minimal == (op(2, 60, 70, "get", b"1", key=b"b"),)


def test_pending_writes_nobody_observed_are_left_out():
    h = [op(0, 0, 10, "put", b"1"), op(1, 5, None, "put", b"2"), op(2, 6, None, "del"), op(3, 20, 30, "get", b"1")]
    assert check(h).ok and check(h).operations == 2
    assert check(h + [op(3, 40, 50, "get", None)]).operations == 4  # now the del may explain the read


def test_many_concurrent_reads_do_not_blow_up_the_search():
    # 200 reads at one instant plus one impossible read: Lowe's memo alone would try all 2^200 subsets
    h = [op(c, 0, 0, "get", None) for c in range(200)] + [op(200, 0, 0, "get", b"ghost")]
    r = check(h, time_budget_s=BUDGET)
    assert r.verdict == "violation" and r.minimal == (h[-1],)


def test_many_pending_writes_do_not_blow_up_the_search():
    h = [op(c, c, None, "put", b"p%d" % c) for c in range(100)]
    put, stale = op(100, 200, 210, "put", b"1"), op(101, 220, 230, "get", None)
    r = check(h + [put, stale], time_budget_s=BUDGET)
    assert r.verdict == "violation" and set(r.minimal) == {put, stale}


def test_exhausted_budget_is_unknown_not_ok_nor_violation():
    r = check(random_history(random.Random(3), ops=500, keys=5, clients=4), time_budget_s=0.0)
    assert (r.verdict, r.ok, r.timed_out, r.minimal) == ("unknown", False, True, ())


def test_malformed_operations_are_rejected():
    with pytest.raises(ValueError):
        check([op(0, 10, 5, "put", b"1")])
    with pytest.raises(ValueError):
        check([op(0, 0, 5, "cas", b"1")])


def test_render_names_every_op_of_the_counterexample():
    put = Operation(3, 1_500_000, 2_250_000, "put", b"x", b"1", ident=(3, 7))
    r = check([put, op(1, 3_000_000, 4_000_000, "get", None), op(2, 5_000_000, None, "del")])
    lines = render(r)
    assert lines[0].startswith("not linearizable: key b'x'") and len(lines) == 1 + len(r.minimal)
    assert "client 3 req (3, 7) [1.500 ms, 2.250 ms] put b'x' = b'1'" in lines[1]
    assert "get b'x' -> absent" in lines[2]
    assert render(check([put]))[0].startswith("linearizable")


def test_long_single_key_history_needs_no_recursion():
    h = [op(0, 10 * i, 10 * i + 5, "put" if i % 2 == 0 else "get", b"%d" % (i - i % 2)) for i in range(10_000)]
    assert check(h).ok


# --- generated histories -----------------------------------------------------------------------------------------

@st.composite
def histories(draw):
    """Linearizable by construction; tiny time ranges so that ties and overlaps are common.

    Instantaneous ops at one instant are all concurrent, and a violation among k concurrent writes is found
    only after trying their 2^k subsets: allow zero durations only in short histories.
    """
    n = draw(st.integers(0, 40))
    return random_history(draw(st.randoms(use_true_random=False)), ops=n, keys=draw(st.integers(1, 3)),
                          clients=draw(st.integers(1, 5)), pending=draw(st.sampled_from([0.0, 0.1, 0.3])),
                          max_gap=3, max_len=draw(st.integers(0 if n <= 12 else 1, 6)), min_len=0 if n <= 12 else 1)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@SETTINGS
@given(histories())
def test_histories_linearizable_by_construction_pass(h):
    r = check(h, time_budget_s=BUDGET)
    assert r.verdict == "ok", render(r)


@SETTINGS
@given(histories(), st.data())
def test_a_planted_impossible_read_is_found_and_kept_in_the_counterexample(h, data):
    gets = [i for i, o in enumerate(h) if o.kind == "get" and o.ret is not None]
    assume(gets)
    i = data.draw(st.sampled_from(gets))
    bad = dataclasses.replace(h[i], value=b"never-written")
    h = h[:i] + [bad] + h[i + 1:]
    r = check(h, time_budget_s=BUDGET)
    assert r.verdict == "violation" and r.failing_key == bad.key and bad in r.minimal
    assert check(list(r.minimal), time_budget_s=BUDGET).verdict == "violation"
    # 1-minimal: every removal the shrinker may make yields a linearizable history
    for j in range(len(r.minimal)):
        rest = list(r.minimal[:j] + r.minimal[j + 1:])
        if KV.removable(rest, [r.minimal[j]]):
            assert check(rest, time_budget_s=BUDGET).ok


def test_ten_thousand_ops_over_a_hundred_keys_pass():
    h = random_history(random.Random(2024), ops=10_000, keys=100, clients=8, pending=0.01)
    r = check(h)
    assert r.ok and r.checked_keys == 100 and len(h) == 10_000


def brute_force(ops):
    """Linearizability by enumeration, straight from the definition and the documented conventions."""
    ops = [o for o in ops if o.ret is not None or o.kind != "get"]
    done, pending = [o for o in ops if o.ret is not None], [o for o in ops if o.ret is None]

    def precedes(a, b):  # a returned at or before b's call; an instantaneous a is concurrent with b at that instant
        return a.ret is not None and (a.ret < b.call or (a.ret == b.call and a.call < a.ret))

    for k in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, k):
            for order in itertools.permutations(done + list(chosen)):
                if any(precedes(order[j], order[i]) for i in range(len(order)) for j in range(i + 1, len(order))):
                    continue
                store = {}
                for o in order:
                    if o.kind == "get" and store.get(o.key) != o.value:
                        break
                    if o.kind == "put":
                        store[o.key] = o.value
                    elif o.kind == "del":
                        store.pop(o.key, None)
                else:
                    return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(["get", "put", "del"]),
                          st.sampled_from([b"a", b"a", b"a", b"b"]), st.sampled_from([None, b"1", b"2"]),
                          st.sampled_from([False, False, False, True])), max_size=6))
def test_agrees_with_brute_force_on_small_histories(rows):
    """Short intervals over mostly one key, so that overlaps and equal timestamps decide verdicts often."""
    h = [Operation(c, call, None if pending else call + length, kind, key,
                   {"del": None, "put": value or b"1"}.get(kind, value))
         for c, (call, length, kind, key, value, pending) in enumerate(rows)]
    assert (check(h).verdict == "ok") == brute_force(h)
