"""The per-table work of the KV encoder, prepared once: what each row turns into which bytes.

:class:`.encoder.TableKVEncoder` builds a :class:`TablePlan` from the table and runs it per row.
A native kernel (the ``kv-native`` encoder) runs the same plan: every step carries both a
Python callable and, where the bytes follow a simple rule, a kind code naming that rule, so a
kernel implements the kinds it knows and calls the callable for the rest (``OTHER``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from lightning_core.schema.convert import Converter, DatetimeText, Passthrough

KeyEncoder = Callable[[Any], bytes]
ValueEncoder = Callable[[Any], bytes]
Truncator = Callable[[Any], Any]


class KeyKind(enum.IntEnum):
    """How a non-NULL value becomes a comparable datum (flag byte + payload) in a key."""

    OTHER = 0
    """Only the callable knows (TIME/duration, DECIMAL without a precision)."""
    INT = 1
    """``03`` + 8 bytes big-endian of ``value + 2**63`` (signed integers, YEAR)."""
    UINT = 2
    """``04`` + 8 bytes big-endian (unsigned integers, ENUM, SET, BIT)."""
    FLOAT = 3
    """``05`` + the memcomparable float."""
    BYTES = 4
    """``01`` + memcomparable bytes of the collation key (see :class:`CollationKind`)."""
    TIME = 5
    """``04`` + 8 bytes big-endian of the packed DATE/DATETIME/TIMESTAMP."""
    DECIMAL = 6
    """``06`` + precision + scale + MyDecimal binary, of the column's ``decimal`` layout."""


class CollationKind(enum.IntEnum):
    """The sort key of a BYTES key column."""

    BINARY = 0
    """The bytes themselves."""
    PAD_BIN = 1
    """Trailing spaces removed."""
    GENERAL_CI = 2
    """utf8mb4_general_ci weights (the ``collate`` callable has the full rule)."""


class ValueKind(enum.IntEnum):
    """How a non-NULL value becomes its column data in a row-format-v2 value."""

    OTHER = 0
    """Only the callable knows (TIME/duration, JSON, DECIMAL without a precision)."""
    INT = 1
    """Fewest of 1/2/4/8 bytes, little-endian, signed."""
    UINT = 2
    """Fewest of 1/2/4/8 bytes, little-endian, unsigned."""
    FLOAT = 3
    """The 8-byte memcomparable float."""
    BYTES = 4
    """The bytes."""
    TIME = 5
    """The packed time as UINT."""
    DECIMAL = 6
    """Precision + scale + MyDecimal binary, of the column's ``decimal`` layout."""


@attrs.frozen(kw_only=True)
class Prefix:
    """A prefix-index length: ``length`` characters (UTF-8) or bytes (``in_bytes``)."""

    length: int
    in_bytes: bool
    truncate: Truncator


@attrs.frozen(kw_only=True)
class ConversionStep:
    """Source value at ``position`` → canonical value of the column at ``offset``."""

    offset: int
    position: int
    convert: Converter
    passthrough: Passthrough | None
    """Values ``convert`` returns unchanged (a kernel may skip the call for them)."""
    datetime_text: DatetimeText | None = None
    """Date text a kernel may parse itself."""


@attrs.frozen(kw_only=True)
class KeyColumn:
    """One column of an index key (or of a clustered primary key)."""

    offset: int
    kind: KeyKind
    encode: KeyEncoder
    """Flag byte + payload of a non-NULL (already truncated) value."""
    collation: CollationKind = CollationKind.BINARY
    collate: Callable[[bytes], bytes] | None = None
    prefix: Prefix | None = None
    decimal: tuple[int, int] | None = None
    """``(precision, scale)`` of a DECIMAL kind."""


@attrs.frozen(kw_only=True)
class RestoreColumn:
    """One column of an index value's restored data (a row-format-v2 value)."""

    column_id: int
    from_row: bool
    """True: the row's value at ``position`` (a column offset), cut by ``prefix``; False: the
    index's own (already cut) value at ``position`` in the index columns."""
    position: int
    as_count: bool
    """Store the count of trailing spaces (a ``_bin`` collation in a clustered table)."""
    kind: ValueKind
    encode: ValueEncoder
    prefix: Prefix | None = None
    decimal: tuple[int, int] | None = None
    """``(precision, scale)`` of a DECIMAL kind."""


@attrs.frozen(kw_only=True)
class IndexPlan:
    """One stored index: key ``prefix ‖ datums [‖ handle]`` and its value."""

    prefix: bytes
    unique: bool
    columns: tuple[KeyColumn, ...]
    restore: tuple[RestoreColumn, ...] | None
    """Restored data columns sorted by column id, or None when the value has none."""


@attrs.frozen(kw_only=True)
class ValueColumn:
    """A column the record value can hold."""

    column_id: int
    offset: int
    kind: ValueKind
    encode: ValueEncoder
    null_default: bool
    """A NULL is left out entirely (its default is NULL) instead of listed as NULL."""
    decimal: tuple[int, int] | None = None
    """``(precision, scale)`` of a DECIMAL kind."""


@attrs.frozen(kw_only=True)
class TablePlan:
    """Everything per table that turns converted values into KV pairs."""

    record_prefix: bytes
    common_handle: bool
    handle_offset: int
    """Offset of the int primary key that is the handle, or -1."""
    handle_unsigned: bool
    pk_columns: tuple[KeyColumn, ...]
    """The clustered primary key's columns (common handle), else empty."""
    row_columns: tuple[ValueColumn, ...]
    """Sorted by column id."""
    indexes: tuple[IndexPlan, ...]
    auto_increment_offset: int
    """-1 when there is none."""
    auto_random_offset: int
    shard_bits: int
    shard_seed: int
