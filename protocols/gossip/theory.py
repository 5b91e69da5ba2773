"""Closed forms the gossip simulations are checked against, and Demers et al.'s published tables.

* :func:`push_rounds`: push rumor spreading from one site informs all n sites in
  ``log2 n + ln n + O(1)`` rounds (Frieze & Grimmett, Discrete Appl. Math. 1985;
  Pittel, SIAM J. Appl. Math. 1987, who bounds the O(1) term in probability);
* :func:`push_pull_rounds`: push-pull needs ``log3 n + O(log log n)`` rounds
  (Karp, Schindelhauer, Shenker & Vocking, FOCS 2000, Theorem 2.1); only the
  leading term is a closed form, so tests bound the rest;
* :func:`rumor_residue`: feedback/coin rumor mongering leaves a share ``s`` of the
  sites uninformed with ``s = exp(-(k+1)(1-s))`` (Demers et al. 1987, section 1.4),
  the fixed point of the continuous model's equations;
* :func:`anti_entropy_pull_residue`, :func:`anti_entropy_push_residue`: the share
  of susceptible sites after one more anti-entropy round, ``p^2`` for pull and
  ``p e^{-1}`` for push when p is small (section 1.3);
* :data:`DEMERS_TABLE1`, :data:`DEMERS_TABLE2`: the paper's simulations on 1000
  sites, (residue s, traffic m, t_ave, t_last) for k = 1..5.
"""

from __future__ import annotations

import math

DEMERS_TABLE1: dict[int, tuple[float, float, float, float]] = {
    1: (0.18, 1.7, 11.0, 16.8),
    2: (0.037, 3.3, 12.1, 16.9),
    3: (0.011, 4.5, 12.5, 17.4),
    4: (0.0036, 5.6, 12.7, 17.5),
    5: (0.0012, 6.7, 12.8, 17.7),
}
"""Feedback and counters, push, 1000 sites: k -> (residue s, traffic m, t_ave, t_last), as printed in Demers et
al., Table 1 (Xerox PARC report CSL-89-1, the journal-length version of the PODC'87 paper)."""

DEMERS_TABLE2: dict[int, tuple[float, float, float, float]] = {
    1: (0.96, 0.04, 19.0, 38.0),
    2: (0.20, 1.6, 17.0, 33.0),
    3: (0.060, 2.8, 15.0, 32.0),
    4: (0.021, 3.9, 14.1, 32.0),
    5: (0.008, 4.9, 13.8, 32.0),
}
"""Blind and coin, push, 1000 sites: k -> (residue s, traffic m, t_ave, t_last), as printed in Demers et al.,
Table 2 (CSL-89-1)."""


def push_rounds(n: float) -> float:
    """Frieze-Grimmett / Pittel: rounds for push to inform n sites, without the O(1) term."""
    return math.log2(n) + math.log(n)


def push_pull_rounds(n: float) -> float:
    """Karp et al.: the leading term log3 n of push-pull's rounds."""
    return math.log(n, 3)


def rumor_residue(k: int) -> float:
    """The root s in (0, 1) of ``s = exp(-(k+1)(1-s))`` (feedback, coin, push)."""
    a = k + 1.0
    lo, hi = 0.0, 1.0 - 1e-12  # f(s) = s - exp(-a(1-s)) is negative at 0 and has one root below 1 when a > 1
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid - math.exp(-a * (1.0 - mid)) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    # f is negative between 0 and the root, positive between the root and 1 (f(1) = 0 is the other root)
    return 0.5 * (lo + hi)


def rumor_traffic(k: int) -> float:
    """Update messages per site ``m`` of feedback/coin rumor mongering: ``s = e^{-m}`` (section 1.4), so m = -ln s."""
    return -math.log(rumor_residue(k))


def anti_entropy_pull_residue(p: float) -> float:
    """Share still susceptible after one pull round when a share p is: p^2 (section 1.3)."""
    return p * p


def anti_entropy_push_residue(p: float, n: int) -> float:
    """Share still susceptible after one push round: p (1 - 1/n)^(n(1-p)) -> p e^{-1} for small p (section 1.3)."""
    return p * (1.0 - 1.0 / n) ** (n * (1.0 - p))
