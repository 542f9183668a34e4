"""Datum codec: byte vectors per flag (worked by hand from the format definition, see each
comment) and hypothesis properties (order and round trips)."""

from __future__ import annotations

import datetime
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.kv import memcomparable as mc
from lightning_core.kv.memcomparable import Kind

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
UINT64 = st.integers(0, (1 << 64) - 1)
FLOATS = st.floats(allow_nan=False)


# --- vectors ----------------------------------------------------------------------------------


def test_int_vectors() -> None:
    # Sign bit flipped, big-endian: 1 -> 80..01, -1 -> 7F..FF, 0 -> 80..00.
    assert mc.encode_datum(Kind.INT, 1) == bytes.fromhex("03 8000000000000001")
    assert mc.encode_datum(Kind.INT, -1) == bytes.fromhex("03 7fffffffffffffff")
    assert mc.encode_datum(Kind.INT, 0) == bytes.fromhex("03 8000000000000000")
    assert mc.encode_int(-(1 << 63)) == bytes(8)


def test_uint_vector() -> None:
    assert mc.encode_datum(Kind.UINT, 0x0102) == bytes.fromhex("04 0000000000000102")


def test_float_vectors() -> None:
    # 1.0 = 0x3FF0000000000000, sign bit set -> BFF0...; -1.0 = 0xBFF0..., inverted -> 400F...
    assert mc.encode_datum(Kind.FLOAT, 1.0) == bytes.fromhex("05 bff0000000000000")
    assert mc.encode_datum(Kind.FLOAT, -1.0) == bytes.fromhex("05 400fffffffffffff")
    assert mc.encode_float(0.0) == mc.encode_float(-0.0) == bytes.fromhex("8000000000000000")


def test_bytes_vectors() -> None:
    # 3 bytes + 5 zero pads, marker 0xFF-5 = 0xFA.
    assert mc.encode_datum(Kind.BYTES, b"abc") == bytes.fromhex("01 616263 0000000000 fa")
    # A multiple of 8 gets a full group (marker FF) and an all-padding group (marker F7).
    assert mc.encode_bytes(b"12345678") == bytes.fromhex("3132333435363738 ff 0000000000000000 f7")
    assert mc.encode_bytes(b"") == bytes.fromhex("0000000000000000 f7")


def test_compact_bytes_and_varints() -> None:
    # zigzag(3) = 6.
    assert mc.encode_datum(Kind.BYTES, b"abc", comparable=False) == bytes.fromhex("02 06 616263")
    # zigzag(-1) = 1; zigzag(150) = 300 = LEB128 AC 02.
    assert mc.encode_datum(Kind.INT, -1, comparable=False) == bytes.fromhex("08 01")
    assert mc.encode_datum(Kind.INT, 150, comparable=False) == bytes.fromhex("08 ac02")
    assert mc.encode_datum(Kind.UINT, 300, comparable=False) == bytes.fromhex("09 ac02")


def test_decimal_vector() -> None:
    # precision 14, scale 4, then the MyDecimal bytes MySQL documents for 1234567890.1234.
    datum = mc.encode_datum(Kind.DECIMAL, (Decimal("1234567890.1234"), 14, 4))
    assert datum == bytes.fromhex("06 0e 04 810dfb38d204d2")
    # Without a column type, precision/scale come from the value: 1.5 -> (2, 1), 0x80 | 1, 5.
    assert mc.encode_datum(Kind.DECIMAL, Decimal("1.5")) == bytes.fromhex("06 02 01 81 05")


def test_duration_nil_max_json() -> None:
    # 1 second = 1e9 ns = 0x3B9ACA00.
    assert mc.encode_datum(Kind.DURATION, datetime.timedelta(seconds=1)) == bytes.fromhex(
        "07 800000003b9aca00"
    )
    assert mc.encode_datum(Kind.NULL, None) == b"\x00"
    assert mc.encode_datum(Kind.MAX, None) == b"\xfa"
    # JSON literal true: flag, type 0x04, literal 0x01.
    assert mc.encode_datum(Kind.JSON, (0x04, b"\x01")) == b"\x0a\x04\x01"
    assert mc.decode_one(b"\x0a\x04\x01")[:2] == (Kind.JSON, (0x04, b"\x01"))


