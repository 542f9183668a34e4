"""Unsigned LEB128 varints, as Go's ``binary.PutUvarint`` / ``binary.Uvarint`` write and read them.

Shared by the memcomparable codec (``uvarint`` datums) and TiDB's binary JSON (string lengths).
"""

from __future__ import annotations

from lightning_core.errors import EncodeError


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128 of ``value``."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Unsigned LEB128 at ``data[pos:]``: the value and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise EncodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise EncodeError("varint overflows 64 bits")
