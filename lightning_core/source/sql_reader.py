"""Reader of SQL dumps: the ``INSERT``/``REPLACE ... VALUES`` statements of mydumper/dumpling files.

Everything is matched by compiled regular expressions, so the inner loops run in C, and two
paths share one grammar:

* the careful path matches one row tuple and the ``,`` or ``;`` after it with a pattern that
  checks every value (possessive quantifiers keep it linear), then converts the values with a
  ``findall`` whose three groups are a plain string, an integer, or any other literal. It reads
  the first and last row of each statement, rows of an unusual shape and rows cut by the end
  of the read buffer;
* the fast path: from a statement's first row it builds a pattern for rows of the same width,
  with each column's kind (integer, plain string, plain decimal) guessed from that row, and
  one ``findall`` matches a whole run of rows; a function generated for the shape converts
  them. The pattern's last alternative swallows the rest of the input, so ``findall`` stops
  at the first row it cannot match: garbage between tuples is never skipped.

When the careful pattern fails, a walker re-reads only that row token by token to tell "the
buffer ends inside the row" (read more and retry) from a syntax error, which it reports as a
:class:`SourceError` at the exact byte offset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from itertools import accumulate
from typing import Any, BinaryIO, ClassVar, Literal

import attrs

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk, ReadPosition, RowBatch, Value
from lightning_core.source.charset import convert_batch, text_converter
from lightning_core.source.compression import open_decompressed
from lightning_core.source.sql_grammar import (
    SKIPPED_STATEMENTS_TEXT,
    Grammar,
    convert_literal,
    diagnose_row,
    grammar_for,
)

__all__ = ["BATCH_BYTES", "BATCH_ROWS", "SqlReader", "statement_ends"]

BATCH_ROWS = 4096
"""Most rows in one batch."""
BATCH_BYTES = 8 * 1024 * 1024
"""A batch is cut once its rows span this many source bytes (bounds memory for wide rows)."""
_MIN_BLOCK = 256 * 1024
"""Smallest read; below this the per-refill cost dominates."""
_HEAD_LIMIT = 1024 * 1024
"""An INSERT head (with its column list) longer than this is malformed, not truncated."""
_KEYWORD_LIMIT = 64
"""A statement's first words fit in this many bytes (with comments between them, usually)."""

JOIN_BELOW_ROWS = 8
"""A whole statement of fewer rows joins the batch of the statements before it (same column
list); longer ones already carry enough rows per transaction and stay batches of their own."""

_FAST_MAX_COLUMNS = 512
"""Wider rows always take the careful path (the fast pattern's size grows with the width)."""


@attrs.frozen
class _FastRows:
    """The fast path for rows shaped like one sample row.

    ``pattern.findall`` returns one tuple per row: the row text through the ``,`` and
    whitespace after it, the groups of each value, and an error group. Each value has a
    pattern for the kind the sample had in that column (a plain integer, plain string or plain
    decimal; five groups when the sample held NULL or anything else) *or* any other literal,
    so the grammar is exactly the careful path's and only the speed depends on the guess.
    The last alternative swallows the rest of the input in O(1) (``.*`` with DOTALL), so
    ``findall`` stops at the first row it cannot match instead of searching on past
    garbage; rows followed by ``;`` are left to the careful path too. ``convert`` is
    generated for the shape so that each row is one tuple unpack and one tuple display.
    """

    pattern: re.Pattern[bytes]
    convert: Callable[[list[tuple[bytes, ...]], list[tuple[Value, ...]], list[int], int], int]


_FIRST_QUOTE = re.compile(rb"['\"]")
_KIND_OF_TYPE = {int: "i", bytes: "s", Decimal: "d"}
_FAST_SHAPES = 64
"""Most row shapes kept compiled per quoting mode."""
_FAST_ROWS: dict[bool, dict[tuple[str, bytes], _FastRows | None]] = {False: {}, True: {}}
"""Compiled fast paths per quoting mode (``NO_BACKSLASH_ESCAPES`` or not) and row shape."""
_RAW_ROWS: dict[bool, dict[int, _FastRows | None]] = {False: {}, True: {}}
"""Compiled ``raw_sql`` fast paths per quoting mode and row width."""
_TYPED_MAX_COLUMNS = 64
"""Wider rows get the generic kind in every column, so there is one shape per width."""


