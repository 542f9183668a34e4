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
