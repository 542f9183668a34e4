"""``LOAD DATA LOCAL INFILE`` of a batch, streamed from memory.

For the server, ``LOAD DATA`` is the cheapest way in: no SQL to parse, rows go straight to the
storage engine. It pays where the client has the values parsed anyway (CSV and Parquet
sources): writing them in LOAD DATA's default format (tab-separated, ``\\``-escaped, ``\\N``
for NULL) costs about what writing SQL literals does. SQL dumps are not converted: their rows
are sent as the dump's own INSERT text, which costs the client nothing.

The rows reach pymysql through a pipe named ``/dev/fd/N`` (no temporary file): the statement
names it, the server asks for it, pymysql opens and reads it while a thread writes the batch
into the other end.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal

from lightning_core import Value, quote_identifier

#: The server does not allow LOCAL INFILE (disabled, or refused for this client).
REFUSED = frozenset({1148, 2068, 3948})

_SPECIAL = re.compile(rb"[\\\t\n\x00]")
_ESCAPES = {b"\\": b"\\\\", b"\t": b"\\t", b"\n": b"\\n", b"\x00": b"\\0"}


def _escape(match: re.Match[bytes]) -> bytes:
    return _ESCAPES[match.group()]


def tsv(rows: Sequence[Sequence[Value]]) -> bytes | None:
    """``rows`` in LOAD DATA's default format, or None when a value has a type whose SQL
    meaning the format cannot carry (binary literals, floats, dates: the INSERT path writes
    those)."""
    lines = []
    sub = _SPECIAL.sub
    for row in rows:
        fields = []
        for value in row:
            kind = type(value)
            if kind is bytes:
                fields.append(sub(_escape, value))  # type: ignore[arg-type]
            elif value is None:
                fields.append(b"\\N")
            elif kind is str:
                fields.append(sub(_escape, value.encode()))  # type: ignore[union-attr]
            elif kind is int or kind is Decimal:
                fields.append(str(value).encode())
            else:
                return None
        lines.append(b"\t".join(fields))
    lines.append(b"")
    return b"\n".join(lines)


def load_statement(path: str, verb: str, table: str, columns: Sequence[str]) -> str:
    """The statement loading ``path`` into ``table``; ``verb`` is ``REPLACE``, ``IGNORE`` or
    empty (LOCAL then turns duplicates into warnings)."""
    names = ",".join(quote_identifier(c) for c in columns)
    # the format spelled out in hex: under NO_BACKSLASH_ESCAPES the default has no escape
    # character, and a quoted backslash or tab would not mean what it means elsewhere
    return (
        f"LOAD DATA LOCAL INFILE '{path}' {verb} INTO TABLE {table} CHARACTER SET binary "
        f"FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' ({names})"
    )


@contextlib.contextmanager
def memory_file(data: bytes) -> Iterator[str]:
    """A path whose reading yields ``data``, for as long as the context lasts."""
    read, write = os.pipe()

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(write, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed, name="load-data-feed", daemon=True)
    writer.start()
    try:
        yield f"/dev/fd/{read}"
    finally:
        os.close(read)  # a writer the server never read from gets EPIPE and ends
        writer.join()