def _value_kind(g: Grammar, kind: str, quote: bytes, k: int) -> tuple[bytes, list[str], str]:
    """Pattern, group names and conversion expression of column ``k`` of ``kind``."""
    # Typed alternatives must end at the value's end, so that the column can be an atomic
    # group: once a column matched, a failing row is never retried with other alternatives
    # for earlier columns (that retry is exponential in the width).
    end = rb"(?=[,)])"
    other = rb"(" + g.value.pattern + rb")"
    plain = quote if g.no_backslash_escapes else quote + rb"\\"
    string = quote + rb"([^" + plain + rb"]++)" + quote + end
    integer = rb"([-+]?[0-9]++)" + end
    decimal = rb"([-+]?[0-9]*+\.[0-9]++)" + end
    a, o = f"a{k}", f"o{k}"
    if kind == "i":
        return integer + rb"|" + other, [a, o], f"int({a}) if {a} else conv({o}, g)"
    if kind == "s":
        return string + rb"|" + other, [a, o], f"{a} or conv({o}, g)"
    if kind == "d":
        return decimal + rb"|" + other, [a, o], f"D({a}.decode()) if {a} else conv({o}, g)"
    s, i, d, n = (f"{letter}{k}" for letter in "sidn")
    pattern = rb"|".join([string, integer, decimal, rb"(NULL)" + end, other])
    expr = (
        f"{s} or (int({i}) if {i} else (D({d}.decode()) if {d} else "
        f"(None if {n} else conv({o}, g))))"
    )
    return pattern, [s, i, d, n, o], expr


def _fast_rows(g: Grammar, values: tuple[Value, ...], row: bytes) -> _FastRows | None:
    """The fast path for rows like ``row`` (whose ``values`` the careful path produced):
    same width, same kind of value per column, plain strings quoted like its first string
    (mydumper writes ``"..."``, dumpling and mysqldump ``'...'``)."""
    if not values or len(values) > _FAST_MAX_COLUMNS:
        return None
    first_quote = _FIRST_QUOTE.search(row)
    quote = first_quote.group() if first_quote is not None else b"'"
    if len(values) > _TYPED_MAX_COLUMNS:
        shape = "g" * len(values)  # one compile per width: wide patterns take ~1 s to build
    else:
        shape = "".join([_KIND_OF_TYPE.get(type(v), "g") for v in values])
    key = (shape, quote)
    cache = _FAST_ROWS[g.no_backslash_escapes]
    if key in cache:
        return cache[key]
    if len(cache) >= _FAST_SHAPES:
        cache.clear()
    pieces = []
    names = []
    exprs = []
    for k, kind in enumerate(shape):
        piece, groups, expr = _value_kind(g, kind, quote, k)
        pieces.append(rb"(?>" + piece + rb")")
        names += groups
        exprs.append(expr)
    pattern = re.compile(rb"(\(" + rb",".join(pieces) + rb"\)\s*+,\s*+)|(.).*", re.DOTALL)
    # Generated from a shape string of known letters only; the technique namedtuple and
    # attrs use to build per-shape code.
    source = (
        "def convert(found, rows, offsets, p):\n"
        "    add_row = rows.append\n"
        "    add_offset = offsets.append\n"
        f"    for whole, {', '.join(names)}, _error in found:\n"
        "        add_offset(p)\n"
        "        p += len(whole)\n"
        f"        add_row(({', '.join(exprs)},))\n"
        "    return p\n"
    )
    namespace: dict[str, object] = {"D": Decimal, "conv": convert_literal, "g": g}
    exec(compile(source, f"<sql rows {shape}>", "exec"), namespace)
    fast = _FastRows(pattern, namespace["convert"])  # type: ignore[arg-type]
    cache[key] = fast
    return fast


def _raw_convert(
    found: list[tuple[bytes, ...]], texts: list[bytes], offsets: list[int], p: int
) -> int:
    add_text = texts.append
    add_offset = offsets.append
    for text, separator, _error in found:
        add_offset(p)
        add_text(text)
        p += len(text) + len(separator)
    return p


