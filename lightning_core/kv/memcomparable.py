"""TiDB's datum codec: flag byte + payload, memcomparable where keys need it.

Every datum starts with a flag byte naming its kind. In keys (the "comparable" form) the
payload is chosen so that comparing encoded bytes compares the values:

========  ====  ================================================================
flag      byte  payload
========  ====  ================================================================
nil       0x00  none
bytes     0x01  groups of 8 bytes, each followed by a marker ``0xFF - padding``;
                the last group is zero-padded (an all-padding group ends an input
                whose length is a multiple of 8)
compact   0x02  zigzag varint length, raw bytes (values, not keys)
int       0x03  8 bytes big-endian with the sign bit flipped
uint      0x04  8 bytes big-endian
float     0x05  IEEE-754 bits big-endian; sign bit set for >= 0, all bits inverted
                for negatives
decimal   0x06  precision byte, scale byte, MyDecimal binary (:mod:`.mydecimal`)
duration  0x07  int64 nanoseconds as the ``int`` payload
varint    0x08  zigzag LEB128 (values, not keys)
uvarint   0x09  LEB128 (values, not keys)
json      0x0A  type byte + binary JSON (:mod:`.jsonbinary`)
max       0xFA  none; sorts after every other datum
========  ====  ================================================================
"""

from __future__ import annotations

import datetime
import enum
import struct
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.kv import jsonbinary, mydecimal
from lightning_core.kv.varint import decode_uvarint, encode_uvarint

NIL_FLAG = 0x00
BYTES_FLAG = 0x01
COMPACT_BYTES_FLAG = 0x02
INT_FLAG = 0x03
UINT_FLAG = 0x04
FLOAT_FLAG = 0x05
DECIMAL_FLAG = 0x06
DURATION_FLAG = 0x07
VARINT_FLAG = 0x08
UVARINT_FLAG = 0x09
JSON_FLAG = 0x0A
MAX_FLAG = 0xFA

SIGN_MASK = 1 << 63
_MASK64 = (1 << 64) - 1
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_U64_UNPACK = _U64.unpack_from
_GROUP = 8
_MARKER = 0xFF


class Kind(enum.Enum):
    """What a decoded datum is; tells apart values Python represents alike (int vs uint)."""

    NULL = "null"
    INT = "int"
    UINT = "uint"
    FLOAT = "float"
    BYTES = "bytes"
    DECIMAL = "decimal"
    DURATION = "duration"
    JSON = "json"
    MAX = "max"


# --- fixed-width payloads ---------------------------------------------------------------------


def encode_int(value: int) -> bytes:
    """8 bytes: ``value`` (int64) big-endian with the sign bit flipped."""
    return _U64.pack(value + SIGN_MASK)


def decode_int(data: bytes, pos: int = 0) -> int:
    """Inverse of :func:`encode_int` at ``data[pos:pos+8]``."""
    return int(_U64_UNPACK(data, pos)[0]) - SIGN_MASK


def encode_uint(value: int) -> bytes:
    """8 bytes: ``value`` (uint64) big-endian."""
    return _U64.pack(value)


def decode_uint(data: bytes, pos: int = 0) -> int:
    """Inverse of :func:`encode_uint`."""
    return int(_U64_UNPACK(data, pos)[0])


def encode_float(value: float) -> bytes:
    """8 bytes that sort like the float: positive values get the sign bit set, negative values
    have all bits inverted. ``-0.0`` encodes like ``0.0``."""
    bits = int(_U64_UNPACK(_F64.pack(value))[0])
    if value >= 0:
        bits |= SIGN_MASK
    else:
        bits = ~bits & _MASK64
    return _U64.pack(bits)


def decode_float(data: bytes, pos: int = 0) -> float:
    """Inverse of :func:`encode_float`."""
    bits = int(_U64_UNPACK(data, pos)[0])
    bits = bits & ~SIGN_MASK if bits & SIGN_MASK else ~bits & _MASK64
    return float(_F64.unpack(_U64.pack(bits))[0])


# --- variable-length payloads -----------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Zigzag-encoded LEB128, as Go's ``binary.PutVarint``."""
    return encode_uvarint(((value << 1) ^ (value >> 63)) & _MASK64)


