"""Canonical column values: the one form per column type that every encoder consumes.

:func:`lightning_core.schema.convert.make_converter` turns source values into these; the KV
codec and the SQL encoder take them as they are. SQL ``NULL`` is always plain ``None``.

======================================  =============================================
column type                             canonical value
======================================  =============================================
TINYINT … BIGINT, YEAR                  ``int`` (YEAR: 0 or 1901…2155)
FLOAT, DOUBLE                           ``float`` (FLOAT already rounded to single precision)
DECIMAL(p, s)                           ``decimal.Decimal`` quantized to exactly ``s`` places
CHAR, VARCHAR, TEXT                     ``bytes`` in the column charset (utf8/utf8mb4 → UTF-8,
                                        latin1 → latin-1, ascii → ASCII); CHAR has trailing
                                        spaces removed, as MySQL stores it
BINARY, VARBINARY, BLOB                 ``bytes`` as is; BINARY(n) right-padded with ``0x00``
DATE, DATETIME, TIMESTAMP               :class:`MysqlTime`; TIMESTAMP is in UTC (converted from
                                        the session time zone); DATE has zero time parts;
                                        microseconds already rounded to the column's fsp
TIME                                    ``datetime.timedelta`` (may be negative, within
                                        ±838:59:59.999999, rounded to the column's fsp)
ENUM                                    ``int``: 1-based index of the member, 0 = the empty
                                        error value
SET                                     ``int`` bitmask, bit ``i`` = member ``i``
BIT(n)                                  ``int`` (unsigned, < 2**n)
JSON                                    :class:`JsonDoc` holding the parsed document;
                                        JSON ``null`` is ``JsonDoc(None)``
======================================  =============================================
"""

from __future__ import annotations

import datetime
import re
from typing import Any, NamedTuple

import attrs


class MysqlTime(NamedTuple):
    """A DATE/DATETIME/TIMESTAMP value; unlike ``datetime`` it allows zero dates and parts."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0

    @property
    def is_zero(self) -> bool:
        """``0000-00-00 00:00:00``."""
        return not any(self)

    def to_datetime(self) -> datetime.datetime:
        """The same instant as a naive ``datetime``; ValueError for zero dates or parts."""
        return datetime.datetime(*self)

    @classmethod
    def from_datetime(cls, value: datetime.datetime | datetime.date) -> MysqlTime:
        """The value of a ``date`` or naive ``datetime``."""
        if isinstance(value, datetime.datetime):
            return cls(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
            )
        return cls(value.year, value.month, value.day)

    def format(self, fsp: int = 0, *, date_only: bool = False) -> str:
        """MySQL's text form: ``YYYY-MM-DD[ hh:mm:ss[.ffffff]]`` with ``fsp`` fraction digits."""
        text = f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        if date_only:
            return text
        text += f" {self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        if fsp > 0:
            text += "." + f"{self.microsecond:06d}"[:fsp]
        return text


@attrs.frozen(eq=True, hash=False)
class JsonDoc:
    """A parsed JSON document (dict, list, str, int, float, bool or None for JSON ``null``)."""

    value: Any


def format_duration(value: datetime.timedelta, fsp: int = 0) -> str:
    """MySQL's text form of a TIME value: ``[-]hhh:mm:ss[.ffffff]``."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, frac = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"
    if fsp > 0:
        text += "." + f"{frac:06d}"[:fsp]
    return text


# --- parsing MySQL's text forms of temporal values -------------------------------------------
# These return raw parts and leave validation (ranges, zero dates, fsp) to the converter, which
# knows the SQL mode.

_DIGITS = re.compile(r"\d+")
_DATETIME_DELIMITED = re.compile(
    r"(\d{1,4})[^\dT ](\d{1,2})[^\dT ](\d{1,2})"
    r"(?:(?:[T ]+)(\d{1,2})(?:[^\d](\d{1,2})(?:[^\d](\d{1,2})(?:\.(\d*))?)?)?)?"
)
_DURATION_TEXT = re.compile(r"(-)?(?:(\d+) +)?(\d+)(?::(\d+)(?::(\d+))?)?(?:\.(\d*))?")
_DURATION_DIGITS = re.compile(r"(-)?(\d+)(?:\.(\d*))?")


def _two_digit_year(year: int) -> int:
    return year + 2000 if year < 70 else year + 1900


def parse_datetime_text(text: str) -> tuple[MysqlTime, str] | None:
    """Split a MySQL date/datetime string into parts and its raw fraction digits.

    Accepts ``YYYY-MM-DD[ hh:mm:ss[.f]]`` with any punctuation as delimiter, ``T`` between date
    and time, two-digit years, and the digit-only forms ``YYYYMMDD[hhmmss[.f]]`` /
    ``YYMMDD[hhmmss]``. Returns None when the text has none of these shapes.
    """
    text = text.strip()
    match = _DATETIME_DELIMITED.fullmatch(text)
    if match:
        year_text, month, day, hour, minute, second, frac = match.groups()
        year = int(year_text)
        if len(year_text) <= 2:
            year = _two_digit_year(year)
        return (
            MysqlTime(
                year,
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
            ),
            frac or "",
        )
    digits, _, frac = text.partition(".")
    if not digits.isdigit() or (frac and not frac.isdigit()):
        return None
    return parse_datetime_digits(digits, frac)


def parse_datetime_digits(digits: str, frac: str = "") -> tuple[MysqlTime, str] | None:
    """Parts of the digit-only forms ``YYYYMMDDhhmmss``, ``YYMMDDhhmmss``, ``YYYYMMDD``,
    ``YYMMDD``."""
    n = len(digits)
    if n in (14, 8):
        year, rest = int(digits[:4]), digits[4:]
    elif n in (12, 6):
        year, rest = _two_digit_year(int(digits[:2])), digits[2:]
    else:
        return None
    parts = [int(rest[i : i + 2]) for i in range(0, len(rest), 2)]
    parts += [0] * (5 - len(parts))
    return MysqlTime(year, *parts), frac


def parse_duration_text(text: str) -> tuple[bool, int, int, int, str] | None:
    """Split a MySQL TIME string into ``(negative, hours, minutes, seconds, fraction_digits)``.

    Accepts ``[-][D ]hh:mm:ss[.f]``, ``hh:mm``, ``D hh``, and the digit-only forms
    ``hhmmss``, ``mmss``, ``ss`` (each with an optional fraction). Minutes and seconds are not
    range-checked here. Returns None for any other shape.
    """
    text = text.strip()
    match = _DURATION_TEXT.fullmatch(text)
    if match and (match.group(2) is not None or match.group(4) is not None):
        neg, days, hours, minutes, seconds, frac = match.groups()
        total_hours = int(hours) + 24 * int(days or 0)
        return bool(neg), total_hours, int(minutes or 0), int(seconds or 0), frac or ""
    match = _DURATION_DIGITS.fullmatch(text)
    if not match:
        return None
    neg, digits, frac = match.groups()
    number = int(digits)
    hours, rest = divmod(number, 10000)
    minutes, seconds = divmod(rest, 100)
    return bool(neg), hours, minutes, seconds, frac or ""
