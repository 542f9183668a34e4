"""Collation keys: vectors worked from the rules (weights checked against MariaDB's
WEIGHT_STRING), and the error for collations the codec does not reproduce."""

from __future__ import annotations

import pytest

from lightning_core.errors import EncodeError
from lightning_core.kv.collation import (
    GENERAL_CI_WEIGHTS,
    collation_key_function,
    general_ci_key,
    general_ci_weight,
    tail_space_count,
)


def test_binary_and_bin() -> None:
    assert collation_key_function("binary")(b"ab  ") == b"ab  "
    assert collation_key_function("utf8mb4_0900_bin")(b"ab  ") == b"ab  "
    for name in ("utf8mb4_bin", "utf8_bin", "latin1_bin", "ascii_bin"):
        assert collation_key_function(name)(b"ab  ") == b"ab"
        assert collation_key_function(name)(b"a\tb\t") == b"a\tb\t"


def test_general_ci_vectors() -> None:
    # 'aAz' -> A A Z, 16-bit big-endian; trailing spaces dropped.
    assert general_ci_key(b"aAz  ") == bytes.fromhex("0041 0041 005a".replace(" ", ""))
    # é (U+00E9) weighs E, ß (U+00DF) weighs S, µ (U+00B5) weighs Greek capital MU (U+039C),
    # an emoji weighs 0xFFFD (MariaDB: WEIGHT_STRING('aAéßz') = 0041 0041 0045 0053 005A).
    key = general_ci_key("éßµ😀".encode())
    assert key == bytes.fromhex("0045 0053 039c fffd".replace(" ", ""))
    # Cyrillic small a (U+0430) weighs capital A (U+0410); CJK weighs itself.
    assert general_ci_key("а中".encode()) == bytes.fromhex("0410 4e2d".replace(" ", ""))
    assert collation_key_function("utf8_general_ci") is general_ci_key


def test_general_ci_stops_at_invalid_utf8() -> None:
    assert general_ci_key(b"ab\xffcd") == bytes.fromhex("0041 0042".replace(" ", ""))


def test_general_ci_table_shape() -> None:
    assert len(GENERAL_CI_WEIGHTS) == 1108
    assert {cp >> 8 for cp in GENERAL_CI_WEIGHTS} == {
        0,
        1,
        2,
        3,
        4,
        5,
        0x1E,
        0x1F,
        0x21,
        0x24,
        0xFF,
    }
    assert general_ci_weight(0xFF41) == 0xFF21  # fullwidth a -> fullwidth A
    assert general_ci_weight(0x10000) == 0xFFFD


def test_unsupported_collation_names_the_column() -> None:
    with pytest.raises(EncodeError, match=r"`t`.`c`.*utf8mb4_unicode_ci"):
        collation_key_function("utf8mb4_unicode_ci", column="`t`.`c`")
    with pytest.raises(EncodeError):
        collation_key_function("gbk_bin")


def test_tail_space_count() -> None:
    assert tail_space_count(b"a  ") == 2
    assert tail_space_count(b"") == 0
