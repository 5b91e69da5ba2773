"""Wire encoding of protocol messages (msgpack; never pickle).

Messages are frozen dataclasses registered with a numeric code::

    @message(0x101)
    @dataclass(frozen=True, slots=True)
    class Prepare:
        view: int
        seq: int
        digest: bytes
        replica: int

A message encodes as a msgpack array ``[tag, field1, ...]`` whose first item,
the tag, is msgpack extension type 1 holding the code as two big-endian bytes;
nested messages nest the same way and tuples stay tuples. One C-level pack and
one unpack handle a whole message tree: the Python callbacks only turn a
message into its tuple and back, so there is no nested packing and no parse
per level. The simulator uses ``encoded_size`` so that bandwidth and byte counts
come from the real encoding. ``decode`` checks every field against its
annotation, so a peer cannot smuggle a wrong type into protocol code; anything
malformed raises :class:`WireError`.
"""

from __future__ import annotations

import dataclasses
import operator
import threading
import types
import typing
from collections.abc import Callable
from typing import Any

import msgpack

_EXT = 1
_BY_CODE: dict[int, type] = {}
_CODE: dict[type, int] = {}
_TAG: dict[type, msgpack.ExtType] = {}  # class -> its packed-once tag
_TAG_OF: dict[bytes, _Tag] = {}  # tag payload -> what decoding turns it into
_GETTER: dict[type, Callable[[Any], tuple]] = {}
_CHECKER: dict[type, Callable[[tuple], None]] = {}

MAX_DEPTH = 16


class WireError(ValueError):
    """A byte string is not a well-formed message (a peer's fault, never ours)."""