def test_decode_all_kinds() -> None:
    data = mc.encode_key([None, 5, 1 << 63, 2.5, b"xy", Decimal("-3.25")])
    data += mc.encode_datum(Kind.DURATION, -1500) + b"\xfa"
    assert mc.decode_all(data) == [
        (Kind.NULL, None),
        (Kind.INT, 5),
        (Kind.UINT, 1 << 63),
        (Kind.FLOAT, 2.5),
        (Kind.BYTES, b"xy"),
        (Kind.DECIMAL, Decimal("-3.25")),
        (Kind.DURATION, -1500),
        (Kind.MAX, None),
    ]


def test_bad_input_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        mc.decode_one(b"\x03\x80")
    with pytest.raises(EncodeError):
        mc.decode_one(b"\x63")
    with pytest.raises(EncodeError):
        mc.decode_bytes(b"abc\x00\x00\x00\x00\x00\x10")


# --- properties -------------------------------------------------------------------------------


@given(INT64, INT64)
def test_int_order(a: int, b: int) -> None:
    assert (mc.encode_int(a) < mc.encode_int(b)) == (a < b)


@given(UINT64, UINT64)
def test_uint_order(a: int, b: int) -> None:
    assert (mc.encode_uint(a) < mc.encode_uint(b)) == (a < b)


@given(FLOATS, FLOATS)
def test_float_order(a: float, b: float) -> None:
    assert (mc.encode_float(a) < mc.encode_float(b)) == (a < b)


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_bytes_order(a: bytes, b: bytes) -> None:
    assert (mc.encode_bytes(a) < mc.encode_bytes(b)) == (a < b)


@given(
    st.decimals(min_value=-(10**8), max_value=10**8, places=3, allow_nan=False),
    st.decimals(min_value=-(10**8), max_value=10**8, places=3, allow_nan=False),
)
def test_decimal_order(a: Decimal, b: Decimal) -> None:
    ea = mc.encode_datum(Kind.DECIMAL, (a, 12, 3))
    eb = mc.encode_datum(Kind.DECIMAL, (b, 12, 3))
    assert (ea < eb) == (a < b)
    assert (ea == eb) == (a == b)


@given(INT64)
def test_int_round_trips(v: int) -> None:
    assert mc.decode_one(mc.encode_datum(Kind.INT, v)) == (Kind.INT, v, 9)
    assert mc.decode_one(mc.encode_datum(Kind.INT, v, comparable=False))[:2] == (Kind.INT, v)


@given(UINT64)
def test_uint_round_trips(v: int) -> None:
    assert mc.decode_one(mc.encode_datum(Kind.UINT, v))[:2] == (Kind.UINT, v)
    assert mc.decode_one(mc.encode_datum(Kind.UINT, v, comparable=False))[:2] == (Kind.UINT, v)


@given(FLOATS)
def test_float_round_trips(v: float) -> None:
    decoded = mc.decode_float(mc.encode_float(v))
    assert decoded == v and math.copysign(1, decoded) == math.copysign(1, v or 1.0)


@given(st.binary(max_size=100))
def test_bytes_round_trip(v: bytes) -> None:
    for comparable in (True, False):
        data = mc.encode_datum(Kind.BYTES, v, comparable=comparable) + b"\x00"
        kind, value, end = mc.decode_one(data)
        assert (kind, value, end) == (Kind.BYTES, v, len(data) - 1)


@given(st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, places=5))
def test_decimal_round_trip(v: Decimal) -> None:
    assert mc.decode_one(mc.encode_datum(Kind.DECIMAL, (v, 26, 5)))[1] == v


@given(
    st.timedeltas(min_value=-datetime.timedelta(hours=838), max_value=datetime.timedelta(hours=838))
)
def test_duration_round_trip(v: datetime.timedelta) -> None:
    kind, nanos, _ = mc.decode_one(mc.encode_datum(Kind.DURATION, v))
    assert kind is Kind.DURATION and mc.nanos_duration(nanos) == v
