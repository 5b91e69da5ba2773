"""The sans-IO contract between protocol cores and runtimes.

A node (replica or client) is a plain synchronous object with one entry point::

    actions = node.step(now, input)

``now`` is the runtime's clock in seconds (simulated or real); ``input`` is one of
:class:`Start`, :class:`Receive`, :class:`TimerFired`, :class:`Submit` or
:class:`Synced`. The node returns a list of actions: :class:`Send`,
:class:`Broadcast`, :class:`SetTimer`, :class:`CancelTimer`, :class:`Observe`,
:class:`Persist` and :class:`Sync`. Given the same state and the same
input a node returns the same actions; it never reads a clock, a global random
generator, a socket or the simulator. Randomness and keys are injected when it
is built (see :class:`NodeContext`).

Both the discrete-event simulator and the trio transport execute these actions,
so protocol code runs unchanged on either.

Durability. What a node must keep across a crash goes through the runtime's
storage seam, never through its memory surviving a crash:

* ``Persist(key, value)`` appends a record to the node's stable log; on
  recovery the latest value per key wins;
* ``Sync(token)`` asks that everything persisted so far become durable; the
  runtime answers with the input ``Synced(token)`` once it is. Until then a
  crash may lose those records (the simulator's ``storage.faults`` decide how),
  so a node sends what depends on a write (a vote, an acknowledgement) only
  after the matching ``Synced``. Runtimes may answer several Syncs with one
  fsync (group commit); a crash cancels the Syncs in flight (no ``Synced``);
* on every boot the node gets ``Start(recovered)``: the latest durable value of
  each key it persisted (empty on a first boot).

A protocol that declares ``ProtocolSpec.durable`` is rebuilt from its factory
when it recovers and sees only ``Start.recovered``; one that does not keeps its
memory across a simulated crash (the older "as if persisted" model).

``Observe`` carries history events (:class:`Issued`, :class:`Executed`,
:class:`Accepted`) to the metrics and to the safety checker, which judge a run
only from these events, never from protocol internals.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
from typing import Any, Protocol, TypeAlias, runtime_checkable

NodeId = int
"""Replicas are ``0 .. n-1``; clients follow as ``n .. n+clients-1``."""

TimerName = Hashable


# --------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class Start:
    """Delivered once, first, when the node boots (or reboots after a crash).

    ``recovered`` maps each key the node persisted to its latest durable value
    (see :class:`Persist`); it is empty on a first boot. It takes no part in
    hashing, so ``Start`` stays hashable.
    """

    recovered: Mapping[str, bytes] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Receive:
    """A message arrived from ``sender`` (as claimed by the transport link)."""

    sender: NodeId
    msg: Any


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer set earlier with :class:`SetTimer` expired and was not cancelled."""

    name: TimerName


@dataclass(frozen=True, slots=True)
class Submit:
    """The workload hands an operation to a client node."""

    op: bytes


@dataclass(frozen=True, slots=True)
class Synced:
    """Everything the node persisted before its ``Sync(token)`` is durable now."""

    token: Hashable


Input: TypeAlias = Start | Receive | TimerFired | Submit | Synced


# -------------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True)
class Send:
    to: NodeId
    msg: Any


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``msg`` to every node in ``to`` (the runtime encodes it once)."""

    to: tuple[NodeId, ...]
    msg: Any


@dataclass(frozen=True, slots=True)
class SetTimer:
    """(Re)arm the named timer; setting an armed timer replaces it."""

    name: TimerName
    delay_s: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: TimerName


@dataclass(frozen=True, slots=True)
class Observe:
    """Report a history event (see below) to metrics and checkers."""

    event: Any


@dataclass(frozen=True, slots=True)
class Persist:
    """Append ``key = value`` to the node's stable log (durable only after a later :class:`Sync` completes)."""

    key: str
    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not isinstance(self.value, (bytes, bytearray)):
            raise TypeError(f"Persist(key: str, value: bytes), got key={self.key!r:.80} value={self.value!r:.80}")


@dataclass(frozen=True, slots=True)
class Sync:
    """Make every record persisted so far durable; the runtime answers ``Synced(token)``."""

    token: Hashable


Action: TypeAlias = Send | Broadcast | SetTimer | CancelTimer | Observe | Persist | Sync


