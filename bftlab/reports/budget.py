"""The fault budget as it held in a run: each crashed replica counted faulty from its crash until it recovered.

``validate`` checks a schedule before the run with an allowance per restart
(``faults[i].recovery_s``); this module checks it after the run with what
happened. A durable protocol reports the end of a replica's recovery with
:class:`~bftlab.api.Recovered`; a protocol that does not is counted until its
restart. A replica that restarted but never recovered stays faulty to the end.
The result goes into ``report["fault_budget"]``: a safety violation in a run
whose budget was exceeded is the protocol's right, not a bug.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def fault_budget(
    *,
    f: int,
    byzantine: Sequence[int],
    outages: Sequence[tuple[int, float, float | None]],
    recovered: Mapping[int, Sequence[float]],
    durable: bool,
    end_s: float,
) -> dict[str, Any]:
    """Judge the budget of one run.

    ``outages`` are ``(replica, crashed_at_s, restarted_at_s or None)`` as they
    happened; ``recovered`` maps a replica to the times it reported
    :class:`~bftlab.api.Recovered` (seconds on the same clock); ``end_s`` ends
    windows that never closed.
    """
    rows: list[dict[str, Any]] = []
    windows: list[tuple[float, float, int]] = []
    for node, down, up in sorted(outages, key=lambda o: (o[1], o[0])):
        done: float | None
        if up is None:
            done = None
        elif not durable:
            done = up
        else:
            done = next((t for t in sorted(recovered.get(node, ())) if t >= up), None)
        windows.append((down, done if done is not None else math.inf, node))
        rows.append({"node": node, "crashed_at_s": _r(down), "restarted_at_s": _r(up), "recovered_at_s": _r(done),
                     "recovery_s": _r(done - up) if done is not None and up is not None else None})
    worst, at, who = _peak(windows, frozenset(byzantine), end_s)
    return {"f": f, "max_faulty": worst, "held": worst <= f, "exceeded_at_s": None if worst <= f else _r(at),
            "faulty_at_peak": who, "outages": rows}


def _peak(windows: list[tuple[float, float, int]], byzantine: frozenset[int],
          end_s: float) -> tuple[int, float, list[int]]:
    """The most replicas faulty at once (Byzantine ones all the time), when first, and which."""
    events = sorted([(a, 1, n) for a, _, n in windows] + [(b, -1, n) for _, b, n in windows if b < math.inf])
    down: dict[int, int] = {}
    best, at, who = len(byzantine), 0.0, sorted(byzantine)
    for t, delta, node in events:  # recoveries sort before crashes at the same instant
        if t > end_s:
            break
        down[node] = down.get(node, 0) + delta
        now = byzantine | {x for x, c in down.items() if c > 0}
        if len(now) > best:
            best, at, who = len(now), t, sorted(now)
    return best, at, who


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
