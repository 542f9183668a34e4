"""TiDB's binary JSON: the form a JSON column takes in rows (a type byte, then the value).

Layout, all integers little-endian:

* literal (type 0x04): one byte, ``0x00`` null, ``0x01`` true, ``0x02`` false;
* int64 (0x09) / uint64 (0x0A): 8 bytes; float64 (0x0B): the 8 IEEE-754 bytes;
* string (0x0C): unsigned LEB128 length, then the UTF-8 bytes;
* array (0x03): ``count:u32 size:u32``, ``count`` value entries, then the values;
* object (0x01): ``count:u32 size:u32``, ``count`` key entries ``offset:u32 length:u16``,
  ``count`` value entries, then the keys (sorted by their bytes), then the values.

A value entry is ``type:u8`` and four bytes: the literal byte itself (padded with zeros) for a
literal, otherwise the offset of the value from the start of the enclosing array/object.
``size`` is the byte length of the whole array/object including its header.

Numbers follow TiDB's choice when it parses JSON text: an integer literal becomes int64 if it
fits, else uint64 if it fits, else float64; anything with a fraction or exponent is float64.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.kv.varint import decode_uvarint, encode_uvarint

TYPE_OBJECT = 0x01
TYPE_ARRAY = 0x03
TYPE_LITERAL = 0x04
TYPE_INT64 = 0x09
TYPE_UINT64 = 0x0A
TYPE_FLOAT64 = 0x0B
TYPE_STRING = 0x0C
TYPE_OPAQUE = 0x0D
TYPE_DATE = 0x0E
TYPE_DATETIME = 0x0F
TYPE_TIMESTAMP = 0x10
TYPE_DURATION = 0x11

LITERAL_NULL = 0x00
LITERAL_TRUE = 0x01
LITERAL_FALSE = 0x02

_HEADER = 8
_KEY_ENTRY = 6
_VALUE_ENTRY = 5

_U32 = struct.Struct("<I")
_KEY_ENTRY_STRUCT = struct.Struct("<IH")
_VALUE_ENTRY_STRUCT = struct.Struct("<BI")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


def encode_json(value: Any) -> tuple[int, bytes]:
    """The type code and binary value of a parsed JSON document.

    ``value`` is what ``json.loads`` returns (dict, list, str, int, float, bool, None);
    ``Decimal`` is accepted as a float, tuples as arrays.
    """
    out = bytearray()
    type_code = _append_value(out, value)
    return type_code, bytes(out)


def _append_value(out: bytearray, value: Any) -> int:
    if value is None:
        out.append(LITERAL_NULL)
        return TYPE_LITERAL
    if value is True:
        out.append(LITERAL_TRUE)
        return TYPE_LITERAL
    if value is False:
        out.append(LITERAL_FALSE)
        return TYPE_LITERAL
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            out += _I64.pack(value)
            return TYPE_INT64
        if 0 <= value <= _UINT64_MAX:
            out += _U64.pack(value)
            return TYPE_UINT64
        value = float(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EncodeError(f"JSON cannot hold the number {value}")
        out += _F64.pack(value)
        return TYPE_FLOAT64
    if isinstance(value, str):
        data = value.encode("utf-8")
        out += encode_uvarint(len(data))
        out += data
        return TYPE_STRING
    if isinstance(value, list | tuple):
        _append_array(out, value)
        return TYPE_ARRAY
    if isinstance(value, dict):
        _append_object(out, value)
        return TYPE_OBJECT
    raise EncodeError(f"cannot encode a {type(value).__name__} as JSON")


def _append_element(out: bytearray, doc_start: int, entry_at: int, value: Any) -> None:
    value_start = len(out)
    type_code = _append_value(out, value)
    if type_code == TYPE_LITERAL:
        literal = out[value_start]
        del out[value_start:]
        _VALUE_ENTRY_STRUCT.pack_into(out, entry_at, TYPE_LITERAL, literal)
    else:
        _VALUE_ENTRY_STRUCT.pack_into(out, entry_at, type_code, value_start - doc_start)


def _append_array(out: bytearray, items: list[Any] | tuple[Any, ...]) -> None:
    doc_start = len(out)
    out += _U32.pack(len(items))
    out += bytes(4)
    entries = len(out)
    out += bytes(_VALUE_ENTRY * len(items))
    for i, item in enumerate(items):
        _append_element(out, doc_start, entries + i * _VALUE_ENTRY, item)
    _U32.pack_into(out, doc_start + 4, len(out) - doc_start)


def _append_object(out: bytearray, obj: dict[Any, Any]) -> None:
    fields = []
    for key, val in obj.items():
        if not isinstance(key, str):
            raise EncodeError(f"JSON object keys must be strings, not {type(key).__name__}")
        fields.append((key.encode("utf-8"), val))
    fields.sort(key=lambda field: field[0])
    doc_start = len(out)
    out += _U32.pack(len(fields))
    out += bytes(4)
    key_entries = len(out)
    out += bytes(_KEY_ENTRY * len(fields))
    value_entries = len(out)
    out += bytes(_VALUE_ENTRY * len(fields))
    for i, (key, _) in enumerate(fields):
        if len(key) > 0xFFFF:
            raise EncodeError("a JSON object key is longer than 65535 bytes")
        _KEY_ENTRY_STRUCT.pack_into(
            out, key_entries + i * _KEY_ENTRY, len(out) - doc_start, len(key)
        )
        out += key
    for i, (_, val) in enumerate(fields):
        _append_element(out, doc_start, value_entries + i * _VALUE_ENTRY, val)
    _U32.pack_into(out, doc_start + 4, len(out) - doc_start)


def decode_json(type_code: int, data: bytes, pos: int = 0) -> Any:
    """The Python value of a binary JSON value of type ``type_code`` at ``data[pos:]``."""
    try:
        return _decode_value(type_code, data, pos)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise EncodeError(f"invalid JSON binary: {exc}") from exc


def _decode_value(type_code: int, data: bytes, pos: int) -> Any:
    if type_code == TYPE_LITERAL:
        literal = data[pos]
        if literal == LITERAL_NULL:
            return None
        if literal == LITERAL_TRUE:
            return True
        if literal == LITERAL_FALSE:
            return False
        raise EncodeError(f"invalid JSON literal 0x{literal:02x}")
    if type_code == TYPE_INT64:
        return _I64.unpack_from(data, pos)[0]
    if type_code == TYPE_UINT64:
        return _U64.unpack_from(data, pos)[0]
    if type_code == TYPE_FLOAT64:
        return _F64.unpack_from(data, pos)[0]
    if type_code == TYPE_STRING:
        length, start = decode_uvarint(data, pos)
        return data[start : start + length].decode("utf-8")
    if type_code == TYPE_ARRAY:
        count = _U32.unpack_from(data, pos)[0]
        return [_decode_entry(data, pos, pos + _HEADER + i * _VALUE_ENTRY) for i in range(count)]
    if type_code == TYPE_OBJECT:
        count = _U32.unpack_from(data, pos)[0]
        values_at = pos + _HEADER + count * _KEY_ENTRY
        result: dict[str, Any] = {}
        for i in range(count):
            key_off, key_len = _KEY_ENTRY_STRUCT.unpack_from(data, pos + _HEADER + i * _KEY_ENTRY)
            key = data[pos + key_off : pos + key_off + key_len].decode("utf-8")
            result[key] = _decode_entry(data, pos, values_at + i * _VALUE_ENTRY)
        return result
    raise EncodeError(f"unsupported JSON binary type 0x{type_code:02x}")


def _decode_entry(data: bytes, doc_start: int, entry_at: int) -> Any:
    type_code, offset = _VALUE_ENTRY_STRUCT.unpack_from(data, entry_at)
    if type_code == TYPE_LITERAL:
        return _decode_value(TYPE_LITERAL, data, entry_at + 1)
    return _decode_value(type_code, data, doc_start + offset)


def json_value_size(type_code: int, data: bytes, pos: int) -> int:
    """Byte length of the binary JSON value of ``type_code`` at ``data[pos:]``."""
    if type_code == TYPE_LITERAL:
        return 1
    if type_code in (TYPE_INT64, TYPE_UINT64, TYPE_FLOAT64, TYPE_DATE, TYPE_DATETIME):
        return 8
    if type_code == TYPE_TIMESTAMP:
        return 8
    if type_code == TYPE_DURATION:
        return 12
    if type_code == TYPE_STRING:
        length, start = decode_uvarint(data, pos)
        return start - pos + length
    if type_code == TYPE_OPAQUE:
        length, start = decode_uvarint(data, pos + 1)
        return start - pos + length
    if type_code in (TYPE_ARRAY, TYPE_OBJECT):
        return int(_U32.unpack_from(data, pos + 4)[0])
    raise EncodeError(f"unsupported JSON binary type 0x{type_code:02x}")
