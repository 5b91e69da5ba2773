"""Byzantine strategies that know PBFT's messages (Castro & Liskov, OSDI'99 / TOCS'02).

Each wraps the honest :class:`bftlab.protocols.pbft.PbftReplica` of the replicas it
controls and rewrites what it sends; it signs only with those replicas' keys
(their :class:`~bftlab.api.NodeCrypto`), through PBFT's own :class:`Auth`.
Reading the controlled replica's state (its view, whether it is primary) is
fair: it is the attacker's own node.

Your own PBFT strategies use the same public helpers (also exported from
:mod:`bftlab.adversary`): :func:`reseal` re-authenticates a changed message
with the controlled replica's keys, :func:`conflicting_pre_prepare` builds a
valid PRE-PREPARE with another batch, :func:`other_digest` a wrong digest,
:func:`corrupt_auth` a forged authenticator, :func:`pbft_auth` PBFT's
authenticator itself.

=====================  =========================================================
equivocating-primary   different PRE-PREPAREs for one seq to two sides; colluders vote both ways
censoring-primary      the primary never orders one client's requests
conflicting-votes      PREPARE/COMMIT for the right digest to some replicas, a wrong one to others
forged-auth            corrupted authenticators, and votes claiming another replica's id
stale-replay           re-sends its own old messages (old views, old seqs)
needless-view-change   starts a view change every ``period_s`` though the primary is fine
slow-primary           delays each PRE-PREPARE just under the view-change timeout (Aardvark)
=====================  =========================================================

The papers: equivocation and conflicting votes are the faults PBFT's quorum
intersection is built against (TOCS'02 section 4.2); censoring and the slow
primary are the performance attacks of Clement, Wong, Alvisi, Dahlin, Marchetti,
"Making Byzantine Fault Tolerant Systems Tolerate Byzantine Faults" (Aardvark,
NSDI'09, sections 2 and 5); forged authenticators are the MAC attack of the
same paper (section 4.1 "big MAC attack"); replays are what PBFT's views and
timestamps defeat (TOCS'02 section 4.1); needless view changes are the "faulty
replica triggers view changes" case of TOCS'02 section 4.5.2 (a replica joins
a view change only after f+1 VIEW-CHANGEs, so one faulty replica cannot force one).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar

from bftlab.adversary.checks import nonnegative, positive, probability, time_window
from bftlab.api import Broadcast, Input, NodeId, Receive, Send, SetTimer, Start, TimerFired
from bftlab.attack.api import AdversaryContext, Controlled, Later, NodeStrategy
from bftlab.errors import UsageError
from bftlab.protocols.pbft.auth import Auth
from bftlab.protocols.pbft.messages import (
    COMMIT,
    PREPARE,
    Checkpoint,
    Commit,
    FetchLog,
    FetchState,
    LogReply,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    Reply,
    Request,
    StateReply,
    Status,
    StatusReply,
    ViewChange,
    batch_bytes,
    checkpoint_body,
    new_view_body,
    pre_prepare_body,
    reply_body,
    view_change_body,
    vote_body,
)
from bftlab.specs.schema import FieldError

__all__ = ["conflicting_pre_prepare", "corrupt_auth", "mutate", "other_digest", "pbft_auth", "reseal"]

M = TypeVar("M")


# ------------------------------------------------------------ public helpers
# A Byzantine replica that changes a message must authenticate the new content
# with its own keys, or every correct receiver drops it (``drop.bad_auth``)
# and the attack tests nothing but the MAC check. These helpers do that.

def pbft_auth(c: Controlled) -> Auth:
    """PBFT's authenticator (MAC vectors or signatures, as the run's ``auth`` param says) with the
    keys of controlled replica ``c``, and no others'."""
    return Auth(c.crypto, getattr(c.context.params, "auth", "mac"), tuple(c.context.replicas))


