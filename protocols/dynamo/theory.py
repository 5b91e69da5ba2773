"""Probabilistically Bounded Staleness: the WARS model (Bailis, Venkataraman, Franklin, Hellerstein & Stoica,
"Probabilistically Bounded Staleness for Practical Partial Quorums", VLDB 2012, §5).

Theory of operation
-------------------
A write is sent to all N replicas and commits when W of them acknowledged; a
read is sent to all N and returns when R of them answered. With one-way
message delays drawn independently, WARS names four per replica: **W** (the
write reaching replica i), **A** (its acknowledgement), **R** (the read
request) and **S** (the response). The write commits at the W-th smallest
``W_i + A_i``. A read that starts t after the commit is consistent (returns
that write or a newer one) iff one of the R replicas that answer first, by
``R_i + S_i``, had the write when the read arrived: ``W_i <= commit + t + R_i``.
The probability has no closed form for general delay distributions, so the
paper estimates it by Monte Carlo, as :func:`p_consistent` does.

The simulated store adds two client hops that the paper's model leaves out:
``t`` is measured at the client (from the write's acknowledgement reaching it
to its next read leaving it), so the read reaches the coordinator
``reply + t + request`` after the commit; ``client_legs`` includes them, with
the same delay distribution. The coordinator stores nothing (routing
``proxy``), as in the model.

Delay models are the simulator's (:mod:`bftlab.sim.network`): ``constant``,
``uniform`` (centre ± jitter), ``normal`` (truncated at 0) and ``lognormal``
(median ``latency_ms``, shape ``sigma``; the heavy-tailed model closest to the
paper's exponential fits of production latencies).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def delay_sampler(model: str, latency_ms: float, jitter_ms: float = 0.0, sigma: float = 0.5) -> Sampler:
    """One-way delays in ms, drawn as the simulator draws them for ``model``."""
    if model == "constant":
        return lambda rng, shape: np.full(shape, latency_ms)
    if model == "uniform":
        lo = max(0.0, latency_ms - jitter_ms)
        return lambda rng, shape: rng.uniform(lo, latency_ms + jitter_ms, shape)
    if model == "normal":
        return lambda rng, shape: np.maximum(0.0, rng.normal(latency_ms, jitter_ms, shape))
    if model == "lognormal":
        mu = float(np.log(latency_ms))
        return lambda rng, shape: rng.lognormal(mu, sigma, shape)
    raise ValueError(f"no WARS delay model for latency_model {model!r}")


def p_consistent(n: int, r: int, w: int, t_ms: float, delay: Sampler, trials: int = 20_000, seed: int = 0,
                 client_legs: bool = True) -> float:
    """The probability that a read started ``t_ms`` after a write committed returns it (WARS Monte Carlo)."""
    if not (1 <= r <= n and 1 <= w <= n):
        raise ValueError(f"need 1 <= R, W <= N, got N={n} R={r} W={w}")
    rng = np.random.default_rng(seed)
    wd, ad, rd, sd = (delay(rng, (trials, n)) for _ in range(4))
    commit = np.sort(wd + ad, axis=1)[:, w - 1]
    start = commit + t_ms
    if client_legs:
        start = start + delay(rng, (trials,)) + delay(rng, (trials,))
    fresh = wd <= start[:, None] + rd  # replica i has the write when the read reaches it
    order = np.argsort(rd + sd, axis=1)[:, :r]  # the R replicas that answer first
    return float(np.take_along_axis(fresh, order, axis=1).any(axis=1).mean())


def strict(n: int, r: int, w: int) -> bool:
    """R + W > N: every read quorum meets every write quorum, so no read is stale (absent sloppy quorums)."""
    return r + w > n