def _raw_rows(g: Grammar, width: int) -> _FastRows | None:
    """The fast path of ``raw_sql``: rows of ``width`` values are checked, not converted;
    ``findall`` gives (row text, separator, error group)."""
    if width == 0 or width > _FAST_MAX_COLUMNS:
        return None
    cache = _RAW_ROWS[g.no_backslash_escapes]
    if width in cache:
        return cache[width]
    # Plain forms first (each must end at the value's end), then any literal.
    plain = rb"" if g.no_backslash_escapes else rb"\\"
    value = (
        rb"(?>'[^'" + plain + rb"]*+'(?=[,)])|\"[^\"" + plain + rb"]*+\"(?=[,)])"
        rb"|[-+]?[0-9]++(?:\.[0-9]++)?(?=[,)])|NULL(?=[,)])|" + g.value.pattern + rb")"
    )
    row = rb"\(" + value + rb"(?:," + value + rb"){%d}\)" % (width - 1)
    pattern = re.compile(rb"(" + row + rb")(\s*+,\s*+)|(.).*", re.DOTALL)
    fast = cache[width] = _FastRows(pattern, _raw_convert)  # type: ignore[arg-type]
    return fast


_UNSAFE_OUTSIDE_STRINGS = (b"/", b"#", b"`", b"--", b"\0")
"""Bytes that may start a comment or a quoted identifier, or mark a masked escape: rows holding
one outside their strings are left to the patterns."""
_PLAIN_OUTSIDE_STRINGS = b"0123456789,()'\" \t\n\r"
"""What a run of rows of integers and strings holds outside its strings: such a run is checked
no further (the target cannot read an expression into it)."""


def _split_rows(
    g: Grammar, buf: bytes, pos: int, separator: bytes, base: int
) -> tuple[list[bytes], list[int]] | None:
    """The cheapest raw-mode scan: cut the rows from ``pos`` at each ``)<separator>(``.

    ``separator`` is what followed the previous row (``,\n`` in mydumper's dumps). The run
    ends at the last such cut before the buffer's end or the first ``;`` (the row after it is
    left to the careful path). The cuts are exact when, with escaped quotes masked, the
    quotes pair up (strings of one quote kind only), no cut lies inside a string, and
    nothing outside the strings is a parenthesis, a comment, an identifier, an escape or a
    quote of the other kind: then the target's lexer sees the same rows. What lies outside
    the strings must be literals (checked by a pattern unless it is only digits), so the
    target cannot evaluate an expression the careful path would refuse; a row it refuses
    (``(1 2)``) is located by the backend's replay. Only bytes methods see the strings, and
    no Python code runs per row; None when a check fails (the patterns take over).

    Returns the row texts and the file offset where each starts (``base`` is ``buf``'s),
    plus one more: where the row after them starts.
    """
    semi = buf.find(b";", pos)
    delimiter = b")" + separator + b"("
    last = buf.rfind(delimiter, pos, semi if semi >= 0 else len(buf))
    if last < 0 or buf[pos] != 40:  # '('
        return None
    region = buf[pos : last + 1]
    double = region.find(b'"')
    single = region.find(b"'")
    quote, other = (b"'", b'"') if double < 0 or 0 <= single < double else (b'"', b"'")
    scanned = region
    if not g.no_backslash_escapes and b"\\" in region:
        # Same length and the same cuts: only escape pairs change, and no delimiter byte is in
        # one. A masked pair outside the strings shows as NUL there.
        scanned = region.replace(b"\\\\", b"\0\0").replace(b"\\" + quote, b"\0\0")
    parts = scanned.split(quote)
    if not len(parts) & 1:
        return None  # the run ends inside a string: a cut in a string, or an odd escape
    # Strings emptied: the cuts, parentheses and bytes that count are the ones left.
    outside = (quote + quote).join(parts[::2])
    rows = outside.count(delimiter) + 1
    if (
        outside.count(b"(") != rows
        or outside.count(b")") != rows
        or other in outside
        or outside.count(b"\\") != outside.count(b"\\N")
        or any(map(outside.__contains__, _UNSAFE_OUTSIDE_STRINGS))
    ):
        return None
    if outside.translate(None, _PLAIN_OUTSIDE_STRINGS) and g.row_run.fullmatch(outside) is None:
        return None  # not only literals: the target might accept an expression
    pieces = region[1:-1].split(delimiter)
    if len(pieces) != rows:
        return None  # a cut inside a string
    texts = list(map(b"(%b)".__mod__, pieces))
    starts = list(accumulate(map(len(separator).__add__, map(len, texts)), initial=base + pos))
    return texts, starts


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


