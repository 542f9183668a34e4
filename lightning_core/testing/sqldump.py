"""Write mydumper-like ``.sql`` data files for tests and benchmarks."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from typing import BinaryIO, cast

from lightning_core.interfaces import Value
from lightning_core.sqltext import format_row, quote_identifier

__all__ = ["write_sql_dump"]

_HEADER = b"/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n\n"


def _open_for_write(path: str, compression: str | None) -> BinaryIO:
    if compression is None:
        return open(path, "wb")
    if compression == "gz":
        return cast(BinaryIO, gzip.open(path, "wb", compresslevel=1))
    if compression == "zst":
        import zstandard

        raw = open(path, "wb")  # noqa: SIM115
        return cast(BinaryIO, zstandard.ZstdCompressor(level=1).stream_writer(raw, closefd=True))
    raise ValueError(f"unknown compression {compression!r}; use gz, zst or None")


def write_sql_dump(
    path: str,
    table: str,
    columns: Sequence[str] | None,
    rows: Iterable[Sequence[Value]],
    *,
    rows_per_statement: int = 100,
    statement: str = "INSERT",
    no_backslash_escapes: bool = False,
    compression: str | None = None,
) -> None:
    """Write ``rows`` as ``INSERT INTO `table` [(cols)] VALUES (...),...;`` statements.

    The file starts with the ``SET NAMES binary`` header mydumper writes, and puts each row
    tuple on its own line as mydumper does.

    :param statement: the statement head before ``INTO``: ``INSERT``, ``REPLACE`` or
        ``INSERT IGNORE``.
    :param no_backslash_escapes: escape strings for a reader in ``NO_BACKSLASH_ESCAPES`` mode.
    :param compression: ``gz``, ``zst`` or None.
    """
    head = f"{statement} INTO {quote_identifier(table)}"
    if columns is not None:
        head += " (" + ",".join(quote_identifier(c) for c in columns) + ")"
    head_bytes = head.encode("utf-8") + b" VALUES\n"
    per_statement = max(1, rows_per_statement)
    with _open_for_write(path, compression) as out:
        out.write(_HEADER)
        pending: list[bytes] = []
        for row in rows:
            pending.append(format_row(row, no_backslash_escapes=no_backslash_escapes))
            if len(pending) >= per_statement:
                out.write(head_bytes + b",\n".join(pending) + b";\n")
                pending.clear()
        if pending:
            out.write(head_bytes + b",\n".join(pending) + b";\n")
