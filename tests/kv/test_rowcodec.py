"""Row format v2: one hand-worked vector per column kind, large rows, round trips."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.kv.rowcodec import (
    decode_row,
    encode_row,
    pack_time,
    split_row,
    unpack_time,
    value_encoder,
)
from lightning_core.schema.model import ColumnType, FieldType
from lightning_core.schema.values import JsonDoc, MysqlTime

T = ColumnType
UTF8 = {"charset": "utf8mb4", "collation": "utf8mb4_bin"}


def ft(tp: ColumnType, **kw: Any) -> FieldType:
    return FieldType(tp=tp, **kw)


def one(field: FieldType, value: Any) -> bytes:
    """Row of one column (id 1) holding ``value``: header + id + offset + data."""
    return encode_row([1], [value], [field])


@pytest.mark.parametrize(
    ("field", "value", "data"),
    [
        # Signed ints: smallest of 1/2/4/8 bytes, little-endian.
        (ft(T.LONG), 1, "01"),
        (ft(T.LONG), -1, "ff"),
        (ft(T.LONG), 300, "2c01"),
        (ft(T.LONGLONG), -(1 << 40), "0000000000ffffff"),
        (ft(T.LONG), 1 << 20, "00001000"),
        # Unsigned.
        (ft(T.LONGLONG, unsigned=True), 200, "c8"),
        (ft(T.LONGLONG, unsigned=True), (1 << 64) - 1, "ffffffffffffffff"),
        (ft(T.YEAR), 2024, "e807"),
        # Enum index, set bitmask, bit value: unsigned.
        (ft(T.ENUM, elems=("a", "b")), 2, "02"),
        (ft(T.SET, elems=("a", "b")), 3, "03"),
        (ft(T.BIT, flen=16), 0x0102, "0201"),
        # Float/double: the memcomparable 8 bytes.
        (ft(T.DOUBLE), 1.0, "bff0000000000000"),
        (ft(T.FLOAT), -1.0, "400fffffffffffff"),
        # Decimal: precision, scale, MyDecimal (MySQL's documented bytes).
        (ft(T.NEWDECIMAL, flen=14, decimal=4), Decimal("1234567890.1234"), "0e04810dfb38d204d2"),
        # Strings and blobs: the bytes.
        (ft(T.VARCHAR, **UTF8), b"abc", "616263"),
        (ft(T.BLOB), b"\x00\xff", "00ff"),
        # Date/datetime/timestamp: packed uint. 2000-01-01 00:00:00:
        # ymd = ((2000*13+1) << 5) | 1 = 832033 = 0xCB221; packed = ymd << 41
        # = 0x1964420000000000, little-endian.
        (ft(T.DATETIME), MysqlTime(2000, 1, 1), "0000000000426419"),
        (ft(T.DATE), MysqlTime(0, 0, 0), "00"),
        # Time: int64 nanoseconds, 1 s = 0x3B9ACA00.
        (ft(T.DURATION), datetime.timedelta(seconds=1), "00ca9a3b"),
        (ft(T.DURATION), datetime.timedelta(0), "00"),
        # JSON: type byte + binary (int64 1).
        (ft(T.JSON), JsonDoc(1), "090100000000000000"),
    ],
)
def test_column_kinds(field: FieldType, value: Any, data: str) -> None:
    raw = bytes.fromhex(data)
    expected = bytes((128, 0, 1, 0, 0, 0, 1)) + len(raw).to_bytes(2, "little") + raw
    assert one(field, value) == expected
    assert decode_row(expected, {1: field}) == {1: value}


def test_null_and_sorting() -> None:
    fts = [ft(T.LONG), ft(T.VARCHAR, **UTF8), ft(T.LONG), ft(T.LONG)]
    row = encode_row([3, 1, 2, 5], [7, b"xy", None, None], fts)
    # 2 not-null (ids 1, 3), 2 null (ids 2, 5); offsets 2 ('xy'), 3 (7).
    assert row == bytes.fromhex("80 00 0200 0200 01 03 02 05 0200 0300 7879 07".replace(" ", ""))
    assert decode_row(row, {3: fts[0], 1: fts[1], 2: fts[2], 5: fts[3]}) == {
        1: b"xy",
        3: 7,
        2: None,
        5: None,
    }


def test_empty_row() -> None:
    assert encode_row([], [], []) == bytes.fromhex("800000000000")


def test_large_by_column_id() -> None:
    row = encode_row([256, 1], [1, None], [ft(T.LONG), ft(T.LONG)])
    # Large: 4-byte ids and offsets.
    assert row == bytes.fromhex("80 01 0100 0100 00010000 01000000 01000000 01".replace(" ", ""))
    assert decode_row(row, {256: ft(T.LONG), 1: ft(T.LONG)}) == {256: 1, 1: None}


def test_large_by_data_size() -> None:
    big = b"x" * 70000
    row = encode_row([1, 2], [big, 5], [ft(T.BLOB), ft(T.LONG)])
    assert row[1] == 1
    columns, nulls = split_row(row)
    assert columns == {1: big, 2: b"\x05"} and nulls == []


def test_packed_time() -> None:
    t = MysqlTime(2024, 2, 29, 23, 59, 58, 123456)
    assert unpack_time(pack_time(t)) == t
    assert pack_time(MysqlTime(0, 0, 0)) == 0


def test_errors() -> None:
    with pytest.raises(EncodeError):
        value_encoder(ft(T.GEOMETRY))
    with pytest.raises(EncodeError):
        decode_row(b"\x01\x02", {})
    with pytest.raises(EncodeError):
        decode_row(encode_row([9], [1], [ft(T.LONG)]), {})


COLUMN_VALUES = st.one_of(
    st.tuples(st.just(ft(T.LONGLONG)), st.integers(-(1 << 63), (1 << 63) - 1)),
    st.tuples(st.just(ft(T.LONGLONG, unsigned=True)), st.integers(0, (1 << 64) - 1)),
    st.tuples(st.just(ft(T.DOUBLE)), st.floats(allow_nan=False)),
    st.tuples(st.just(ft(T.BLOB)), st.binary(max_size=30)),
    st.tuples(
        st.just(ft(T.NEWDECIMAL, flen=20, decimal=4)),
        st.decimals(min_value=-(10**15), max_value=10**15, places=4, allow_nan=False),
    ),
    st.tuples(
        st.just(ft(T.DATETIME)),
        st.datetimes(min_value=datetime.datetime(1000, 1, 1)).map(MysqlTime.from_datetime),
    ),
    st.tuples(
        st.just(ft(T.DURATION)),
        st.timedeltas(
            min_value=-datetime.timedelta(hours=838), max_value=datetime.timedelta(hours=838)
        ),
    ),
)


@given(st.lists(st.tuples(COLUMN_VALUES, st.booleans()), max_size=12), st.randoms())
def test_round_trip(columns: list[tuple[tuple[FieldType, Any], bool]], rnd: Any) -> None:
    ids = rnd.sample(range(1, 400), len(columns))
    values = [None if is_null else value for (_, value), is_null in columns]
    fts = [field for (field, _), _ in columns]
    row = encode_row(ids, values, fts)
    assert decode_row(row, dict(zip(ids, fts, strict=True))) == dict(zip(ids, values, strict=True))
