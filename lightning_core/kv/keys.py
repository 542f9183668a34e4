"""Record and index keys, and index values, in the layouts TiDB writes.

Keys::

    record (int handle)     t{table_id:int}_r{handle:int}                 (19 bytes)
    record (common handle)  t{table_id:int}_r{encoded primary key datums}
    index                   t{table_id:int}_i{index_id:int}{encoded index datums}[handle]

``{x:int}`` is the 8-byte memcomparable int (:func:`.memcomparable.encode_int`). The handle
suffix of an index key is present for non-unique indexes, and for unique indexes when one of
the indexed values is NULL: the int handle as a comparable int datum (flag 0x03 + 8 bytes),
or the common handle's encoded datums.

Index values (TiDB ≥ 5.0, new collations on, no global index, nothing "untouched"):

* int handle, no restored data (old layout): unique → the handle as 8 bytes big-endian
  (two's complement, no sign flip); non-unique → ``b"0"``.
* int handle with restored data (version 0): ``tail_len | restored row | tail``, where
  ``tail`` is the 8-byte handle for a unique index, otherwise zero padding up to 10 bytes in
  all; ``tail_len`` is the length of ``tail``. The restored row is a row-format-v2 value of
  every indexed column.
* common handle (clustered index version 1): ``0x00 | 0x7D 0x01 | [0x7F len:u16be handle] |
  [restored row]``; the handle segment only for a unique index, the restored row only when a
  column needs it (see :func:`needs_restored_data`). There, columns of ``_bin`` collations keep
  only the count of trimmed trailing spaces, and primary-key columns are left to the handle's
  own restored data, which follows.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs

from lightning_core.errors import EncodeError
from lightning_core.kv.memcomparable import (
    Kind,
    decode_all,
    decode_int,
    encode_int,
)

TABLE_PREFIX = b"t"
RECORD_SEP = b"_r"
INDEX_SEP = b"_i"
RECORD_KEY_LEN = 19
_PREFIX_LEN = 11  # 't' + table id + '_r' / '_i'

COMMON_HANDLE_FLAG = 127
PARTITION_ID_FLAG = 126
INDEX_VERSION_FLAG = 125
RESTORE_DATA_FLAG = 128
#: Old-layout index values are at most this long; longer values use the tail-length layout.
MAX_OLD_INDEX_VALUE_LEN = 9
NON_UNIQUE_INDEX_VALUE = b"0"

_U64BE = struct.Struct(">Q")
_MASK64 = (1 << 64) - 1


def table_prefix(table_id: int) -> bytes:
    """``t{table_id}``: the prefix of every key of the table."""
    return TABLE_PREFIX + encode_int(table_id)


def record_prefix(table_id: int) -> bytes:
    """``t{table_id}_r``: the prefix of the table's row keys."""
    return TABLE_PREFIX + encode_int(table_id) + RECORD_SEP


def index_prefix(table_id: int, index_id: int) -> bytes:
    """``t{table_id}_i{index_id}``: the prefix of one index's keys."""
    return TABLE_PREFIX + encode_int(table_id) + INDEX_SEP + encode_int(index_id)


def encode_record_key(table_id: int, handle: int) -> bytes:
    """The row key of an int-handle table (19 bytes)."""
    return TABLE_PREFIX + encode_int(table_id) + RECORD_SEP + encode_int(handle)


def encode_common_handle_record_key(table_id: int, handle_encoded: bytes) -> bytes:
    """The row key of a clustered table whose handle is its encoded primary key datums."""
    return TABLE_PREFIX + encode_int(table_id) + RECORD_SEP + handle_encoded


def encode_common_handle(values: list[Any]) -> bytes:
    """Encoded handle of a clustered primary key: comparable datums of the (collation-keyed)
    values, kinds taken from their Python types (see :func:`.memcomparable.encode_key`)."""
    from lightning_core.kv.memcomparable import encode_key

    return encode_key(values)


def encode_int_handle_suffix(handle: int) -> bytes:
    """The handle suffix of a non-distinct index key: an int datum (flag 0x03)."""
    return b"\x03" + encode_int(handle)


def encode_index_key(
    table_id: int, index_id: int, encoded_values: bytes, handle_suffix: bytes = b""
) -> bytes:
    """An index key: prefix, the comparable index datums and (non-distinct) the handle."""
    return (
        TABLE_PREFIX
        + encode_int(table_id)
        + INDEX_SEP
        + encode_int(index_id)
        + encoded_values
        + handle_suffix
    )


def is_record_key(key: bytes) -> bool:
    """Whether ``key`` is a table row key."""
    return len(key) > _PREFIX_LEN and key[0] == 0x74 and key[9:11] == RECORD_SEP


def is_index_key(key: bytes) -> bool:
    """Whether ``key`` is a table index key."""
    return len(key) > _PREFIX_LEN and key[0] == 0x74 and key[9:11] == INDEX_SEP


