"""The event kernel: order, tie-breaks, limits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bftlab.core.kernel import PRIO_CONTROL, PRIO_NET, PRIO_TIMER, Kernel


def test_simultaneous_events_follow_priority_then_insertion_order():
    k = Kernel()
    seen = []
    k.schedule(10, seen.append, "timer", PRIO_TIMER)
    k.schedule(10, seen.append, "net-1", PRIO_NET)
    k.schedule(10, seen.append, "control", PRIO_CONTROL)
    k.schedule(10, seen.append, "net-2", PRIO_NET)
    k.schedule(5, seen.append, "early", PRIO_TIMER)
    k.run()
    assert seen == ["early", "control", "net-1", "net-2", "timer"]
    assert k.now == 10 and k.events == 5


def test_until_stops_at_the_limit_and_keeps_later_events():
    k = Kernel()
    seen = []
    for t in (1, 5, 9):
        k.schedule(t, seen.append, t)
    k.run(until_ns=5)
    assert seen == [1, 5] and k.now == 5 and k.pending() == 1
    k.run()
    assert seen == [1, 5, 9] and k.events == 3


def test_stop_returns_before_the_next_event_even_at_the_same_instant():
    k = Kernel()
    seen = []

    def first(_):
        seen.append("a")
        k.stop()

    k.schedule(1, first)
    k.schedule(1, seen.append, "b")
    k.run()
    assert seen == ["a"] and k.pending() == 1


def test_max_events_bounds_a_run():
    k = Kernel()

    def again(_):
        k.schedule(k.now + 1, again)

    k.schedule(0, again)
    k.run(max_events=100)
    assert k.events == 100


def test_scheduling_in_the_past_runs_now():
    k = Kernel()
    seen = []
    k.schedule(10, lambda _: k.schedule(3, seen.append, k.now))
    k.run()
    assert seen == [10]


@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from([0, 1, 2])), max_size=60))
def test_events_run_in_key_order(events):
    k = Kernel()
    seen = []
    for i, (t, p) in enumerate(events):
        k.schedule(t, seen.append, (t, p, i), p)
    k.run()
    assert seen == sorted(seen)


def test_an_index_error_inside_a_callback_is_not_mistaken_for_the_end_of_the_run():
    k = Kernel()

    def buggy(_):
        [][1]

    k.schedule(1, buggy)
    with pytest.raises(IndexError):
        k.run()
    k = Kernel()
    k.schedule(1, buggy)
    k.schedule(2, lambda _: None)
    with pytest.raises(IndexError):
        k.run()


@given(
    st.lists(st.integers(0, 30), max_size=40),
    st.one_of(st.none(), st.integers(0, 40)),
    st.one_of(st.none(), st.integers(0, 50)),
    st.one_of(st.none(), st.integers(0, 30)),
)
def test_the_event_count_matches_the_callbacks_run(times, until, max_events, stop_at):
    """``events`` is derived from queue lengths on the uncounted path: check it against a tally."""
    k = Kernel()
    ran = []

    def ev(t):
        ran.append(t)
        if t == stop_at:
            k.stop()
        if t % 3 == 0 and t < 30:  # events that schedule more events, some at the same instant
            k.schedule_unchecked(k.now + t % 2, ev, t + 1)

    for t in times:
        k.schedule(t, ev, t)
    k.run(until_ns=until, max_events=max_events)
    assert k.events == len(ran)
    for _ in range(len(times) + 2):  # the rest, unbounded; each queued stop halts one run
        k.run()
    assert k.events == len(ran) and k.pending() == 0


def test_unchecked_scheduling_keeps_order_for_times_not_in_the_past():
    k = Kernel()
    seen = []
    k.schedule_unchecked(7, seen.append, "b", PRIO_TIMER)
    k.schedule_unchecked(7, seen.append, "a", PRIO_NET)
    k.schedule(3, lambda _: k.schedule_unchecked(k.now, seen.append, "now"))
    k.run()
    assert seen == ["now", "a", "b"] and k.now == 7


@pytest.mark.parametrize("max_events", [None, 10])
def test_a_failing_callback_leaves_an_exact_count_and_no_time_limit_behind(max_events):
    k = Kernel()
    seen = []

    def boom(_):
        raise ValueError("bug")

    k.schedule(1, seen.append, 1)
    k.schedule(2, boom)
    k.schedule(3, seen.append, 3)
    k.schedule(50, seen.append, 50)
    with pytest.raises(ValueError):
        k.run(until_ns=10, max_events=max_events)
    assert k.events == 2  # the event that raised ran too
    k.run(until_ns=100)
    assert seen == [1, 3, 50] and k.events == 4 and k.now == 100


def test_run_is_not_re_entrant():
    k = Kernel()
    k.schedule(1, lambda _: k.run())
    with pytest.raises(RuntimeError, match="re-entrant"):
        k.run()
    k.schedule(2, lambda _: None)
    k.run()  # the kernel is usable again
    assert k.now == 2
