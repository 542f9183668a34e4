"""SQL text formatting: identifiers, literals and row tuples for MySQL-protocol statements.

Shared by the TiDB backend (every value it sends goes through :func:`format_value`) and by the
test writers, so it is written for speed: one dict lookup on the exact type of a value, and
strings are scanned for special bytes once, in C, before any escaping work is done.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.interfaces import BinaryLiteral, Value

__all__ = ["format_row", "format_value", "quote_identifier", "sql_mode_has"]


def quote_identifier(name: str) -> str:
    """Quote ``name`` with backquotes, doubling any backquote inside it.

    >>> quote_identifier("a`b")
    '`a``b`'
    """
    return "`" + name.replace("`", "``") + "`"


#: Combination modes and the flags they turn on that matter to how SQL text is read.
_COMBINATION_MODES: dict[str, frozenset[str]] = {
    "ANSI": frozenset({"ANSI_QUOTES"}),
    "DB2": frozenset({"ANSI_QUOTES"}),
    "MAXDB": frozenset({"ANSI_QUOTES"}),
    "MSSQL": frozenset({"ANSI_QUOTES"}),
    "ORACLE": frozenset({"ANSI_QUOTES"}),
    "POSTGRESQL": frozenset({"ANSI_QUOTES"}),
}


def sql_mode_has(sql_mode: str, flag: str) -> bool:
    """Whether the comma-separated ``sql_mode`` turns ``flag`` on (case-insensitive), directly or
    through a combination mode such as ``ANSI``."""
    flag = flag.strip().upper()
    parts = {part.strip().upper() for part in sql_mode.split(",")}
    return flag in parts or any(flag in _COMBINATION_MODES.get(part, ()) for part in parts)


# Bytes that must be escaped inside a quoted string when backslash escapes are on. NUL and
# Ctrl-Z are not strictly required by the server, but escaping them keeps the statement text
# safe to log and to pipe through the mysql client (the same set mysql_real_escape_string uses).
_SPECIAL = re.compile(rb"[\x00\n\r\\'\"\x1a]")
_ESCAPES: dict[bytes, bytes] = {
    b"\x00": b"\\0",
    b"\n": b"\\n",
    b"\r": b"\\r",
    b"\\": b"\\\\",
    b"'": b"\\'",
    b'"': b'\\"',
    b"\x1a": b"\\Z",
}


def _escape_match(match: re.Match[bytes]) -> bytes:
    return _ESCAPES[match.group()]


def _quote_bytes(value: bytes) -> bytes:
    if _SPECIAL.search(value) is None:
        return b"'" + value + b"'"
    return b"'" + _SPECIAL.sub(_escape_match, value) + b"'"


def _quote_bytes_nbe(value: bytes) -> bytes:
    # With NO_BACKSLASH_ESCAPES a backslash is an ordinary byte; only the quote is doubled.
    if b"'" in value:
        value = value.replace(b"'", b"''")
    return b"'" + value + b"'"


# Text (``str``) is Unicode whatever the connection's character set: the _utf8mb4 introducer
# makes the server convert it into the column's charset, while ``bytes`` are stored unconverted.


def _format_str(value: str) -> bytes:
    try:
        return b"_utf8mb4" + _quote_bytes(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string value {value[:40]!r} is not valid Unicode: {exc}") from exc


def _format_str_nbe(value: str) -> bytes:
    try:
        return b"_utf8mb4" + _quote_bytes_nbe(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string value {value[:40]!r} is not valid Unicode: {exc}") from exc


def _format_binary_literal(value: BinaryLiteral) -> bytes:
    """``0x…``: bytes in string context, an unsigned number in numeric context — the meaning
    the source's hex or bit literal had (MariaDB reads ``X'…'`` as a string even in an INT
    column, so the ``0x`` form it is; ``X''`` for no bytes)."""
    return b"0x" + value.hex().encode("ascii") if value else b"X''"


def _format_none(value: None) -> bytes:
    return b"NULL"


def _format_int(value: int) -> bytes:
    return b"%d" % value


def _format_bool(value: bool) -> bytes:
    return b"1" if value else b"0"


def _format_decimal(value: Decimal) -> bytes:
    if not value.is_finite():
        raise EncodeError(f"decimal value {value} has no SQL literal; fix the source value")
    # str() keeps the exponent of a source float literal (1E+3 stays a float literal) and every
    # digit of an exact decimal.
    return str(value).encode("ascii")


def _format_float(value: float) -> bytes:
    if value != value or value in (float("inf"), float("-inf")):
        raise EncodeError(f"float value {value} has no SQL literal; fix the source value")
    return repr(value).encode("ascii")


def _format_date(value: datetime.date) -> bytes:
    return b"'" + value.isoformat().encode("ascii") + b"'"


def _format_datetime(value: datetime.datetime) -> bytes:
    if value.tzinfo is not None:
        # MySQL-compatible servers differ in accepting offsets; send the UTC wall time.
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    # isoformat adds microseconds only when they are non-zero.
    return b"'" + value.isoformat(" ").encode("ascii") + b"'"


def _format_time(value: datetime.time) -> bytes:
    return b"'" + value.replace(tzinfo=None).isoformat().encode("ascii") + b"'"


def _format_timedelta(value: datetime.timedelta) -> bytes:
    # MySQL TIME: [-]H:MM:SS[.ffffff], hours may exceed 24 (range ±838:59:59).
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, frac = divmod(micros, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours:02d}:{minute:02d}:{sec:02d}"
    if frac:
        text += f".{frac:06d}"
    return b"'" + text.encode("ascii") + b"'"


_Formatter = Callable[[Any], bytes]

_FORMATTERS: dict[type, _Formatter] = {
    type(None): _format_none,
    int: _format_int,
    bool: _format_bool,
    Decimal: _format_decimal,
    float: _format_float,
    bytes: _quote_bytes,
    BinaryLiteral: _format_binary_literal,
    str: _format_str,
    datetime.date: _format_date,
    datetime.datetime: _format_datetime,
    datetime.time: _format_time,
    datetime.timedelta: _format_timedelta,
}

_FORMATTERS_NBE: dict[type, _Formatter] = {
    **_FORMATTERS,
    bytes: _quote_bytes_nbe,
    str: _format_str_nbe,
}

# Subclasses (IntEnum, numpy scalars registered as int, ...) are resolved once by MRO order.
_FALLBACK_ORDER: tuple[type, ...] = (
    BinaryLiteral,
    bool,
    int,
    Decimal,
    float,
    bytes,
    bytearray,
    memoryview,
    str,
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
)


def _resolve(kind: type, table: dict[type, _Formatter]) -> _Formatter:
    for base in _FALLBACK_ORDER:
        if issubclass(kind, base):
            if base in (bytearray, memoryview):
                quote = table[bytes]
                return lambda value: quote(bytes(value))
            return table[base]
    raise EncodeError(f"value of type {kind.__name__} cannot be written as an SQL literal")


def format_value(value: Value, *, no_backslash_escapes: bool = False) -> bytes:
    """The SQL literal for ``value``, as bytes ready to splice into a statement.

    ``None`` → ``NULL``; ``int``/``Decimal``/``float`` → their digits; ``bool`` → ``1``/``0``;
    a ``BinaryLiteral`` → ``0x…`` (a number in numeric columns, as in the source);
    ``bytes`` (and ``str``, encoded as UTF-8) → a quoted string, escaped with backslashes unless
    ``no_backslash_escapes`` (the target runs with ``NO_BACKSLASH_ESCAPES``), in which case only
    ``'`` is doubled; dates and times → quoted MySQL literals, microseconds only when non-zero.

    :raises EncodeError: for NaN or infinite numbers and for unsupported types.
    """
    table = _FORMATTERS_NBE if no_backslash_escapes else _FORMATTERS
    formatter = table.get(type(value))
    if formatter is None:
        formatter = _resolve(type(value), table)
    return formatter(value)


def format_row(values: Sequence[Value], *, no_backslash_escapes: bool = False) -> bytes:
    """The row tuple ``(v1,v2,...)`` of SQL literals for ``values``.

    :raises EncodeError: as :func:`format_value`.
    """
    table = _FORMATTERS_NBE if no_backslash_escapes else _FORMATTERS
    get = table.get
    try:
        return b"(" + b",".join([get(type(v))(v) for v in values]) + b")"  # type: ignore[misc]
    except TypeError:
        # A type outside the table (get() returned None); resolve it the slow way.
        parts = []
        for value in values:
            formatter = get(type(value)) or _resolve(type(value), table)
            parts.append(formatter(value))
        return b"(" + b",".join(parts) + b")"