# ------------------------------------------------------------- history events
def observed_digest(data: bytes) -> bytes:
    """SHA-256 of ``data`` for history events (operation and result digests).

    Observation is not part of a protocol, so it goes around the node's crypto
    object and costs no simulated CPU; replicas and clients must use the same
    function so that the checker can compare what they report.
    """
    return _sha256(data).digest()


@dataclass(frozen=True, slots=True)
class Submitted:
    """The workload handed operation ``op`` to ``client`` (emitted by the runtime, not by protocols).

    Oracles that need operation contents (linearizability) pair it with the
    client's next :class:`Issued` event, whose ``op_digest`` must match.
    """

    client: NodeId
    op: bytes


@dataclass(frozen=True, slots=True)
class Issued:
    """A client issued request ``(client, ts)`` with an operation digest."""

    client: NodeId
    ts: int
    op_digest: bytes


@dataclass(frozen=True, slots=True)
class ExecutedEntry:
    client: NodeId
    ts: int
    op_digest: bytes
    result_digest: bytes


@dataclass(frozen=True, slots=True)
class Executed:
    """Replica ``node`` executed slot ``seq`` (a batch, possibly empty = null request).

    ``entries`` are the requests executed in that slot, in order. Requests that
    were already executed earlier (duplicates) are not listed.
    """

    node: NodeId
    seq: int
    view: int
    entries: tuple[ExecutedEntry, ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A client accepted a result for request ``(client, ts)``."""

    client: NodeId
    ts: int
    result_digest: bytes


@dataclass(frozen=True, slots=True)
class ViewChanged:
    """Replica ``node`` entered ``view`` (installed a NEW-VIEW, or started in it)."""

    node: NodeId
    view: int


@dataclass(frozen=True, slots=True)
class StateTransferred:
    """Replica ``node`` jumped its state to ``seq``: a stable checkpoint fetched from its peers, or its own
    durable records replayed after a restart (so the oracles accept the gap in its executions)."""

    node: NodeId
    seq: int


@dataclass(frozen=True, slots=True)
class ReadServed:
    """Replica ``node`` answered read request ``(client, ts)`` from its state without ordering it in the log
    (Raft's ReadIndex, a lease read). The SMR oracle checks it like an execution for the client's sake (issued,
    same result accepted) but not for log order; the linearizability oracle judges the value."""

    node: NodeId
    client: NodeId
    ts: int
    op_digest: bytes
    result_digest: bytes


@dataclass(frozen=True, slots=True)
class Recovered:
    """Replica ``node`` finished recovering after a restart: it is a full member again and may vote.

    Durable protocols emit it once a restarted replica has rebuilt its state
    (from its own disk and, where the protocol says so, from its peers). The
    fault budget counts a replica as faulty from its crash until this event;
    a protocol that never emits it is counted until its restart.
    """

    node: NodeId


# Transactions (atomic commitment). A transaction attempt is named by its client's ``(client, ts)``, like a
# request: a retry after an abort is a new attempt with a fresh ``ts``; a retry of an unanswered one keeps it.
@dataclass(frozen=True, slots=True)
class TxnBegan:
    """Transaction ``(client, ts)`` started; ``participants`` are the replicas that must all commit it or none."""

    client: NodeId
    ts: int
    participants: tuple[NodeId, ...]


@dataclass(frozen=True, slots=True)
class Voted:
    """Participant ``node`` voted on transaction ``(client, ts)``: yes (prepared, now uncertain) or no."""

    node: NodeId
    client: NodeId
    ts: int
    yes: bool


@dataclass(frozen=True, slots=True)
class Decided:
    """``node`` (participant, coordinator or acceptor) learned the outcome of ``(client, ts)``."""

    node: NodeId
    client: NodeId
    ts: int
    commit: bool


@dataclass(frozen=True, slots=True)
class FinalState:
    """What replica ``node`` holds when the run ends (emitted by the runtime, from ``ProtocolSpec.final_state``).

    Plain JSON-able data whose keys the oracles that read it document (the
    atomicity oracle reads ``"applied"``: the ``[client, ts]`` transactions
    whose writes are in the replica's store). Crashed replicas have none.
    """

    node: NodeId
    state: Mapping[str, Any] = field(hash=False)


# ------------------------------------------------------------------ the seams
@runtime_checkable
class Node(Protocol):
    node_id: NodeId

    def step(self, now: float, inp: Input) -> list[Action]:
        """Consume one input, return the actions it causes."""
        ...


class CostMeter:
    """Accumulates the modelled CPU cost (seconds) of crypto a node performs.

    Crypto objects charge it; the simulator drains it after each ``step`` to
    advance the node's busy time. Real runtimes ignore it.
    """

    __slots__ = ("seconds", "counts")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.counts: dict[str, int] = {}

    def charge(self, op: str, seconds: float) -> None:
        self.seconds += seconds
        self.counts[op] = self.counts.get(op, 0) + 1

    def drain(self) -> float:
        s, self.seconds = self.seconds, 0.0
        return s


@runtime_checkable
class NodeCrypto(Protocol):
    """What a protocol may do with keys: one node's view of the key material.

    ``sign`` uses this node's private key only. ``authenticate`` builds a MAC
    vector (PBFT authenticator) with one entry per receiver; ``check_mac`` checks
    the entry meant for this node. Every call charges its modelled cost to
    ``meter``. Signature and MAC byte strings are opaque to protocols.
    """

    node_id: NodeId
    meter: CostMeter

    def digest(self, data: bytes) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, signer: NodeId, data: bytes, sig: bytes) -> bool: ...

    def authenticate(self, data: bytes, receivers: Sequence[NodeId]) -> tuple[bytes, ...]: ...

    def check_mac(self, sender: NodeId, data: bytes, auth: Sequence[bytes], receivers: Sequence[NodeId]) -> bool: ...


@dataclass(frozen=True)
class NodeContext:
    """Everything a node gets at construction; nothing else is global.

    ``rng`` is this node's own deterministic stream, derived from the run seed.
    ``params`` are the protocol parameters from the spec (already validated).
    ``incarnation_us`` exceeds every number this node id's earlier incarnations
    were given (the real transport: wall-clock microseconds at process start;
    the simulator: 0, one incarnation per run). A client that numbers its
    requests above it never reuses, after a restart, a timestamp that the
    replicas have already seen.
    """

    node_id: NodeId
    n: int
    f: int
    replicas: tuple[NodeId, ...]
    clients: tuple[NodeId, ...]
    crypto: NodeCrypto
    rng: random.Random
    params: Any
    incarnation_us: int = 0


# ---------------------------------------------------------------- fault models
@dataclass(frozen=True, slots=True)
class FaultModel:
    """Which faults a protocol tolerates, and how many replicas that takes.

    ``replicas_per_fault`` is k in n >= k*f + 1: 3 for Byzantine faults (Lamport,
    Shostak & Pease), 2 for crash faults (a majority must survive). ``counted``
    says whether faulty replicas are counted against ``f`` at all: a PoW
    attacker's budget is its hash share, checked by the protocol, not a number
    of replicas. Spec validation, the default ``f`` and the budget messages all
    come from here.
    """

    name: str
    replicas_per_fault: int
    counted: bool = True
    byzantine: bool = False
    """Faulty replicas may behave arbitrarily (node strategies apply); otherwise they only crash (and recover)."""

    def default_f(self, n: int) -> int:
        """The largest f that n replicas tolerate (0 when the budget is not counted in replicas)."""
        return (n - 1) // self.replicas_per_fault if self.replicas_per_fault > 0 else 0

    def min_n(self, f: int) -> int:
        """Replicas needed to tolerate ``f`` faults."""
        return self.replicas_per_fault * f + 1

    def check_f(self, n: int, f: int) -> str | None:
        """Why ``f`` is impossible with ``n`` replicas, or None when it is fine."""
        if self.replicas_per_fault == 0:
            return None if f == 0 else f"a {self.name} protocol counts no replica faults; f must be 0, got {f}."
        if n >= self.min_n(f):
            return None
        return (f"n={n} replicas tolerate f={self.default_f(n)} {self.name} faults; "
                f"f={f} needs n >= {self.min_n(f)}.")


BYZANTINE = FaultModel("Byzantine", 3, byzantine=True)
"""Arbitrary faults: n >= 3f+1 (PBFT and the BFT family)."""
CRASH = FaultModel("crash", 2)
"""Crash(-recovery) faults: n >= 2f+1 (Raft, Paxos, VR, ZAB)."""
HASH_POWER = FaultModel("hash-power", 0, counted=False)
"""The budget is a share of hash power, checked by the protocol (proof of work)."""
NO_FAULTS = FaultModel("fault-free", 0)
"""The protocol tolerates no faulty replica at all."""


# ---------------------------------------------------------------- report seams
@runtime_checkable
class ReportSection(Protocol):
    """A part of a run's report that a plug-in (protocol or oracle) contributes.

    ``key`` names the data in ``report["metrics"]`` (protocols) or
    ``report["oracles"]`` (oracles); the section renders that plain data only,
    so reports can be redrawn from stored JSON.
    """

    # Read-only, so that frozen dataclasses (the usual way to write a section) satisfy the protocol.
    @property
    def key(self) -> str: ...

    @property
    def title(self) -> str: ...

    def markdown(self, data: Any) -> list[str]:
        """Lines of Markdown for report.md."""
        ...

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        """(label, value) rows for the terminal summary."""
        ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a caller of a run path asks for besides the spec.

    ``timeline_bin_s``: add ``report["timeline"]``, a list of
    ``{"t_s", "accepted", "latency_mean_s"}`` per time bin of that width.
    """

    timeline_bin_s: float | None = None


# The spec is Any here: api.py is the bottom layer and imports nothing of the engine, not even for
# annotations (tests/engine/test_packaging.py counts those imports too).
RunPath = Callable[[Any, RunOptions], dict[str, Any]]
"""A protocol's own run path: ``(ExperimentSpec, RunOptions) -> report`` built with
:func:`bftlab.reports.report.make_report`."""


@dataclass(frozen=True)
class ProtocolSpec:
    """What a protocol package registers (entry point group ``bftlab.protocols``).

    ``params`` is a frozen dataclass type: its fields (with type hints and
    defaults) are the protocol's YAML parameters, validated like the rest of a
    spec. ``make_replica``/``make_client`` build sans-IO nodes from a context.
    ``message_types`` are registered with the wire codec.

    The rest are the protocol's capabilities, all optional:

    - ``fault_model``: what ``f`` means and how faulty replicas are counted;
    - ``oracles``: registered oracle names (group ``bftlab.oracles``) that judge every run;
    - ``unused_sections``: top-level spec keys the protocol ignores; a spec that sets one is refused;
    - ``check_spec(spec)``: extra checks at load time (raise ``FieldError(path, message)``);
    - ``run``: a special-purpose run path (PoW's relay kernel) used instead of the simulator;
    - ``report_sections``: how its ``report["metrics"][key]`` data is shown;
    - ``fuzz_strategies``: registered node-strategy names the fuzzer may try against it;
    - ``fuzz_events``: history event names worth placing a reactive fault at (``bftlab fuzz --react``: a
      leader's election, its first commit); empty: every event a replica observes;
    - ``durable``: the protocol keeps what it needs across a crash with :class:`Persist`/:class:`Sync`;
      a crashed replica is rebuilt from ``make_replica`` on recovery and gets ``Start.recovered``.
      Without it a simulated crash keeps the node's memory (as if everything were persisted);
    - ``final_state(replica)``: what a replica holds at the end of a run, as plain data, handed to the
      oracles as a :class:`FinalState` event (the state a convergence or atomicity check compares);
    - ``expected_violations``: oracle names whose violations the protocol's consistency level allows (an
      eventually consistent store is not linearizable); a run reports them as expected, not as unsafe.
    """

    name: str
    params: type
    make_replica: Callable[[NodeContext], Node]
    make_client: Callable[[NodeContext], Node]
    message_types: tuple[type, ...] = ()
    description: str = ""
    fault_model: FaultModel = BYZANTINE
    oracles: tuple[str, ...] = ("smr",)
    unused_sections: tuple[str, ...] = ()
    check_spec: Callable[[Any], None] | None = None
    run: RunPath | None = None
    report_sections: tuple[ReportSection, ...] = ()
    fuzz_strategies: tuple[str, ...] = ()
    fuzz_events: tuple[str, ...] = ()
    durable: bool = False
    final_state: Callable[[Any], Mapping[str, Any]] | None = None
    expected_violations: tuple[str, ...] = ()
