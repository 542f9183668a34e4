"""MySQL/TiDB's binary DECIMAL format ("MyDecimal" bin), used in keys, rows and index values.

Layout for ``DECIMAL(precision, frac)``: the integer part is split from the decimal point
leftwards into groups of 9 digits, the fraction rightwards into groups of 9 digits. A full group
is a 4-byte big-endian number; a leftover group of ``n`` digits (the leading integer group or
the trailing fraction group) takes ``DIG2BYTES[n]`` bytes. A negative number has every byte
inverted, and the top bit of the first byte is flipped, so that the bytes sort like the values
(for one precision and scale).

Worked example (from the format definition, also the one MySQL documents):
``1234567890.1234`` as ``DECIMAL(14,4)`` is ``81 0D FB 38 D2 04 D2``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from lightning_core.errors import EncodeError

#: Bytes needed for a group of ``n`` (0–9) decimal digits.
DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
DIGITS_PER_WORD = 9
MAX_PRECISION = 65
MAX_SCALE = 30

_CONTEXT = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP)
_QUANTS = [Decimal(1).scaleb(-frac) for frac in range(MAX_SCALE + 1)]
_POWERS = [10**n for n in range(MAX_PRECISION + 1)]


def _group_sizes(precision: int, frac: int) -> tuple[tuple[int, int], ...]:
    """(digits, bytes) of each group, most significant first."""
    intg = precision - frac
    groups: list[tuple[int, int]] = []
    lead = intg % DIGITS_PER_WORD
    if lead:
        groups.append((lead, DIG2BYTES[lead]))
    groups.extend([(DIGITS_PER_WORD, 4)] * (intg // DIGITS_PER_WORD))
    groups.extend([(DIGITS_PER_WORD, 4)] * (frac // DIGITS_PER_WORD))
    tail = frac % DIGITS_PER_WORD
    if tail:
        groups.append((tail, DIG2BYTES[tail]))
    return tuple(groups)


_LAYOUTS: dict[tuple[int, int], tuple[tuple[tuple[int, int], ...], int]] = {}


def _layout(precision: int, frac: int) -> tuple[tuple[tuple[int, int], ...], int]:
    key = (precision, frac)
    layout = _LAYOUTS.get(key)
    if layout is None:
        if not (1 <= precision <= MAX_PRECISION and 0 <= frac <= MAX_SCALE and frac <= precision):
            raise EncodeError(
                f"invalid DECIMAL({precision},{frac}): precision must be 1..65, scale 0..30 "
                "and scale <= precision"
            )
        groups = _group_sizes(precision, frac)
        layout = (groups, sum(size for _, size in groups))
        _LAYOUTS[key] = layout
    return layout


def bin_size(precision: int, frac: int) -> int:
    """Bytes of the binary form of ``DECIMAL(precision, frac)``."""
    return _layout(precision, frac)[1]


def precision_and_frac(value: Decimal) -> tuple[int, int]:
    """The precision and scale TiDB derives from a value alone (used when a column has none).

    Scale is the number of fraction digits as written; precision counts the integer digits
    without leading zeros plus the scale, and is at least 1.
    """
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    if exponent >= 0:
        frac = 0
        int_digits = len(text.lstrip("0")) + exponent if text.strip("0") else 0
    else:
        frac = -exponent
        int_digits = len(text[: max(0, len(text) - frac)].lstrip("0"))
    precision = int_digits + frac
    return max(precision, 1), frac


def decimal_to_bin(value: Decimal, precision: int, frac: int) -> bytes:
    """The binary form of ``value`` as ``DECIMAL(precision, frac)``.

    The value is rounded half-up to ``frac`` places; a value whose integer part has more digits
    than ``precision - frac`` raises :class:`EncodeError`.
    """
    groups, size = _layout(precision, frac)
    if not value.is_finite():
        raise EncodeError(f"cannot store {value} in DECIMAL({precision},{frac})")
    # value * 10**frac, rounded: the digits of every group, most significant first
    scaled = int(value.quantize(_QUANTS[frac], context=_CONTEXT).scaleb(frac, _CONTEXT))
    digits = -scaled if scaled < 0 else scaled
    if digits >= _POWERS[precision]:
        raise EncodeError(f"value {value} is out of range for DECIMAL({precision},{frac})")
    number = 0
    shift = 0
    for count, nbytes in reversed(groups):
        digits, group = divmod(digits, _POWERS[count])
        number |= group << shift
        shift += 8 * nbytes
    if scaled < 0:
        number ^= (1 << (8 * size)) - 1
    number ^= 0x80 << (8 * (size - 1))
    return number.to_bytes(size, "big")


def decimal_from_bin(data: bytes, pos: int, precision: int, frac: int) -> tuple[Decimal, int]:
    """Decode a binary decimal of ``DECIMAL(precision, frac)`` at ``data[pos:]``.

    Returns the value (with exactly ``frac`` fraction digits) and the position after it.
    """
    groups, size = _layout(precision, frac)
    end = pos + size
    if end > len(data):
        raise EncodeError("truncated binary decimal")
    number = int.from_bytes(data[pos:end], "big")
    number ^= 0x80 << (8 * (size - 1))
    negative = not (data[pos] & 0x80)
    if negative:
        number ^= (1 << (8 * size)) - 1
    shift = 8 * size
    parts: list[str] = []
    for count, nbytes in groups:
        shift -= 8 * nbytes
        group = (number >> shift) & ((1 << (8 * nbytes)) - 1)
        if group >= 10**count:
            raise EncodeError("invalid binary decimal: a digit group is out of range")
        parts.append(str(group).rjust(count, "0"))
    text = "".join(parts)
    digits = tuple(int(ch) for ch in text) or (0,)
    return Decimal((1 if negative else 0, digits, -frac)), end
