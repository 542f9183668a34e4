"""The grammar of SQL dumps' INSERT statements: compiled patterns, literal values, diagnosis.

Shared by :mod:`lightning_core.source.sql_reader` (rows) and its statement-boundary scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from lightning_core.interfaces import BinaryLiteral, Value
from lightning_core.sqltext import sql_mode_has

# ---------------------------------------------------------------------------------------------
# Grammar
# ---------------------------------------------------------------------------------------------

_WS = rb"\s*+"


def quoted_pattern(quote: bytes, no_backslash_escapes: bool) -> bytes:
    """A complete quoted string; a doubled quote is an escaped quote, as in MySQL's lexer."""
    q = re.escape(quote)
    if no_backslash_escapes:
        return q + rb"[^" + q + rb"]*+(?:" + q + q + rb"[^" + q + rb"]*+)*+" + q
    return q + rb"[^" + q + rb"\\]*+(?:(?:\\.|" + q + q + rb")[^" + q + rb"\\]*+)*+" + q


_NAME = rb"(?:`(?:[^`]|``)*+`|\"(?:[^\"]|\"\")*+\"|[A-Za-z0-9_$\x80-\xff]++)"
_INTRO = rb"(?:_[A-Za-z0-9_]++\s*+|[nN](?='))?"
_HEX = rb"0x[0-9a-fA-F]++|[xX]'(?:[0-9a-fA-F]{2})*+'"
_BIT = rb"0b[01]++|[bB]'[01]*+'"
_NUM = rb"[-+]?(?:[0-9]++\.?[0-9]*+|\.[0-9]++)(?:[eE][-+]?[0-9]++)?"
_KEYWORD = rb"(?i:NULL|TRUE|FALSE)|\\N"
_DASH_COMMENT = rb"--(?![^\x00-\x20])"
"""``--`` starts a comment when a space, a control character or the end follows (MySQL's rule)."""
_COMMENT = rb"/\*.*?\*/|" + _DASH_COMMENT + rb"[^\n]*+|\#[^\n]*+"
_GAP = rb"(?:\s++|" + _COMMENT + rb")*+"
"""Whitespace and comments, as accepted between the tokens of an INSERT outside its tuples."""
_GAP1 = rb"(?:\s|" + _COMMENT + rb")++"
_CHARSET_NAME = rb"[A-Za-z0-9_]++"
_SKIPPED_STATEMENTS = (
    rb"(?=;)|(?i:SET|USE|BEGIN|COMMIT|(?:UNLOCK|LOCK)" + _GAP1 + rb"TABLES?"
    rb"|START" + _GAP1 + rb"TRANSACTION)(?![A-Za-z0-9_$])"
)
"""The statements other than INSERT that dumps hold (mydumper, dumpling, mysqldump): skipped."""
SKIPPED_STATEMENTS_TEXT = (
    "SET, USE, LOCK TABLES, UNLOCK TABLES, BEGIN, START TRANSACTION, COMMIT, /*...*/ comments"
)


