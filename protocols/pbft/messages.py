"""PBFT wire messages (codes 0x100-0x13F).

Names follow Castro & Liskov (TOCS'02 §4): REQUEST, PRE-PREPARE, PREPARE, COMMIT,
REPLY (§4.1-4.2), CHECKPOINT (§4.3), VIEW-CHANGE and NEW-VIEW (§4.4), plus a
minimal state-transfer pair (FETCH-STATE / STATE-REPLY, after §5.3), and the
recovery queries of a restarted replica (STATUS / STATUS-REPLY to learn the
current view, FETCH-LOG / LOG-REPLY to fetch committed batches above the stable
checkpoint; after §4.3 and Castro's thesis on recovery).

Authentication covers :func:`body` of a message: the wire encoding of
``(code, field, ...)`` without its ``auth``/``sig`` field. ``auth`` is either a
MAC authenticator (one entry per receiver, in receiver order) or a 1-tuple
holding a signature. A PRE-PREPARE authenticates ``(view, seq, digest)``; its
batch is bound through ``digest = H(encode(batch))``.

Every message can be checked with :func:`well_formed`, which validates field
types recursively (the simulator may hand objects over without decoding them).
Value ranges (watermarks, replica ids) are checked by the replica.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bftlab.core import wire
from bftlab.core.wire import message

REQUEST = 0x100
PRE_PREPARE = 0x101
PREPARE = 0x102
COMMIT = 0x103
REPLY = 0x104
CHECKPOINT = 0x105
PREPARED_CERT = 0x106
VIEW_CHANGE = 0x107
NEW_VIEW = 0x108
FETCH_STATE = 0x109
STATE_REPLY = 0x10A
STATUS = 0x10B
STATUS_REPLY = 0x10C
FETCH_LOG = 0x10D
LOG_REPLY = 0x10E


@message(REQUEST)
@dataclass(frozen=True, slots=True)
class Request:
    """<REQUEST, o, t, c> from client ``client``; ``auth`` is over all replicas."""

    op: bytes
    ts: int
    client: int
    auth: tuple[bytes, ...]


@message(PRE_PREPARE)
@dataclass(frozen=True, slots=True)
class PrePrepare:
    """<PRE-PREPARE, v, n, d> from primary(v), with the batch piggybacked."""

    view: int
    seq: int
    digest: bytes
    batch: tuple[Request, ...]
    auth: tuple[bytes, ...]


@message(PREPARE)
@dataclass(frozen=True, slots=True)
class Prepare:
    view: int
    seq: int
    digest: bytes
    replica: int
    auth: tuple[bytes, ...]


@message(COMMIT)
@dataclass(frozen=True, slots=True)
class Commit:
    view: int
    seq: int
    digest: bytes
    replica: int
    auth: tuple[bytes, ...]


@message(REPLY)
@dataclass(frozen=True, slots=True)
class Reply:
    view: int
    ts: int
    client: int
    replica: int
    result: bytes
    auth: tuple[bytes, ...]


@message(CHECKPOINT)
@dataclass(frozen=True, slots=True)
class Checkpoint:
    """<CHECKPOINT, n, d, i>σi: replica ``replica`` executed up to ``seq`` with state digest ``d``."""

    seq: int
    state_digest: bytes
    replica: int
    sig: bytes


@message(PREPARED_CERT)
@dataclass(frozen=True, slots=True)
class PreparedCert:
    """One entry P_m of a VIEW-CHANGE's P set: a pre-prepare and 2f matching prepares."""

    pre_prepare: PrePrepare
    prepares: tuple[Prepare, ...]


@message(VIEW_CHANGE)
@dataclass(frozen=True, slots=True)
class ViewChange:
    """<VIEW-CHANGE, v+1, n, C, P, i>σi (TOCS §4.4)."""

    view: int
    stable_seq: int
    checkpoint_proof: tuple[Checkpoint, ...]
    prepared: tuple[PreparedCert, ...]
    replica: int
    sig: bytes


@message(NEW_VIEW)
@dataclass(frozen=True, slots=True)
class NewView:
    """<NEW-VIEW, v+1, V, O>σp; each pre-prepare in O is signed by the new primary."""

    view: int
    view_changes: tuple[ViewChange, ...]
    pre_prepares: tuple[PrePrepare, ...]
    replica: int
    sig: bytes


@message(FETCH_STATE)
@dataclass(frozen=True, slots=True)
class FetchState:
    """Ask for the checkpoint state at ``seq`` (or any newer stable one)."""

    seq: int
    replica: int