class SqlReader:
    """Reads the rows of the INSERT/REPLACE statements of one chunk of an SQL dump.

    :param chunk: the byte range to read; a statement that starts before ``chunk.end`` is read
        through its ``;`` even when that lies past the end.
    :param mydumper: the ``[mydumper]`` section (``read-block-size``).
    :param sql_mode: the source's SQL mode; ``NO_BACKSLASH_ESCAPES`` makes ``\\`` an ordinary
        byte inside strings.
    :param start: where to resume (a ``RowBatch.end`` recorded by a checkpoint); None starts
        at the chunk's offset.
    :param batch_rows: most rows per batch.
    :param raw_sql: yield each row's source text ``(...)`` in ``RowBatch.texts`` (``rows``
        stays empty) instead of parsing its values; the grammar is checked all the same.

    A batch holds rows of one statement, or of consecutive short statements (fewer than
    ``JOIN_BELOW_ROWS`` rows) with the same column list (dumps of one row per statement:
    ``mysqldump --skip-extended-insert``); its ``end`` is
    just after the last row's ``)`` (``mid_statement=True``) or, for a statement's last row,
    just after the ``;``.
    """

    def __init__(
        self,
        *,
        chunk: Chunk,
        mydumper: MydumperConfig,
        sql_mode: str,
        start: ReadPosition | None = None,
        batch_rows: int = BATCH_ROWS,
        raw_sql: bool = False,
    ) -> None:
        self._path = chunk.file.path
        self._grammar = grammar_for(sql_mode)
        self._end = chunk.end
        self._start = start or ReadPosition(offset=chunk.offset, columns=None)
        self._batch_rows = max(1, batch_rows)
        self._raw = raw_sql
        self._block = max(mydumper.read_block_size, _MIN_BLOCK)
        self._convert = text_converter(
            mydumper.data_character_set, mydumper.data_invalid_char_replace
        )
        self._file: BinaryIO | None = open_decompressed(self._path, chunk.file.compression)
        self._base = self._start.offset
        self._eof = False
        self._fast: dict[tuple[int, bytes], _FastRows | None] = {}
        self._head = b""
        """The text of the last INSERT head read, through ``VALUES`` and the gap after it."""
        _seek(self._file, self._start.offset, chunk.file.compression is None)

    def close(self) -> None:
        """Release the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SqlReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- buffer -----------------------------------------------------------------------------

    def _refill(self, buf: bytes, keep: int) -> bytes:
        """Drop ``buf[:keep]`` and append the next block; sets ``_eof`` when nothing is left.

        Reads at least as much as is kept, so a long token is rescanned O(log n) times.
        """
        assert self._file is not None, "reader is closed"
        tail = buf[keep:]
        self._base += keep
        data = self._file.read(max(self._block, len(tail)))
        if not data:
            self._eof = True
            return tail
        return tail + data

    def _error(self, buf: bytes, at: int, message: str) -> SourceError:
        return SourceError(self._path, self._base + at, message, buf[at : at + 40])

    # -- the loop ---------------------------------------------------------------------------

    def batches(self) -> Iterator[RowBatch]:
        """Yield the rows of the chunk from the start position to the chunk's end.

        String values are converted from ``data-character-set`` to UTF-8.
        """
        batches = self._coalesced(self._read_batches())
        if self._convert is None:
            yield from batches
            return
        for batch in batches:
            yield convert_batch(batch, self._convert)

    def _coalesced(self, batches: Iterator[RowBatch]) -> Iterator[RowBatch]:
        """Join the batches of consecutive whole statements with the same column list, up to
        the batch bounds, so that a dump of one-row statements is written many rows at once."""
        limit = self._batch_rows
        held: RowBatch | None = None
        rows: list[Any] = []  # of the held batches: values, or texts with raw_sql
        offsets: list[int] = []
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except SourceError:  # the rows before a bad one are delivered (and committed)
                if held is not None:
                    yield self._batch(held.columns, rows, offsets, held.end)
                raise
            if (
                held is not None
                and min(batch.count, len(offsets)) < JOIN_BELOW_ROWS
                and not held.end.mid_statement
                and batch.columns == held.columns
                and len(offsets) + batch.count <= limit
                and batch.end.offset - offsets[0] <= BATCH_BYTES
            ):
                rows += batch.texts if self._raw else batch.rows  # type: ignore[arg-type]
                offsets += batch.offsets
                held = batch
                continue
            if held is not None:
                yield self._batch(held.columns, rows, offsets, held.end)
            held = batch
            rows = list(batch.texts if self._raw else batch.rows)  # type: ignore[arg-type]
            offsets = list(batch.offsets)
        if held is not None:
            yield self._batch(held.columns, rows, offsets, held.end)

    def _batch(
        self,
        columns: tuple[str, ...] | None,
        rows: list[Any],
        offsets: list[int],
        end: ReadPosition,
    ) -> RowBatch:
        """A batch of ``rows``: value tuples, or source texts with ``raw_sql``."""
        if self._raw:
            return RowBatch(columns=columns, rows=[], offsets=offsets, end=end, texts=rows)
        return RowBatch(columns=columns, rows=rows, offsets=offsets, end=end)

    def _read_batches(self) -> Iterator[RowBatch]:
        start = self._start
        total = start.rows
        columns = start.columns if start.mid_statement else None
        buf = self._refill(b"", 0)
        pos = 0
        if start.mid_statement:
            buf, pos, done = self._after_row(buf, pos)
            if not done:
                buf, pos, total = yield from self._statement_rows(buf, pos, columns, total)
        while True:
            buf, pos, columns = self._next_insert(buf, pos)
            if pos < 0:
                return
            head = self._head
            buf, pos, total = yield from self._statement_rows(buf, pos, columns, total)
            pos, total = yield from self._same_head_rows(buf, pos, head, columns, total)

    def _same_head_rows(
        self, buf: bytes, pos: int, head: bytes, columns: tuple[str, ...] | None, total: int
    ) -> Generator[RowBatch, None, tuple[int, int]]:
        """After a statement: the one-row statements that follow in the buffer with exactly
        the same head, in one batch (a dump of one row per statement costs two pattern
        matches a row); returns at the first other statement, which the general path reads."""
        g = self._grammar
        blank, row, chunk_end, base = g.blank.match, g.row.match, self._end, self._base
        limit = self._batch_rows
        rows: list[Any] = []
        offsets: list[int] = []
        start = pos
        while True:
            at = blank(buf, pos).end()  # type: ignore[union-attr]
            if not buf.startswith(head, at) or (chunk_end is not None and base + at >= chunk_end):
                break
            m = row(buf, at + len(head))
            if m is None or m.end() == len(buf) or buf[m.end() - 1] != 59:  # ';'
                break  # not one whole row: the general path reads (and refills, or reports)
            begin, close = m.span(1)
            offsets.append(base + begin)
            rows.append(buf[begin:close] if self._raw else _row_values(g, buf, begin, close))
            pos = m.end()
            if len(rows) >= limit or pos - start >= BATCH_BYTES:
                total += len(rows)
                yield self._batch(
                    columns, rows, offsets, ReadPosition(offset=base + pos, rows=total)
                )
                rows, offsets, start = [], [], pos
        if rows:
            total += len(rows)
            yield self._batch(columns, rows, offsets, ReadPosition(offset=base + pos, rows=total))
        return pos, total

    def _after_row(self, buf: bytes, pos: int) -> tuple[bytes, int, bool]:
        """Consume the ``,`` or ``;`` after a row; ``done`` tells whether it was ``;``."""
        g = self._grammar
        while True:
            sep = g.separator.match(buf, pos)
            if sep is not None:
                return buf, sep.end(), sep.group(1) == b";"
            p = g.ws.match(buf, pos).end()  # type: ignore[union-attr]
            if p < len(buf):
                raise self._error(buf, p, "expected ',' or ';' after a row tuple")
            if self._eof:
                raise self._error(buf, p, "file ends inside an INSERT statement (is it truncated?)")
            buf = self._refill(buf, pos)
            pos = 0

    def _next_insert(self, buf: bytes, pos: int) -> tuple[bytes, int, tuple[str, ...] | None]:
        """Skip other statements up to the rows of the next INSERT; pos -1 at the chunk's end."""
        g = self._grammar
        chunk_end = self._end
        while True:
            start = pos
            pos = g.blank.match(buf, pos).end()  # type: ignore[union-attr]
            if pos >= len(buf):
                if self._eof:
                    return buf, -1, None
                # A comment may go on past the buffer's end: rescan it with more input, or
                # its rest would be read as a statement (and the INSERT after it skipped).
                buf = self._refill(buf, start)
                pos = 0
                continue
            if chunk_end is not None and self._base + pos >= chunk_end:
                return buf, -1, None
            head = g.insert_head.match(buf, pos)
            if head is not None:
                self._head = head.group()
                return buf, head.end(), self._column_names(buf, head)
            if g.insert_keyword.match(buf, pos):
                if not self._eof and len(buf) - pos < _HEAD_LIMIT:
                    buf = self._refill(buf, pos)
                    pos = 0
                    continue
                raise self._error(
                    buf,
                    pos,
                    "unsupported INSERT/REPLACE statement: only "
                    "`INSERT|REPLACE [IGNORE] INTO t [(cols)] VALUES (...),...;` can be imported",
                )
            if g.skipped_statement.match(buf, pos) is None:
                if buf.startswith(b"/*", pos):  # a comment that blank did not close
                    if self._eof:
                        raise self._statement_error(buf, pos)
                    buf = self._refill(buf, pos)
                    pos = 0
                    continue
                if not self._eof and len(buf) - pos < _KEYWORD_LIMIT:
                    buf = self._refill(buf, pos)  # the keyword may be cut by the buffer's end
                    pos = 0
                    continue
                raise self._error(
                    buf,
                    pos,
                    "unexpected statement: a data file may hold INSERT/REPLACE ... VALUES "
                    f"statements, and {SKIPPED_STATEMENTS_TEXT} (skipped); fix or remove it",
                )
            stmt = g.statement.match(buf, pos)
            if stmt is None:
                if not self._eof:
                    buf = self._refill(buf, pos)
                    pos = 0
                    continue
                raise self._statement_error(buf, pos)
            pos = stmt.end()

    def _statement_rows(
        self, buf: bytes, pos: int, columns: tuple[str, ...] | None, total: int
    ) -> Generator[RowBatch, None, tuple[bytes, int, int]]:
        """Yield the rows of one statement from ``pos`` (the next row's ``(``, maybe after
        whitespace) through its ``;``; return ``(buf, pos, total)`` after the ``;``."""
        g = self._grammar
        careful_row = g.row.match
        careful_values = g.values.findall
        skip_ws = g.ws.match
        batch_rows = self._batch_rows
        fast: _FastRows | None = None
        fast_misses = 0
        found: list[Any] = []  # fast-path tuples, or row texts cut by _split_rows
        split_starts: list[int] | None = None  # with cut texts: where each row starts
        split_from = 0  # after a failed _split_rows, no new attempt before this offset
        taken = 0
        raw = self._raw
        rows: list[Any] = []  # value tuples, or source texts with raw_sql
        offsets: list[int] = []
        batch_start = self._base + pos
        row_end = -1  # absolute offset just after the last row's ')'
        row_bytes = 1
        done = False
        while not done:
            if taken < len(found):
                # Rows the fast pattern already matched; convert as many as the batch takes.
                room = batch_rows - len(rows)
                if row_bytes * room > BATCH_BYTES:
                    room = max(1, (BATCH_BYTES - (row_end - batch_start)) // row_bytes)
                part = found[taken : taken + room]
                if split_starts is not None:
                    rows += part
                    offsets += split_starts[taken : taken + len(part)]
                    taken += len(part)
                    row_end = offsets[-1] + len(part[-1])
                    pos = split_starts[taken] - self._base
                else:
                    taken += len(part)
                    first = self._base + pos
                    after = fast.convert(part, rows, offsets, first)  # type: ignore[union-attr]
                    row_end = offsets[-1] + part[-1][0].rindex(b")") + 1
                    pos += after - first
            else:
                # One row the careful way: the first row (it tells the column count), the
                # last one (ends in ';'), odd rows, and rows cut by the end of the buffer.
                m = careful_row(buf, pos)
                if m is None:
                    problem = diagnose_row(g, buf, pos, self._eof)
                    if problem is not None:
                        raise self._error(buf, *problem)
                    buf = self._refill(buf, pos)
                    pos = 0
                    continue
                begin, close = m.span(1)
                row_bytes = max(1, close - begin)  # the fast path's estimate of a row's size
                offsets.append(self._base + begin)
                if raw:
                    rows.append(buf[begin:close])
                else:
                    values = _row_values(g, buf, begin, close)
                    rows.append(values)
                row_end = self._base + close
                pos = m.end()
                if buf[pos - 1] == 59:  # ';'
                    done = True
                else:
                    pos = skip_ws(buf, pos).end()  # type: ignore[union-attr]
                    split_starts = None
                    if raw and self._base + pos >= split_from:
                        split = _split_rows(g, buf, pos, buf[close:pos], self._base)
                        if split is not None:
                            found, split_starts = split
                            taken = 0
                        else:  # rows up to the end of this buffer go the patterns' way
                            split_from = self._base + len(buf)
                    if split_starts is None:
                        if fast is None:
                            # Column kinds belong to the table: keep the first guess for the
                            # width rather than compiling a new shape whenever the NULLs move.
                            if raw:
                                width = len(careful_values(buf, begin + 1, close))
                                key = (width, b"")
                                if key not in self._fast:
                                    self._fast[key] = _raw_rows(g, width)
                            else:
                                quote = _FIRST_QUOTE.search(buf, begin, close)
                                key = (len(values), quote.group() if quote is not None else b"'")
                                if key not in self._fast:
                                    self._fast[key] = _fast_rows(g, values, buf[begin:close])
                            fast = self._fast[key]
                        if fast is not None and fast_misses < 8:
                            found = fast.pattern.findall(buf, pos)
                            taken = 0
                            if found and found[-1][-1]:
                                found.pop()
                            # Rows that never fit (spaces inside tuples, changing column
                            # counts) stop the attempts; a row cut by the buffer's end does not.
                            fast_misses = 0 if found else fast_misses + 1
            if done or len(rows) >= batch_rows or row_end - batch_start >= BATCH_BYTES:
                total += len(rows)
                if done:
                    end = ReadPosition(offset=self._base + pos, rows=total)
                else:
                    end = ReadPosition(
                        offset=row_end, rows=total, columns=columns, mid_statement=True
                    )
                yield self._batch(columns, rows, offsets, end)
                rows = []
                offsets = []
                batch_start = self._base + pos
        return buf, pos, total

    def _column_names(self, buf: bytes, head: re.Match[bytes]) -> tuple[str, ...] | None:
        text = head.group(1)
        if text is None:
            return None
        names = []  # `INSERT INTO t () VALUES ()` has none: every row is the columns' defaults
        for match in self._grammar.column_name.finditer(text):
            raw = match.group(1)
            if raw is None:  # a comment
                continue
            if raw[:1] in (b"`", b'"'):
                quote = raw[:1]
                raw = raw[1:-1].replace(quote + quote, quote)
            try:
                names.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise self._error(
                    buf, head.start(1) + match.start(1), "column name is not valid UTF-8"
                ) from None
        return tuple(names)

    def _statement_error(self, buf: bytes, pos: int) -> SourceError:
        """Why the statement at ``pos`` never reaches its ``;`` before the end of the file."""
        piece = self._grammar.statement_piece
        p = pos
        while p < len(buf):
            m = piece.match(buf, p)
            if m is None:  # cannot happen: some alternative matches any byte
                break
            if m.group(1) is not None:
                what = {
                    b"'": "string literal",
                    b'"': "string literal",
                    b"`": "quoted identifier",
                    b"/*": "comment",
                }[m.group(1)]
                return self._error(buf, p, f"unterminated {what}")
            p = m.end()
        return self._error(
            buf, pos, "statement is not terminated by ';' before end of file (is it truncated?)"
        )

    # ---------------------------------------------------------------------------------------


def _row_values(g: Grammar, buf: bytes, begin: int, close: int) -> tuple[Value, ...]:
    """The values of the row tuple ``buf[begin:close]``, the careful way."""
    return tuple(
        int(i) if i else (convert_literal(o, g) if o else s)
        for s, i, o in g.values.findall(buf, begin + 1, close)
    )


def _seek(file: BinaryIO, offset: int, seekable: bool) -> None:
    if offset <= 0:
        return
    if seekable:
        file.seek(offset)
        return
    # Decompressing streams cannot seek; read and drop.
    remaining = offset
    while remaining > 0:
        data = file.read(min(remaining, 4 * 1024 * 1024))
        if not data:
            break
        remaining -= len(data)


# ---------------------------------------------------------------------------------------------
# Statement boundaries
# ---------------------------------------------------------------------------------------------


_SCAN_BLOCK = 4 * 1024 * 1024
"""Bytes read at a time when looking for statement ends; memory stays near this."""


def statement_ends(path: str, compression: str | None, sql_mode: str) -> Iterator[int]:
    """Yield the offset just after each top-level statement's terminating ``;``.

    Quotes, backquotes and comments are respected, so a ``;`` inside them does not count.
    Used to split a large file into chunks at statement boundaries; a trailing statement with
    no ``;`` yields nothing (the reader reports it). Memory stays at about one block whatever
    the statements' sizes: the file is read block by block and the lexer's state carried
    from one block into the next.
    """
    walk = _StatementWalk(grammar_for(sql_mode))
    with open_decompressed(path, compression) as file:
        buf = b""
        base = 0
        pos = 0
        eof = False
        while True:
            pos, ended = walk.advance(buf, pos, eof)
            if ended:
                yield base + pos
                continue
            if eof:
                return
            data = file.read(_SCAN_BLOCK)
            base += pos
            buf = buf[pos:] + data  # what is left is a few bytes, or one cut piece
            pos = 0
            eof = not data


_Step = Literal["on", "end", "more"]

_OPENERS = frozenset(b"'\"`/#-")
"""First bytes of the pieces of a statement that the end of a block may cut."""


class _StatementWalk:
    """The statement lexer of :attr:`Grammar.statement` over a file read block by block.

    Runs of complete pieces are matched in C (:attr:`Grammar.statement_pieces`); the piece
    that a block's end cuts is walked on byte class by byte class, so that the state it is in
    carries into the next block. ``state`` is None between pieces, else what the walk is
    inside: a quote character (``'``, ``"``, `````), ``*`` for a ``/* */`` comment, ``#`` for
    a line comment.
    """

    _NEXT: ClassVar[dict[bytes | None, re.Pattern[bytes]]] = {
        None: re.compile(rb"[;'\"`/#-]"),
        b"'": re.compile(rb"['\\]"),
        b'"': re.compile(rb'["\\]'),
        b"`": re.compile(rb"`"),
        b"#": re.compile(rb"\n"),
    }

    def __init__(self, grammar: Grammar) -> None:
        self.state: bytes | None = None
        self._pieces = grammar.statement_pieces
        self._next = dict(self._NEXT)
        if grammar.no_backslash_escapes:
            self._next[b"'"] = re.compile(rb"'")
            self._next[b'"'] = re.compile(rb'"')

    def advance(self, buf: bytes, pos: int, eof: bool) -> tuple[int, bool]:
        """Walk from ``pos``: ``(after the ';', True)`` at a statement's end, else ``(where to
        go on once more data is there, False)``."""
        end = len(buf)
        # two bytes short of the end: what follows a quote or a dash can change its meaning
        limit = end if eof else max(pos, end - 2)
        while pos < end:
            if self.state is None:
                found = self._pieces.match(buf, pos, limit)
                assert found is not None  # the pattern matches the empty string
                pos = found.end()
                last = found.start(1)
                if pos == limit and last >= 0 and buf[last] in _OPENERS:
                    pos = last  # the last piece may go on past the limit: walk it
            pos, outcome = self._step(buf, pos, eof)
            if outcome != "on":
                return pos, outcome == "end"
        return pos, False

    def _step(self, buf: bytes, pos: int, eof: bool) -> tuple[int, _Step]:
        """One byte class on from ``pos``: where the walk is, and whether it goes ``on``, a
        statement ends there (``end``), or it needs ``more`` data to go on from there."""
        state = self.state
        if state == b"*":
            close = buf.find(b"*/", pos)
            if close < 0:
                return max(pos, len(buf) - 1), "more"
            self.state = None
            return close + 2, "on"
        found = self._next[state].search(buf, pos)
        if found is None:
            return len(buf), "more"
        at = found.start()
        char = buf[at : at + 1]
        following = buf[at + 1 : at + 3]
        if state is None:
            if char == b";":
                return at + 1, "end"
            if char in (b"/", b"-"):
                if len(following) < (1 if char == b"/" else 2) and not eof:
                    return at, "more"  # the next bytes decide
                if char == b"/" and following[:1] == b"*":
                    self.state = b"*"
                    return at + 2, "on"
                if char == b"-" and following[:1] == b"-" and following[1:2] <= b" ":
                    self.state = b"#"
                    return at + 2, "on"
                return at + 1, "on"
            self.state = char  # a quote or '#'
            return at + 1, "on"
        if state == b"#":
            self.state = None
            return at + 1, "on"
        if char == b"\\":
            return (at + 2, "on") if following or eof else (at, "more")
        if not following and not eof:
            return at, "more"  # a doubled quote or the closing one
        if following[:1] == char:
            return at + 2, "on"
        self.state = None
        return at + 1, "on"
