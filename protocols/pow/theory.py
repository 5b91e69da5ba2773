"""Closed forms the simulator is checked against.

* Selfish mining, Eyal & Sirer (FC'14), eq. (8): the relative revenue of an
  SM1 pool with hash share alpha and tie parameter gamma.
* Selfish mining, the same paper's Markov chain (section 4.2): how often
  the pool publishes a withheld block to match an honest one (a tie race,
  state 0').
* Double spending, Rosenfeld (2012), "Analysis of hashrate-based double
  spending", eq. for r(q, z): success probability of an attacker with share q
  who never gives up against a merchant waiting z confirmations, when the
  attacker pre-mines one block; Grunspan & Perez-Marco ("Double spend races",
  2018) give the same number in closed form, I_{4pq}(z, 1/2) (regularised
  incomplete beta function). Without pre-mining the attacker starts level and
  must get strictly ahead: one more block of deficit in the same race.
"""

from __future__ import annotations

import math


def selfish_revenue(alpha: float, gamma: float) -> float:
    """Eyal & Sirer's relative revenue of a selfish pool (valid for alpha < 1/2)."""
    a, g = alpha, gamma
    return (a * (1 - a) ** 2 * (4 * a + g * (1 - 2 * a)) - a ** 3) / (1 - a * (1 + (2 - a) * a))


def selfish_tie_race_rate(alpha: float) -> float:
    """Tie races per mined block under SM1: the stationary probability of Eyal & Sirer's state 0'.

    Each block moves the chain of lead states; state 0' (two public branches
    of equal height, one the pool's) is entered from state 1 when the others
    find a block, so p0' = (1 - alpha) p1 = (1 - alpha) alpha p0 with
    p0 = (1 - 2 alpha) / (2 alpha^3 - 4 alpha^2 + 1) (their section 4.2).
    Whatever gamma is, a race ends with the next block.
    """
    a = alpha
    return (1 - a) * a * (1 - 2 * a) / (2 * a ** 3 - 4 * a ** 2 + 1)


def selfish_threshold(gamma: float) -> float:
    """Smallest alpha for which SM1 beats honest mining: (1 - gamma) / (3 - 2 gamma)."""
    return (1 - gamma) / (3 - 2 * gamma)


def double_spend_success(q: float, z: int, premine: bool = True) -> float:
    """Probability that a never-giving-up attacker with share ``q`` reverses a payment with ``z`` confirmations.

    The merchant delivers once the honest chain holds the payment block and
    z - 1 blocks on it; meanwhile the attacker found m blocks, negative-binomially
    distributed. From a deficit d it ever gets strictly ahead with probability
    (q/p)^(d+1) (gambler's ruin). ``premine`` gives the attacker one block
    head start (Rosenfeld's setting).
    """
    p = 1.0 - q
    if q >= p:
        return 1.0
    head = 1 if premine else 0
    total = 0.0
    for m in range(0, z + 1 - head):  # deficits d = z - m - head >= 0; larger m already wins
        nb = math.comb(m + z - 1, m) * p ** z * q ** m
        total += nb * (1.0 - (q / p) ** (z - m - head + 1))
    return 1.0 - total


def grunspan_closed_form(q: float, z: int) -> float:
    """I_{4pq}(z, 1/2): the pre-mining double-spend probability in closed form."""
    p = 1.0 - q
    if q >= p:
        return 1.0
    return betainc(z, 0.5, 4 * p * q)


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes 6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h