def reseal(c: Controlled, msg: M) -> M:
    """``msg``, a PBFT message that replica ``c`` sends, with its authenticator recomputed over its
    current fields by ``c``'s keys: what a Byzantine replica does after changing a field.

    PRE-PREPARE, PREPARE and COMMIT get a MAC vector for all replicas (a signature in ``sig`` mode),
    REPLY one for its client; CHECKPOINT, VIEW-CHANGE and NEW-VIEW are signed (a NEW-VIEW's
    PRE-PREPAREs too). A PRE-PREPARE's ``digest`` must still match its batch: see
    :func:`conflicting_pre_prepare`. The state-transfer and recovery queries (FETCH-STATE,
    STATE-REPLY, STATUS, STATUS-REPLY, FETCH-LOG, LOG-REPLY) carry no authenticator of their own (what
    they relay is signed or checked against f+1 replies) and are returned unchanged. Raises
    :class:`~bftlab.errors.UsageError` for a client's REQUEST (only the client can sign it) or a
    message that is not PBFT's.
    """
    a = pbft_auth(c)
    m: Any = msg
    kind = type(m)
    if kind is PrePrepare:
        return dataclasses.replace(m, auth=a.seal(pre_prepare_body(m.view, m.seq, m.digest)))
    if kind is Prepare or kind is Commit:
        code = PREPARE if kind is Prepare else COMMIT
        return dataclasses.replace(m, auth=a.seal(vote_body(code, m.view, m.seq, m.digest, m.replica)))
    if kind is Reply:
        return dataclasses.replace(m, auth=a.seal(reply_body(m.view, m.ts, m.client, m.replica, m.result),
                                                  (m.client,)))
    if kind is Checkpoint:
        return dataclasses.replace(m, sig=a.sign(checkpoint_body(m.seq, m.state_digest, m.replica)))
    if kind is ViewChange:
        body = view_change_body(m.view, m.stable_seq, m.checkpoint_proof, m.prepared, m.replica)
        return dataclasses.replace(m, sig=a.sign(body))
    if kind is NewView:
        pps = tuple(dataclasses.replace(pp, auth=(a.sign(pre_prepare_body(pp.view, pp.seq, pp.digest)),))
                    for pp in m.pre_prepares)
        return dataclasses.replace(m, pre_prepares=pps,
                                   sig=a.sign(new_view_body(m.view, m.view_changes, pps, m.replica)))
    if kind in _UNSEALED:
        return msg
    if kind is Request:
        raise UsageError("reseal: a REQUEST is signed by its client, and a replica holds only its own keys.")
    if kind is PreparedCert:
        raise UsageError("reseal: a prepared certificate travels inside a VIEW-CHANGE; reseal the VIEW-CHANGE.")
    raise UsageError(f"reseal: {kind.__name__} is not a PBFT message.")


_UNSEALED = (FetchState, StateReply, Status, StatusReply, FetchLog, LogReply)


def other_digest(digest: bytes) -> bytes:
    """A made-up digest, different from ``digest`` and fixed by it (a wrong vote, not a random one)."""
    return hashlib.sha256(b"bftlab.adversary/conflict" + digest).digest()


def conflicting_pre_prepare(c: Controlled, pp: PrePrepare) -> PrePrepare:
    """A valid PRE-PREPARE for the same (view, seq) with another batch (reversed, or a null batch),
    its digest recomputed and sealed by ``c``: an equivocation correct backups accept."""
    batch: tuple[Request, ...] = pp.batch[::-1] if len(pp.batch) > 1 else ()
    digest = c.crypto.digest(batch_bytes(batch))
    return reseal(c, PrePrepare(pp.view, pp.seq, digest, batch, ()))


_MUTATE_RESEALS = (PrePrepare, Prepare, Commit)