class Grammar:
    """The compiled patterns for one quoting mode (backslash escapes on or off)."""

    def __init__(self, no_backslash_escapes: bool) -> None:
        self.no_backslash_escapes = no_backslash_escapes
        sq = quoted_pattern(b"'", no_backslash_escapes)
        dq = quoted_pattern(b'"', no_backslash_escapes)
        qstr = rb"(?:" + sq + rb"|" + dq + rb")"
        string = (
            _INTRO + rb"(?:" + qstr + rb"(?:\s*+" + qstr + rb")*+|" + _HEX + rb"|" + _BIT + rb")"
        )
        convert = (
            rb"(?i:CONVERT)\s*+\(\s*+"
            + string
            + rb"\s++(?i:USING)\s++"
            + _CHARSET_NAME
            + rb"\s*+\)"
        )
        value = rb"(?:" + string + rb"|" + _NUM + rb"|" + _KEYWORD + rb"|" + convert + rb")"
        flags = re.DOTALL
        self.value = re.compile(value, flags)
        self.quoted_part = re.compile(_WS + rb"(" + qstr + rb")", flags)
        self.string_start = re.compile(rb"(?:_[A-Za-z0-9_]++\s*+)?[nNxXbB]?(['\"])", flags)
        #: one row tuple, then the ``,`` or ``;`` after it; group 1 spans the tuple.
        self.row = re.compile(
            _GAP + rb"(\((?:(?:\s*+" + value + rb"\s*+,)*+\s*+" + value + rb")?\s*+\))"
            rb"" + _GAP + rb"[,;]",
            flags,
        )
        #: rows and their separators, to check a run whose strings _split_rows emptied; the
        #: usual values first, each ending at the value's end (atomic: no retries).
        usual = rb"(?:\"\"|''|[-+]?[0-9]++(?:\.[0-9]++)?|NULL)(?=[,)])"
        item = rb"\s*+(?>" + usual + rb"|" + value + rb")\s*+"
        tuple_ = rb"\((?:" + item + rb"(?:," + item + rb")*+)?\)"
        self.row_run = re.compile(tuple_ + rb"(?:\s*+,\s*+" + tuple_ + rb")*+", flags)
        #: the values of a matched row: (plain string body, plain integer, any other literal).
        simple = rb"'([^']*+)'" if no_backslash_escapes else rb"'([^'\\]*+)'"
        self.values = re.compile(
            _WS + rb"(?:" + simple + rb"|([-+]?[0-9]++)|(" + value + rb"))\s*+[,)]", flags
        )
        self.ws = re.compile(_WS)
        self.separator = re.compile(_GAP + rb"([,;])", flags)
        self.blank = re.compile(_GAP, flags)
        #: an INSERT head; group 1 is the column list's inside (empty for ``()``).
        self.insert_head = re.compile(
            rb"(?i:INSERT(?:" + _GAP1 + rb"(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY))?"
            rb"(?:" + _GAP1 + rb"IGNORE)?"
            rb"|REPLACE(?:" + _GAP1 + rb"(?:LOW_PRIORITY|DELAYED))?)"
            rb"(?:" + _GAP1 + rb"(?i:INTO))?" + _GAP1 + rb""
            rb"" + _NAME + rb"(?:" + _GAP + rb"\." + _GAP + _NAME + rb")?" + _GAP + rb""
            rb"(?:\((" + _GAP + rb"(?:" + _NAME + rb"(?:" + _GAP + rb"," + _GAP + _NAME + rb")*+"
            rb"" + _GAP + rb")?)\)" + _GAP + rb")?"
            rb"(?i:VALUES?)(?![A-Za-z0-9_$])" + _GAP,
            flags,
        )
        self.skipped_statement = re.compile(_SKIPPED_STATEMENTS, flags)
        self.insert_keyword = re.compile(rb"(?i:INSERT|REPLACE)(?![A-Za-z0-9_$])")
        generic = rb"[^;'\"`/#\-]++|/(?!\*)|(?!" + _DASH_COMMENT + rb")-"
        bq = rb"`[^`]*+(?:``[^`]*+)*+`"
        pieces = sq + rb"|" + dq + rb"|" + bq + rb"|" + _COMMENT + rb"|" + generic
        #: a whole statement other than INSERT, through its ``;``.
        self.statement = re.compile(rb"(?:" + pieces + rb")*+;", flags)
        #: the complete pieces of a statement before its ``;``; group 1 is the last of them.
        self.statement_pieces = re.compile(rb"(?:(" + pieces + rb"))*+", flags)
        #: one piece of a statement, or an opening that is never closed (group 1).
        self.statement_piece = re.compile(rb"(?:" + pieces + rb"|;|(['\"`]|/\*))", flags)
        #: in a column list: a comment, or a name (group 1).
        self.column_name = re.compile(rb"(?:" + _COMMENT + rb")|(" + _NAME + rb")", flags)
        if no_backslash_escapes:
            self.unescape: dict[int, Callable[[bytes], bytes]] = {
                39: lambda body: body.replace(b"''", b"'"),
                34: lambda body: body.replace(b'""', b'"'),
            }
        else:
            sq_escape = re.compile(rb"\\(.)|''", re.DOTALL)
            dq_escape = re.compile(rb'\\(.)|""', re.DOTALL)
            self.unescape = {
                39: lambda body: sq_escape.sub(_unescape_sq, body) if _needs_sq(body) else body,
                34: lambda body: dq_escape.sub(_unescape_dq, body) if _needs_dq(body) else body,
            }


