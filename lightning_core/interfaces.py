"""The types that flow between components, and the interfaces plugins implement.

This module and :mod:`lightning_core.hookspecs` are the whole plugin contract; the docstrings
here are its reference. Data flows one way: ``SourceFile`` → ``Chunk`` → a ``SourceReader``
yields ``RowBatch`` es → an ``Encoder`` turns them into what a backend writes → an
``EngineWriter`` (in a worker process, opened by a ``BackendWorker``) puts them into an
``Engine`` → the ``Backend`` (in the main process) closes and imports engines → the ``Target``
holds the tables and checks them after import.

Which process runs what: the main process builds the ``Backend``, the ``Target`` and the
checkpoint store, and owns every checkpoint write; each worker process builds its own
``BackendWorker`` (and through it writers and encoders) from the records, so nothing of the
main process (connections, channels, open stores) is shared with a worker.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs

if TYPE_CHECKING:
    from lightning_core.kv.checksum import KVChecksum
    from lightning_core.pipeline.plan import ImportPlan
    from lightning_core.schema.model import TableInfo


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


# --- engines ------------------------------------------------------------------------------

#: The namespace of engine UUIDs (UUIDv5 of the engine tag), as TiDB Lightning derives them.
ENGINE_NAMESPACE = uuid.UUID("d68d6abe-c59e-45d6-ade8-e2b0ceb7bedf")
#: The engine ID of a table's index engine; data engines are numbered from 0.
INDEX_ENGINE_ID = -1


@attrs.frozen
class Engine:
    """One engine of a table: a set of KV pairs imported as a whole.

    A table has data engines ``0, 1, ...`` (its chunks, grouped by ``[mydumper] batch-size``) and
    one index engine (``INDEX_ENGINE_ID``) that takes the index pairs of every chunk.
    """

    table: str
    """Target name of the table, as ```db`.`table```."""
    id: int

    @property
    def tag(self) -> str:
        """```db`.`table`:<id>``: the engine's name in logs and the source of its UUID."""
        return f"{self.table}:{self.id}"

    @property
    def uuid(self) -> uuid.UUID:
        """The engine's UUID (the same one TiDB Lightning gives this engine)."""
        return uuid.uuid5(ENGINE_NAMESPACE, self.tag)

    @property
    def is_index(self) -> bool:
        """True for the table's index engine."""
        return self.id == INDEX_ENGINE_ID

    @property
    def names(self) -> tuple[str, str]:
        """The table's database and name, unquoted."""
        quoted = self.table
        split = quoted.index("`.`", 1)
        while quoted[1:split].replace("``", "").count("`"):  # a "`.`" inside the database name
            split = quoted.index("`.`", split + 1)
        return quoted[1:split].replace("``", "`"), quoted[split + 3 : -1].replace("``", "`")


def _zero_checksum() -> KVChecksum:
    from lightning_core.kv.checksum import KVChecksum  # the kv package reads RowBatch from here

    return KVChecksum()


@attrs.frozen(kw_only=True)
class ChunkProgress:
    """What a backend durably holds of one chunk: it survives a kill of any process."""

    position: ReadPosition
    """Where reading continues; ``position.rows`` rows of the chunk are durable."""
    bytes: int = 0
    """Source bytes of the chunk that are durable (0 where offsets do not measure the file)."""
    checksum: KVChecksum = attrs.field(factory=_zero_checksum, eq=False)
    """Lightning's checksum of the KV pairs the durable rows gave (zero when a backend writes
    no KV pairs)."""
    max_row_id: int = 0
    """The largest row ID / auto-increment / auto-random value the durable rows used."""
    warnings: int = 0
    """Warnings the target gave while writing the durable rows (values it changed to fit)."""
    skipped: int = 0
    """Durable rows the target refused and ``[lightning] max-error`` let the import skip."""

    @property
    def rows(self) -> int:
        """Rows of the chunk that are durable."""
        return self.position.rows


@attrs.frozen(kw_only=True)
class TargetTable:
    """A table of the target, as the target has it."""

    schema: str
    name: str
    columns: tuple[str, ...]
    """Names of the columns rows are written to, in table order, as the target spells them.
    Generated columns are left out: the server computes them, and dumps do not hold them."""
    table_id: int = 0
    """The target's ID of the table (0 where the target has none): a table dropped and
    created again behind a checkpoint has a new ID."""
    model: TableInfo | None = attrs.field(default=None, eq=False, repr=False)
    """The table model, for backends whose record sets ``needs_table_model``."""
    lookup: dict[str, str] = attrs.field(eq=False, repr=False)
    """Lower-cased column name → the target's spelling (MySQL column names ignore case)."""

    @lookup.default
    def _lookup(self) -> dict[str, str]:
        return {name.lower(): name for name in self.columns}

    @property
    def quoted(self) -> str:
        """```schema`.`name```, ready for SQL text."""
        from lightning_core.sqltext import quote_identifier  # sqltext uses Value from here

        return f"{quote_identifier(self.schema)}.{quote_identifier(self.name)}"


# --- the backend contract ---------------------------------------------------------------------


