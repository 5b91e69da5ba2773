"""Linearizability of a key-value store's client-visible history (the WGL search).

Definition (Herlihy & Wing, "Linearizability: a correctness condition for
concurrent objects", TOPLAS 1990): a history of operations, each an interval
[call, ret] seen by a client, is linearizable if there is a total order of its
operations that (1) is legal for the sequential specification (a get returns
the latest put, or absent after a del or at the start) and (2) respects real
time: if A returned before B was invoked, A comes first. Pending operations
(invoked, never answered) may be placed anywhere after their call, or left out.

Search (Wing & Gong, "Testing and verifying concurrent objects", JPDC 1993):
walk a doubly linked list of call/return entries in time order. Any operation
whose call precedes the first return still in the list may be linearized next;
try it against the model, lift its two entries out of the list and restart
from the head; on reaching a return whose operation is not yet linearized,
undo the last choice (an explicit stack, no recursion, so 10^4+ operations are
fine). Lowe ("Testing for linearizability", CCPE 2017) memoises the pairs
(set of linearized operations, model state) already explored: reaching one
again cannot succeed where it failed before, which prunes most of the
exponential tree in practice. The set is a Python int used as a bitset.
One addition: a read-only operation that is legal when it is a candidate is
committed to without trying alternatives (moving it first in any linearization
from there keeps that linearization valid), so concurrent reads cost linear,
not exponential, time; Lowe's memo alone still explores their subsets.

Partitioning (as Porcupine, github.com/anishathalye/porcupine, does):
linearizability is local (Herlihy & Wing, Thm. 1), so a history is
linearizable iff each per-object sub-history is; the KV model checks each key
alone ("P-compositionality", Horn & Kroening, FORTE 2015). That turns one
search over n operations into many small ones.

Conventions:

- time ties: ``A.ret <= B.call`` means A happened before B, so at equal
  timestamps return entries sort before call entries (Porcupine does the
  opposite and treats touching intervals as concurrent). Exception: an
  instantaneous operation (``call == ret``) is concurrent with operations
  invoked at that same instant (read strictly, two such operations would each
  precede the other); this only allows more orders, never fewer.
- pending operations (``ret is None``) get a return time after every other
  entry, and the search succeeds as soon as all *completed* operations are
  linearized, so a pending put or del counts as applied at some point after
  its call, or never. A pending get observed nothing and is dropped, and so
  is a pending write whose value no get returned (exact: see
  ``kv_partition``); kept, it would be concurrent with everything after it.

Complexity: deciding linearizability is NP-complete (Gibbons & Korach, SIAM J.
Comput. 1997). The search is exponential in the number of operations that are
pairwise concurrent on one key, and the memo grows with the reachable
(bitset, state) pairs; both are small for client histories with a handful of
outstanding requests per key, but one hot key with 16+ clients always busy on
it can take minutes, hence the time budget, after which the verdict is
"unknown", never "ok" or "violation".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

_KINDS = frozenset({"get", "put", "del"})
_CHECK_EVERY = 4096  # search steps between deadline checks: perf_counter is cheap, not free


@dataclass(frozen=True, slots=True)
class Operation:
    """One client request as the client saw it; times are integer nanoseconds.

    ``value`` is the value written by a put, the value a get returned (None:
    absent) and None for a del. ``ident`` is (client, ts) of the request, for
    printing only.
    """

    client: int
    call: int
    ret: int | None
    kind: str
    key: bytes
    value: bytes | None = None
    ident: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Model:
    """A sequential specification. States must be hashable (they are memoised).

    ``removable(kept, dropped)`` is True when dropping ``dropped`` (keeping
    ``kept``) cannot turn a linearizable history into a non-linearizable one;
    shrinking makes only such removals, so a shrunk counterexample still proves
    the original history wrong. The default allows none (no shrinking).
    ``read_only(op)`` marks operations that never change the state; the
    search commits to such an operation whenever it is legal, which is
    complete and avoids trying every subset of concurrent reads.
    """

    name: str
    init: Hashable
    step: Callable[[Hashable, Operation], tuple[bool, Hashable]]
    partition: Callable[[Sequence[Operation]], list[list[Operation]]]
    removable: Callable[[Sequence[Operation], Sequence[Operation]], bool] = lambda kept, dropped: False
    read_only: Callable[[Operation], bool] = lambda op: False


def kv_step(state: Hashable, op: Operation) -> tuple[bool, Hashable]:
    """A register per key: put sets, del clears, get must see the current value."""
    if op.kind == "get":
        return op.value == state, state
    return True, (op.value if op.kind == "put" else None)


def kv_partition(ops: Sequence[Operation]) -> list[list[Operation]]:
    """One sub-history per key, in key order (deterministic), without the pending ops that cannot matter.

    A pending get observed nothing. A pending put or del whose value no get of
    its key returned may be taken as never applied (pending ops may be left out)
    and nothing depends on it (see ``kv_removable``): dropping it is exact, and
    it would otherwise stay concurrent with everything after its call.
    """
    by_key: dict[bytes, list[Operation]] = {}
    for op in ops:
        if op.kind not in _KINDS:
            raise ValueError(f"unknown operation kind {op.kind!r}")
        if op.ret is not None or op.kind != "get":
            by_key.setdefault(op.key, []).append(op)
    parts = []
    for key in sorted(by_key):
        seen = {op.value for op in by_key[key] if op.kind == "get"}
        parts.append([op for op in by_key[key] if op.ret is not None or _written(op) in seen])
    return parts


def _written(op: Operation) -> bytes | None:
    return op.value if op.kind == "put" else None


def kv_removable(kept: Sequence[Operation], dropped: Sequence[Operation]) -> bool:
    """Dropping gets is always sound. Dropping a write is sound if no kept get
    returned what it wrote: in any legal order no get sits between that write
    and the next one, so deleting it leaves the order legal."""
    observed = {op.value for op in kept if op.kind == "get"}
    return not any(op.kind != "get" and _written(op) in observed for op in dropped)


KV = Model("kv", None, kv_step, kv_partition, kv_removable, lambda op: op.kind == "get")


@dataclass(frozen=True, slots=True)
class Result:
    """``verdict`` is "ok", "violation" or "unknown" (time budget ran out).

    ``operations`` counts the operations searched (pending ops that cannot
    matter excluded, see ``kv_partition``), ``checked_keys`` the partitions
    decided (the failing one included). For a violation,
    ``minimal`` is a shrunk non-linearizable sub-history of ``failing_key``,
    in call order; it is 1-minimal unless the shrinking budget ran out.
    """

    verdict: str
    checked_keys: int
    operations: int
    failing_key: bytes | None = None
    minimal: tuple[Operation, ...] = ()
    timed_out: bool = False
    ok: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ok", self.verdict == "ok")


def check(ops: Sequence[Operation], model: Model = KV, *, time_budget_s: float | None = None,
          shrink_budget_s: float = 2.0) -> Result:
    """Decide whether ``ops`` is linearizable under ``model``.

    Real-time order: ``A.ret <= B.call`` means A precedes B; ``ret=None``
    is pending (applied after its call, or never). Stops at the first
    non-linearizable partition and shrinks it for at most ``shrink_budget_s``
    seconds (greedy delta debugging: drop chunks, then single operations,
    while the rest stays non-linearizable). If ``time_budget_s`` runs out
    first the verdict is "unknown".
    """
    for op in ops:
        if op.ret is not None and op.ret < op.call:
            raise ValueError(f"operation returns before it is invoked: {op}")
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    parts = model.partition(ops)
    total = sum(map(len, parts))
    for done, part in enumerate(parts):
        found = _search(part, model, deadline)
        if found is None:
            return Result("unknown", done, total, timed_out=True)
        if not found:
            cap = time.perf_counter() + shrink_budget_s
            minimal = _shrink(part, model, cap if deadline is None else min(cap, deadline))
            return Result("violation", done + 1, total, part[0].key, tuple(sorted(minimal, key=_order)))
    return Result("ok", len(parts), total)


def _order(op: Operation) -> tuple[int, float, int]:
    return op.call, float("inf") if op.ret is None else op.ret, op.client


def _search(ops: Sequence[Operation], model: Model, deadline: float | None) -> bool | None:
    """WGL with Lowe's memo over one partition; None if the deadline passed."""
    n = len(ops)
    completed = [op.ret is not None for op in ops]
    remaining = sum(completed)
    if not remaining:
        return True
    late = max(max(op.call for op in ops), max(op.ret for op in ops if op.ret is not None)) + 1
    # Entry 2i is op i's call, 2i+1 its return. Sort rank at equal times: returns (0) before
    # calls (1), so touching intervals are ordered; an instantaneous op's return (2) follows its call.
    events = []
    for i, op in enumerate(ops):
        ret = late if op.ret is None else op.ret
        events += [(op.call, 1, 2 * i), (ret, 2 if ret == op.call else 0, 2 * i + 1)]
    events.sort()
    head, tail = 2 * n, 2 * n + 1  # sentinels, so unlinking needs no end-of-list test
    nxt, prv = [0] * (2 * n + 2), [0] * (2 * n + 2)
    last = head
    for _, _, e in events:
        nxt[last], prv[e], last = e, last, e
    nxt[last], prv[tail] = tail, last

    step, state, lin = model.step, model.init, 0
    reads = [model.read_only(op) for op in ops]
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[int, Hashable]] = []  # (call entry linearized, state before it)
    e, countdown = nxt[head], 1  # check the clock on the first step: the budget may already be spent
    while True:
        countdown -= 1
        if not countdown:
            countdown = _CHECK_EVERY
            if deadline is not None and time.perf_counter() >= deadline:
                return None
        if not e & 1:  # a call before the first pending return: a candidate to linearize next
            i = e >> 1
            ok, new = step(state, ops[i])
            if not ok:
                e = nxt[e]
                continue
            bits = lin | (1 << i)
            if (bits, new) not in seen:  # Lowe: an explored (set, state) pair never succeeds twice
                seen.add((bits, new))
                stack.append((e, state))
                state, lin = new, bits
                if completed[i]:
                    remaining -= 1
                    if not remaining:
                        return True  # pending leftovers may be placed at the end, or never
                r = e + 1  # lift the call and its return out of the list (dancing links)
                p, q = prv[e], nxt[e]
                nxt[p], prv[q] = q, p
                p, q = prv[r], nxt[r]
                nxt[p], prv[q] = q, p
                e = nxt[head]
                continue
            if not reads[i]:
                e = nxt[e]
                continue
            # A legal read whose successor already failed: this configuration fails too (see below).
        # Here every choice at this level failed: undo the last one and try the next candidate after it.
        # A read pushed because it was legal is not a choice: if some linearization from the configuration
        # it was taken in exists, one starts with it (it changes no state, and everything that must precede
        # it is already linearized), so its failure is that configuration's failure; keep undoing.
        while True:
            if not stack:
                return False
            e, state = stack.pop()
            i = e >> 1
            lin ^= 1 << i
            if completed[i]:
                remaining += 1
            r = e + 1  # relink in reverse order of the lift
            nxt[prv[r]] = prv[nxt[r]] = r
            nxt[prv[e]] = prv[nxt[e]] = e
            if not reads[i]:
                break
        e = nxt[e]


