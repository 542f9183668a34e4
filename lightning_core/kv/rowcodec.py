"""Row format v2: the value of a row's record key (and of an index's restored data).

Layout (integers little-endian)::

    0x80 | flags | not_null_count:u16 | null_count:u16
    | column ids (not-null ascending, then null ascending): u8 each, u32 if large
    | end offset of each not-null column's data: u16 each, u32 if large
    | data of the not-null columns, concatenated

``flags`` is 1 ("large") when a column id exceeds 255 or the data exceeds 65535 bytes.

Column data by type:

====================================  ===================================================
type                                  data
====================================  ===================================================
signed integers, YEAR                 smallest of 1/2/4/8 bytes holding the value (signed)
unsigned integers, ENUM, SET, BIT     smallest of 1/2/4/8 bytes holding the value
FLOAT, DOUBLE                         the 8-byte memcomparable float
DECIMAL(p, s)                         p, s, MyDecimal binary
CHAR … BLOB                           the bytes
DATE, DATETIME, TIMESTAMP             the packed time as an unsigned integer (above)
TIME                                  int64 nanoseconds as a signed integer (above)
JSON                                  type byte + binary JSON
====================================  ===================================================

The packed time is ``((((year*13 + month) << 5 | day) << 17 | hour << 12 | minute << 6 |
second) << 24) | microsecond``; a zero date packs to 0.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from itertools import accumulate
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.kv import jsonbinary, mydecimal
from lightning_core.kv.memcomparable import (
    decode_float,
    duration_nanos,
    encode_float,
    nanos_duration,
)
from lightning_core.schema.model import ColumnType, FieldType, TableInfo
from lightning_core.schema.values import JsonDoc, MysqlTime

CODEC_VERSION = 128
FLAG_LARGE = 1

ValueEncoder = Callable[[Any], bytes]
ValueDecoder = Callable[[bytes], Any]

_PACK_I8 = struct.Struct("<b").pack
_PACK_I16 = struct.Struct("<h").pack
_PACK_I32 = struct.Struct("<i").pack
_PACK_I64 = struct.Struct("<q").pack
_PACK_U8 = struct.Struct("<B").pack
_PACK_U16 = struct.Struct("<H").pack
_PACK_U32 = struct.Struct("<I").pack
_PACK_U64 = struct.Struct("<Q").pack
_HEADER = struct.Struct("<BBHH")


def encode_int_value(value: int) -> bytes:
    """A signed integer in the fewest of 1, 2, 4 or 8 little-endian bytes."""
    if -0x80 <= value <= 0x7F:
        return _PACK_I8(value)
    if -0x8000 <= value <= 0x7FFF:
        return _PACK_I16(value)
    if -0x80000000 <= value <= 0x7FFFFFFF:
        return _PACK_I32(value)
    return _PACK_I64(value)


def encode_uint_value(value: int) -> bytes:
    """An unsigned integer in the fewest of 1, 2, 4 or 8 little-endian bytes."""
    if value <= 0xFF:
        return _PACK_U8(value)
    if value <= 0xFFFF:
        return _PACK_U16(value)
    if value <= 0xFFFFFFFF:
        return _PACK_U32(value)
    return _PACK_U64(value)


def decode_int_value(data: bytes) -> int:
    """Inverse of :func:`encode_int_value` (the length says the width)."""
    if len(data) not in (1, 2, 4, 8):
        raise EncodeError(f"invalid integer column data of {len(data)} bytes")
    return int.from_bytes(data, "little", signed=True)


def decode_uint_value(data: bytes) -> int:
    """Inverse of :func:`encode_uint_value`."""
    if len(data) not in (1, 2, 4, 8):
        raise EncodeError(f"invalid integer column data of {len(data)} bytes")
    return int.from_bytes(data, "little")


def pack_time(value: MysqlTime) -> int:
    """TiDB's packed uint64 form of a DATE/DATETIME/TIMESTAMP."""
    year, month, day, hour, minute, second, micro = value
    ymd = ((year * 13 + month) << 5) | day
    hms = (hour << 12) | (minute << 6) | second
    return (((ymd << 17) | hms) << 24) | micro


