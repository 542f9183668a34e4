"""Value conversion: MySQL's rules per type, in strict and non-strict SQL mode."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.schema import JsonDoc, MysqlTime
from lightning_core.schema.convert import (
    NO_DEFAULT,
    ConversionError,
    WarningCounter,
    check_missing_columns,
    make_converter,
    row_defaults,
)
from lightning_core.schema.ddl import parse_create_table

STRICT = "STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE"
LOOSE = ""


def converter(type_sql: str, sql_mode: str = STRICT, **kwargs: Any):
    table = parse_create_table(f"CREATE TABLE t (c {type_sql})", table_id=1, schema="d")
    counter = WarningCounter()
    convert = make_converter(table, table.columns[0], sql_mode=sql_mode, warnings=counter, **kwargs)
    return convert, counter


T = MysqlTime
TD = datetime.timedelta

# (column type, source value, canonical value) — accepted in strict mode without warnings.
GOOD = [
    ("tinyint", b"-128", -128),
    ("tinyint", b" 127 ", 127),
    ("tinyint unsigned", b"255", 255),
    ("smallint", -32768, -32768),
    ("mediumint unsigned", b"16777215", 16777215),
    ("int", b"1.5", 2),
    ("int", b"-2.5", -3),
    ("int", b"1e3", 1000),
    ("int", Decimal("7"), 7),
    ("int", 2.5, 3),
    ("int", True, 1),
    ("bigint", b"-9223372036854775808", -(2**63)),
    ("bigint unsigned", b"18446744073709551615", 2**64 - 1),
    ("year", b"1999", 1999),
    ("year", b"99", 1999),
    ("year", b"05", 2005),
    ("year", b"0", 2000),
    ("year", b"0000", 0),
    ("year", 0, 0),
    ("year", 69, 2069),
    ("float", b"1.5", 1.5),
    ("float", b"0.1", 0.10000000149011612),
    ("double", b"-1.25e10", -1.25e10),
    ("double(6,2)", b"3.14159", 3.14),
    ("decimal(5,2)", b"1.555", Decimal("1.56")),
    ("decimal(5,2)", b"-1.555", Decimal("-1.56")),
    ("decimal(5,2)", b"999.99", Decimal("999.99")),
    ("decimal(5,2)", 3, Decimal("3.00")),
    ("decimal(5,2)", 0.125, Decimal("0.13")),
    ("decimal(10,0)", b"12345.5", Decimal("12346")),
    ("decimal(6,3)", b".5", Decimal("0.500")),
    ("varchar(3)", "héé".encode(), "héé".encode()),
    ("varchar(3)", "日本語", "日本語".encode()),
    ("varchar(3)", b"ab   ", b"ab "),
    ("varchar(3) charset latin1", "héé".encode(), "héé".encode("latin-1")),
    ("varchar(5)", 12, b"12"),
    ("varchar(5)", Decimal("1.50"), b"1.50"),
    ("char(4)", b"ab  ", b"ab"),
    ("binary(4)", b"ab", b"ab\x00\x00"),
    ("varbinary(3)", b"\xff\x00\x01", b"\xff\x00\x01"),
    ("blob", b"\xff" * 65535, b"\xff" * 65535),
    ("tinytext", "é" * 127, ("é" * 127).encode()),
    ("date", b"2020-01-02", T(2020, 1, 2)),
    ("date", b"2020-01-02 23:59:59", T(2020, 1, 2)),
    ("date", b"20200102", T(2020, 1, 2)),
    ("date", b"200102", T(2020, 1, 2)),
    ("date", b"99-1-2", T(1999, 1, 2)),
    ("date", datetime.date(2021, 3, 4), T(2021, 3, 4)),
    ("date", b"2020-02-29", T(2020, 2, 29)),
    ("datetime", b"2020-01-02 03:04:05", T(2020, 1, 2, 3, 4, 5)),
    ("datetime", b"2020-01-02T03:04:05", T(2020, 1, 2, 3, 4, 5)),
    ("datetime", b"2020/01/02 03.04.05", T(2020, 1, 2, 3, 4, 5)),
    ("datetime", b"20200102030405", T(2020, 1, 2, 3, 4, 5)),
    ("datetime", 20200102030405, T(2020, 1, 2, 3, 4, 5)),
    ("datetime", b"2020-01-02 03:04:05.4", T(2020, 1, 2, 3, 4, 5)),
    ("datetime", b"2020-01-02 03:04:05.5", T(2020, 1, 2, 3, 4, 6)),
    ("datetime", b"2020-12-31 23:59:59.5", T(2021, 1, 1, 0, 0, 0)),
    ("datetime(6)", b"2020-01-02 03:04:05.123456", T(2020, 1, 2, 3, 4, 5, 123456)),
    ("datetime(3)", b"2020-01-02 03:04:05.1235", T(2020, 1, 2, 3, 4, 5, 124000)),
    ("datetime(6)", datetime.datetime(2020, 1, 2, 3, 4, 5, 6), T(2020, 1, 2, 3, 4, 5, 6)),
    ("timestamp", b"2020-01-02 03:04:05", T(2020, 1, 2, 3, 4, 5)),
    ("timestamp", b"1970-01-01 00:00:01", T(1970, 1, 1, 0, 0, 1)),
    ("timestamp", b"2038-01-19 03:14:07", T(2038, 1, 19, 3, 14, 7)),
    ("time", b"838:59:59", TD(hours=838, minutes=59, seconds=59)),
    ("time", b"-838:59:59", -TD(hours=838, minutes=59, seconds=59)),
    ("time(1)", b"-01:02:03.5", -TD(hours=1, minutes=2, seconds=3.5)),
    ("time", b"-01:02:03.5", -TD(hours=1, minutes=2, seconds=4)),
    ("time", b"1 02:03:04", TD(days=1, hours=2, minutes=3, seconds=4)),
    ("time", b"12:34", TD(hours=12, minutes=34)),
    ("time", b"123456", TD(hours=12, minutes=34, seconds=56)),
    ("time", b"56", TD(seconds=56)),
    ("time", 10203, TD(hours=1, minutes=2, seconds=3)),
    ("time", datetime.time(1, 2, 3), TD(hours=1, minutes=2, seconds=3)),
    ("time", b"2020-01-02 03:04:05", TD(hours=3, minutes=4, seconds=5)),
    ("time(6)", TD(microseconds=-5), TD(microseconds=-5)),
    ("enum('a','b','c')", b"b", 2),
    ("enum('a','b','c') collate utf8mb4_general_ci", b"B", 2),
    ("enum('a','b','c')", b"b", 2),
    ("enum('a','b','c')", b"c  ", 3),
    ("enum('a','b','c')", b"3", 3),
    ("enum('a','b','c')", 1, 1),
    ("enum('1','2')", b"2", 2),
    ("set('a','b','c')", b"", 0),
    ("set('a','b','c')", b"c,a", 0b101),
    ("set('a','b','c')", b"a,a", 0b001),
    ("set('a','b','c')", b"7", 7),
    ("set('a','b','c')", 6, 6),
    ("bit(8)", b"\x01\x02"[1:], 2),
    ("bit(16)", b"\x01\x02", 0x0102),
    ("bit(8)", 255, 255),
    ("bit(64)", b"\xff" * 8, 2**64 - 1),
    ("json", b'{"a": [1, 2.5, true, null]}', JsonDoc({"a": [1, 2.5, True, None]})),
    ("json", b"null", JsonDoc(None)),
    ("json", '"text"', JsonDoc("text")),
    ("json", 3, JsonDoc(3)),
]


def test_enum_match_is_case_sensitive_under_a_binary_collation() -> None:
    convert, _ = converter("enum('a','b') collate utf8mb4_bin")
    with pytest.raises(ConversionError):
        convert(b"B")


@pytest.mark.parametrize(("type_sql", "value", "expected"), GOOD)
@pytest.mark.parametrize("sql_mode", [STRICT, LOOSE])
def test_good_values(type_sql: str, value: Any, expected: Any, sql_mode: str) -> None:
    convert, counter = converter(type_sql, sql_mode)
    result = convert(value)
    assert result == expected
    assert type(result) is type(expected)
    assert counter.warnings == 0
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


# (column type, source value, non-strict result, reason fragment)
BAD = [
    ("tinyint", b"128", 127, "out of range"),
    ("tinyint", b"-129", -128, "out of range"),
    ("tinyint unsigned", b"-1", 0, "out of range"),
    ("int unsigned", -5, 0, "out of range"),
    ("bigint", b"9223372036854775808", 2**63 - 1, "out of range"),
    ("int", b"12abc", 12, "truncated"),
    ("int", b"abc", 0, "incorrect"),
    ("int", b"", 0, "incorrect"),
    ("year", b"2156", 0, "out of range"),
    ("year", b"1900", 0, "out of range"),
    ("float", b"1e39", 3.4028234663852886e38, "out of range"),
    ("double(4,2)", b"100", 99.99, "out of range"),
    ("float unsigned", b"-1", 0.0, "out of range"),
    ("decimal(5,2)", b"1000", Decimal("999.99"), "out of range"),
    ("decimal(5,2)", b"-1000", Decimal("-999.99"), "out of range"),
    ("decimal(5,2) unsigned", b"-1", Decimal("0.00"), "out of range"),
    ("decimal(5,2)", b"1e100", Decimal("999.99"), "out of range"),
    ("decimal(5,2)", b"x", Decimal("0.00"), "incorrect"),
    ("varchar(3)", b"abcd", b"abc", "too long"),
    ("varchar(2)", "日本語".encode(), "日本".encode(), "too long"),
    ("char(2)", b"abc", b"ab", "too long"),
    ("binary(2)", b"abc", b"ab", "too long"),
    ("varchar(5)", b"ab\xffcd", b"ab", "UTF-8"),
    ("varchar(5) charset utf8", "a😀b", b"a", "4-byte"),
    ("varchar(5) charset latin1", "a日b", b"a?b", "character set"),
    ("tinyblob", b"x" * 256, b"x" * 255, "too long"),
    ("date", b"2020-02-30", T(0, 0, 0), "no such day"),
    ("date", b"2021-13-01", T(0, 0, 0), "incorrect"),
    ("date", b"0000-00-00", T(0, 0, 0), "NO_ZERO_DATE"),
    ("date", b"2020-00-01", T(0, 0, 0), "zero"),
    ("date", b"yesterday", T(0, 0, 0), "incorrect"),
    ("datetime", b"2020-01-02 24:00:00", T(0, 0, 0), "incorrect"),
    ("timestamp", b"1969-12-31 23:59:59", T(0, 0, 0), "out of range"),
    ("timestamp", b"2038-01-19 03:14:08", T(0, 0, 0), "out of range"),
    ("time", b"839:00:00", TD(hours=838, minutes=59, seconds=59), "out of range"),
    ("time", b"-900:00:00", -TD(hours=838, minutes=59, seconds=59), "out of range"),
    ("time", b"12:60:00", TD(0), "incorrect"),
    ("time", b"noon", TD(0), "incorrect"),
    ("enum('a','b')", b"z", 0, "not a member"),
    ("enum('a','b')", b"3", 0, "out of range"),
    ("enum('a','b')", 0, 0, "out of range"),
    ("set('a','b')", b"a,z", 1, "not a member"),
    ("set('a','b')", 4, 0, "out of range"),
    ("bit(4)", 16, 15, "too long"),
    ("bit(8)", b"\x01\x00", 255, "too long"),
]


@pytest.mark.parametrize(("type_sql", "value", "loose", "reason"), BAD)
def test_bad_values_fail_in_strict_mode(type_sql: str, value: Any, loose: Any, reason: str) -> None:
    convert, _ = converter(type_sql, STRICT)
    with pytest.raises(ConversionError, match=reason) as info:
        convert(value)
    assert isinstance(info.value, EncodeError)
    assert (info.value.column, info.value.value) == ("c", value)


@pytest.mark.parametrize(("type_sql", "value", "loose", "reason"), BAD)
def test_bad_values_are_clipped_with_a_warning(
    type_sql: str, value: Any, loose: Any, reason: str
) -> None:
    convert, counter = converter(type_sql, "NO_ZERO_DATE,NO_ZERO_IN_DATE")
    assert convert(value) == loose
    assert counter.warnings == 1
    assert counter.last is not None and reason in counter.last


def test_zero_dates_without_no_zero_modes() -> None:
    for mode in (LOOSE, "STRICT_ALL_TABLES"):
        convert, counter = converter("datetime", mode)
        assert convert(b"0000-00-00 00:00:00") == T(0, 0, 0)
        assert convert(0) == T(0, 0, 0)
        assert convert(b"2020-00-00") == T(2020, 0, 0, 0, 0, 0)
        assert counter.warnings == 0


def test_allow_invalid_dates() -> None:
    convert, _ = converter("date", "STRICT_TRANS_TABLES,ALLOW_INVALID_DATES")
    assert convert(b"2020-02-31") == T(2020, 2, 31)


def test_timestamps_are_stored_in_utc() -> None:
    convert, _ = converter("timestamp(3)", STRICT, time_zone="+08:00")
    assert convert(b"2020-01-02 08:00:00.5") == T(2020, 1, 2, 0, 0, 0, 500000)
    convert, _ = converter("timestamp", STRICT, time_zone="Europe/Berlin")
    assert convert(b"2020-07-01 12:00:00") == T(2020, 7, 1, 10, 0, 0)
    aware = datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert convert(aware) == T(2020, 1, 1, 10, 0, 0)
    convert, _ = converter("timestamp", "STRICT_ALL_TABLES", time_zone="+08:00")
    assert convert(b"0000-00-00 00:00:00") == T(0, 0, 0)


def test_invalid_json_fails_in_every_mode() -> None:
    for mode in (STRICT, LOOSE):
        convert, _ = converter("json", mode)
        with pytest.raises(ConversionError, match="invalid JSON"):
            convert(b"{not json")
        with pytest.raises(ConversionError, match="invalid JSON"):
            convert(b"NaN")


def test_null_handling() -> None:
    convert, _ = converter("int", STRICT)
    assert convert(None) is None
    convert, _ = converter("int NOT NULL", STRICT)
    with pytest.raises(ConversionError, match="cannot be NULL"):
        convert(None)
    convert, counter = converter("int NOT NULL", LOOSE)
    assert convert(None) == 0 and counter.warnings == 1
    convert, _ = converter("datetime NOT NULL", LOOSE)
    assert convert(None) == T(0, 0, 0)
    convert, _ = converter("enum('x','y') NOT NULL", LOOSE)
    assert convert(None) == 1


def test_row_defaults_and_missing_columns() -> None:
    table = parse_create_table(
        "CREATE TABLE t (id int PRIMARY KEY AUTO_INCREMENT, a int NOT NULL, b int DEFAULT 5,"
        " c varchar(3), d datetime(3) DEFAULT CURRENT_TIMESTAMP(3), e int AS (b + 1),"
        " f timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        table_id=1,
        schema="s",
    )
    now = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC)
    strict = row_defaults(table, sql_mode=STRICT, now=now, time_zone="+01:00")
    assert strict == (
        None,
        NO_DEFAULT,
        5,
        None,
        T(2024, 5, 6, 8, 8, 9, 123000),
        None,
        T(2024, 5, 6, 7, 8, 9),
    )
    assert row_defaults(table, sql_mode=LOOSE, now=now)[1] == 0
    check_missing_columns(table, ["id", "b", "c", "d", "e", "f"], sql_mode=STRICT)
    check_missing_columns(table, ["a"], sql_mode=LOOSE)
    with pytest.raises(ConversionError, match=r"`s`.`t`.*NOT NULL"):
        check_missing_columns(table, ["a"], sql_mode=STRICT)


# --- properties ---------------------------------------------------------------------------------

INT_TYPES = {
    "tinyint": (-(2**7), 2**7 - 1),
    "tinyint unsigned": (0, 2**8 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "mediumint unsigned": (0, 2**24 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
    "bigint unsigned": (0, 2**64 - 1),
}


@given(st.sampled_from(sorted(INT_TYPES)), st.data())
def test_integers_in_range_round_trip(type_sql: str, data: st.DataObject) -> None:
    low, high = INT_TYPES[type_sql]
    number = data.draw(st.integers(low, high))
    convert, _ = converter(type_sql)
    assert convert(number) == number
    assert convert(str(number).encode()) == number


@given(st.sampled_from(sorted(INT_TYPES)), st.integers(-(2**70), 2**70))
def test_integers_are_clipped_into_range(type_sql: str, number: int) -> None:
    low, high = INT_TYPES[type_sql]
    convert, _ = converter(type_sql, LOOSE)
    assert convert(number) == min(max(number, low), high)


@given(
    st.integers(1, 30).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, p))),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
)
def test_decimal_results_have_the_column_scale(
    precision_scale: tuple[int, int], value: Decimal
) -> None:
    precision, scale = precision_scale
    convert, _ = converter(f"decimal({precision},{scale})", LOOSE)
    result = convert(value)
    assert isinstance(result, Decimal)
    assert result.as_tuple().exponent == -scale
    assert len(result.as_tuple().digits) <= max(precision, 1) or result == 0


@given(st.integers(1, 20), st.text(max_size=40), st.sampled_from(["utf8mb4", "latin1", "binary"]))
def test_strings_never_exceed_the_column_length(length: int, text: str, charset: str) -> None:
    convert, _ = converter(f"varchar({length}) charset {charset}", LOOSE)
    result = convert(text.encode("utf-8"))
    assert isinstance(result, bytes)
    if charset == "binary":
        assert len(result) <= length
    else:
        assert len(result.decode("utf-8" if charset == "utf8mb4" else "latin-1")) <= length


@pytest.mark.parametrize("value", [10**30, -(10**30), b"99999999999:00:00", Decimal("1e40")])
def test_a_huge_time_is_out_of_range_not_an_internal_error(value: Any) -> None:
    from lightning_core import ReadPosition, RowBatch, TableKVEncoder

    table = parse_create_table("CREATE TABLE t (a TIME)", table_id=1, schema="s")
    batch = RowBatch(columns=None, rows=[(value,)], offsets=[7], end=ReadPosition(offset=9, rows=1))
    with pytest.raises(EncodeError, match=r"f\.sql:7: .*out of range for TIME|incorrect time"):
        TableKVEncoder(table, sql_mode="STRICT_TRANS_TABLES").encode_batch(batch, "f.sql")
    lenient = TableKVEncoder(table, sql_mode="")
    lenient.encode_batch(batch, "f.sql")  # non-strict: clipped to the range, with a warning
    assert lenient.warnings.warnings == 1
