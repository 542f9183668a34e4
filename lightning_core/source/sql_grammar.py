"""The grammar of SQL dumps' INSERT statements: compiled patterns, literal values, diagnosis.

Shared by :mod:`lightning_core.source.sql_reader` (rows) and its statement-boundary scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from lightning_core.interfaces import Value
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
_COMMENT = rb"/\*.*?\*/|--(?=\s)[^\n]*+|\#[^\n]*+"


class Grammar:
    """The compiled patterns for one quoting mode (backslash escapes on or off)."""

    def __init__(self, no_backslash_escapes: bool) -> None:
        self.no_backslash_escapes = no_backslash_escapes
        sq = quoted_pattern(b"'", no_backslash_escapes)
        dq = quoted_pattern(b'"', no_backslash_escapes)
        qstr = rb"(?:" + sq + rb"|" + dq + rb")"
        value = (
            rb"(?:" + _INTRO + rb"(?:" + qstr + rb"(?:\s*+" + qstr + rb")*+|" + _HEX + rb"|"
            rb"" + _BIT + rb")|" + _NUM + rb"|" + _KEYWORD + rb")"
        )
        flags = re.DOTALL
        self.value = re.compile(value, flags)
        self.quoted_part = re.compile(_WS + rb"(" + qstr + rb")", flags)
        self.string_start = re.compile(rb"(?:_[A-Za-z0-9_]++\s*+)?[nNxXbB]?(['\"])", flags)
        #: one row tuple, then the ``,`` or ``;`` after it; group 1 spans the tuple.
        self.row = re.compile(
            _WS + rb"(\((?:(?:\s*+" + value + rb"\s*+,)*+\s*+" + value + rb")?\s*+\))\s*+[,;]",
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
        self.separator = re.compile(_WS + rb"([,;])", flags)
        self.blank = re.compile(rb"(?:\s++|" + _COMMENT + rb")*+", flags)
        self.insert_head = re.compile(
            rb"(?i:INSERT(?:\s++(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY))?(?:\s++IGNORE)?"
            rb"|REPLACE(?:\s++(?:LOW_PRIORITY|DELAYED))?)(?:\s++(?i:INTO))?\s++"
            rb"" + _NAME + rb"(?:\s*+\.\s*+" + _NAME + rb")?\s*+"
            rb"(?:\((\s*+" + _NAME + rb"(?:\s*+,\s*+" + _NAME + rb")*+\s*+)\)\s*+)?"
            rb"(?i:VALUES?)(?![A-Za-z0-9_$])\s*+",
            flags,
        )
        self.insert_keyword = re.compile(rb"(?i:INSERT|REPLACE)(?![A-Za-z0-9_$])")
        generic = rb"[^;'\"`/#\-]++|/(?!\*)|-(?!-\s)"
        bq = rb"`[^`]*+(?:``[^`]*+)*+`"
        pieces = sq + rb"|" + dq + rb"|" + bq + rb"|" + _COMMENT + rb"|" + generic
        #: a whole statement other than INSERT, through its ``;``.
        self.statement = re.compile(rb"(?:" + pieces + rb")*+;", flags)
        #: one piece of a statement, or an opening that is never closed (group 1).
        self.statement_piece = re.compile(rb"(?:" + pieces + rb"|;|(['\"`]|/\*))", flags)
        self.name = re.compile(_NAME)
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
_KEYWORD_VALUES: dict[bytes, Value] = {b"NULL": None, b"TRUE": 1, b"FALSE": 0, b"\\N": None}


def _bits_to_bytes(digits: bytes) -> bytes:
    if not digits:
        return b""
    number = int(digits, 2)
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def _hex_to_bytes(digits: bytes) -> bytes:
    if len(digits) % 2:
        digits = b"0" + digits
    return bytes.fromhex(digits.decode("ascii"))


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
    intro = _INTRODUCER.match(token)
    if intro is not None:
        token = token[intro.end() :]
        if token[:2] in (b"0x", b"0b"):
            return convert_literal(token, grammar)
    first = token[0]
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
    ws = g.ws  # not comments: the fast patterns accept none inside a VALUES list

    def ended(at: int) -> tuple[int, str] | None:
        return (at, "file ends inside an INSERT statement (is it truncated?)") if eof else None

    p = ws.match(buf, pos).end()  # type: ignore[union-attr]
    if p >= n:
        return ended(n)
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
    p = ws.match(buf, p + 1).end()  # type: ignore[union-attr]
    if p >= n:
        return ended(n)
    if buf[p] not in b",;":
        return (p, "expected ',' or ';' after a row tuple")
    return (pos, "cannot parse this row tuple")  # the walker accepted what the pattern refused


_TOKEN_END = re.compile(rb"[\s,()]")


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
    return (p, "invalid value in row tuple")
