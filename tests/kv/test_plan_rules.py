"""The shortcut rules native kernels rely on hold for the Python converters.

``schema.convert.passthrough`` says which source values a column stores unchanged and
``datetime_text`` which date text parses to which ``MysqlTime``; a kernel skips the converter
for those values, so here every value a rule admits is run through the converter.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lightning_core.schema.convert import Passthrough, datetime_text, field_converter, passthrough
from lightning_core.schema.model import ColumnType, FieldType
from lightning_core.schema.values import MysqlTime

T = ColumnType
MODES = ("", "STRICT_TRANS_TABLES", "TRADITIONAL", "ALLOW_INVALID_DATES")
CHARSETS = (
    ("utf8mb4", "utf8mb4_bin"),
    ("utf8", "utf8_general_ci"),
    ("latin1", "latin1_bin"),
    ("ascii", "ascii_bin"),
    ("binary", "binary"),
)


def admitted(rule: Passthrough, value: Any) -> bool:
    """The rule as its docstring states it."""
    if rule.int_range is not None:
        return type(value) is int and rule.int_range[0] <= value <= rule.int_range[1]
    if rule.decimal is not None:
        precision, scale, unsigned = rule.decimal
        if type(value) is not Decimal or not value.is_finite():
            return False
        sign, digits, exponent = value.as_tuple()
        return exponent == -scale and len(digits) <= precision and not (unsigned and sign)
    if type(value) is not bytes:
        return False
    if (rule.max_bytes >= 0 and len(value) > rule.max_bytes) or len(value) < rule.min_bytes:
        return False
    if rule.no_trailing_space and value.endswith(b" "):
        return False
    if rule.text == "binary":
        return True
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if rule.max_chars >= 0 and len(text) > rule.max_chars:
        return False
    if rule.text == "utf8mb3" and any(ord(ch) > 0xFFFF for ch in text):
        return False
    return rule.text != "ascii" or text.isascii()


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[FieldType, Any]:
    kind = draw(st.sampled_from(("int", "decimal", "string")))
    if kind == "int":
        tp = draw(st.sampled_from((T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG)))
        ft = FieldType(tp=tp, unsigned=draw(st.booleans()))
        value: Any = draw(st.integers(-(2**64), 2**64) | st.integers(-300, 300) | st.booleans())
    elif kind == "decimal":
        precision = draw(st.integers(1, 65))
        scale = draw(st.integers(0, min(30, precision)))
        ft = FieldType(tp=T.NEWDECIMAL, flen=precision, decimal=scale, unsigned=draw(st.booleans()))
        value = draw(
            st.decimals(allow_nan=False, allow_infinity=False, places=scale)
            | st.decimals(allow_nan=False, allow_infinity=False)
        )
    else:
        tp = draw(st.sampled_from((T.STRING, T.VARCHAR, T.BLOB, T.TINY_BLOB)))
        charset, collation = draw(st.sampled_from(CHARSETS))
        ft = FieldType(
            tp=tp,
            flen=draw(st.integers(0, 12)) if tp in (T.STRING, T.VARCHAR) else -1,
            charset=charset,
            collation=collation,
        )
        text = st.text(alphabet=st.sampled_from("aZ 9é€𝄞\x00"), max_size=14)
        value = draw(text.map(str.encode) | st.binary(max_size=14))
    return ft, value


@given(typed=typed_values(), mode=st.sampled_from(MODES))
def test_what_passthrough_admits_converts_to_itself(
    typed: tuple[FieldType, Any], mode: str
) -> None:
    ft, value = typed
    rule = passthrough(ft)
    assert rule is not None
    convert = field_converter(ft, column="c", not_null=False, sql_mode=mode)
    if admitted(rule, value):
        converted = convert(value)
        assert converted == value
        assert type(converted) is type(value)
        if isinstance(value, Decimal):
            assert converted.as_tuple() == value.as_tuple()


@given(
    moment=st.datetimes(datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31)),
    date_only=st.booleans(),
    text_form=st.sampled_from(("date", "datetime")),
    mode=st.sampled_from(MODES),
    fsp=st.sampled_from((-1, 0, 3, 6)),
)
def test_datetime_text_parses_as_the_converter_does(
    moment: datetime.datetime, date_only: bool, text_form: str, mode: str, fsp: int
) -> None:
    ft = FieldType(tp=T.DATE if date_only else T.DATETIME, decimal=fsp)
    rule = datetime_text(ft)
    assert rule is not None and rule.date_only == date_only
    pattern = "%Y-%m-%d" if text_form == "date" else "%Y-%m-%d %H:%M:%S"
    text = f"{moment.year:04d}" + moment.strftime(pattern)[len(str(moment.year)) :]
    parts = moment.timetuple()[:3] if date_only or text_form == "date" else moment.timetuple()[:6]
    expected = MysqlTime(*parts)
    convert = field_converter(ft, column="c", not_null=True, sql_mode=mode)
    assert convert(text.encode()) == expected


def test_timestamps_have_no_datetime_shortcut() -> None:
    assert datetime_text(FieldType(tp=T.TIMESTAMP)) is None
