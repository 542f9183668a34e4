"""Rows to ``INSERT`` / ``REPLACE`` / ``INSERT IGNORE`` statements for a target table."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

import attrs

from lightning_core import (
    ConflictStrategy,
    EncodeError,
    RowBatch,
    TargetTable,
    format_row,
    quote_identifier,
)

DEFAULT_STATEMENT_BYTES = 1024 * 1024


@attrs.frozen
class _Shape:
    head: bytes
    tail: bytes
    names: tuple[str, ...]
    """Target columns the values go to."""

    @property
    def width(self) -> int:
        return len(self.names)


@attrs.frozen
class Statement:
    """One statement and the rows of the batch it carries (``batch.rows[first:first+count]``)."""

    sql: bytes
    first: int
    count: int


class SqlStatementEncoder:
    """Encodes the batches of one table; one instance per writer, reused for every batch.

    :param table: the target table (name and column names).
    :param strategy: the conflict strategy: statement verb (e.g. ``REPLACE INTO``) and tail.
    :param no_backslash_escapes: the target's sql_mode has ``NO_BACKSLASH_ESCAPES``.
    :param max_bytes: a statement is closed once it reaches this size (one row always fits).
    """

    def __init__(
        self,
        table: TargetTable,
        strategy: ConflictStrategy,
        *,
        no_backslash_escapes: bool = False,
        max_bytes: int = DEFAULT_STATEMENT_BYTES,
    ) -> None:
        self.table = table
        self._strategy = strategy
        self._verb = f"{strategy.insert_verb()} {table.quoted} ".encode()
        self._no_backslash_escapes = no_backslash_escapes
        self._max_bytes = max_bytes
        self._shapes: dict[tuple[str, ...] | None, _Shape] = {}

    def _shape_for(self, columns: tuple[str, ...] | None, path: str, offset: int) -> _Shape:
        """Statement head and tail with the column list mapped onto the target."""
        shape = self._shapes.get(columns)
        if shape is not None:
            return shape
        if columns is None:  # values in table order; named anyway, to skip generated columns
            names = self.table.columns
        else:
            names = tuple(self._target_column(name, path, offset) for name in columns)
        column_list = ",".join(quote_identifier(n) for n in names)
        head = self._verb + f"({column_list}) VALUES ".encode()
        tail = self._strategy.statement_tail(tuple(quote_identifier(n) for n in names))
        shape = _Shape(head, f" {tail}".encode() if tail else b"", tuple(names))
        self._shapes[columns] = shape
        return shape

    def target_columns(self, batch: RowBatch, path: str) -> tuple[str, ...]:
        """The target columns the values of ``batch`` go to, in order."""
        return self._shape_for(batch.columns, path, batch.offsets[0]).names

    @property
    def has_tail(self) -> bool:
        """The strategy adds text after the VALUES (``ON DUPLICATE KEY UPDATE ...``)."""
        return bool(self._strategy.statement_tail(()))

    def _target_column(self, name: str, path: str, offset: int) -> str:
        found = self.table.lookup.get(name.lower())
        if found is None:
            raise EncodeError(
                f"{path}:{offset}: column {name!r} of the source is not a column of "
                f"{self.table.quoted} (columns: {', '.join(self.table.columns)}); fix the "
                "source or the target table, or route it elsewhere"
            )
        return found

    def encode_batch(self, batch: RowBatch, path: str) -> list[Statement]:
        """The statements that write every row of ``batch``, in order."""
        if not batch.offsets:
            return []
        shape = self._shape_for(batch.columns, path, batch.offsets[0])
        head, tail = shape.head, shape.tail
        texts = batch.texts if batch.texts is not None else self._format(batch, shape, path)
        # ends[i]: bytes of rows 0..i-1 with a ',' after each. A statement holds the rows whose
        # end fits in what the limit leaves after its head, and always at least one row.
        ends = list(accumulate(map((1).__add__, map(len, texts)), initial=0))
        room = self._max_bytes - len(head)
        statements: list[Statement] = []
        first = 0
        count = len(texts)
        while first < count:
            stop = max(first + 1, bisect_right(ends, ends[first] + room, first + 1) - 1)
            sql = head + b",".join(texts[first:stop]) + tail
            statements.append(Statement(sql, first, stop - first))
            first = stop
        return statements

    def _format(self, batch: RowBatch, shape: _Shape, path: str) -> list[bytes]:
        """Each row's value tuple as SQL text for the target's sql_mode."""
        width = shape.width
        nbe = self._no_backslash_escapes
        texts = []
        for index, row in enumerate(batch.rows):
            if len(row) != width:
                raise EncodeError(
                    f"{path}:{batch.offsets[index]}: row has {len(row)} values but "
                    f"{width} columns are expected for {self.table.quoted}; fix the row"
                )
            texts.append(format_row(row, no_backslash_escapes=nbe))
        return texts

    def single_row(self, batch: RowBatch, index: int, path: str) -> bytes:
        """A statement writing only row ``index`` of ``batch`` (to find the row that fails)."""
        shape = self._shape_for(batch.columns, path, batch.offsets[0])
        return shape.head + self.row_text(batch, index) + shape.tail

    def row_text(self, batch: RowBatch, index: int) -> bytes:
        """Row ``index`` of ``batch`` as an SQL value tuple ``(...)``."""
        if batch.texts is not None:
            return batch.texts[index]
        return format_row(batch.rows[index], no_backslash_escapes=self._no_backslash_escapes)
