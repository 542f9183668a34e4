"""Split a table's data files into chunks that workers read in parallel.

* A compressed file is one chunk (offsets are in the decompressed stream, which cannot be
  entered in the middle); so is a parquet file.
* A CSV file is split only under ``strict-format = true``, which promises that no value contains
  a line terminator: each cut is placed about ``max-region-size`` bytes after the previous one
  and then moved forward to just after the next terminator (``[mydumper.csv] terminator``, or
  ``\\n`` when that is empty). Chunks after the first carry the header's column names.
* An SQL file larger than ``max-region-size`` is cut at the first statement end at or past
  each multiple of ``max-region-size``.

``row_id_base`` of a chunk is an upper bound on the rows of the table before it: its byte
offset plus, for each earlier file of the table, a bound on that file's rows (its size in bytes;
the decompressed size for a compressed file; the row count in a parquet file's footer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk, SourceFile
from lightning_core.source.compression import open_decompressed
from lightning_core.source.discovery import TablePlan

StatementEnds = Callable[[str, str | None, str], Iterator[int]]
"""``(path, compression, sql_mode) -> offsets just after each statement's ';'``."""
ReadHeader = Callable[[str, str | None, MydumperConfig], tuple[str, ...]]
"""``(path, compression, mydumper) -> the header's column names``."""

_SEARCH_BLOCK = 64 * 1024


def split_chunks(
    table: TablePlan,
    mydumper: MydumperConfig,
    sql_mode: str = "",
    *,
    statement_ends: StatementEnds | None = None,
    read_header: ReadHeader | None = None,
) -> list[Chunk]:
    """Return the chunks of every data file of ``table``, in file order.

    :param sql_mode: the target's SQL mode, which changes how SQL files are tokenised
        (``ANSI_QUOTES``, ``NO_BACKSLASH_ESCAPES``).
    :param statement_ends: finds statement boundaries of SQL files; defaults to
        ``lightning_core.source.sql_reader.statement_ends``.
    :param read_header: reads a CSV file's header; defaults to
        ``lightning_core.source.csv_reader.read_header``.
    """
    chunks: list[Chunk] = []
    base = 0
    last = len(table.data_files) - 1
    for position, file in enumerate(table.data_files):
        ranges, columns = _file_ranges(file, mydumper, sql_mode, statement_ends, read_header)
        for index, (start, end) in enumerate(ranges):
            chunks.append(
                Chunk(
                    file=file,
                    index=index,
                    offset=start,
                    end=end,
                    columns=columns if index > 0 else None,
                    row_id_base=base + start,
                )
            )
        if position < last:
            base += row_bound(file)
    return chunks


def _file_ranges(
    file: SourceFile,
    mydumper: MydumperConfig,
    sql_mode: str,
    statement_ends: StatementEnds | None,
    read_header: ReadHeader | None,
) -> tuple[list[tuple[int, int | None]], tuple[str, ...] | None]:
    """Byte ranges of one file (the last ends at None) and the columns of later chunks."""
    whole: list[tuple[int, int | None]] = [(0, None)]
    limit = mydumper.max_region_size
    if file.compression is not None or file.format == "parquet" or limit <= 0:
        return whole, None
    if file.format == "csv" and mydumper.strict_format and file.size > limit:
        terminator = (mydumper.csv.terminator or "\n").encode("utf-8")
        cuts = csv_cuts(file.path, file.size, limit, terminator)
        if not cuts:
            return whole, None
        columns = None
        if mydumper.csv.header and mydumper.csv.header_schema_match:
            reader = read_header or _default_read_header()
            columns = tuple(reader(file.path, file.compression, mydumper))
        return _ranges(cuts), columns
    if file.format == "sql" and file.size > limit:
        finder = statement_ends or _default_statement_ends()
        ends = finder(file.path, file.compression, sql_mode)
        return _ranges(sql_cuts(ends, file.size, limit)), None
    return whole, None


def _default_read_header() -> ReadHeader:
    # Imported on use: the CSV reader is another module's work and heavier than planning.
    from lightning_core.source.csv_reader import read_header

    return read_header


def _default_statement_ends() -> StatementEnds:
    from lightning_core.source.sql_reader import statement_ends

    return statement_ends


def _ranges(cuts: list[int]) -> list[tuple[int, int | None]]:
    starts = [0, *cuts]
    ends: list[int | None] = [*cuts, None]
    return list(zip(starts, ends, strict=True))


def sql_cuts(ends: Iterable[int], size: int, limit: int) -> list[int]:
    """Cut offsets: the first statement end at or past each multiple of ``limit``.

    Cuts at or beyond ``size`` are dropped, so no chunk is empty.
    """
    cuts: list[int] = []
    boundary = limit
    for end in ends:
        if end >= size:
            break
        if end >= boundary:
            cuts.append(end)
            boundary = (end // limit + 1) * limit
    return cuts


def csv_cuts(path: str, size: int, limit: int, terminator: bytes) -> list[int]:
    """Cut offsets for a strict-format CSV file, each just after a terminator.

    The next cut is searched from ``limit`` bytes after the previous one; cuts at the end of the
    file are dropped, so no chunk is empty.
    """
    if not terminator:
        raise ValueError("the terminator must not be empty")
    cuts: list[int] = []
    try:
        with open(path, "rb") as stream:
            position = limit
            while position < size:
                found = _find_after(stream, position, terminator)
                if found is None or found >= size:
                    break
                cuts.append(found)
                position = found + limit
    except OSError as exc:
        raise SourceError(path, 0, f"cannot read: {exc.strerror or exc}") from exc
    return cuts


def _find_after(stream: BinaryIO, position: int, terminator: bytes) -> int | None:
    """Offset just after the first ``terminator`` that starts at or after ``position``."""
    stream.seek(position)
    carried = b""
    carried_at = position
    while True:
        block = stream.read(_SEARCH_BLOCK)
        if not block:
            return None
        data = carried + block
        hit = data.find(terminator)
        if hit >= 0:
            return carried_at + hit + len(terminator)
        # Keep a tail in case the terminator straddles two blocks.
        keep = len(terminator) - 1
        tail = data[len(data) - keep :] if keep else b""
        carried_at += len(data) - len(tail)
        carried = tail


def row_bound(file: SourceFile) -> int:
    """An upper bound on the rows of a data file (every row takes at least one byte)."""
    if file.format == "parquet":
        import pyarrow.parquet

        try:
            return int(pyarrow.parquet.ParquetFile(file.path).metadata.num_rows)
        except (OSError, ValueError) as exc:
            raise SourceError(file.path, 0, f"cannot read the parquet footer: {exc}") from exc
    if file.compression is None:
        return file.size
    return _decompressed_size(file)


def _decompressed_size(file: SourceFile) -> int:
    total = 0
    try:
        with open_decompressed(file.path, file.compression) as stream:
            while block := stream.read(1 << 20):
                total += len(block)
    except SourceError:
        raise
    except Exception as exc:  # gzip, zstandard and the OS each raise their own kinds
        raise SourceError(file.path, total, f"cannot decompress: {exc}") from exc
    return total


__all__ = ["ReadHeader", "StatementEnds", "csv_cuts", "row_bound", "split_chunks", "sql_cuts"]