class EngineWriter(Protocol):
    """Writes the rows of one chunk into the engines of a table (in a worker process)."""

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress | None:
        """Write or stage the rows of a batch.

        :param source_bytes: source bytes of the chunk read up to ``batch.end`` (0 where offsets
            do not measure the file: compressed files, Parquet).
        :returns: the chunk's progress when everything up to ``batch.end`` is durable; None while
            the writer only buffers (the core records progress only when it is durable).
        """
        ...

    def close(self) -> ChunkProgress | None:
        """Flush what is buffered and release the writer.

        :returns: the chunk's durable progress after the flush; None when nothing was written.
        """
        ...


class BackendWorker(Protocol):
    """The per-process side of a backend: built inside each worker process by the record's
    ``worker_factory``; opens writers."""

    accepts_raw_sql: bool
    """True: rows of SQL sources may arrive as their source text (``RowBatch.texts``)."""

    def open_writer(
        self,
        *,
        table: TargetTable,
        engine: Engine,
        index_engine: Engine,
        chunk: Chunk,
        start: ChunkProgress | None,
    ) -> EngineWriter:
        """A writer for one chunk of ``table``.

        :param engine: the data engine the chunk belongs to.
        :param index_engine: the table's index engine.
        :param start: the chunk's durable progress from an earlier run (None: from the start).
        """
        ...

    def close(self) -> None:
        """Release connections and files of this process."""
        ...


class Backend(Protocol):
    """The coordinating side of a backend, in the main process.

    Engine steps are idempotent: closing a closed engine, importing an imported one or cleaning
    up an engine it does not know are no-ops, so a resumed run may repeat any of them.
    """

    name: str

    def prepare(self, source_bytes: int) -> None:
        """Make ready to write (create ledgers, directories, check the cluster and the space).

        :param source_bytes: bytes of source data this run will import, for space checks.
        """
        ...

    def durable(self, chunk_keys: Sequence[str]) -> Mapping[str, ChunkProgress]:
        """What the backend durably holds of these chunks, when it keeps its own record (a
        ledger written with the data); chunks it knows nothing of are left out."""
        ...

    def close_engine(self, engine: Engine) -> None:
        """Make every row written to ``engine`` durable and accept no more."""
        ...

    def import_engine(self, engine: Engine) -> None:
        """Put a closed engine's pairs into the target."""
        ...

    def cleanup_engine(self, engine: Engine) -> None:
        """Delete what the backend kept of an imported engine."""
        ...

    def forget_chunks(self, chunk_keys: Sequence[str]) -> None:
        """Drop what the backend recorded of these chunks (their table starts over)."""
        ...

    def forget_task(self) -> None:
        """Drop everything the backend recorded for this task."""
        ...

    def resolved_checksum(self, table: str) -> KVChecksum | None:
        """Lightning's checksum of the pairs conflict resolution dropped from ``table``
        (```db`.`table```), which the expected checksum leaves out; None when it dropped
        nothing. Called once the table's engines are imported.

        Optional: the core treats a backend without this method as one that drops nothing.
        """
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class Target(Protocol):
    """The database the import fills: schemas, table models and post-import checks."""

    location: str
    """Where it is, for messages."""

    def create_schemas(self, plan: ImportPlan) -> None:
        """Create the plan's databases, tables and views that do not exist yet."""
        ...

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        """The table as the target has it, or None when it does not exist.

        :param model: also build the table model (``TargetTable.model``).
        """
        ...

    def count_rows(self, table: TargetTable) -> int:
        """Rows the table holds."""
        ...

    def checksum(self, table: TargetTable) -> KVChecksum | None:
        """The target's checksum of the table's KV pairs; None where the target has none."""
        ...

    def rebase(self, table: TargetTable, max_row_id: int) -> None:
        """Make the next auto-increment / auto-random / row ID larger than ``max_row_id``."""
        ...

    def analyze(self, table: TargetTable) -> None:
        """Refresh the table's statistics."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def drop_table(self, table: TargetTable) -> None:
        """Remove the table and every row of it (``tidb-lightning-ctl
        --checkpoint-error-destroy``: a failed table starts over on the next run, which
        creates it again from the dump's schema file)."""
        ...


T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class Encoder(Protocol[T_co]):
    """Turns row batches of one table into what a backend writes (statements, KV pairs)."""

    def encode_batch(self, batch: RowBatch, path: str) -> T_co:
        """Encode every row of ``batch``; errors name ``path:offset`` of the row."""
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

    def replace(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace every record with ``records`` in one step: a kill leaves either the old
        records or the new ones."""
        ...

    def reset(self) -> None:
        """Forget every record and remove what the store created."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


__all__ = [
    "ENGINE_NAMESPACE",
    "INDEX_ENGINE_ID",
    "Backend",
    "BackendWorker",
    "BinaryLiteral",
    "CheckpointStore",
    "Chunk",
    "ChunkProgress",
    "ConflictStrategy",
    "Encoder",
    "Engine",
    "EngineWriter",
    "FileKind",
    "ReadPosition",
    "RowBatch",
    "SourceFile",
    "SourceReader",
    "Target",
    "TargetTable",
    "Value",
]
