"""MyDecimal binary: the vector MySQL documents, hand-worked layouts, round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.kv.mydecimal import (
    bin_size,
    decimal_from_bin,
    decimal_to_bin,
    precision_and_frac,
)


def test_mysql_documented_vectors() -> None:
    # MySQL's decimal.c documents 1234567890.1234 as DECIMAL(14,4) = 81 0D FB 38 D2 04 D2
    # and the negative as every byte inverted.
    assert decimal_to_bin(Decimal("1234567890.1234"), 14, 4).hex() == "810dfb38d204d2"
    assert decimal_to_bin(Decimal("-1234567890.1234"), 14, 4).hex() == "7ef204c72dfb2d"


def test_hand_worked_layouts() -> None:
    # DECIMAL(10,2): 8 integer digits = 4 bytes (group of 8), 2 fraction digits = 1 byte.
    assert bin_size(10, 2) == 5
    assert decimal_to_bin(Decimal("12.34"), 10, 2).hex() == "8000000c" + "22"
    assert decimal_to_bin(Decimal("0"), 10, 2).hex() == "8000000000"
    # DECIMAL(65,30): 35 integer digits = 3 words + 8 digits (4 bytes); 30 fraction digits =
    # 3 words + 3 digits (2 bytes).
    assert bin_size(65, 30) == 4 + 12 + 12 + 2
    # DECIMAL(3,3): no integer part.
    assert decimal_to_bin(Decimal("0.5"), 3, 3).hex() == "81f4"


def test_rounding_and_overflow() -> None:
    assert decimal_to_bin(Decimal("1.005"), 5, 2) == decimal_to_bin(Decimal("1.01"), 5, 2)
    with pytest.raises(EncodeError):
        decimal_to_bin(Decimal("1000"), 5, 2)
    with pytest.raises(EncodeError):
        decimal_to_bin(Decimal("1"), 66, 0)


def test_negative_zero_is_zero() -> None:
    assert decimal_to_bin(Decimal("-0.00"), 5, 2) == decimal_to_bin(Decimal("0"), 5, 2)


def test_precision_and_frac() -> None:
    assert precision_and_frac(Decimal("1.50")) == (3, 2)
    assert precision_and_frac(Decimal("0.5")) == (1, 1)
    assert precision_and_frac(Decimal("0")) == (1, 0)
    assert precision_and_frac(Decimal("1E+3")) == (4, 0)


@st.composite
def typed_decimals(draw: st.DrawFn) -> tuple[Decimal, int, int]:
    precision = draw(st.integers(1, 65))
    frac = draw(st.integers(0, min(30, precision)))
    intg = precision - frac
    int_part = draw(st.integers(0, 10**intg - 1)) if intg else 0
    frac_part = draw(st.integers(0, 10**frac - 1)) if frac else 0
    sign = draw(st.sampled_from(["", "-"]))
    text = f"{sign}{int_part}" + (f".{frac_part:0{frac}d}" if frac else "")
    return Decimal(text), precision, frac


@given(typed_decimals())
def test_round_trip(case: tuple[Decimal, int, int]) -> None:
    value, precision, frac = case
    data = decimal_to_bin(value, precision, frac)
    assert len(data) == bin_size(precision, frac)
    decoded, end = decimal_from_bin(data, 0, precision, frac)
    assert decoded == value and end == len(data)