def decode_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Inverse of :func:`encode_varint`."""
    raw, pos = decode_uvarint(data, pos)
    value = raw >> 1
    if raw & 1:
        value = ~value
    return value, pos


_PAD_MARKERS = tuple(bytes(pad) + bytes((_MARKER - pad,)) for pad in range(_GROUP + 1))


def encode_bytes(data: bytes) -> bytes:
    """The memcomparable form of a byte string (groups of 8 with a marker byte each)."""
    n = len(data)
    full = n & ~7
    tail = _PAD_MARKERS[_GROUP - (n - full)]
    if not full:
        return data + tail
    if full == n:
        return b"\xff".join([data[i : i + 8] for i in range(0, n, 8)]) + b"\xff" + tail
    return b"\xff".join([data[i : i + 8] for i in range(0, n, 8)]) + tail


def decode_bytes(data: bytes, pos: int = 0) -> tuple[bytes, int]:
    """Inverse of :func:`encode_bytes`: the bytes and the position after them."""
    out = bytearray()
    while True:
        end = pos + _GROUP + 1
        if end > len(data):
            raise EncodeError("truncated memcomparable bytes")
        marker = data[end - 1]
        pad = _MARKER - marker
        if pad == 0:
            out += data[pos : end - 1]
            pos = end
            continue
        if pad > _GROUP:
            raise EncodeError(f"invalid memcomparable bytes marker 0x{marker:02x}")
        real = _GROUP - pad
        if any(data[pos + real : end - 1]):
            raise EncodeError("invalid memcomparable bytes padding")
        out += data[pos : pos + real]
        return bytes(out), end


def encode_compact_bytes(data: bytes) -> bytes:
    """Zigzag varint length, then the bytes (not memcomparable)."""
    return encode_varint(len(data)) + data


def decode_compact_bytes(data: bytes, pos: int = 0) -> tuple[bytes, int]:
    """Inverse of :func:`encode_compact_bytes`."""
    length, pos = decode_varint(data, pos)
    if length < 0 or pos + length > len(data):
        raise EncodeError("truncated compact bytes")
    return bytes(data[pos : pos + length]), pos + length


def encode_decimal_payload(value: Decimal, precision: int = 0, frac: int = 0) -> bytes:
    """Precision byte, scale byte and MyDecimal binary; precision 0 takes both from the value."""
    if precision <= 0:
        precision, frac = mydecimal.precision_and_frac(value)
    frac = min(frac, mydecimal.MAX_SCALE)
    return bytes((precision, frac)) + mydecimal.decimal_to_bin(value, precision, frac)


def decode_decimal_payload(data: bytes, pos: int = 0) -> tuple[Decimal, int, int, int]:
    """Inverse of :func:`encode_decimal_payload`: value, precision, scale, next position."""
    if pos + 2 > len(data):
        raise EncodeError("truncated decimal")
    precision, frac = data[pos], data[pos + 1]
    value, end = mydecimal.decimal_from_bin(data, pos + 2, precision, frac)
    return value, precision, frac, end


def duration_nanos(value: datetime.timedelta) -> int:
    """A TIME value as the int64 nanoseconds TiDB stores."""
    return ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000


def nanos_duration(nanos: int) -> datetime.timedelta:
    """Inverse of :func:`duration_nanos` (sub-microsecond digits are dropped)."""
    micros = -(-nanos // 1000) if nanos < 0 else nanos // 1000
    return datetime.timedelta(microseconds=micros)


# --- whole datums -----------------------------------------------------------------------------


def encode_datum(kind: Kind, value: Any, *, comparable: bool = True, frac: int = 0) -> bytes:
    """Flag byte and payload of one datum.

    ``comparable`` picks the key form (fixed-width ints, memcomparable bytes); otherwise the
    value form (varints, compact bytes). For ``Kind.DECIMAL`` ``value`` may be a
    ``(Decimal, precision, frac)`` tuple; a plain Decimal takes precision and scale from itself
    (``frac`` is ignored then). ``Kind.DURATION`` takes a ``timedelta`` or int nanoseconds;
    ``Kind.JSON`` a ``(type_code, binary)`` tuple.
    """
    if kind is Kind.NULL:
        return b"\x00"
    if kind is Kind.INT:
        if comparable:
            return b"\x03" + encode_int(value)
        return b"\x08" + encode_varint(value)
    if kind is Kind.UINT:
        if comparable:
            return b"\x04" + encode_uint(value)
        return b"\x09" + encode_uvarint(value)
    if kind is Kind.FLOAT:
        return b"\x05" + encode_float(value)
    if kind is Kind.BYTES:
        if comparable:
            return b"\x01" + encode_bytes(value)
        return b"\x02" + encode_compact_bytes(value)
    if kind is Kind.DECIMAL:
        if isinstance(value, tuple):
            dec, precision, scale = value
            return b"\x06" + encode_decimal_payload(dec, precision, scale)
        return b"\x06" + encode_decimal_payload(value)
    if kind is Kind.DURATION:
        nanos = value if isinstance(value, int) else duration_nanos(value)
        return b"\x07" + encode_int(nanos)
    if kind is Kind.JSON:
        type_code, binary = value
        return bytes((JSON_FLAG, type_code)) + bytes(binary)
    if kind is Kind.MAX:
        return b"\xfa"
    raise EncodeError(f"cannot encode a datum of kind {kind}")


def infer_kind(value: Any) -> Kind:
    """The datum kind of a plain Python value (ints become INT, or UINT beyond int64)."""
    if value is None:
        return Kind.NULL
    if isinstance(value, bool | int):
        return Kind.INT if value < SIGN_MASK else Kind.UINT
    if isinstance(value, float):
        return Kind.FLOAT
    if isinstance(value, bytes | bytearray | memoryview):
        return Kind.BYTES
    if isinstance(value, Decimal):
        return Kind.DECIMAL
    if isinstance(value, datetime.timedelta):
        return Kind.DURATION
    raise EncodeError(f"cannot encode a {type(value).__name__} as a key datum")


def encode_key(values: Iterable[Any]) -> bytes:
    """The comparable encoding of plain Python values, kinds taken from their types.

    Strings must already be collation keys (``bytes``); see :mod:`.collation`.
    """
    return b"".join(encode_datum(infer_kind(v), v) for v in values)


def decode_one(data: bytes, pos: int = 0) -> tuple[Kind, Any, int]:
    """Decode the datum at ``data[pos:]``: its kind, value and the position after it.

    Decimals decode to ``Decimal``, durations to int nanoseconds, JSON to
    ``(type_code, binary)``, MAX to None.
    """
    if pos >= len(data):
        raise EncodeError("no datum to decode: input ended")
    flag = data[pos]
    pos += 1
    try:
        if flag == NIL_FLAG:
            return Kind.NULL, None, pos
        if flag == INT_FLAG:
            return Kind.INT, decode_int(data, pos), pos + 8
        if flag == UINT_FLAG:
            return Kind.UINT, decode_uint(data, pos), pos + 8
        if flag == FLOAT_FLAG:
            return Kind.FLOAT, decode_float(data, pos), pos + 8
        if flag == BYTES_FLAG:
            raw, pos = decode_bytes(data, pos)
            return Kind.BYTES, raw, pos
        if flag == COMPACT_BYTES_FLAG:
            raw, pos = decode_compact_bytes(data, pos)
            return Kind.BYTES, raw, pos
        if flag == VARINT_FLAG:
            number, pos = decode_varint(data, pos)
            return Kind.INT, number, pos
        if flag == UVARINT_FLAG:
            number, pos = decode_uvarint(data, pos)
            return Kind.UINT, number, pos
        if flag == DECIMAL_FLAG:
            dec, _, _, pos = decode_decimal_payload(data, pos)
            return Kind.DECIMAL, dec, pos
        if flag == DURATION_FLAG:
            return Kind.DURATION, decode_int(data, pos), pos + 8
        if flag == JSON_FLAG:
            type_code = data[pos]
            size = jsonbinary.json_value_size(type_code, data, pos + 1)
            end = pos + 1 + size
            return Kind.JSON, (type_code, bytes(data[pos + 1 : end])), end
        if flag == MAX_FLAG:
            return Kind.MAX, None, pos
    except (struct.error, IndexError) as exc:
        raise EncodeError(f"truncated datum with flag 0x{flag:02x}") from exc
    raise EncodeError(f"unknown datum flag 0x{flag:02x}")


def decode_all(data: bytes, pos: int = 0) -> list[tuple[Kind, Any]]:
    """Every datum from ``pos`` to the end of ``data``."""
    out: list[tuple[Kind, Any]] = []
    while pos < len(data):
        kind, value, pos = decode_one(data, pos)
        out.append((kind, value))
    return out
