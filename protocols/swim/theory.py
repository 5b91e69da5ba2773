"""Closed forms of SWIM's analysis (Das, Gupta & Motivala, DSN 2002, sections 3.1 and 5).

* :func:`first_detection_periods`: a failed member is picked as some live
  member's ping target in a protocol period with probability
  ``1 - (1 - 1/n)^(n q_f) -> 1 - e^(-q_f)``, ``q_f`` the fraction of non-faulty
  members, so the periods until it is first picked are geometric with mean
  ``1 / (1 - e^(-q_f))``, about ``e/(e-1) = 1.58`` periods when few members fail
  (section 3.1). :func:`first_detection_periods_exact` is the same for ``m``
  live members each picking uniformly among ``n - 1`` others, the finite-n
  value the simulation is compared with.
* :func:`false_positive_probability`: in the basic protocol a live member is
  declared failed when its ping or ack is lost (``1 - (1-q_ml)^2``) and each of
  the ``k`` indirect paths, four messages each, loses one
  (``(1 - (1-q_ml)^4)^k``); section 3.1 bounds this by the product, which is
  exact when the member is up and every loss is independent.
* :func:`message_load`: expected messages a member sends per protocol period:
  its ping; the ack of the ping it receives; on a missed ack ``k`` ping-reqs,
  and the pings, acks and forwarded acks they cause; plus the optional view
  sync. Constant in n (section 5's "load per member is constant").

* :func:`push_pull_periods`: an update piggybacked on pings and their acks
  (one contact per member per period, both directions) reaches n members in
  about ``log3 n + O(log log n)`` periods without loss (Karp, Schindelhauer,
  Shenker & Vocking, FOCS 2000); section 5 only claims O(log n).

The model has synchronous periods and uniform random targets; the
simulator's aligned phases and ``target_selection: random`` reproduce it,
round-robin selection (section 4.3) detects a little faster.
"""

from __future__ import annotations

import math


def first_detection_periods(q_f: float) -> float:
    """Expected protocol periods until a failed member is first pinged: 1 / (1 - e^(-q_f)) (section 3.1)."""
    if not 0.0 < q_f <= 1.0:
        raise ValueError(f"q_f must be in (0, 1], got {q_f!r}")
    return 1.0 / (1.0 - math.exp(-q_f))


def pick_probability(n_view: int, live: int) -> float:
    """Probability that at least one of ``live`` members, each pinging one of ``n_view`` others, picks a given one."""
    if n_view < 1 or live < 1:
        raise ValueError("need at least one live member and one member to pick")
    return 1.0 - (1.0 - 1.0 / n_view) ** live


def first_detection_periods_exact(n_view: int, live: int) -> float:
    """Mean of the geometric number of periods with pick probability :func:`pick_probability`."""
    return 1.0 / pick_probability(n_view, live)


def first_detection_periods_sd(n_view: int, live: int) -> float:
    """Standard deviation of that geometric number of periods: sqrt(1 - p) / p."""
    p = pick_probability(n_view, live)
    return math.sqrt(1.0 - p) / p


def false_positive_probability(q_ml: float, k: int) -> float:
    """(1 - (1-q_ml)^2) * (1 - (1-q_ml)^4)^k: a probe of a live member fails (section 3.1)."""
    if not 0.0 <= q_ml < 1.0:
        raise ValueError(f"q_ml must be in [0, 1), got {q_ml!r}")
    ok = 1.0 - q_ml
    return (1.0 - ok**2) * (1.0 - ok**4) ** k


def message_load(q_ml: float, k: int, sync_periods: int = 0) -> float:
    """Expected messages a member sends per period when every member is up and each message is lost with q_ml.

    ping (1) + ack of the ping it receives (1 - q) + on a missed direct ack (probability 1 - (1-q)^2):
    k ping-reqs, each followed by a ping (1-q), an ack (1-q)^2 and a forward (1-q)^3; plus a view sync every
    ``sync_periods`` periods and its reply (1-q).
    """
    ok = 1.0 - q_ml
    load = 1.0 + ok + (1.0 - ok**2) * k * (1.0 + ok + ok**2 + ok**3)
    if sync_periods:
        load += (1.0 + ok) / sync_periods
    return load


def push_pull_periods(n: int) -> float:
    """log3 n, the leading term of push-pull spreading (Karp et al. 2000), the dissemination of section 4.1."""
    return math.log(n, 3)