def mutate(c: Controlled, msg: Any, field: str) -> Any:
    """One small-scope mutation of ``msg`` (``view``/``seq`` +1, or another ``digest``).

    A PRE-PREPARE, PREPARE or COMMIT is re-sealed, and a PRE-PREPARE whose digest
    changes gets a matching (reversed or empty) batch, so it is a valid,
    conflicting proposal rather than garbage. Other messages keep their old
    authenticator, so receivers drop them as forged (the fuzzer's saved
    schedules rely on this meaning). A message without ``field`` is returned as is.
    """
    if field == "digest" and type(msg) is PrePrepare:
        return conflicting_pre_prepare(c, msg)
    if not dataclasses.is_dataclass(msg) or isinstance(msg, type) or not hasattr(msg, field):
        return msg
    value = getattr(msg, field)
    if type(value) is int:
        msg = dataclasses.replace(msg, **{field: value + 1})
    elif type(value) is bytes:
        msg = dataclasses.replace(msg, **{field: other_digest(value)})
    return reseal(c, msg) if type(msg) in _MUTATE_RESEALS else msg


def corrupt_auth(msg: M) -> M:
    """``msg`` with the first byte of every authenticator entry (MAC vector or signature) flipped:
    the opposite of :func:`reseal`, for testing that receivers reject it."""
    m: Any = msg
    flip = lambda b: bytes([b[0] ^ 0xFF]) + b[1:] if b else b"\x00"  # noqa: E731
    if hasattr(m, "auth") and type(m.auth) is tuple:
        return dataclasses.replace(m, auth=tuple(flip(x) for x in m.auth))
    if hasattr(m, "sig") and type(m.sig) is bytes:
        return dataclasses.replace(m, sig=flip(m.sig))
    return msg


def _window(now: float, start_s: float, end_s: float | None) -> bool:
    return now >= start_s and (end_s is None or now < end_s)


def _sends(actions: list) -> list:
    return [a for a in actions if type(a) in (Send, Broadcast)]


def _dsts(a: Any) -> tuple[NodeId, ...]:
    return (a.to,) if type(a) is Send else tuple(a.to)


def _to(dsts: list[NodeId] | tuple[NodeId, ...], msg: Any) -> list:
    if not dsts:
        return []
    return [Send(dsts[0], msg)] if len(dsts) == 1 else [Broadcast(tuple(dsts), msg)]


@dataclass(frozen=True, kw_only=True)
class WindowParams:
    start_s: float = 0.0
    """Active from this time ..."""
    end_s: float | None = None
    """... until this time (null: for good)."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)


# -------------------------------------------------------- equivocating primary
@dataclass(frozen=True, kw_only=True)
class EquivocatingPrimaryParams(WindowParams):
    side_b: tuple[int, ...] = ()
    """Replicas that get the conflicting PRE-PREPARE; empty = the upper half of the correct ones."""
    every: int = 1
    """Equivocate on sequence numbers divisible by this."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.every < 1:
            raise FieldError("every", f"must be >= 1, got {self.every!r}.")


