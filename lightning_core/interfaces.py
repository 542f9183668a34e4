"""The types that flow between components, and the interfaces plugins implement.

Data flows one way: ``SourceFile`` → ``Chunk`` → a ``SourceReader`` yields ``RowBatch`` es →
an encoder turns them into what a backend writes → an ``EngineWriter`` → the ``Backend``.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs


class BinaryLiteral(bytes):
    """The bytes of a hex (``0x31``, ``X'31'``) or bit (``0b1``, ``b'1'``) literal.

    A binary string, except in numeric context where MySQL reads it as an unsigned binary
    number: ``0x31`` stores 49 in an INT column where ``'1'`` stores 1. With a charset
    introducer (``_binary 0x31``) the literal is a plain string, and reads as ``bytes``.
    """

    __slots__ = ()


#: A value read from a source. SQL/CSV strings are ``bytes`` exactly as in the file after
#: unescaping; unquoted SQL numbers are ``int`` or ``Decimal`` (``Decimal`` keeps every digit and
#: the exponent of a float literal); ``0x``/``x''``/``b''`` literals are :class:`BinaryLiteral`
#: (``bytes`` that are a number in numeric columns); NULL is None.
#: Parquet adds ``str``, ``float``, ``bool`` and the ``datetime`` types.
Value = (
    None
    | int
    | float
    | Decimal
    | bytes
    | str
    | bool
    | datetime.date
    | datetime.datetime
    | datetime.time
    | datetime.timedelta
)


class FileKind(enum.Enum):
    """What a file of the data source holds."""

    SCHEMA_CREATE = "schema-schema"
    TABLE_SCHEMA = "table-schema"
    VIEW_SCHEMA = "view-schema"
    DATA = "data"


@attrs.frozen(kw_only=True)
class SourceFile:
    """One file of the data source, classified by the routing rules."""

    path: str
    """Absolute path."""
    schema: str
    """Source database name (before ``[[routes]]``)."""
    table: str | None = None
    """Source table name; None for a schema-create file."""
    kind: FileKind
    format: str | None = None
    """``sql``, ``csv`` or ``parquet`` for data files."""
    compression: str | None = None
    """``gz``, ``zst`` or None."""
    sort_key: str = ""
    """The sequence part of the name (``000001``), used to order a table's files."""
    size: int = 0
    """Size on disk in bytes."""


@attrs.frozen(kw_only=True)
class Chunk:
    """A byte range of one data file that one worker reads.

    Offsets are in the decompressed stream; a compressed file is always one chunk.
    """

    file: SourceFile
    index: int
    """Ordinal of the chunk within its file."""
    offset: int = 0
    end: int | None = None
    """End offset (exclusive); None reads to the end of the file."""
    columns: tuple[str, ...] | None = None
    """Column names in force at ``offset`` (a CSV header for chunks after the first)."""
    row_id_base: int = 0
    """Rows of the table before this chunk, an upper bound used to allocate row IDs."""

    @property
    def key(self) -> str:
        """Stable identity of the chunk within a task (used by checkpoints)."""
        return f"{self.file.path}:{self.offset}"


@attrs.frozen(kw_only=True)
class ReadPosition:
    """Where a reader can continue; recorded in checkpoints after each committed batch."""

    offset: int
    """Byte offset in the decompressed file of the next unread row or statement."""
    rows: int = 0
    """Rows of the chunk read before ``offset``."""
    columns: tuple[str, ...] | None = None
    """Column list in force at ``offset`` (SQL column list or CSV header)."""
    mid_statement: bool = False
    """SQL only: ``offset`` lies inside a VALUES list, before the ``,`` or ``;`` that follows
    a row tuple."""


@attrs.frozen(kw_only=True)
class RowBatch:
    """Consecutive rows of a chunk, all with the same column list."""

    columns: tuple[str, ...] | None
    """Source column names, or None when the source does not name them (table order)."""
    rows: list[tuple[Value, ...]]
    """The values of each row; empty when the reader gave ``texts`` instead."""
    offsets: list[int]
    """Byte offset where each row starts, for error messages."""
    end: ReadPosition
    """Position just after the last row of the batch."""
    texts: list[bytes] | None = None
    """With ``raw_sql``: each row's value tuple ``(...)`` exactly as the SQL source has it,
    unparsed; a backend speaking the same SQL sends it on as it is."""

    @property
    def count(self) -> int:
        """Number of rows in the batch."""
        return len(self.offsets)


@runtime_checkable
class SourceReader(Protocol):
    """Reads the rows of one chunk; created by a source-reader record's factory."""

    def batches(self) -> Iterator[RowBatch]:
        """Yield the rows of the chunk from the start position to the chunk's end."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


@attrs.frozen(kw_only=True)
class ChunkResult:
    """What writing a chunk (or part of it) achieved."""

    rows: int
    bytes: int


class ConflictStrategy(Protocol):
    """How rows that collide with existing unique keys are resolved.

    The TiDB backend asks the strategy for the verb of its statements; KV backends ask it what
    to do with duplicate keys found after import.
    """

    name: str

    def insert_verb(self) -> str:
        """The statement head, e.g. ``REPLACE INTO`` or ``INSERT IGNORE INTO``."""
        ...

    def statement_tail(self, columns: tuple[str, ...]) -> str:
        """Text after the VALUES list, e.g. ``ON DUPLICATE KEY UPDATE ...``; empty for none.

        :param columns: quoted target column names the statement writes.
        """
        ...

    def on_duplicate_error(self, table: str, key: str, where: str) -> None:
        """Called when the target reports a duplicate key; raise the error to stop with.

        If it returns, the import stops with a ``DuplicateKeyError`` naming the row.
        """
        ...


class EngineWriter(Protocol):
    """Writes the rows of one table's engine into a backend."""

    def append_rows(self, batch: RowBatch) -> ChunkResult:
        """Write (or stage) the rows of a batch; durable when it returns."""
        ...

    def close(self) -> None:
        """Flush and release what the writer holds."""
        ...


class Backend(Protocol):
    """Where rows go: a target server or a KV store."""

    name: str

    def close(self) -> None:
        """Release connections and files."""
        ...


class CheckpointStore(Protocol):
    """A durable append-only log of small JSON records (see ``lightning_core.checkpoints``)."""

    location: str
    """Where the records are kept, for messages (a path or ``db.table``)."""

    def read(self) -> list[dict[str, Any]]:
        """Every record saved so far, oldest first."""
        ...

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Save records; they survive a kill of this process once this returns."""
        ...

    def reset(self) -> None:
        """Forget every record."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


__all__ = [
    "Backend",
    "BinaryLiteral",
    "CheckpointStore",
    "Chunk",
    "ChunkResult",
    "ConflictStrategy",
    "EngineWriter",
    "FileKind",
    "ReadPosition",
    "RowBatch",
    "SourceFile",
    "SourceReader",
    "Value",
]