def decode_table_id(key: bytes) -> int:
    """The table ID of any table key."""
    if len(key) < 9 or key[0] != 0x74:
        raise EncodeError(f"not a table key: {key[:20].hex()}")
    return decode_int(key, 1)


def decode_record_key(key: bytes) -> tuple[int, int | bytes]:
    """``(table_id, handle)``: an int handle for 19-byte keys, else the encoded common handle."""
    if not is_record_key(key):
        raise EncodeError(f"not a record key: {key[:24].hex()}")
    table_id = decode_int(key, 1)
    if len(key) == RECORD_KEY_LEN:
        return table_id, decode_int(key, _PREFIX_LEN)
    # Any other length is a common handle: whole memcomparable datums and nothing after them,
    # as TiDB checks when it builds one (an int handle with trailing bytes is refused).
    handle = bytes(key[_PREFIX_LEN:])
    try:
        decode_all(handle, 0)
    except (EncodeError, ValueError, IndexError, struct.error) as exc:
        raise EncodeError(
            f"invalid record key {key[:24].hex()}: its handle is neither an 8-byte int handle "
            f"nor whole encoded datums ({exc})"
        ) from None
    return table_id, handle


def decode_index_key(key: bytes) -> tuple[int, int, list[tuple[Kind, Any]]]:
    """``(table_id, index_id, datums)``; the datums include a handle suffix if there is one."""
    if not is_index_key(key) or len(key) < _PREFIX_LEN + 8:
        raise EncodeError(f"not an index key: {key[:24].hex()}")
    table_id = decode_int(key, 1)
    index_id = decode_int(key, _PREFIX_LEN)
    return table_id, index_id, decode_all(key, _PREFIX_LEN + 8)


# --- index values -----------------------------------------------------------------------------


def encode_unique_int_handle(handle: int) -> bytes:
    """The 8-byte big-endian handle of a unique index value."""
    return _U64BE.pack(handle & _MASK64)


def encode_index_value_int_handle(
    *, distinct: bool, handle: int, restored: bytes | None = None
) -> bytes:
    """The value of an index entry of an int-handle table.

    :param distinct: the index is unique and no indexed value is NULL.
    :param restored: the row-format-v2 restored data of the indexed columns, when the index
        needs it (new collations and a non-binary string column).
    """
    if restored is None:
        return encode_unique_int_handle(handle) if distinct else NON_UNIQUE_INDEX_VALUE
    if distinct:
        return b"\x08" + restored + encode_unique_int_handle(handle)
    body_len = 1 + len(restored)
    padding = max(0, 10 - body_len)
    return bytes((padding,)) + restored + bytes(padding)


def encode_index_value_common_handle(
    *, distinct: bool, handle_encoded: bytes, restored: bytes | None = None
) -> bytes:
    """The value of an index entry of a clustered (common handle, version 1) table."""
    out = bytearray(b"\x00\x7d\x01")
    if distinct:
        out.append(COMMON_HANDLE_FLAG)
        out += len(handle_encoded).to_bytes(2, "big")
        out += handle_encoded
    if restored is not None:
        out += restored
    return bytes(out)


@attrs.frozen
class IndexValue:
    """What an index value holds."""

    int_handle: int | None = None
    common_handle: bytes | None = None
    restored: bytes | None = None
    """Row-format-v2 restored data, if any."""
    version: int = 0


def decode_index_value(value: bytes) -> IndexValue:
    """Split an index value into its handle and restored-data segments."""
    if len(value) <= MAX_OLD_INDEX_VALUE_LEN:
        if len(value) == 8:
            raw = int(_U64BE.unpack(value)[0])
            return IndexValue(int_handle=raw - (1 << 64) if raw >> 63 else raw)
        return IndexValue()
    tail_len = value[0]
    if len(value) >= 3 and value[1] == INDEX_VERSION_FLAG:
        body = value[3 : len(value) - tail_len]
        version = value[2]
    else:
        tail = value[len(value) - tail_len :]
        body = value[1 : len(value) - tail_len]
        version = 0
        if len(tail) >= 8:
            raw = int(_U64BE.unpack(tail[:8])[0])
            handle = raw - (1 << 64) if raw >> 63 else raw
            return IndexValue(int_handle=handle, restored=_restored(body), version=0)
    common = None
    if body and body[0] == COMMON_HANDLE_FLAG:
        length = int.from_bytes(body[1:3], "big")
        common = bytes(body[3 : 3 + length])
        body = body[3 + length :]
    if body and body[0] == PARTITION_ID_FLAG:
        body = body[9:]
    return IndexValue(common_handle=common, restored=_restored(body), version=version)


def _restored(body: bytes) -> bytes | None:
    if body and body[0] == RESTORE_DATA_FLAG:
        return bytes(body)
    return None