@message(STATE_REPLY)
@dataclass(frozen=True, slots=True)
class StateReply:
    """Checkpoint state at ``seq``; ``proof`` is 2f+1 CHECKPOINTs, or () if the asker holds it."""

    seq: int
    snapshot: bytes
    proof: tuple[Checkpoint, ...]
    replica: int


@message(STATUS)
@dataclass(frozen=True, slots=True)
class Status:
    """A restarted replica asks where the others are (view, stable checkpoint, last executed seq)."""

    replica: int


@message(STATUS_REPLY)
@dataclass(frozen=True, slots=True)
class StatusReply:
    """Answer to STATUS. ``new_view`` holds the NEW-VIEW that installed ``view`` (empty for view 0 or while
    ``view`` is not installed), so the asker can validate and install it; ``proof`` proves checkpoint ``h``."""

    view: int
    active: bool
    h: int
    proof: tuple[Checkpoint, ...]
    last_exec: int
    new_view: tuple[NewView, ...]
    replica: int


@message(FETCH_LOG)
@dataclass(frozen=True, slots=True)
class FetchLog:
    """Ask for the committed batches from ``seq`` on (those the receiver executed above its stable checkpoint)."""

    seq: int
    replica: int


@message(LOG_REPLY)
@dataclass(frozen=True, slots=True)
class LogReply:
    """Committed batches (the PRE-PREPAREs executed, in seq order); the asker trusts a batch once f+1
    replicas sent the same digest for its seq."""

    batches: tuple[PrePrepare, ...]
    replica: int


MESSAGE_TYPES: tuple[type, ...] = (
    Request,
    PrePrepare,
    Prepare,
    Commit,
    Reply,
    Checkpoint,
    PreparedCert,
    ViewChange,
    NewView,
    FetchState,
    StateReply,
    Status,
    StatusReply,
    FetchLog,
    LogReply,
)


# ------------------------------------------------------------------ auth bodies
_enc = wire.encode


def request_body(op: bytes, ts: int, client: int) -> bytes:
    return _enc((REQUEST, op, ts, client))


def pre_prepare_body(view: int, seq: int, digest: bytes) -> bytes:
    return _enc((PRE_PREPARE, view, seq, digest))


def vote_body(code: int, view: int, seq: int, digest: bytes, replica: int) -> bytes:
    """Body of a PREPARE (code PREPARE) or COMMIT (code COMMIT)."""
    return _enc((code, view, seq, digest, replica))


def reply_body(view: int, ts: int, client: int, replica: int, result: bytes) -> bytes:
    return _enc((REPLY, view, ts, client, replica, result))


def checkpoint_body(seq: int, state_digest: bytes, replica: int) -> bytes:
    return _enc((CHECKPOINT, seq, state_digest, replica))


def view_change_body(
    view: int, stable_seq: int, proof: tuple[Checkpoint, ...], prepared: tuple[PreparedCert, ...], replica: int
) -> bytes:
    return _enc((VIEW_CHANGE, view, stable_seq, proof, prepared, replica))


def new_view_body(
    view: int, view_changes: tuple[ViewChange, ...], pre_prepares: tuple[PrePrepare, ...], replica: int
) -> bytes:
    return _enc((NEW_VIEW, view, view_changes, pre_prepares, replica))


def batch_bytes(batch: tuple[Request, ...]) -> bytes:
    """What a batch digest is computed over."""
    return _enc(batch)


# ------------------------------------------------------------ well-formedness
_CHECKS: dict[type, Callable[[Any], bool]] = {}


def _compile(tp: Any) -> Callable[[Any], bool]:
    if tp is int:
        return lambda v: type(v) is int
    if tp is bytes:
        return lambda v: type(v) is bytes
    if tp is str:
        return lambda v: type(v) is str
    if tp is bool:
        return lambda v: type(v) is bool
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _compile(args[0])
            return lambda v: type(v) is tuple and all(map(item, v))
        items = [_compile(a) for a in args]
        return lambda v: type(v) is tuple and len(v) == len(items) and all(c(x) for c, x in zip(items, v))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return lambda v: type(v) is tp and well_formed(v)
    raise TypeError(f"unsupported annotation {tp!r}")


def well_formed(m: Any) -> bool:
    """True iff ``m`` is a PBFT message whose fields (recursively) have their declared types."""
    cls = type(m)
    chk = _CHECKS.get(cls)
    if chk is None:
        if cls not in MESSAGE_TYPES:
            return False
        hints = typing.get_type_hints(cls)
        fields = [(f.name, _compile(hints[f.name])) for f in dataclasses.fields(cls)]

        def chk(obj: Any, _fields=fields) -> bool:
            return all(c(getattr(obj, name)) for name, c in _fields)

        _CHECKS[cls] = chk
    return chk(m)