def unpack_time(packed: int) -> MysqlTime:
    """Inverse of :func:`pack_time`."""
    micro = packed & 0xFFFFFF
    ymdhms = packed >> 24
    ymd = ymdhms >> 17
    hms = ymdhms & 0x1FFFF
    year_month = ymd >> 5
    return MysqlTime(
        year_month // 13,
        year_month % 13,
        ymd & 0x1F,
        hms >> 12,
        (hms >> 6) & 0x3F,
        hms & 0x3F,
        micro,
    )


def _decimal_layout(ft: FieldType) -> tuple[int, int]:
    return ft.flen, max(ft.decimal, 0)


def _encode_decimal_for(ft: FieldType) -> ValueEncoder:
    precision, frac = _decimal_layout(ft)
    if precision <= 0:

        def encode_any(value: Decimal) -> bytes:
            p, f = mydecimal.precision_and_frac(value)
            return bytes((p, f)) + mydecimal.decimal_to_bin(value, p, f)

        return encode_any
    head = bytes((precision, frac))
    to_bin = mydecimal.decimal_to_bin

    def encode(value: Decimal) -> bytes:
        return head + to_bin(value, precision, frac)

    return encode


def encode_time_value(value: MysqlTime) -> bytes:
    """A DATE/DATETIME/TIMESTAMP's column data: the packed time as an unsigned integer."""
    return encode_uint_value(pack_time(value))


def _encode_duration(value: Any) -> bytes:
    return encode_int_value(value if isinstance(value, int) else duration_nanos(value))


def _encode_json(value: Any) -> bytes:
    doc = value.value if isinstance(value, JsonDoc) else value
    type_code, binary = jsonbinary.encode_json(doc)
    return bytes((type_code,)) + binary


def encode_string_value(value: bytes) -> bytes:
    """A string's column data: its bytes."""
    return value


def value_encoder(ft: FieldType) -> ValueEncoder:
    """The function turning a canonical value of a column of type ``ft`` into its row data."""
    tp = ft.tp
    if tp in (
        ColumnType.TINY,
        ColumnType.SHORT,
        ColumnType.INT24,
        ColumnType.LONG,
        ColumnType.LONGLONG,
    ):
        return encode_uint_value if ft.unsigned else encode_int_value
    if tp == ColumnType.YEAR:
        return encode_int_value
    if tp in (ColumnType.ENUM, ColumnType.SET, ColumnType.BIT):
        return encode_uint_value
    if tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return encode_float
    if tp == ColumnType.NEWDECIMAL:
        return _encode_decimal_for(ft)
    if ft.is_string:
        return encode_string_value
    if tp in (ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP):
        return encode_time_value
    if tp == ColumnType.DURATION:
        return _encode_duration
    if tp == ColumnType.JSON:
        return _encode_json
    raise EncodeError(f"the KV codec cannot store columns of type {tp.name}")


def _decode_decimal(data: bytes) -> Decimal:
    value, _ = mydecimal.decimal_from_bin(data, 2, data[0], data[1])
    return value


def _decode_json(data: bytes) -> JsonDoc:
    return JsonDoc(jsonbinary.decode_json(data[0], data, 1))


def value_decoder(ft: FieldType) -> ValueDecoder:
    """Inverse of :func:`value_encoder`: row data back to the canonical value."""
    tp = ft.tp
    if ft.is_integer:
        return decode_uint_value if ft.unsigned else decode_int_value
    if tp == ColumnType.YEAR:
        return decode_int_value
    if tp in (ColumnType.ENUM, ColumnType.SET, ColumnType.BIT):
        return decode_uint_value
    if tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return decode_float
    if tp == ColumnType.NEWDECIMAL:
        return _decode_decimal
    if ft.is_string:
        return bytes
    if ft.is_time:
        return lambda data: unpack_time(decode_uint_value(data))
    if tp == ColumnType.DURATION:
        return lambda data: nanos_duration(decode_int_value(data))
    if tp == ColumnType.JSON:
        return _decode_json
    raise EncodeError(f"the KV codec cannot read columns of type {tp.name}")


# --- whole rows -------------------------------------------------------------------------------


_OFFSET_STRUCTS: dict[int, struct.Struct] = {}


