"""The TiDB table model: column types, columns, indexes and tables, as TiDB numbers them.

A :class:`TableInfo` is built from a ``CREATE TABLE`` statement (:mod:`.ddl`) or read from a
target server (:mod:`.information_schema`). Column IDs are ``1..n`` in definition order and
index IDs ``1..m`` in definition order, as TiDB assigns them for a new table; the table ID is
given by the caller.
"""

from __future__ import annotations

import enum

import attrs

from lightning_core.errors import SchemaError


class ColumnType(enum.IntEnum):
    """MySQL/TiDB column type codes (the byte TiDB stores in a column's field type)."""

    DECIMAL = 0
    """The pre-5.0 decimal; TiDB calls code 0 ``TypeUnspecified`` and never stores it."""
    TINY = 1
    SHORT = 2
    LONG = 3
    FLOAT = 4
    DOUBLE = 5
    NULL = 6
    TIMESTAMP = 7
    LONGLONG = 8
    INT24 = 9
    DATE = 10
    DURATION = 11
    """``TIME``."""
    DATETIME = 12
    YEAR = 13
    NEWDATE = 14
    VARCHAR = 15
    """``VARCHAR`` and ``VARBINARY``."""
    BIT = 16
    JSON = 245
    NEWDECIMAL = 246
    """``DECIMAL`` / ``NUMERIC``."""
    ENUM = 247
    SET = 248
    TINY_BLOB = 249
    """``TINYBLOB`` and ``TINYTEXT``."""
    MEDIUM_BLOB = 250
    LONG_BLOB = 251
    BLOB = 252
    """``BLOB`` and ``TEXT``."""
    VAR_STRING = 253
    STRING = 254
    """``CHAR`` and ``BINARY``."""
    GEOMETRY = 255

    UNSPECIFIED = 0  # TiDB names code 0 TypeUnspecified: an alias of DECIMAL


INTEGER_TYPES = frozenset(
    {
        ColumnType.TINY,
        ColumnType.SHORT,
        ColumnType.INT24,
        ColumnType.LONG,
        ColumnType.LONGLONG,
    }
)
STRING_TYPES = frozenset(
    {
        ColumnType.VARCHAR,
        ColumnType.VAR_STRING,
        ColumnType.STRING,
        ColumnType.TINY_BLOB,
        ColumnType.BLOB,
        ColumnType.MEDIUM_BLOB,
        ColumnType.LONG_BLOB,
    }
)
BLOB_TYPES = frozenset(
    {ColumnType.TINY_BLOB, ColumnType.BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB}
)
TIME_TYPES = frozenset({ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP})


@attrs.frozen(kw_only=True)
class FieldType:
    """The type of one column."""

    tp: ColumnType
    flen: int = -1
    """Display width (integers), length in characters (strings), precision (decimal), bit
    width (bit); -1 when unspecified."""
    decimal: int = -1
    """Scale (decimal, float/double), fractional-seconds precision (time types); -1 unspecified."""
    unsigned: bool = False
    zerofill: bool = False
    charset: str = "binary"
    collation: str = "binary"
    elems: tuple[str, ...] = ()
    """Member names of an ``ENUM`` / ``SET``, in order."""

    @property
    def is_integer(self) -> bool:
        """TINYINT … BIGINT (not YEAR, not BIT)."""
        return self.tp in INTEGER_TYPES

    @property
    def is_string(self) -> bool:
        """CHAR, VARCHAR, BINARY, VARBINARY and every TEXT/BLOB."""
        return self.tp in STRING_TYPES

    @property
    def is_blob(self) -> bool:
        """TEXT and BLOB of every size."""
        return self.tp in BLOB_TYPES

    @property
    def is_binary_string(self) -> bool:
        """A string type whose charset is ``binary`` (BINARY, VARBINARY, BLOB)."""
        return self.tp in STRING_TYPES and self.charset == "binary"

    @property
    def is_time(self) -> bool:
        """DATE, DATETIME or TIMESTAMP."""
        return self.tp in TIME_TYPES


@attrs.frozen(kw_only=True)
class ColumnInfo:
    """One column of a table."""

    id: int
    name: str
    offset: int
    """Position of the column in the table, from 0."""
    ft: FieldType
    not_null: bool = False
    default: object = None
    """The canonical value (see :mod:`.values`) of the ``DEFAULT`` literal."""
    has_default: bool = False
    default_expr: str | None = None
    """A default computed at insert time, e.g. ``CURRENT_TIMESTAMP`` or ``CURRENT_TIMESTAMP(3)``."""
    auto_increment: bool = False
    generated_expr: str | None = None
    """The expression of a generated column, in MySQL syntax."""
    generated_stored: bool = False
    on_update_expr: str | None = None
    """``ON UPDATE CURRENT_TIMESTAMP``; not used while importing."""
    auto_random_bits: int = 0
    """Shard bits of an ``AUTO_RANDOM`` primary key column, 0 otherwise."""

    @property
    def is_generated(self) -> bool:
        """Whether the column is a generated (computed) column."""
        return self.generated_expr is not None


@attrs.frozen(kw_only=True)
class IndexColumn:
    """One column of an index."""

    name: str
    offset: int
    """Offset of the column in the table."""
    length: int = -1
    """Prefix length in characters (bytes for binary strings); -1 indexes the whole column."""


@attrs.frozen(kw_only=True)
class IndexInfo:
    """One index (or the primary key) of a table."""

    id: int
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    primary: bool = False


@attrs.frozen(kw_only=True)
class TableInfo:
    """A table as TiDB models it.

    ``pk_is_handle``: the primary key is one integer column and clustered, so the column value
    is the row handle and the primary key gets no index entries. ``is_common_handle``: the
    primary key is clustered but not a single integer column, so its encoded values form the
    handle. Otherwise rows get a hidden ``_tidb_rowid`` handle.
    """

    id: int
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    indexes: tuple[IndexInfo, ...]
    pk_is_handle: bool = False
    is_common_handle: bool = False
    auto_random_bits: int = 0
    shard_row_id_bits: int = 0
    charset: str = "utf8mb4"
    collation: str = "utf8mb4_bin"
    auto_increment: int | None = None
    """The ``AUTO_INCREMENT=`` table option, if given."""

    @property
    def primary_index(self) -> IndexInfo | None:
        """The primary key, or None."""
        for index in self.indexes:
            if index.primary:
                return index
        return None

    @property
    def handle_column(self) -> ColumnInfo | None:
        """The integer primary key column that is the row handle (only when ``pk_is_handle``)."""
        if not self.pk_is_handle:
            return None
        pk = self.primary_index
        assert pk is not None
        return self.columns[pk.columns[0].offset]

    @property
    def stored_indexes(self) -> tuple[IndexInfo, ...]:
        """The indexes that get index KV pairs: all but a clustered primary key."""
        if not (self.pk_is_handle or self.is_common_handle):
            return self.indexes
        return tuple(index for index in self.indexes if not index.primary)

    @property
    def qualified_name(self) -> str:
        """```schema`.`name``` with backquotes doubled as MySQL requires."""
        return f"`{self.schema.replace('`', '``')}`.`{self.name.replace('`', '``')}`"

    def column(self, name: str) -> ColumnInfo:
        """The column called ``name`` (case-insensitive, as MySQL compares column names)."""
        lowered = name.lower()
        for column in self.columns:
            if column.name.lower() == lowered:
                return column
        raise SchemaError(
            f"table {self.qualified_name} has no column `{name}`; "
            "check the source file's column list against the table schema"
        )
