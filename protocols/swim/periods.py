"""The fast path: SWIM's analysis model in synchronous protocol periods, for groups far beyond the simulator.

Theory of operation
-------------------
Section 3.1 and section 5 of Das, Gupta & Motivala analyse SWIM in rounds:
every live member pings one target chosen uniformly at random per protocol
period, and each message is lost independently with probability q. This
module runs that model with numpy arrays of n entries, ``trials`` times:

* **first detection**: ``failed`` members crash at period 0 (member 0 is the
  one tracked); the period in which some live member first pings member 0 is
  the period at whose end it is suspected (a ping to a crashed member always
  fails). Its mean is 1 / (1 - (1 - 1/(n-1))^m) for m live members,
  -> 1 / (1 - e^(-q_f));
* **dissemination**: from the end of that period the detector's update
  spreads infection-style (section 4.1): in each later period every live
  member pings a random member, the ping carries the update when the sender
  knows it and has sent it fewer than ceil(lambda ln(n+1)) times, and the
  target's ack carries it back under the same rule. Both directions mean one
  contact per member per period works like push-pull, which informs n members
  in log3 n + O(log log n) rounds (Karp, Schindelhauer, Shenker & Vocking,
  FOCS 2000) when nothing is lost. A trial ends when every live member knows
  or nobody may send the update any more (the rest is the residue).

What it leaves out: timing within a period, ping-reqs (they only add
contacts), suspicion timeouts and refutations, and the piggyback cap (one
update is in flight). Targets are uniform (section 3), not round-robin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .view import retransmit_limit


@dataclass(frozen=True, slots=True)
class Trial:
    """One trial: periods to first detection; periods until every live member knew (None: never); the share of
    live members that never learned; messages that carried the update."""

    detection: int
    spread: int | None
    residue: float
    carried: int


def _targets(rng: np.random.Generator, n: int) -> Any:
    """One uniform target per member, never itself."""
    t = rng.integers(0, n - 1, size=n)
    return t + (t >= np.arange(n))


def run_trial(rng: np.random.Generator, n: int, failed: int, loss: float, retransmit_mult: float,
              max_periods: int) -> Trial:
    """One trial of the round model (see the module docstring); member 0 and ``failed - 1`` others crash."""
    live = np.ones(n, dtype=bool)
    crashed = np.concatenate(([0], 1 + rng.choice(n - 1, size=failed - 1, replace=False))) if failed > 1 \
        else np.array([0])
    live[crashed] = False
    detection = 0
    for period in range(1, max_periods + 1):
        targets = _targets(rng, n)
        pickers = np.flatnonzero(live & (targets == 0))
        if pickers.size:
            detection = period
            detector = int(pickers[rng.integers(pickers.size)])
            break
    else:
        return Trial(max_periods, None, 1.0, 0)
    limit = retransmit_limit(retransmit_mult, n - 1)
    knows = np.zeros(n, dtype=bool)
    knows[detector] = True
    sent = np.zeros(n, dtype=np.int64)
    n_live = int(live.sum())
    carried = 0
    for period in range(1, max_periods + 1):
        targets = _targets(rng, n)
        senders = live.copy()
        ping_ok = senders & live[targets] & (rng.random(n) >= loss)
        carry = senders & knows & (sent < limit)  # a ping carries the update whether or not it arrives
        sent += carry
        carried += int(carry.sum())
        knows[targets[carry & ping_ok]] = True
        # acks, after every ping of the period has landed: a target that knows and may still send includes it
        responders = targets[ping_ok]
        askers = np.flatnonzero(ping_ok)
        may = knows[responders] & (sent[responders] < limit)
        np.add.at(sent, responders[may], 1)
        carried += int(may.sum())
        ack_ok = rng.random(askers.size) >= loss
        knows[askers[may & ack_ok]] = True
        informed = int((knows & live).sum())
        if informed == n_live:
            return Trial(detection, period, 0.0, carried)
        if not (live & knows & (sent < limit)).any():
            return Trial(detection, None, 1.0 - informed / n_live, carried)
    return Trial(detection, None, 1.0 - int((knows & live).sum()) / n_live, carried)


def _stats(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"mean": None, "se": None, "count": 0}
    arr = np.asarray(xs, dtype=float)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else None
    return {"mean": float(arr.mean()), "se": se, "count": int(arr.size)}


def summarise(trials: list[Trial]) -> dict[str, Any]:
    """Means and standard errors over the trials (dissemination over the trials that informed everyone)."""
    spread = [t.spread for t in trials if t.spread is not None]
    return {"detection_periods": _stats([t.detection for t in trials]),
            "dissemination_periods": _stats([float(s) for s in spread]),
            "informed_all": len(spread) / len(trials) if trials else None,
            "residue": _stats([t.residue for t in trials]),
            "messages_carrying": _stats([float(t.carried) for t in trials])}
