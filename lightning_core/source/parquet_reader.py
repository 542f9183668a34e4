"""Read Parquet data files with pyarrow.

A Parquet file is always one chunk. Positions in it are **row indexes**, not byte offsets:
``ReadPosition.offset`` is the index of the next row to read and ``RowBatch.offsets`` are the
indexes of the rows, so a checkpoint resumes at an exact row. Rows are read record batch by
record batch (bounded memory); resuming skips whole row groups through the file's metadata.

Column types map to ``Value`` types: integers → ``int``, floating point → ``float``, decimals →
``Decimal``, strings → ``str``, binary → ``bytes``, booleans → ``bool``, dates → ``date``,
times → ``time`` (time of day, whatever ``isAdjustedToUTC`` says), durations → ``timedelta``,
null → None; nanoseconds are truncated to microseconds.

Timestamps follow Parquet's ``isAdjustedToUTC``, as Lightning does: an adjusted timestamp (and
a legacy INT96 one, which Lightning also reads as UTC) is an instant, an aware ``datetime`` in
UTC, which the encoders put into the session time zone; one that is not adjusted is a wall-clock
time, a naive ``datetime`` stored as written (a TIMESTAMP column reads it in the session time
zone).
Dictionary-encoded columns are decoded. Other types (lists, structs, maps, ...) are a
``SourceError`` naming the column and its type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk, ReadPosition, RowBatch, Value

BATCH_ROWS = 4096
"""Rows per yielded batch (at most)."""

_Convert = Callable[[Any], list[Value]]


def _converter(path: str, name: str, type_: Any, physical_type: str) -> _Convert:
    """How to turn a pyarrow array of ``type_`` into Python values.

    :param physical_type: the column's Parquet type (``INT96``, ``INT64``, ...).
    """
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(type_):
        inner = _converter(path, name, type_.value_type, physical_type)
        return lambda array: inner(array.dictionary_decode())
    if pt.is_timestamp(type_):
        # pyarrow gives isAdjustedToUTC=true a time zone; INT96 has no flag and is UTC
        is_instant = type_.tz is not None or physical_type == "INT96"
        target = pa.timestamp("us", tz="UTC" if is_instant else None)
        return lambda array: array.cast(target, safe=False).to_pylist()
    if pt.is_time(type_):
        target_time = pa.time64("us")
        return lambda array: array.cast(target_time, safe=False).to_pylist()
    if pt.is_duration(type_):
        target_duration = pa.duration("us")
        return lambda array: array.cast(target_duration, safe=False).to_pylist()
    if pt.is_float16(type_):
        return lambda array: array.cast(pa.float32()).to_pylist()
    if (
        pt.is_integer(type_)
        or pt.is_floating(type_)
        or pt.is_decimal(type_)
        or pt.is_string(type_)
        or pt.is_large_string(type_)
        or pt.is_binary(type_)
        or pt.is_large_binary(type_)
        or pt.is_fixed_size_binary(type_)
        or pt.is_boolean(type_)
        or pt.is_date(type_)
        or pt.is_null(type_)
    ):
        return lambda array: array.to_pylist()
    raise SourceError(
        path,
        0,
        f"column {name!r} has Parquet type {type_}, which cannot be imported; "
        "convert it to a scalar type (or drop the column) before importing",
    )


class ParquetReader:
    """Reads the rows of a Parquet file; positions are row indexes (see the module docstring).

    :param chunk: the file; ``chunk.offset`` and ``chunk.end`` (None = all) are row indexes.
    :param mydumper: ``[mydumper]`` options (unused; kept for the common reader signature).
    :param sql_mode: unused by Parquet.
    :param start: a ``RowBatch.end`` of an earlier read of this chunk, to resume after it.
    """

    def __init__(
        self,
        *,
        chunk: Chunk,
        mydumper: MydumperConfig,
        sql_mode: str,
        start: ReadPosition | None = None,
    ) -> None:
        self.chunk = chunk
        self.mydumper = mydumper
        self.sql_mode = sql_mode
        self.start = start
        self._file: Any = None

    def _open(self) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.chunk.file.path
        try:
            if self.chunk.file.compression is None:
                return pq.ParquetFile(path)
            # pyarrow needs random access: a compressed Parquet file is read into memory.
            from lightning_core.source.compression import open_decompressed

            with open_decompressed(path, self.chunk.file.compression) as stream:
                return pq.ParquetFile(pa.BufferReader(stream.read()))
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(path, 0, f"cannot open as Parquet: {exc}") from exc

    def batches(self) -> Iterator[RowBatch]:
        """Yield batches of up to ``BATCH_ROWS`` rows from the start row to the chunk's end."""
        import pyarrow as pa

        path = self.chunk.file.path
        self._file = parquet = self._open()
        try:
            schema = parquet.schema_arrow
            physical_types = {column.path: column.physical_type for column in parquet.schema}
            converters = [
                _converter(path, f.name, f.type, physical_types.get(f.name, "")) for f in schema
            ]
        except SourceError:
            self.close()
            raise
        columns = tuple(schema.names)
        first = self.start.offset if self.start is not None else self.chunk.offset
        rows_read = self.start.rows if self.start is not None else 0
        total = parquet.metadata.num_rows
        last = total if self.chunk.end is None else min(self.chunk.end, total)
        # Skip the row groups that end before the first row.
        groups: list[int] = []
        skip = first
        for index in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(index).num_rows
            if skip >= size and not groups:
                skip -= size
                continue
            groups.append(index)
        row = first - skip
        try:
            if first < last and groups:
                batches = parquet.iter_batches(
                    batch_size=BATCH_ROWS, row_groups=groups, use_threads=False
                )
                for record_batch in batches:
                    if row >= last:
                        break
                    length = record_batch.num_rows
                    lo = max(first - row, 0)
                    hi = min(length, last - row)
                    if lo >= hi:
                        row += length
                        continue
                    part = record_batch.slice(lo, hi - lo)
                    values = [
                        convert(column)
                        for convert, column in zip(converters, part.columns, strict=True)
                    ]
                    rows: list[tuple[Value, ...]] = (
                        list(zip(*values, strict=True)) if values else [() for _ in range(hi - lo)]
                    )
                    rows_read += len(rows)
                    yield RowBatch(
                        columns=columns,
                        rows=rows,
                        offsets=list(range(row + lo, row + hi)),
                        end=ReadPosition(offset=row + hi, rows=rows_read, columns=columns),
                    )
                    row += length
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(path, row, f"cannot read Parquet rows: {exc}") from exc
        finally:
            self.close()

    def close(self) -> None:
        """Release the file."""
        if self._file is not None:
            closer = getattr(self._file, "close", None)
            if closer is not None:
                closer()
            self._file = None


__all__ = ["BATCH_ROWS", "ParquetReader"]
