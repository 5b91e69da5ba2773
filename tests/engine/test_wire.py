"""Wire codec: round trips, validation, malformed input never escapes as anything but WireError."""

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bftlab.core import wire
from bftlab.core.wire import WireError, decode, encode, message


@message(0x7E01)
@dataclass(frozen=True, slots=True)
class Inner:
    seq: int
    digest: bytes


@message(0x7E02)
@dataclass(frozen=True, slots=True)
class Outer:
    view: int
    items: tuple[Inner, ...]
    note: str
    maybe: int | None
    pair: tuple[int, bytes]


@given(st.integers(-2**63, 2**63 - 1), st.lists(st.tuples(st.integers(0, 2**40), st.binary(max_size=40)), max_size=5),
       st.text(max_size=20), st.one_of(st.none(), st.integers(0, 9)), st.binary(max_size=8))
def test_round_trip(view, items, note, maybe, b):
    msg = Outer(view, tuple(Inner(s, d) for s, d in items), note, maybe, (1, b))
    assert decode(encode(msg)) == msg


def _tag(code: int) -> object:
    return wire.msgpack.ExtType(1, code.to_bytes(2, "big"))


def test_the_encoding_is_an_array_led_by_a_tag():
    assert encode(Inner(5, b"ab")) == wire.msgpack.packb([_tag(0x7E01), 5, b"ab"])


def test_wrong_field_type_is_rejected():
    bad = wire.msgpack.packb([_tag(0x7E01), "not-int", b""])
    with pytest.raises(WireError, match="Inner.seq"):
        decode(bad)


def test_unknown_code_and_arity_are_rejected():
    with pytest.raises(WireError, match="unknown message code"):
        decode(wire.msgpack.packb([_tag(0x7E7E), 1]))
    with pytest.raises(WireError, match="unknown message code"):
        decode(wire.msgpack.packb([wire.msgpack.ExtType(1, b"\x7e\x01\x00"), 1, b""]))  # a 3-byte tag
    with pytest.raises(WireError, match="unknown msgpack extension type"):
        decode(wire.msgpack.packb([wire.msgpack.ExtType(2, b"\x7e\x01"), 1, b""]))
    with pytest.raises(WireError, match="expected 2 fields"):
        decode(wire.msgpack.packb([_tag(0x7E01), 1]))


@message(0x7E03)
@dataclass(frozen=True, slots=True)
class Loose:
    seq: int
    extra: Any


def test_a_tag_out_of_place_never_reaches_the_caller():
    packb, tag = wire.msgpack.packb, _tag(0x7E01)
    # a typed field rejects a stray tag by its type
    with pytest.raises(WireError, match="Inner.digest"):
        decode(packb([tag, 1, tag]))
    # untyped places are searched: the top level, plain data, maps, fields annotated Any
    for hostile in (tag, [1, tag], {"a": [2, tag]}, [_tag(0x7E03), 1, tag], [_tag(0x7E03), 1, [0, {"k": tag}]],
                    wire.msgpack.Timestamp(1, 0), [_tag(0x7E03), 1, wire.msgpack.Timestamp(1, 0)]):
        with pytest.raises(WireError):
            decode(packb(hostile))
    # what is legitimately there still decodes
    assert decode(encode((1, (b"x", "y"), None))) == (1, (b"x", "y"), None)
    assert decode(encode(Loose(1, (2, {"k": Inner(3, b"d")})))) == Loose(1, (2, {"k": Inner(3, b"d")}))


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_wire_error(data):
    try:
        decode(data)
    except WireError:
        pass


def test_duplicate_code_is_refused():
    with pytest.raises(ValueError, match="taken"):
        @message(0x7E01)
        @dataclass(frozen=True)
        class Clash:
            x: int


def test_deeply_nested_frames_are_rejected_not_fatal():
    """A few hundred nested messages in under 1 KB once crashed the decoder's C stack."""
    import msgpack

    tag = msgpack.packb(_tag(0x7E01))
    deep = (b"\x93" + tag + b"\x01") * 5000 + b"\xc0"  # [tag, 1, [tag, 1, [... None]]]
    with pytest.raises(WireError):
        decode(deep)
    flat = b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(WireError, match="undecodable"):
        decode(flat)
