"""Binary JSON: hand-worked vectors from the layout (see lightning_core/kv/jsonbinary.py) and
round trips."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lightning_core.kv.jsonbinary import decode_json, encode_json, json_value_size


def test_scalars() -> None:
    assert encode_json(None) == (0x04, b"\x00")
    assert encode_json(True) == (0x04, b"\x01")
    assert encode_json(False) == (0x04, b"\x02")
    assert encode_json(1) == (0x09, bytes.fromhex("0100000000000000"))
    assert encode_json(-1) == (0x09, bytes.fromhex("ffffffffffffffff"))
    # Beyond int64 but within uint64: uint64; beyond that: float64.
    assert encode_json(1 << 63) == (0x0A, bytes.fromhex("0000000000000080"))
    assert encode_json(1 << 64)[0] == 0x0B
    assert encode_json(1.5) == (0x0B, bytes.fromhex("000000000000f83f"))
    assert encode_json("ab") == (0x0C, b"\x02ab")


def test_array_vector() -> None:
    # [1, true]: count 2, size 8 + 2*5 + 8 = 26; entry 1: int64 at offset 18; entry 2: the
    # literal inline.
    type_code, data = encode_json([1, True])
    assert type_code == 0x03
    assert data == bytes.fromhex(
        "02000000 1a00000009 1200000004 010000000100000000000000".replace(" ", "")
    )


def test_object_vector_sorts_keys_by_bytes() -> None:
    # {"b": "x", "a": null}: keys sorted a, b. Header 8, key entries 12, value entries 10,
    # keys at 30 ("a") and 31 ("b"), the string value at 32: 01 78. Size 34.
    type_code, data = encode_json({"b": "x", "a": None})
    assert type_code == 0x01
    expected = "02000000 220000001e000000 01001f000000 010004 000000000c 2000000061 6201 78"
    assert data == bytes.fromhex(expected)
    assert json_value_size(type_code, data + b"junk", 0) == len(data)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(1 << 63), (1 << 64) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_round_trip(value: Any) -> None:
    type_code, data = encode_json(value)
    assert decode_json(type_code, data) == value
    assert json_value_size(type_code, data, 0) == len(data)