_BACKSLASH_ESCAPES: dict[bytes, bytes] = {
    b"0": b"\x00",
    b"'": b"'",
    b'"': b'"',
    b"b": b"\x08",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"Z": b"\x1a",
    b"\\": b"\\",
    # MySQL keeps the backslash of \% and \_ so they stay literal in LIKE patterns.
    b"%": b"\\%",
    b"_": b"\\_",
}


def _unescape_sq(match: re.Match[bytes]) -> bytes:
    char = match.group(1)
    if char is None:
        return b"'"
    return _BACKSLASH_ESCAPES.get(char, char)


def _unescape_dq(match: re.Match[bytes]) -> bytes:
    char = match.group(1)
    if char is None:
        return b'"'
    return _BACKSLASH_ESCAPES.get(char, char)


def _needs_sq(body: bytes) -> bool:
    return b"\\" in body or b"''" in body


def _needs_dq(body: bytes) -> bool:
    return b"\\" in body or b'""' in body


_GRAMMARS: dict[bool, Grammar] = {}


def grammar_for(sql_mode: str) -> Grammar:
    nbe = sql_mode_has(sql_mode, "NO_BACKSLASH_ESCAPES")
    grammar = _GRAMMARS.get(nbe)
    if grammar is None:
        grammar = _GRAMMARS[nbe] = Grammar(nbe)
    return grammar


# ---------------------------------------------------------------------------------------------
# Literal conversion (everything but plain strings and plain integers)
# ---------------------------------------------------------------------------------------------

_INTRODUCER = re.compile(rb"_[A-Za-z0-9_]++\s*+|[nN](?=')")
_CONVERT_USING = re.compile(
    rb"(?i:CONVERT)\s*+\(\s*+(.*?)\s++(?i:USING)\s++" + _CHARSET_NAME + rb"\s*+\)\Z", re.DOTALL
)
_KEYWORD_VALUES: dict[bytes, Value] = {b"NULL": None, b"TRUE": 1, b"FALSE": 0, b"\\N": None}