class EquivocatingPrimary(NodeStrategy):
    """A primary sends PRE-PREPARE A to side A and B to side B for the same (view, seq); every
    controlled replica (the primary included) then votes A to side A and B to side B. With at
    most f controlled replicas, quorum intersection keeps side B from committing B (TOCS'02 4.2);
    with f+1 both sides commit, and the checker reports the broken agreement."""

    Params = EquivocatingPrimaryParams

    def __init__(self, params: EquivocatingPrimaryParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        if params.side_b:
            self.side_b = set(params.side_b)
        else:
            correct = [r for r in ctx.replicas if r not in ctx.byzantine]
            self.side_b = set(correct[(len(correct) + 1) // 2:])
        self.twin: dict[tuple[int, int, bytes], bytes] = {}  # (view, seq, digest A) -> digest B

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        if not _window(now, self.params.start_s, self.params.end_s):
            return actions
        out: list = []
        for a in actions:
            m = getattr(a, "msg", None)
            if isinstance(m, PrePrepare) and m.seq % self.params.every == 0 and m.view % self.ctx.n == nid:
                alt = conflicting_pre_prepare(self.nodes[nid], m)
                if alt.digest == m.digest:
                    out.append(a)
                    continue
                self.twin[(m.view, m.seq, m.digest)] = alt.digest
                out += self._split(a, m, alt)
            elif isinstance(m, (Prepare, Commit)) and (m.view, m.seq, m.digest) in self.twin:
                alt_vote = reseal(self.nodes[nid], dataclasses.replace(m, digest=self.twin[(m.view, m.seq, m.digest)]))
                out += self._split(a, m, alt_vote)
            else:
                out.append(a)
        return out

    def _split(self, a: Any, honest: Any, alt: Any) -> list:
        dsts = _dsts(a)
        side_a = [d for d in dsts if d not in self.side_b]
        side_b = [d for d in dsts if d in self.side_b]
        return _to(side_a, honest) + _to(side_b, alt)


# ------------------------------------------------------------ censoring primary
@dataclass(frozen=True, kw_only=True)
class CensoringPrimaryParams(WindowParams):
    client: int = 0
    """Which client to censor, counted from the first client (0 = the first)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.client < 0:
            raise FieldError("client", f"counts clients from 0, got {self.client!r}.")


class CensoringPrimary(NodeStrategy):
    """Never orders one client's requests (Aardvark, NSDI'09 section 2: a faulty primary can
    selectively ignore a client). Backups' view-change timers replace it once the client
    retransmits to all of them."""

    Params = CensoringPrimaryParams

    def on_input(self, nid: NodeId, now: float, inp: Input) -> Input | None:
        if type(inp) is Receive and type(inp.msg) is Request and _window(now, self.params.start_s, self.params.end_s):
            target = self.ctx.clients[self.params.client % len(self.ctx.clients)]
            if inp.msg.client == target:
                return None
        return inp


# ------------------------------------------------------------ conflicting votes
class ConflictingVotes(NodeStrategy):
    """PREPAREs and COMMITs for the right digest to half the replicas and for a made-up digest
    to the other half (double voting; TOCS'02 4.2 shows a correct replica never prepares two
    digests for one (view, seq), so a quorum of 2f+1 cannot be built from f liars)."""

    Params = WindowParams

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        if not _window(now, self.params.start_s, self.params.end_s):
            return actions
        out: list = []
        for a in actions:
            m = getattr(a, "msg", None)
            if isinstance(m, (Prepare, Commit)):
                dsts = _dsts(a)
                half = len(dsts) // 2
                alt = reseal(self.nodes[nid], dataclasses.replace(m, digest=other_digest(m.digest)))
                out += _to(dsts[:half], m) + _to(dsts[half:], alt)
            else:
                out.append(a)
        return out


# ----------------------------------------------------------------- forged auth
@dataclass(frozen=True, kw_only=True)
class ForgedAuthParams(WindowParams):
    fraction: float = 1.0
    """Fraction of outgoing messages whose authenticator is corrupted."""
    impersonate: bool = True
    """Also send, for each PREPARE, one claiming to come from another replica."""

    def __post_init__(self) -> None:
        super().__post_init__()
        probability("fraction", self.fraction)


class ForgedAuth(NodeStrategy):
    """Invalid authenticators (Aardvark's MAC attack, NSDI'09 4.1) and impersonation: receivers
    must reject them and count ``drop.bad_auth`` / ``drop.bad_sender``; keys of other replicas
    are out of reach, so an impersonated vote can only carry this replica's own MACs."""

    Params = ForgedAuthParams

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        p = self.params
        if not _window(now, p.start_s, p.end_s):
            return actions
        out: list = []
        for a in actions:
            m = getattr(a, "msg", None)
            if m is None or type(m) is Request:
                out.append(a)
                continue
            if self.rng.random() < p.fraction:
                out += _to(_dsts(a), corrupt_auth(m))
            else:
                out.append(a)
            if p.impersonate and type(m) is Prepare:
                victim = (nid + 1) % self.ctx.n
                fake = reseal(self.nodes[nid], dataclasses.replace(m, replica=victim))  # sealed with OUR keys
                out += _to([d for d in _dsts(a) if d != victim], fake)
        return out


# ---------------------------------------------------------------- stale replay
@dataclass(frozen=True, kw_only=True)
class StaleReplayParams(WindowParams):
    probability: float = 0.3
    """Chance, per step that sends something, of also re-sending one old message."""
    min_age_s: float = 0.5
    """Only messages at least this old are replayed."""
    history: int = 500
    """How many past messages are remembered."""

    def __post_init__(self) -> None:
        super().__post_init__()
        probability("probability", self.probability)
        nonnegative("min_age_s", self.min_age_s)
        if self.history < 1:
            raise FieldError("history", f"must be >= 1, got {self.history!r}.")


class StaleReplay(NodeStrategy):
    """Re-sends its own old messages, from past views and sequence numbers (TOCS'02 4.1:
    views, watermarks and timestamps make such replays harmless)."""

    Params = StaleReplayParams

    def __init__(self, params: StaleReplayParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self.past: dict[NodeId, list[tuple[float, Any]]] = {}

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        p = self.params
        sends = _sends(actions)
        if not sends:
            return actions
        past = self.past.setdefault(nid, [])
        out = list(actions)
        if _window(now, p.start_s, p.end_s) and self.rng.random() < p.probability:
            old = [a for t, a in past if now - t >= p.min_age_s]
            if old:
                out.append(self.rng.choice(old))
        past.extend((now, a) for a in sends)
        del past[:-p.history]
        return out


# -------------------------------------------------------- needless view change
@dataclass(frozen=True, kw_only=True)
class NeedlessViewChangeParams(WindowParams):
    period_s: float = 0.3
    """How often the replica starts a view change."""

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("period_s", self.period_s)


_NVC = "bftlab.adversary.needless-vc"


class NeedlessViewChange(NodeStrategy):
    """Starts a view change every ``period_s`` by firing its own view-change timer early: the
    VIEW-CHANGEs are genuine and signed, but one replica is below the f+1 needed for others to
    join (TOCS'02 4.5.2), so the attack costs messages, not progress."""

    Params = NeedlessViewChangeParams

    def step(self, nid: NodeId, now: float, inp: Input) -> list:
        p = self.params
        honest = self.nodes[nid].honest
        if type(inp) is TimerFired and inp.name == _NVC:
            out = honest.step(now, TimerFired("vc")) if _window(now, p.start_s, p.end_s) else []
            return [*out, SetTimer(_NVC, p.period_s)] if p.end_s is None or now < p.end_s else out
        out = honest.step(now, inp)
        if type(inp) is Start:
            out = [*out, SetTimer(_NVC, max(p.start_s - now, 0.0) + p.period_s)]
        return out


# ---------------------------------------------------------------- slow primary
@dataclass(frozen=True, kw_only=True)
class SlowPrimaryParams(WindowParams):
    delay_s: float | None = None
    """Delay of each PRE-PREPARE; null = 90% of the view-change timeout (just under it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.delay_s is not None:
            nonnegative("delay_s", self.delay_s)


class SlowPrimary(NodeStrategy):
    """The Aardvark performance attack (Clement et al., NSDI'09, section 2): as primary, hold
    each PRE-PREPARE for just less than the backups' view-change timeout, so no timer expires
    and throughput collapses while the system looks live."""

    Params = SlowPrimaryParams

    def on_actions(self, nid: NodeId, now: float, inp: Input, actions: list) -> list:
        p = self.params
        if not _window(now, p.start_s, p.end_s):
            return actions
        delay = p.delay_s
        if delay is None:
            delay = 0.9 * getattr(self.nodes[nid].context.params, "view_change_timeout_s", 0.5)
        out: list = []
        for a in actions:
            if type(getattr(a, "msg", None)) is PrePrepare:
                out.append(Later(delay, (a,)))
            else:
                out.append(a)
        return out
