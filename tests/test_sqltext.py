"""SQL literal formatting: every Value type, both escaping modes, and the server agrees."""

from __future__ import annotations

import datetime
import enum
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.sqltext import format_row, format_value, quote_identifier, sql_mode_has


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("t", "`t`"), ("a`b", "`a``b`"), ("``", "``````"), ("sp ace", "`sp ace`"), ("é", "`é`")],
)
def test_quote_identifier(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize(
    ("mode", "flag", "expected"),
    [
        ("NO_BACKSLASH_ESCAPES", "NO_BACKSLASH_ESCAPES", True),
        ("STRICT_TRANS_TABLES, no_backslash_escapes", "NO_BACKSLASH_ESCAPES", True),
        ("ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", False),
        ("", "ANSI_QUOTES", False),
        ("NO_BACKSLASH_ESCAPESX", "NO_BACKSLASH_ESCAPES", False),
    ],
)
def test_sql_mode_has(mode: str, flag: str, expected: bool) -> None:
    assert sql_mode_has(mode, flag) is expected


class Color(enum.IntEnum):
    RED = 3


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, b"NULL"),
        (0, b"0"),
        (-12345678901234567890, b"-12345678901234567890"),
        (True, b"1"),
        (False, b"0"),
        (Color.RED, b"3"),
        (Decimal("1.50"), b"1.50"),
        (Decimal("-0.000"), b"-0.000"),
        (Decimal("1E+3"), b"1E+3"),
        (1.5, b"1.5"),
        (1e20, b"1e+20"),
        (-0.0, b"-0.0"),
        (b"", b"''"),
        (b"plain", b"'plain'"),
        (b"a'b\"c\\d\ne\rf\x00g\x1ah", b"'a\\'b\\\"c\\\\d\\ne\\rf\\0g\\Zh'"),
        (b"\xff\xfe%_", b"'\xff\xfe%_'"),
        ("héllo'", "_utf8mb4'héllo\\''".encode()),
        (bytearray(b"x'"), b"'x\\''"),
        (memoryview(b"y"), b"'y'"),
        (datetime.date(2021, 3, 4), b"'2021-03-04'"),
        (datetime.datetime(2021, 3, 4, 5, 6, 7), b"'2021-03-04 05:06:07'"),
        (datetime.datetime(2021, 3, 4, 5, 6, 7, 80), b"'2021-03-04 05:06:07.000080'"),
        (
            datetime.datetime(
                2021, 3, 4, 5, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
            ),
            b"'2021-03-04 03:06:07'",
        ),
        (datetime.time(5, 6, 7), b"'05:06:07'"),
        (datetime.time(5, 6, 7, 120000), b"'05:06:07.120000'"),
        (datetime.timedelta(hours=30, minutes=1, seconds=2), b"'30:01:02'"),
        (datetime.timedelta(seconds=-1, microseconds=500000), b"'-00:00:00.500000'"),
        (-datetime.timedelta(hours=838, minutes=59, seconds=59), b"'-838:59:59'"),
    ],
)
def test_format_value(value: Any, literal: bytes) -> None:
    assert format_value(value) == literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (b"a'b", b"'a''b'"),
        (b'back\\slash\n\x00"', b"'back\\slash\n\x00\"'"),
        ("it's", b"_utf8mb4'it''s'"),
        (7, b"7"),
        (None, b"NULL"),
    ],
)
def test_format_value_no_backslash_escapes(value: Any, literal: bytes) -> None:
    assert format_value(value, no_backslash_escapes=True) == literal


@pytest.mark.parametrize(
    "value", [float("inf"), float("-inf"), float("nan"), Decimal("NaN"), Decimal("Infinity")]
)
def test_format_value_rejects_non_finite_numbers(value: Any) -> None:
    with pytest.raises(EncodeError, match="no SQL literal"):
        format_value(value)


def test_format_value_rejects_unknown_types() -> None:
    with pytest.raises(EncodeError, match="object"):
        format_value(object())  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="complex"):
        format_row([1, 2j])  # type: ignore[list-item]


def test_format_value_rejects_lone_surrogates() -> None:
    with pytest.raises(EncodeError, match="not valid Unicode"):
        format_value("\udc80")


def test_format_row() -> None:
    assert format_row([]) == b"()"
    assert format_row([1, None, b"x'", Decimal("2.5"), Color.RED]) == b"(1,NULL,'x\\'',2.5,3)"
    assert format_row([b"x'"], no_backslash_escapes=True) == b"('x''')"


values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**20, min_value=-(10**20)
    ),
)


# The connection carries no state between examples: each sets its own sql_mode.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(row=st.lists(values, min_size=1, max_size=6))
def test_server_reads_back_what_we_format(target_connection: Any, row: list[Any]) -> None:
    """The server parses our literals into exactly the values we formatted (both modes)."""
    for nbe in (False, True):
        with target_connection.cursor() as cur:
            # Binary results: pymysql hands back the exact bytes instead of decoding them.
            cur.execute("SET NAMES binary")
            cur.execute("SET SESSION sql_mode = %s", ("NO_BACKSLASH_ESCAPES" if nbe else "",))
            sql = b"SELECT " + format_row(row, no_backslash_escapes=nbe)[1:-1]
            cur.execute(sql)
            got = cur.fetchone()
        for value, back in zip(row, got, strict=True):
            if isinstance(value, str):
                value = value.encode()
            if isinstance(back, str):
                back = back.encode()
            if isinstance(value, Decimal):
                assert Decimal(back) == value
            elif isinstance(value, bytes):
                assert bytes(back) == value
            else:
                assert back == value


def test_sql_mode_flags_through_combination_modes() -> None:
    from lightning_core.sqltext import sql_mode_has

    assert sql_mode_has("STRICT_TRANS_TABLES,ansi_quotes", "ANSI_QUOTES")
    assert sql_mode_has("ANSI", "ANSI_QUOTES")
    assert sql_mode_has("TRADITIONAL, ORACLE", "ansi_quotes")
    assert not sql_mode_has("ANSI", "NO_BACKSLASH_ESCAPES")
    assert not sql_mode_has("", "ANSI_QUOTES")