def _bits_to_bytes(digits: bytes) -> BinaryLiteral:
    if not digits:
        return BinaryLiteral()
    number = int(digits, 2)
    return BinaryLiteral(number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big"))


def _hex_to_bytes(digits: bytes) -> BinaryLiteral:
    if len(digits) % 2:
        digits = b"0" + digits
    return BinaryLiteral(bytes.fromhex(digits.decode("ascii")))


def convert_literal(token: bytes, grammar: Grammar) -> Value:
    """The value of a literal token that is neither a plain string nor a plain integer."""
    if token == b"NULL":
        return None
    if token == b"''" or token == b'""':
        return b""
    first = token[0]
    if first in b"0123456789+-.":
        prefix = token[:2]
        if prefix == b"0x":
            return _hex_to_bytes(token[2:])
        if prefix == b"0b":
            return _bits_to_bytes(token[2:])
        if b"." in token or b"e" in token or b"E" in token:
            return Decimal(token.decode("ascii"))
        return int(token)
    keyword = token.upper()
    if keyword in _KEYWORD_VALUES:
        return _KEYWORD_VALUES[keyword]
    if first in b"cC":
        # CONVERT(<string> USING <charset>): the string's bytes, as a string
        inner = _CONVERT_USING.match(token)
        assert inner is not None, "the value pattern matched a CONVERT(... USING ...)"
        value = convert_literal(inner.group(1), grammar)
        return bytes(value) if isinstance(value, BinaryLiteral) else value
    intro = _INTRODUCER.match(token)
    if intro is not None:
        # a charset introducer makes even a hex or bit literal a string
        value = convert_literal(token[intro.end() :], grammar)
        return bytes(value) if isinstance(value, BinaryLiteral) else value
    if first in b"xX":
        return _hex_to_bytes(token[2:-1])
    if first in b"bB":
        return _bits_to_bytes(token[2:-1])
    parts = []
    unescape = grammar.unescape
    for match in grammar.quoted_part.finditer(token):
        part = match.group(1)
        parts.append(unescape[part[0]](part[1:-1]))
    return b"".join(parts)


def diagnose_row(g: Grammar, buf: bytes, pos: int, eof: bool) -> tuple[int, str] | None:
    """Walk the row at ``pos`` token by token after the fast pattern failed on it.

    Returns None when the row may simply continue past the end of the buffer (read more and
    retry), else ``(offset in buf, message)``.
    """
    n = len(buf)
    ws = g.ws  # inside a tuple no comments: no dump tool writes them there
    gap = g.blank  # between tuples comments are accepted

    def ended(at: int) -> tuple[int, str] | None:
        return (at, "file ends inside an INSERT statement (is it truncated?)") if eof else None

    def after_gap(at: int) -> int | tuple[int, str] | None:
        """Where the gap at ``at`` ends, or the verdict when it reaches the buffer's end."""
        p = gap.match(buf, at).end()  # type: ignore[union-attr]
        if p >= n:
            return ended(n)
        if buf.startswith(b"/*", p):
            return (p, "unterminated comment") if eof else None
        return p

    p_or = after_gap(pos)
    if not isinstance(p_or, int):
        return p_or
    p = p_or
    if buf[p] != 40:  # '('
        return (p, "expected '(' to start a row tuple")
    p = ws.match(buf, p + 1).end()  # type: ignore[union-attr]
    if p >= n:
        return ended(n)
    if buf[p] != 41:  # ')'
        while True:
            m = g.value.match(buf, p)
            if m is None or m.end() >= n:
                if m is None:
                    problem = _bad_value(g, buf, p, eof)
                    if problem is not None:
                        return problem
                return ended(n)
            p = ws.match(buf, m.end()).end()  # type: ignore[union-attr]
            if p >= n:
                return ended(n)
            char = buf[p]
            if char == 41:
                break
            if char != 44:  # ','
                return (p, "expected ',' or ')' after a value")
            p = ws.match(buf, p + 1).end()  # type: ignore[union-attr]
            if p >= n:
                return ended(n)
    p_or = after_gap(p + 1)
    if not isinstance(p_or, int):
        return p_or
    p = p_or
    if buf[p] not in b",;":
        return (p, "expected ',' or ';' after a row tuple")
    return (pos, "cannot parse this row tuple")  # the walker accepted what the pattern refused


_TOKEN_END = re.compile(rb"[\s,()]")
_LONGEST_CONVERT = 1024 * 1024
"""A ``CONVERT(...)`` cut by the buffer's end is read on for at most this many bytes."""


def _bad_value(g: Grammar, buf: bytes, p: int, eof: bool) -> tuple[int, str] | None:
    """Why no literal matches at ``p``; None when it may be cut by the end of the buffer."""
    opening = g.string_start.match(buf, p)
    if opening is not None:
        quote = opening.group(1)
        quoted = quoted_pattern(quote, g.no_backslash_escapes)
        if re.compile(quoted, re.DOTALL).match(buf, opening.start(1)) is None:
            if not eof:
                return None
            return (opening.start(1), "unterminated string literal")
        return (p, "invalid literal")
    if _TOKEN_END.search(buf, p) is None and not eof:
        return None
    if (
        not eof
        and len(buf) - p < _LONGEST_CONVERT
        and b"CONVERT".startswith(buf[p : p + 7].upper())
    ):
        return None  # CONVERT(... USING ...) may be cut by the buffer's end
    return (p, "invalid value in row tuple")