class _Tag:
    """A decoded tag: the class it names, until the array around it becomes that message."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls


def message(code: int) -> Callable[[type], type]:
    """Class decorator: register a frozen dataclass as a wire message with ``code``."""

    def register(cls: type) -> type:
        register_type(cls, code)
        return cls

    return register


def register_type(cls: type, code: int) -> None:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__qualname__} must be a dataclass to be a wire message")
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"wire code {code:#x} of {cls.__qualname__} does not fit in two bytes")
    other = _BY_CODE.get(code)
    if other is not None and other is not cls:
        if (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"wire code {code:#x} is taken by {other.__qualname__}; {cls.__qualname__} needs another")
    names = [f.name for f in dataclasses.fields(cls)]
    _BY_CODE[code] = cls
    _CODE[cls] = code
    payload = code.to_bytes(2, "big")
    _TAG[cls] = msgpack.ExtType(_EXT, payload)
    _TAG_OF[payload] = _Tag(cls)
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        _GETTER[cls] = lambda obj: (one(obj),)
    elif names:
        _GETTER[cls] = operator.attrgetter(*names)
    else:
        _GETTER[cls] = lambda obj: ()


def is_registered(cls: type) -> bool:
    """Whether ``cls`` was registered with :func:`message`."""
    return cls in _CODE


# One reusable Packer per thread: building a Packer per call costs more than
# packing a small message, and a Packer cannot be shared between threads (Dask
# runs simulations in threads). `_default` never packs, so nothing re-enters it.
_LOCAL = threading.local()


def _default(obj: Any) -> Any:
    cls = type(obj)
    tag = _TAG.get(cls)
    if tag is None:
        if isinstance(obj, (frozenset, set)):
            return sorted(obj)
        raise TypeError(f"cannot encode {cls.__qualname__}: not a registered wire message")
    return (tag, *_GETTER[cls](obj))


def encode(msg: Any) -> bytes:
    """Encode a registered message (or plain msgpack data) to bytes."""
    try:
        packer = _LOCAL.packer
    except AttributeError:
        packer = _LOCAL.packer = msgpack.Packer(default=_default, use_bin_type=True, autoreset=True)
    try:
        return packer.pack(msg)
    except BaseException:
        packer.reset()
        raise


def encoded_size(msg: Any) -> int:
    return len(encode(msg))


# ------------------------------------------------------------------- decoding
def _ext_hook(code: int, data: bytes) -> Any:
    if code != _EXT:
        raise WireError(f"unknown msgpack extension type {code}")
    tag = _TAG_OF.get(data)
    if tag is None:
        raise WireError(f"unknown message code {data[:8].hex() or '(empty)'}")
    return tag


def _list_hook(items: tuple) -> Any:
    if not items or type(items[0]) is not _Tag:
        return items
    cls = items[0].cls
    fields = items[1:]
    chk = _CHECKER.get(cls)
    (chk if chk is not None else _checker(cls))(fields)
    return cls(*fields)


def decode(data: bytes) -> Any:
    """Decode bytes produced by :func:`encode`, validating field types."""
    try:
        out = msgpack.unpackb(data, ext_hook=_ext_hook, list_hook=_list_hook, use_list=False, raw=False,
                              strict_map_key=True)
    except WireError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types (StackError for deep nesting)
        raise WireError(f"undecodable message: {type(exc).__name__}: {exc}") from None
    if type(out) not in _CODE and not _plain(out):
        raise WireError("a message tag outside the head of its array, or a msgpack timestamp")
    return out


def _plain(value: Any) -> bool:
    """True iff decoded data holds no stray tag (or msgpack timestamp) at any depth.

    Typed fields reject such objects by type; this covers what is not typed:
    plain data at the top level and fields annotated ``Any``. Iterative,
    because msgpack allows deeper nesting than Python's recursion limit.
    """
    todo = [value]
    while todo:
        v = todo.pop()
        t = type(v)
        if t is tuple:
            todo.extend(v)
        elif t is dict:
            todo.extend(v.keys())
            todo.extend(v.values())
        elif t is _Tag or t is msgpack.Timestamp:
            return False
    return True


def _checker(cls: type) -> Callable[[tuple], None]:
    """The field validator of ``cls``, generated once as straight-line Python.

    Generated code (one expression per field) costs a fraction of a chain of
    predicate closures, and decoding is on every replica's hot path.
    """
    chk = _CHECKER.get(cls)
    if chk is None:
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        ns: dict[str, Any] = {"WireError": WireError, "_FLOATS": (float, int), "_plain": _plain}
        lines = [
            "def chk(fields):",
            f"    if len(fields) != {len(names)}:",
            f"        raise WireError('{cls.__qualname__}: expected {len(names)} fields, got %d' % len(fields))",
        ]
        for i, name in enumerate(names):
            lines += [
                f"    v = fields[{i}]",
                f"    if not ({_expr(hints[name], 'v', ns, 0)}):",
                f"        raise WireError('{cls.__qualname__}.{name}: bad value of type %s' % type(v).__name__)",
            ]
        exec("\n".join(lines), ns)  # noqa: S102 - source built only from our own annotations
        chk = _CHECKER[cls] = ns["chk"]
    return chk


def _expr(tp: Any, var: str, ns: dict[str, Any], depth: int) -> str:
    """A Python expression true iff ``var`` matches annotation ``tp`` (scalars, tuples, unions, messages)."""
    if tp is Any:
        return f"_plain({var})"
    if tp is float:
        return f"type({var}) in _FLOATS"
    if tp in (int, bool, bytes, str):
        return f"type({var}) is {tp.__name__}"
    if tp is type(None):
        return f"{var} is None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return "(" + " or ".join(_expr(a, var, ns, depth) for a in args) + ")"
    if origin is tuple:
        if depth >= MAX_DEPTH:
            raise TypeError(f"wire annotation nested deeper than {MAX_DEPTH}: {tp!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            item = f"x{depth}"
            return f"(type({var}) is tuple and all({_expr(args[0], item, ns, depth + 1)} for {item} in {var}))"
        parts = [f"type({var}) is tuple", f"len({var}) == {len(args)}"]
        parts += [_expr(a, f"{var}[{i}]", ns, depth + 1) for i, a in enumerate(args)]
        return "(" + " and ".join(parts) + ")"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        key = f"_T{len(ns)}"
        ns[key] = tp
        return f"type({var}) is {key}"
    raise TypeError(f"unsupported wire annotation {tp!r}")