def _offsets_struct(count: int) -> struct.Struct:
    packer = _OFFSET_STRUCTS.get(count)
    if packer is None:
        packer = _OFFSET_STRUCTS[count] = struct.Struct(f"<{count}H")
    return packer


def assemble_row(
    not_null_ids: Sequence[int], datas: Sequence[bytes], null_ids: Sequence[int]
) -> bytes:
    """A row value from sorted column ids and the data of the not-null ones.

    :param not_null_ids: ascending ids of the columns with a value.
    :param datas: the encoded data of those columns, in the same order.
    :param null_ids: ascending ids of the NULL columns.
    """
    data = b"".join(datas)
    n_not_null = len(not_null_ids)
    n_null = len(null_ids)
    offsets = list(accumulate(map(len, datas)))
    if (
        len(data) <= 0xFFFF
        and (not n_not_null or not_null_ids[-1] <= 255)
        and (not n_null or null_ids[-1] <= 255)
    ):
        head = bytes(
            (CODEC_VERSION, 0, n_not_null & 0xFF, n_not_null >> 8, n_null & 0xFF, n_null >> 8)
        )
        return b"".join(
            (
                head,
                bytes(not_null_ids),
                bytes(null_ids),
                _offsets_struct(n_not_null).pack(*offsets),
                data,
            )
        )
    ids = list(not_null_ids) + list(null_ids)
    return b"".join(
        (
            _HEADER.pack(CODEC_VERSION, FLAG_LARGE, n_not_null, n_null),
            struct.pack(f"<{len(ids)}I", *ids),
            struct.pack(f"<{n_not_null}I", *offsets),
            data,
        )
    )


def encode_row(column_ids: Sequence[int], values: Sequence[Any], fts: Sequence[FieldType]) -> bytes:
    """The row-format-v2 value of canonical ``values`` (None is NULL) of the given columns."""
    if not (len(column_ids) == len(values) == len(fts)):
        raise EncodeError("encode_row needs as many column ids and field types as values")
    order = sorted(range(len(column_ids)), key=column_ids.__getitem__)
    not_null: list[int] = []
    datas: list[bytes] = []
    nulls: list[int] = []
    for i in order:
        value = values[i]
        if value is None:
            nulls.append(column_ids[i])
        else:
            not_null.append(column_ids[i])
            datas.append(value_encoder(fts[i])(value))
    return assemble_row(not_null, datas, nulls)


def split_row(value: bytes) -> tuple[dict[int, bytes], list[int]]:
    """The raw data of each not-null column by id, and the ids of the NULL columns."""
    if len(value) < 6 or value[0] != CODEC_VERSION:
        raise EncodeError("not a row-format-v2 value (first byte is not 128)")
    _, flags, n_not_null, n_null = _HEADER.unpack_from(value, 0)
    pos = 6
    count = n_not_null + n_null
    if flags & FLAG_LARGE:
        ids = list(struct.unpack_from(f"<{count}I", value, pos))
        pos += 4 * count
        offsets = struct.unpack_from(f"<{n_not_null}I", value, pos)
        pos += 4 * n_not_null
    else:
        ids = list(value[pos : pos + count])
        pos += count
        offsets = struct.unpack_from(f"<{n_not_null}H", value, pos)
        pos += 2 * n_not_null
    data = value[pos:]
    if n_not_null and offsets[-1] > len(data):
        raise EncodeError("row value is shorter than its offsets say")
    columns: dict[int, bytes] = {}
    start = 0
    for col_id, end in zip(ids[:n_not_null], offsets, strict=True):
        columns[col_id] = data[start:end]
        start = end
    return columns, ids[n_not_null:]


def decode_row(value: bytes, table: TableInfo | Mapping[int, FieldType]) -> dict[int, Any]:
    """Column id → canonical value (None for NULL) of the columns present in a row value.

    :param table: the table, or a mapping of column id to field type.
    """
    fts = {c.id: c.ft for c in table.columns} if isinstance(table, TableInfo) else table
    columns, nulls = split_row(value)
    row: dict[int, Any] = {}
    for col_id, data in columns.items():
        ft = fts.get(col_id)
        if ft is None:
            raise EncodeError(f"row has column id {col_id}, which the table does not have")
        row[col_id] = value_decoder(ft)(data)
    for col_id in nulls:
        row[col_id] = None
    return row
