"""Write CSV and Parquet data files for tests, in the shapes the readers accept.

``write_csv`` is the inverse of ``lightning_core.source.csv_reader.CsvReader``: a file it writes
reads back to the same rows under the same ``CsvConfig``. A value the options cannot express
(a NULL under ``not-null``; a string equal to a ``null`` string; a separator inside a field
when there is neither quoting nor backslash escape; an empty unquoted last field under
``trim-last-separator``; a line of only whitespace) raises ``ValueError`` instead of writing a
file that reads back differently.
"""

from __future__ import annotations

import datetime
import gzip
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, BinaryIO

from lightning_core.config import CsvConfig
from lightning_core.interfaces import Value

_SPECIAL_ESCAPES = frozenset(b"0bnrtZN")
"""Letters that mean something after a backslash (``N`` only as a whole field)."""


def _value_bytes(value: Value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int | float | Decimal):
        return str(value).encode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ").encode("ascii")
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
        return str(value).encode("ascii")
    raise TypeError(f"cannot write a {type(value).__name__} to CSV")


class _FieldWriter:
    def __init__(self, csv: CsvConfig) -> None:
        self.csv = csv
        self.sep = csv.separator.encode("utf-8")
        self.delim = csv.delimiter.encode("utf-8")
        self.term = (csv.terminator or "\n").encode("utf-8")
        nulls = csv.null_strings()
        self.null = nulls[0].encode("utf-8") if nulls else b""
        self.nulls = frozenset(n.encode("utf-8") for n in nulls)
        if csv.escape() not in ("", "\\"):
            raise ValueError(f"escaped-by = {csv.escaped_by!r}: write_csv writes backslashes only")
        self.escape = csv.escape() == "\\"
        # Bytes that must be escaped in an unquoted field.
        starts = {self.sep[0], self.term[0], ord("\r"), ord("\n"), ord("\\")}
        self.unquoted_escapes = {
            c: b"\\n" if c == 10 else b"\\r" if c == 13 else b"\\" + bytes([c]) for c in starts
        }
        if any(c in _SPECIAL_ESCAPES for c in starts):
            self.unquoted_escapes = {}  # escaping would change the meaning: refuse instead

    def field(self, value: Value) -> bytes:
        if value is None:
            if self.csv.not_null:
                raise ValueError("not-null is set: NULL cannot be written")
            return self.null
        data = _value_bytes(value)
        csv = self.csv
        if data in self.nulls and not (self.escape and data == b"\\N"):
            raise ValueError(f"{value!r} equals a null string of {csv}: it would read as NULL")
        if self.delim:
            if self.escape:
                data = data.replace(b"\\", b"\\\\")
            return self.delim + data.replace(self.delim, self.delim * 2) + self.delim
        if self.escape and self.unquoted_escapes:
            escaped = bytearray()
            table = self.unquoted_escapes
            for c in data:
                escaped += table.get(c, bytes((c,)))
            return bytes(escaped)
        if any(s in data for s in (self.sep, self.term, b"\r", b"\n")) or (
            self.escape and b"\\" in data
        ):
            raise ValueError(f"{value!r} cannot be written unquoted under {csv}")
        return data

    def line(self, values: Sequence[Value]) -> bytes:
        fields = [self.field(v) for v in values]
        body = self.sep.join(fields)
        if self.csv.trim_last_separator:
            if len(fields) > 1 and not fields[-1]:
                raise ValueError("trim-last-separator drops an empty last field; write it quoted")
            body += self.sep
        if not body or (body.isspace() and self.sep not in body):
            raise ValueError("an empty or blank line is skipped by the reader: cannot be written")
        return body + self.term


def _open_for_write(path: str, compression: str | None) -> BinaryIO:
    if compression is None:
        return open(path, "wb")
    if compression == "gz":
        return gzip.open(path, "wb")  # type: ignore[return-value]
    if compression == "zst":
        import zstandard

        raw = open(path, "wb")  # noqa: SIM115
        return zstandard.ZstdCompressor().stream_writer(raw, closefd=True)
    raise ValueError(f"unknown compression {compression!r}")


def write_csv(
    path: str,
    columns: Sequence[str] | None,
    rows: Iterable[Sequence[Value]],
    csv: CsvConfig,
    *,
    compression: str | None = None,
) -> None:
    """Write ``rows`` (and a header of ``columns`` when ``csv.header``) as a CSV file.

    Every non-NULL field is quoted with the delimiter (doubling the delimiter inside, doubling
    backslashes under ``backslash-escape``); NULL is the ``null`` string, unquoted. Without a
    delimiter, separators and newlines are backslash-escaped, which needs ``backslash-escape``.

    :param compression: ``gz``, ``zst`` or None.
    :raises ValueError: a value cannot be expressed under ``csv`` (see the module docstring).
    """
    writer = _FieldWriter(csv)
    with _open_for_write(path, compression) as out:
        if csv.header:
            if columns is None:
                raise ValueError("header = true needs column names")
            out.write(writer.line(list(columns)))
        for row in rows:
            out.write(writer.line(row))


def write_parquet(
    path: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    schema: Any = None,
    *,
    row_group_size: int | None = None,
) -> None:
    """Write ``rows`` as a Parquet file with pyarrow (types inferred unless ``schema`` is given).

    :param schema: a ``pyarrow.Schema`` for the columns.
    :param row_group_size: rows per row group (pyarrow's default when None).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    materialised = [list(row) for row in rows]
    data = {name: [row[i] for row in materialised] for i, name in enumerate(columns)}
    table = pa.Table.from_pydict(data, schema=schema)
    pq.write_table(table, path, row_group_size=row_group_size)


__all__ = ["write_csv", "write_parquet"]