def _shrink(ops: Sequence[Operation], model: Model, deadline: float) -> list[Operation]:
    """Greedy delta debugging on a non-linearizable partition, bounded by ``deadline``."""
    cur = list(ops)
    chunk = max(1, len(cur) // 2)
    while True:
        changed, i = False, 0
        while i < len(cur):
            if time.perf_counter() >= deadline:
                return cur
            kept, dropped = cur[:i] + cur[i + chunk:], cur[i:i + chunk]
            if kept and model.removable(kept, dropped) and _search(kept, model, deadline) is False:
                cur, changed = kept, True
            else:
                i += chunk
        if chunk > 1:
            chunk //= 2
        elif not changed:
            return cur  # no single removal keeps the violation: 1-minimal


def render(result: Result) -> list[str]:
    """A summary line, then one line per operation of the minimal counterexample."""
    if result.verdict == "ok":
        return [f"linearizable: {result.operations} operations over {result.checked_keys} keys"]
    if result.verdict == "unknown":
        return [f"unknown: time budget ran out after {result.checked_keys} keys of {result.operations} operations"]
    head = f"not linearizable: key {result.failing_key!r}, {len(result.minimal)} operations admit no legal order"
    return [head] + ["  " + _describe(op) for op in result.minimal]


def _describe(op: Operation) -> str:
    def ms(t: int | None) -> str:
        return "pending" if t is None else f"{t / 1e6:.3f} ms"

    what = {"put": f" = {_value(op.value)}", "get": f" -> {_value(op.value)}"}
    req = "" if op.ident is None else f" req {op.ident}"
    return f"client {op.client}{req} [{ms(op.call)}, {ms(op.ret)}] {op.kind} {op.key!r}{what.get(op.kind, '')}"


def _value(v: bytes | None) -> str:
    """A value short enough to read: workloads pad values with zero bytes, which say nothing."""
    if v is None:
        return "absent"
    if len(v) <= 24:
        return repr(v)
    core = v.rstrip(b"\0")
    shown = repr(core[:24]) + ("..." if len(core) > 24 else "")
    return f"{shown} + {len(v) - len(core)} zero bytes" if len(core) < len(v) else f"{shown} ({len(v)} bytes)"


def random_history(rng: random.Random, *, ops: int, keys: int, clients: int, pending: float = 0.0,
                   max_gap: int = 2_000_000, min_len: int = 0, max_len: int = 5_000_000) -> list[Operation]:
    """A KV history that is linearizable by construction, for tests and benchmarks.

    Each client issues ``ops / clients`` requests back to back (gaps up to
    ``max_gap`` ns, durations ``min_len`` to ``max_len`` ns); each takes effect at a
    random point inside its interval, and the gets' values come from replaying
    those points in order on a dict. With probability ``pending`` a request
    never returns (the client times out and carries on); a pending put or del
    takes effect at a random later point or never. Put values are unique.
    """
    rows: list[list] = []  # [client, call, ret, kind, key, value, ident]
    points: list[tuple[float, float, int, int]] = []  # (effect point, ret, call, row), sorted = the linearization
    for c in range(clients):
        t = rng.randint(0, max_gap)
        for s in range(ops // clients + (c < ops % clients)):
            call = t + rng.randint(0, max_gap)
            kind = rng.choices(("get", "put", "del"), (9, 9, 2))[0]
            value = b"%d:%d" % (c, s) if kind == "put" else None
            rows.append([c, call, None, kind, b"k%d" % rng.randrange(keys), value, (c, s)])
            if rng.random() < pending:
                t = call + max_len  # the client times out and carries on
                if kind != "get" and rng.random() < 0.5:
                    points.append((call + rng.random() * 10 * max_len, float("inf"), call, len(rows) - 1))
                continue
            t = rows[-1][2] = call + rng.randint(min_len, max_len)
            # Equal points are ordered by (ret, call): an op that returned at an instant precedes one invoked then.
            points.append((call + rng.random() * (t - call), t, call, len(rows) - 1))
    store: dict[bytes, bytes] = {}
    for *_, j in sorted(points):
        row = rows[j]
        if row[3] == "get":
            row[5] = store.get(row[4])
        elif row[3] == "put":
            store[row[4]] = row[5]
        else:
            store.pop(row[4], None)
    return sorted((Operation(*row) for row in rows), key=_order)
