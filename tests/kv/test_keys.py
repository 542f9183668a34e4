"""Record/index keys and index values: vectors worked from TiDB's key layout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core.errors import EncodeError
from lightning_core.kv import keys
from lightning_core.kv.memcomparable import Kind, encode_key

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


def test_record_key_vector() -> None:
    # TiDB's documented example: table 1, handle 1 -> t\x80..01_r\x80..01 (19 bytes).
    key = keys.encode_record_key(1, 1)
    assert key == b"t\x80\x00\x00\x00\x00\x00\x00\x01_r\x80\x00\x00\x00\x00\x00\x00\x01"
    assert len(key) == keys.RECORD_KEY_LEN
    assert keys.decode_record_key(key) == (1, 1)
    assert keys.decode_record_key(keys.encode_record_key(42, -5)) == (42, -5)


def test_prefixes() -> None:
    assert keys.table_prefix(1) == b"t\x80\x00\x00\x00\x00\x00\x00\x01"
    assert keys.record_prefix(1) == keys.table_prefix(1) + b"_r"
    assert keys.index_prefix(1, 2) == keys.table_prefix(1) + b"_i\x80\x00\x00\x00\x00\x00\x00\x02"


def test_common_handle_record_key() -> None:
    handle = keys.encode_common_handle([b"ab", 7])
    assert handle == bytes.fromhex("01 6162000000000000 f9 03 8000000000000007".replace(" ", ""))
    key = keys.encode_common_handle_record_key(5, handle)
    assert keys.decode_record_key(key) == (5, handle)


def test_index_key_vectors() -> None:
    values = encode_key([10])
    suffix = keys.encode_int_handle_suffix(3)
    key = keys.encode_index_key(1, 2, values, suffix)
    assert key == (
        keys.index_prefix(1, 2)
        + bytes.fromhex("03 800000000000000a".replace(" ", ""))
        + bytes.fromhex("03 8000000000000003".replace(" ", ""))
    )
    table_id, index_id, datums = keys.decode_index_key(key)
    assert (table_id, index_id, datums) == (1, 2, [(Kind.INT, 10), (Kind.INT, 3)])
    assert keys.is_index_key(key) and not keys.is_record_key(key)


def test_old_index_values() -> None:
    # Non-unique: '0'. Unique int handle: 8 bytes big-endian, two's complement.
    assert keys.encode_index_value_int_handle(distinct=False, handle=3) == b"0"
    assert keys.encode_index_value_int_handle(distinct=True, handle=3) == bytes.fromhex(
        "0000000000000003"
    )
    assert keys.encode_index_value_int_handle(distinct=True, handle=-1) == b"\xff" * 8
    assert keys.decode_index_value(b"\xff" * 8).int_handle == -1
    assert keys.decode_index_value(b"0").int_handle is None


def test_version0_index_values_with_restored_data() -> None:
    restored = bytes.fromhex("80 00 0100 0000 02 0100 61".replace(" ", ""))  # column 2 = 'a'
    unique = keys.encode_index_value_int_handle(distinct=True, handle=9, restored=restored)
    assert unique == b"\x08" + restored + bytes.fromhex("0000000000000009")
    decoded = keys.decode_index_value(unique)
    assert decoded.int_handle == 9 and decoded.restored == restored
    non_unique = keys.encode_index_value_int_handle(distinct=False, handle=9, restored=restored)
    # 1 + 9 bytes is already 10: no padding.
    assert non_unique == b"\x00" + restored
    short = bytes.fromhex("80 00 0000 0000".replace(" ", ""))
    padded = keys.encode_index_value_int_handle(distinct=False, handle=9, restored=short)
    assert padded == b"\x03" + short + b"\x00\x00\x00"
    assert keys.decode_index_value(padded).restored == short


def test_version1_index_values() -> None:
    handle = keys.encode_common_handle([b"k"])
    unique = keys.encode_index_value_common_handle(distinct=True, handle_encoded=handle)
    assert unique == b"\x00\x7d\x01\x7f" + len(handle).to_bytes(2, "big") + handle
    decoded = keys.decode_index_value(unique)
    assert decoded.common_handle == handle and decoded.version == 1
    assert keys.encode_index_value_common_handle(distinct=False, handle_encoded=handle) == (
        b"\x00\x7d\x01"
    )


def test_bad_keys() -> None:
    with pytest.raises(EncodeError):
        keys.decode_record_key(b"x")
    with pytest.raises(EncodeError):
        keys.decode_index_key(keys.encode_record_key(1, 1))


@given(INT64, INT64, INT64, INT64)
def test_record_key_order_and_round_trip(t1: int, h1: int, t2: int, h2: int) -> None:
    k1, k2 = keys.encode_record_key(t1, h1), keys.encode_record_key(t2, h2)
    assert (k1 < k2) == ((t1, h1) < (t2, h2))
    assert keys.decode_record_key(k1) == (t1, h1)
