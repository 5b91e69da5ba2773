"""The transaction stream against a naive reference: same draws, same counts, same arrival times."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.protocols.pow.chain import TxStream


class NaiveTxStream:
    """The stream as first written: the whole arrival array is rebuilt on every refill."""

    def __init__(self, rng: np.random.Generator, rate_tps: float) -> None:
        self._rng = rng
        self._mean_ns = 1e9 / rate_tps if rate_tps > 0 else 0.0
        self._times = np.zeros(0, dtype=np.int64)
        self._last = 0

    def count_until(self, t_ns: int) -> int:
        if not self._mean_ns:
            return 0
        while self._last <= t_ns:
            k = max(1024, int((t_ns - self._last) / self._mean_ns * 1.2) + 64)
            new = self._last + np.cumsum(self._rng.exponential(self._mean_ns, k)).astype(np.int64)
            self._times = np.concatenate([self._times, new])
            self._last = int(new[-1])
        return int(np.sum(self._times <= t_ns))  # a linear count, not a search

    def times(self, start: int, stop: int) -> np.ndarray:
        return self._times[start:stop]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.0, 0.01, 3.0, 50.0, 2000.0]),
       queries=st.lists(st.integers(0, 3_600 * 10**9), min_size=1, max_size=40))
def test_counts_and_times_match_the_naive_stream(seed: int, rate: float, queries: list[int]) -> None:
    fast = TxStream(np.random.default_rng(seed), rate)
    ref = NaiveTxStream(np.random.default_rng(seed), rate)
    for t in queries:  # in any order: earlier times after later ones too
        c = fast.count_until(t)
        assert c == ref.count_until(t)
        lo = c // 3
        assert np.array_equal(fast.times(lo, c), ref.times(lo, c))


def test_a_long_run_keeps_every_arrival_in_order() -> None:
    s = TxStream(np.random.default_rng(3), 100.0)
    counts = [s.count_until(t * 10**9) for t in range(0, 20_000, 7)]  # about 2 M arrivals in small steps
    assert counts == sorted(counts) and counts[-1] > 1_900_000
    all_times = s.times(0, counts[-1])
    assert (np.diff(all_times) >= 0).all() and all_times[-1] <= 19_999 * 10**9
