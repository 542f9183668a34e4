"""Read CSV data files shaped by ``[mydumper.csv]``.

Two parsers share one set of rules and produce the same rows:

* the *general* parser, a bytes regex per field, handles every option (separators, delimiters
  and terminators of several characters, any terminator);
* the *fast* parser hands a block to Python's C ``csv`` module when the dialect allows it
  (one-byte separator and delimiter, terminator empty, ``\\n`` or ``\\r\\n``). Backslash escapes
  are first replaced by same-length markers outside latin-1, so the ``csv`` module never sees
  them and byte offsets stay exact; a record it cannot decide (a NULL-looking quoted field, a
  malformed record, a huge field) is handed to the general parser.

Rules, in both parsers:

* a field that starts with the delimiter is quoted: it ends at the next delimiter that is not
  doubled (``""`` stands for ``"``); separators and newlines inside are data; the closing
  delimiter must be followed by a separator, a terminator or the end of the file;
* any other field is unquoted and ends at a separator or terminator; a delimiter in it is a
  syntax error (``ab"c``), as TiDB Lightning reports it;
* with an escape character (``escaped-by``, ``\\`` by default; see ``CsvConfig.escape``),
  ``\\0 \\b \\n \\r \\t \\Z`` are NUL, backspace, LF, CR, tab and Ctrl-Z, and ``\\`` before any
  other byte keeps that byte literally (``\\\\``, ``\\"``, ``\\,``, an escaped newline), in
  quoted and unquoted fields alike;
* a field equal to one of the ``null`` strings after unescaping, quoted or not, is NULL, as
  TiDB Lightning reads it (so ``null = ''`` makes ``""`` NULL); with an escape character the
  escape ``\\N`` is NULL whether quoted or not (TiDB Lightning documents ``\\N,"\\N"`` as two
  NULLs) and whatever ``null`` is, while ``\\\\N`` stays the text ``\\N``; with ``not-null``
  nothing is NULL;
* with ``trim-last-separator`` the separator at the end of a record is dropped: one trailing
  empty unquoted field is removed, as TiDB Lightning removes the last empty value (the first
  field always stays);
* empty lines and lines of only whitespace (one unquoted field of spaces and tabs) are
  skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import BinaryIO

from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.errors import ConfigError, SourceError
from lightning_core.interfaces import Chunk, ReadPosition, RowBatch, Value
from lightning_core.source.charset import convert_values, text_converter
from lightning_core.source.compression import open_decompressed

BATCH_ROWS = 4096
"""Rows per yielded batch (at most)."""

_ESCAPES: dict[int, int] = {
    ord("0"): 0x00,
    ord("b"): 0x08,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
    ord("Z"): 0x1A,
}
"""Backslash sequences with a meaning; a backslash before any other byte keeps that byte."""


# Fast path markers: "\X" (two latin-1 characters) becomes _DROP + the byte it stands for, so a
# block keeps its length (byte offsets stay exact); _DROP is removed from the fields afterwards.
# When that byte would mean something to the csv module (separator, quote, newline), it is
# written as chr(0x100 + X) instead and translated back.
_DROP = "\u0200"
_MARK_RE = re.compile(r"\\[\s\S]")
_UNMARK = {0x100 + c: _ESCAPES.get(c, c) for c in range(256)}
_SENTINELS = [chr(c) for c in range(32)]


def _marks(specials: str) -> dict[str, str]:
    """Marker of each backslash pair, for a dialect whose csv-special characters are given."""
    marks = {}
    for c in range(256):
        meant = chr(_ESCAPES.get(c, c))
        marks["\\" + chr(c)] = _DROP + (chr(0x100 + c) if meant in specials else meant)
    return marks


class _Dialect:
    """The compiled form of a ``CsvConfig``."""

    def __init__(self, config: CsvConfig) -> None:
        self.config = config
        sep = config.separator.encode("utf-8")
        delim = config.delimiter.encode("utf-8")
        if config.terminator:
            terms = [config.terminator.encode("utf-8")]
        else:
            terms = [b"\r\n", b"\n", b"\r"]
        problem = config.problem()
        if problem is not None:
            raise ConfigError(f"[mydumper.csv] {problem}")
        self.sep = sep
        self.delim = delim
        self.terms = terms
        self.esc = config.escape().encode("latin-1")
        """The escape byte, or b"" for none."""
        self.escape = bool(self.esc)
        self.trim = config.trim_last_separator
        self.nulls = frozenset(n.encode("utf-8") for n in config.null_strings())
        self.null_n = self.escape and not config.not_null
        """The escape + ``N`` is NULL (as LOAD DATA reads it)."""
        self.esc_n = self.esc + b"N"
        self.longest_end = max(len(sep), *map(len, terms))
        self.esc_pair = re.escape(self.esc) + rb"[\s\S]"
        self.unescaped = {self.esc + bytes([c]): bytes([_ESCAPES.get(c, c)]) for c in range(256)}
        self.field_re, self.quoted_re, self.unquoted_re = self._compile()
        pairs = ([self.esc_pair] if self.escape else []) + ([re.escape(delim * 2)] if delim else [])
        self.token_re = re.compile(b"|".join(pairs) or rb"(?!)")  # (?!): never used then
        self.fast = self._fast_options()
        # For the fast path: markers of escapes; a field equal to the marker of \N is NULL.
        self.marks = _marks("\r\n" + sep.decode("latin-1") + delim.decode("latin-1"))
        self.n_marker = self.marks["\\N"] if self.null_n else None
        self.null_texts = frozenset(n.decode("latin-1") for n in self.nulls)

    def _compile(
        self,
    ) -> tuple[re.Pattern[bytes], re.Pattern[bytes] | None, re.Pattern[bytes]]:
        esc = re.escape
        sep, delim = self.sep, self.delim
        stops = {sep[:1], *(t[:1] for t in self.terms)}
        specials = b"|".join(esc(s) for s in sorted([sep, *self.terms], key=len, reverse=True))
        plain = b"".join(esc(s) for s in sorted(stops))
        escape = [self.esc_pair] if self.escape else []
        no_esc = esc(self.esc) if self.escape else b""
        # An unquoted field stops at a delimiter too: a quote in its middle is an error.
        ustops = plain + (esc(delim[:1]) if delim and delim[:1] not in stops else b"")
        uspecials = specials + (b"|" + esc(delim) if delim else b"")
        unquoted = [b"[^" + ustops + no_esc + b"]++", *escape]
        unquoted.append(b"(?!" + uspecials + b")[" + ustops + b"]")
        ubody = b"(?:" + b"|".join(unquoted) + b")*+"
        end = b"(" + specials + rb"|\Z)"
        if not delim:
            return re.compile(b"()()()(" + ubody + b")" + end), None, re.compile(ubody)
        d = esc(delim)
        quoted = [b"[^" + esc(delim[:1]) + no_esc + b"]++", *escape, d + d]
        if len(delim) > 1:
            quoted.append(b"(?!" + d + b")" + esc(delim[:1]))
        qbody = b"(?:" + b"|".join(quoted) + b")*+"
        field = b"(?:(" + d + b")(" + qbody + b")" + d + b"|(?!" + d + b")()(" + ubody + b"))"
        # Groups: 1 open delimiter, 2 quoted body, 3 (unused), 4 unquoted body, 5 end.
        return re.compile(field + end), re.compile(d + qbody), re.compile(ubody)

    def _fast_options(self) -> dict[str, object] | None:
        """Keyword arguments for ``csv.reader``, or None when the csv module cannot be used."""
        sep, delim = self.sep, self.delim
        if len(sep) != 1 or len(delim) > 1 or self.config.terminator not in ("", "\n", "\r\n"):
            return None
        if self.esc not in (b"", b"\\"):
            return None  # the markers stand for backslash escapes only
        special = b"\r\n" + self.esc
        if sep in special or (delim and delim in special):
            return None
        if delim:
            return {
                "delimiter": sep.decode("latin-1"),
                "quotechar": delim.decode("latin-1"),
                "doublequote": True,
                "strict": True,
            }
        return {"delimiter": sep.decode("latin-1"), "quoting": csv.QUOTE_NONE, "strict": True}

    # -- general parser ------------------------------------------------------------------------

    def value(self, body: bytes) -> bytes | None:
        """The value of a field body (quotes stripped): unescaped and undoubled, or NULL."""
        if self.null_n and body == self.esc_n:
            return None
        if (self.escape and self.esc in body) or (self.delim and self.delim in body):
            doubled = self.delim * 2
            body = self.token_re.sub(
                lambda m: self.delim if m.group() == doubled else self.unescaped[m.group()], body
            )
            if body == self.esc_n and self.null_n:
                return body  # an escaped escape before N is the text, not NULL
        return None if body in self.nulls else body


class _Parsed:
    """Records parsed from a buffer: positions are relative to the buffer."""

    __slots__ = ("ends", "error", "rows", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.rows: list[tuple[Value, ...]] = []
        self.error: SourceError | None = None


def _parse_general(
    d: _Dialect,
    buf: bytes,
    pos: int,
    at_eof: bool,
    stop: int,
    out: _Parsed,
    path: str,
    base: int,
    max_records: int = -1,
) -> int:
    """Parse complete records of ``buf[pos:]`` starting before ``stop`` into ``out``.

    Returns the position after the last complete record (where parsing continues); sets
    ``out.error`` when the input is malformed there.
    """
    n = len(buf)
    sep = d.sep
    fields: list[Value] = []
    trailing = 0  # empty unquoted fields at the end of ``fields``
    rec_start = pos
    last = pos
    # Pattern.scanner (undocumented, stable since Python 2) matches field after field, each
    # where the previous one ended, without a Python-level loop around re.match.
    scan: Callable[[], re.Match[bytes] | None] = d.field_re.scanner(buf, pos).match  # type: ignore[attr-defined]
    esc = d.esc if d.escape else None
    delim = d.delim or None
    nulls = d.nulls
    for m in iter(scan, None):
        start = last  # each match starts where the previous one ended
        last = m.end()
        if start == n and not fields:
            return rec_start  # nothing left
        opened, qbody, _, ubody, end = m.groups()
        # The helpers run only when a field needs work: most fields are taken as they are.
        if opened:
            if qbody in nulls or (esc and esc in qbody) or (delim and delim in qbody):
                fields.append(d.value(qbody))
            else:
                fields.append(qbody)
            trailing = 0
        else:
            if ubody in nulls or (esc and esc in ubody):
                fields.append(d.value(ubody))
            else:
                fields.append(ubody)
            trailing = 0 if ubody else trailing + 1
        if end == sep:
            if last >= n and not at_eof:
                return rec_start
            continue
        if not at_eof and last >= n:
            return rec_start
        if len(fields) == 1 and not opened and (not ubody or ubody.isspace()):
            fields = []  # an empty line, or one of only whitespace
            trailing = 0
            rec_start = last
            if last >= n:
                return last
            continue
        if rec_start >= stop:
            return rec_start
        if d.trim and trailing and len(fields) > 1:
            del fields[-1]
        out.starts.append(rec_start)
        out.ends.append(last)
        out.rows.append(tuple(fields))
        fields = []
        trailing = 0
        rec_start = last
        if last >= n or len(out.rows) == max_records:
            return last
    # The scanner stopped before the end of the buffer: malformed or incomplete input.
    error = _diagnose(d, buf, last, at_eof, path, base)
    if error is not None:
        out.error = error
    return rec_start


def _diagnose(
    d: _Dialect, buf: bytes, p: int, at_eof: bool, path: str, base: int
) -> SourceError | None:
    """Why no field matches at ``p``: an error, or None when more input may complete it."""
    n = len(buf)
    if d.quoted_re is not None and buf.startswith(d.delim, p):
        m = d.quoted_re.match(buf, p)
        assert m is not None
        close = m.end()
        if not buf.startswith(d.delim, close):
            if not at_eof:
                return None
            return SourceError(
                path,
                base + p,
                "unterminated quoted field: the closing delimiter is missing; "
                "check [mydumper.csv] delimiter and backslash-escape",
                buf[p : p + 40],
            )
        after = close + len(d.delim)
        if not at_eof and n - after < d.longest_end:
            return None
        return SourceError(
            path,
            base + after,
            "unexpected data after the closing delimiter of a quoted field; "
            "check [mydumper.csv] separator, delimiter and backslash-escape",
            buf[after : after + 40],
        )
    if d.delim:
        m = d.unquoted_re.match(buf, p)
        assert m is not None
        quote = m.end()
        if buf.startswith(d.delim, quote):
            return SourceError(
                path,
                base + quote,
                "a delimiter (quote) inside an unquoted field; quote the whole field and double "
                "the quotes in it, or check [mydumper.csv] delimiter",
                buf[p : p + 40],
            )
    if not at_eof:
        return None
    return SourceError(
        path, base + n - 1, "escape character at the end of the file", buf[p : p + 40]
    )


def _parse_fast(
    d: _Dialect,
    options: dict[str, object],
    buf: bytes,
    pos: int,
    at_eof: bool,
    stop: int,
    out: _Parsed,
    path: str,
    base: int,
) -> int:
    """Like ``_parse_general``, through the C csv module, with general-parser fallbacks."""
    while True:
        done, pos = _fast_block(d, options, buf, pos, at_eof, stop, out, path, base)
        if done or out.error is not None:
            return pos
        # One record the csv module could not decide: the general parser reads it.
        count = len(out.rows)
        pos = _parse_general(d, buf, pos, at_eof, stop, out, path, base, max_records=1)
        if len(out.rows) == count:
            return pos


def _fast_block(
    d: _Dialect,
    options: dict[str, object],
    buf: bytes,
    pos: int,
    at_eof: bool,
    stop: int,
    out: _Parsed,
    path: str,
    base: int,
) -> tuple[bool, int]:
    """Parse from ``pos`` with the csv module; (False, p) asks the general parser for p."""
    view = buf[pos:] if pos else buf
    text = codecs.latin_1_decode(view)[0]
    lines = view
    escaped = d.escape and "\\" in text
    if escaped:
        marks = d.marks
        if at_eof and (len(view) - len(view.rstrip(b"\\"))) % 2:
            return False, pos  # a lone backslash at the end: the general parser reports it
        text = _MARK_RE.sub(lambda m: marks[m.group()], text)
        lines = text.encode("latin-1", "replace")
    terminator = d.config.terminator
    if (terminator == "\n" and "\r" in text) or (
        terminator == "\r\n" and not text.count("\r") == text.count("\n") == text.count("\r\n")
    ):
        return True, _parse_general(d, buf, pos, at_eof, stop, out, path, base)
    ends = list(accumulate(map(len, lines.splitlines(True))))
    n = len(view)
    limit = stop - pos
    sentinel = next((s for s in _SENTINELS if s not in text), None)
    sentinel_b = sentinel.encode("latin-1") if sentinel is not None else b""
    n_marker, esc_n = d.n_marker, d.esc_n
    null_texts, null_bytes = d.null_texts, d.nulls
    quote = d.delim.decode("latin-1")
    sep = d.sep.decode("latin-1")
    trim = d.trim
    starts_append, ends_append, rows_append = out.starts.append, out.ends.append, out.rows.append
    reader = csv.reader(io.StringIO(text, newline=""), **options)  # type: ignore[arg-type]
    prev = 0
    try:
        for row in reader:
            end = ends[reader.line_num - 1]
            if not at_eof and end >= n:
                # an incomplete record, unless a quote in an unquoted field already spoils it
                return not (quote and any(quote in f for f in row)), pos + prev
            if not row or (len(row) == 1 and not text[prev:end].strip(" \t\r\n\v\f")):
                prev = end  # an empty line, or one of only whitespace
                continue
            if prev >= limit:
                return True, pos + prev
            if trim and row[-1] == "" and len(row) > 1:
                body_end = end
                if text[body_end - 1 : body_end] == "\n":
                    body_end -= 1
                if text[body_end - 1 : body_end] == "\r":
                    body_end -= 1
                # An empty unquoted last field leaves the record ending with a separator.
                if text.endswith(sep, prev, body_end):
                    row.pop()
            if sentinel is not None:
                joined = sentinel.join(row)
                if quote and quote in joined:
                    # a doubled quote in a quoted field, or a quote in an unquoted one (an error)
                    return False, pos + prev
                if _DROP in joined:
                    joined = joined.replace(_DROP, "")
                try:
                    values: list[Value] = joined.encode("latin-1").split(sentinel_b)  # type: ignore[assignment]
                except UnicodeEncodeError:
                    values = [_field_bytes(f) for f in row]
            else:
                if quote and any(quote in f for f in row):
                    return False, pos + prev
                values = [_field_bytes(f) for f in row]
            if escaped:
                # compared after unescaping; the escape \N is NULL, an escaped \\N is not
                if (n_marker is not None and n_marker in row) or not null_bytes.isdisjoint(values):
                    for i, f in enumerate(row):
                        v = values[i]
                        if f == n_marker or (v in null_bytes and v != esc_n):
                            values[i] = None
            elif null_texts and not null_texts.isdisjoint(row):
                for i, f in enumerate(row):
                    if f in null_texts:
                        values[i] = None
            starts_append(pos + prev)
            ends_append(pos + end)
            rows_append(tuple(values))
            prev = end
    except csv.Error:
        return False, pos + prev
    return True, pos + prev


def _field_bytes(field: str) -> bytes:
    try:
        return field.encode("latin-1")
    except UnicodeEncodeError:
        return field.replace(_DROP, "").translate(_UNMARK).encode("latin-1")


class _Stream:
    """A decompressed file read in blocks, with the unparsed tail kept in memory."""

    def __init__(self, path: str, compression: str | None, offset: int, block: int) -> None:
        self.path = path
        self.file: BinaryIO = open_decompressed(path, compression)
        self.block = max(block, 1)
        self.buf = b""
        self.base = offset
        self.at_eof = False
        try:
            if compression is None:
                self.file.seek(offset)
            else:
                remaining = offset
                while remaining > 0:
                    skipped = self.file.read(min(remaining, 1 << 20))
                    if not skipped:
                        break
                    remaining -= len(skipped)
        except OSError as exc:
            self.file.close()
            raise SourceError(path, offset, f"cannot read: {exc}") from exc

    def advance(self, consumed: int) -> None:
        """Drop ``consumed`` bytes of the buffer and read one more block.

        When nothing was consumed (a record longer than the buffer) the read doubles the
        buffer, so a huge record is re-scanned a logarithmic number of times.
        """
        size = self.block if consumed or not self.buf else max(self.block, len(self.buf))
        try:
            data = self.file.read(size)
        except (OSError, EOFError) as exc:
            raise SourceError(self.path, self.base + len(self.buf), f"cannot read: {exc}") from exc
        if not data:
            self.at_eof = True
        self.base += consumed
        self.buf = self.buf[consumed:] + data if consumed or data else self.buf

    def close(self) -> None:
        self.file.close()


def _records(
    d: _Dialect, stream: _Stream, stop: int | None
) -> Iterator[tuple[list[int], list[int], list[tuple[Value, ...]]]]:
    """Yield (absolute starts, absolute ends, rows) of the records starting before ``stop``."""
    pos = 0
    huge = 1 << 62
    while True:
        if not stream.at_eof:
            stream.advance(pos)
            pos = 0
        buf = stream.buf
        base = stream.base
        rel_stop = huge if stop is None else stop - base
        out = _Parsed()
        if d.fast is not None:
            new = _parse_fast(d, d.fast, buf, pos, stream.at_eof, rel_stop, out, stream.path, base)
        else:
            new = _parse_general(d, buf, pos, stream.at_eof, rel_stop, out, stream.path, base)
        if out.rows:
            yield [base + s for s in out.starts], [base + e for e in out.ends], out.rows
        if out.error is not None:
            raise out.error
        if new >= rel_stop or (stream.at_eof and new == pos):
            if stream.at_eof and new < len(buf) and new < rel_stop:
                raise SourceError(stream.path, base + new, "cannot parse", buf[new : new + 40])
            return
        pos = new


def _column_names(row: tuple[Value, ...]) -> tuple[str, ...]:
    return tuple(
        v.decode("utf-8", "replace") if isinstance(v, bytes) else "" if v is None else str(v)
        for v in row
    )


class CsvReader:
    """Reads the records of one CSV chunk as rows of ``bytes`` (or None for NULL).

    Rows are returned with as many values as their record has fields, even when that differs
    from the header's column count: the encoder reports such rows with their offset.

    :param chunk: the byte range to read; a record that starts before ``chunk.end`` is read
        whole. The chunk at offset 0 of a file with ``header = true`` takes its column names
        from the header line (None with ``header-schema-match = false``); later chunks use
        ``chunk.columns``.
    :param mydumper: ``[mydumper]`` options; ``mydumper.csv`` shapes the parsing, and values
        are converted from ``data-character-set`` to UTF-8.
    :param sql_mode: unused by CSV (kept for the common reader signature).
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
        self._dialect = _Dialect(mydumper.csv)
        self._stream: _Stream | None = None

    def batches(self) -> Iterator[RowBatch]:
        """Yield batches of up to ``BATCH_ROWS`` rows from the start position to the chunk end."""
        chunk, config = self.chunk, self.mydumper.csv
        offset = self.start.offset if self.start is not None else chunk.offset
        rows_read = self.start.rows if self.start is not None else 0
        header_pending = offset == 0 and config.header
        if not config.header:
            columns = chunk.columns
        elif not config.header_schema_match:
            columns = None
        elif self.start is not None and offset > 0:
            columns = self.start.columns if self.start.columns is not None else chunk.columns
        else:
            columns = chunk.columns
        if columns is None and offset > 0 and config.header and config.header_schema_match:
            # A position saved without columns: the header still names them.
            columns = read_header(chunk.file.path, chunk.file.compression, self.mydumper)
        self._stream = _Stream(
            chunk.file.path, chunk.file.compression, offset, self.mydumper.read_block_size
        )
        rows: list[tuple[Value, ...]] = []
        starts: list[int] = []
        ends: list[int] = []
        convert = text_converter(
            self.mydumper.data_character_set, self.mydumper.data_invalid_char_replace
        )
        for new_starts, new_ends, new_rows in _records(self._dialect, self._stream, chunk.end):
            if convert is not None:
                new_rows = convert_values(new_rows, convert)
            if header_pending:
                header_pending = False
                if config.header_schema_match:
                    columns = _column_names(new_rows[0])
                del new_starts[0], new_ends[0], new_rows[0]
            rows += new_rows
            starts += new_starts
            ends += new_ends
            while len(rows) >= BATCH_ROWS:
                rows_read += BATCH_ROWS
                yield RowBatch(
                    columns=columns,
                    rows=rows[:BATCH_ROWS],
                    offsets=starts[:BATCH_ROWS],
                    end=ReadPosition(offset=ends[BATCH_ROWS - 1], rows=rows_read, columns=columns),
                )
                del rows[:BATCH_ROWS], starts[:BATCH_ROWS], ends[:BATCH_ROWS]
        if rows:
            rows_read += len(rows)
            yield RowBatch(
                columns=columns,
                rows=rows,
                offsets=starts,
                end=ReadPosition(offset=ends[-1], rows=rows_read, columns=columns),
            )
        self.close()

    def close(self) -> None:
        """Release the file."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def read_header(path: str, compression: str | None, mydumper: MydumperConfig) -> tuple[str, ...]:
    """Column names from the first record of a CSV file (used to give later chunks columns)."""
    dialect = _Dialect(mydumper.csv)
    convert = text_converter(mydumper.data_character_set, mydumper.data_invalid_char_replace)
    stream = _Stream(path, compression, 0, 64 * 1024)
    try:
        pos = 0
        while True:
            stream.advance(pos)
            out = _Parsed()
            pos = _parse_general(
                dialect, stream.buf, 0, stream.at_eof, 1 << 62, out, path, stream.base, 1
            )
            if out.rows:
                row = out.rows if convert is None else convert_values(out.rows, convert)
                return _column_names(row[0])
            if out.error is not None:
                raise out.error
            if stream.at_eof:
                return ()
            pos = 0
    finally:
        stream.close()


__all__ = ["BATCH_ROWS", "CsvReader", "read_header"]
