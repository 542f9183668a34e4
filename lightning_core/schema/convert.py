"""Turn source values into canonical column values (see :mod:`.values`) with MySQL's rules.

:func:`make_converter` builds one closure per column, once per chunk; the closure is then called
for every value. In strict SQL mode (``STRICT_TRANS_TABLES`` / ``STRICT_ALL_TABLES``) a value
MySQL would refuse raises :class:`ConversionError`; otherwise the value is clipped, truncated or
zeroed as MySQL does, and the shared :class:`WarningCounter` counts a warning.

Source strings (``bytes``) are taken to be UTF-8, the default data character set of a dump.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import struct
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Literal, NoReturn

import attrs

from lightning_core.errors import EncodeError, SchemaError
from lightning_core.interfaces import BinaryLiteral, Value
from lightning_core.schema.model import ColumnInfo, ColumnType, FieldType, TableInfo
from lightning_core.schema.values import (
    JsonDoc,
    MysqlTime,
    parse_datetime_digits,
    parse_datetime_text,
    parse_duration_text,
)

Converter = Callable[[Value], object]


class ConversionError(EncodeError):
    """A value cannot be stored in a column under the SQL mode in force.

    The caller adds the table and ``file:offset`` to the message it reports.
    """

    def __init__(self, column: str, value: object, reason: str) -> None:
        self.column = column
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"column `{column}`: {reason} (value {shown})")

    def __reduce__(self) -> tuple[object, ...]:
        # errors cross from worker processes to the main one by pickle
        return (type(self), (self.column, self.value, self.reason))


@attrs.define
class WarningCounter:
    """Counts the warnings MySQL would raise in non-strict mode; share one per chunk."""

    warnings: int = 0
    last: str | None = None
    """The most recent warning, for the log."""

    def warn(self, column: str, value: object, reason: str) -> None:
        """Count one warning."""
        self.warnings += 1
        self.last = f"column `{column}`: {reason} (value {value!r:.80})"


@attrs.frozen(kw_only=True)
class SqlMode:
    """The parts of ``sql_mode`` that change how values are stored."""

    strict: bool = False
    no_zero_date: bool = False
    no_zero_in_date: bool = False
    allow_invalid_dates: bool = False

    @classmethod
    def parse(cls, sql_mode: str) -> SqlMode:
        """Read a comma-separated ``sql_mode`` string (case-insensitive)."""
        flags = {part.strip().upper() for part in sql_mode.split(",")}
        traditional = "TRADITIONAL" in flags
        return cls(
            strict=traditional or bool(flags & {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"}),
            no_zero_date=traditional or "NO_ZERO_DATE" in flags,
            no_zero_in_date=traditional or "NO_ZERO_IN_DATE" in flags,
            allow_invalid_dates="ALLOW_INVALID_DATES" in flags,
        )


# --- numbers --------------------------------------------------------------------------------

_INT_RANGES = {
    ColumnType.TINY: (-(2**7), 2**7 - 1, 2**8 - 1),
    ColumnType.SHORT: (-(2**15), 2**15 - 1, 2**16 - 1),
    ColumnType.INT24: (-(2**23), 2**23 - 1, 2**24 - 1),
    ColumnType.LONG: (-(2**31), 2**31 - 1, 2**32 - 1),
    ColumnType.LONGLONG: (-(2**63), 2**63 - 1, 2**64 - 1),
}
_INT_TEXT = re.compile(rb"\s*([+-]?\d+)\s*")
_NUMBER_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_FLOAT_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]
_BLOB_LIMITS = {
    ColumnType.TINY_BLOB: 2**8 - 1,
    ColumnType.BLOB: 2**16 - 1,
    ColumnType.MEDIUM_BLOB: 2**24 - 1,
    ColumnType.LONG_BLOB: 2**32 - 1,
}
_ENCODINGS = {
    "utf8mb4": "utf-8",
    "utf8": "utf-8",
    "utf8mb3": "utf-8",
    "latin1": "latin-1",
    "ascii": "ascii",
    "gbk": "gbk",
    "binary": None,
}
_DURATION_MAX = datetime.timedelta(hours=838, minutes=59, seconds=59)
_DURATION_MAX_HOURS = 838
"""TIME's largest hour (838:59:59)."""
_TIMESTAMP_MIN = MysqlTime(1970, 1, 1, 0, 0, 1)
_TIMESTAMP_MAX = MysqlTime(2038, 1, 19, 3, 14, 7, 999999)
_ZERO_TIME = MysqlTime(0, 0, 0)
# DECIMAL(65, 30) needs more digits than the default context's 28.
_WIDE = Context(prec=100, rounding=ROUND_HALF_UP)


class _Invalid(Exception):
    """Raised inside a conversion: the value is malformed; ``fallback`` is MySQL's result."""

    def __init__(self, reason: str, fallback: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fallback = fallback


def _text(value: Value) -> str | None:
    """The text of a string-like source value, or None for other types."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return None


def _to_decimal(value: Value, zero: object) -> Decimal:
    """A number from any source value; text must be a whole MySQL number literal."""
    if type(value) is BinaryLiteral:  # a hex/bit literal is a binary number here (MySQL)
        return Decimal(int.from_bytes(value, "big"))
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("not a finite number", zero)
        return Decimal(repr(value))
    text = _text(value)
    if text is None:
        raise _Invalid(f"a {type(value).__name__} is not a number", zero)
    match = _NUMBER_PREFIX.match(text)
    if match is None:
        raise _Invalid("incorrect number value", zero)
    number = Decimal(match.group().strip())
    if text[match.end() :].strip():
        raise _Invalid("data truncated: trailing characters after the number", number)
    return number


def _integer(ft: FieldType) -> Callable[[Value], int]:
    low, high, uhigh = _INT_RANGES[ft.tp]
    if ft.unsigned:
        low, high = 0, uhigh

    def clip(number: int) -> int:
        if number < low:
            raise _Invalid("out of range", low)
        if number > high:
            raise _Invalid("out of range", high)
        return number

    def convert(value: Value) -> int:
        if type(value) is int:
            return clip(value)
        if type(value) is BinaryLiteral:
            return clip(int.from_bytes(value, "big"))
        if isinstance(value, bytes) and (match := _INT_TEXT.fullmatch(value)):
            return clip(int(match.group(1)))
        try:
            number = _to_decimal(value, 0)
        except _Invalid as exc:
            fallback = exc.fallback
            if isinstance(fallback, Decimal):
                fallback = clip_quiet(fallback)
            raise _Invalid(exc.reason, fallback) from None
        return clip(int(number.to_integral_value(ROUND_HALF_UP)))

    def clip_quiet(number: Decimal) -> int:
        return min(max(int(number.to_integral_value(ROUND_HALF_UP)), low), high)

    return convert


def _year(ft: FieldType) -> Callable[[Value], int]:
    def from_number(number: int, is_text: bool) -> int:
        if number == 0:
            return 2000 if is_text else 0
        if 1 <= number <= 69:
            return number + 2000
        if 70 <= number <= 99:
            return number + 1900
        if 1901 <= number <= 2155:
            return number
        raise _Invalid("out of range for YEAR", 0)

    def convert(value: Value) -> int:
        text = _text(value)
        if text is not None:
            stripped = text.strip()
            if stripped.isdigit():
                number = int(stripped)
                # '0000' is the zero year, while '0' and '00' mean 2000.
                return 0 if len(stripped) == 4 and number == 0 else from_number(number, True)
        if isinstance(value, datetime.date):
            return from_number(value.year, False)
        parsed = _to_decimal(value, 0)
        return from_number(int(parsed.to_integral_value(ROUND_HALF_UP)), text is not None)

    return convert


def _float(ft: FieldType) -> Callable[[Value], float]:
    single = ft.tp == ColumnType.FLOAT
    limit = _FLOAT_MAX if single else 1.7976931348623157e308
    scale = ft.decimal if 0 <= ft.decimal < 31 and ft.flen > 0 else -1
    if scale >= 0:
        limit = float(10 ** (ft.flen - scale)) - 10.0 ** (-scale)
    low = 0.0 if ft.unsigned else -limit

    def convert(value: Value) -> float:
        if type(value) is float:
            number = value
            if not math.isfinite(number):
                raise _Invalid("not a finite number", 0.0)
        else:
            try:
                number = float(_to_decimal(value, 0.0))
            except _Invalid as exc:
                if isinstance(exc.fallback, Decimal):
                    raise _Invalid(exc.reason, float(exc.fallback)) from None
                raise
        if scale >= 0:
            number = round(number, scale)
        if number > limit or number < low:
            raise _Invalid("out of range", limit if number > 0 else low)
        if single:
            number = struct.unpack("f", struct.pack("f", number))[0]
        return number

    return convert


def _decimal(ft: FieldType) -> Callable[[Value], Decimal]:
    precision = ft.flen if ft.flen > 0 else 10
    scale = max(ft.decimal, 0)
    quantum = Decimal(1).scaleb(-scale)
    largest = _WIDE.subtract(_WIDE.power(10, precision - scale), quantum)
    smallest = Decimal(0) if ft.unsigned else _WIDE.minus(largest)
    zero = Decimal(0).quantize(quantum)

    def convert(value: Value) -> Decimal:
        try:
            number = _to_decimal(value, zero)
        except _Invalid as exc:
            if isinstance(exc.fallback, Decimal):
                raise _Invalid(exc.reason, clip_quiet(exc.fallback)) from None
            raise
        try:
            rounded = number.quantize(quantum, ROUND_HALF_UP, _WIDE)
        except InvalidOperation:  # more digits than the context allows: far out of range
            rounded = largest if number > 0 else smallest
            raise _Invalid("out of range", rounded) from None
        if rounded > largest:
            raise _Invalid("out of range", largest)
        if rounded < smallest:
            raise _Invalid("out of range", smallest)
        return rounded

    def clip_quiet(number: Decimal) -> Decimal:
        try:
            rounded = number.quantize(quantum, ROUND_HALF_UP, _WIDE)
        except InvalidOperation:
            return largest if number > 0 else smallest
        return min(max(rounded, smallest), largest)

    return convert


def _bit(ft: FieldType) -> Callable[[Value], int]:
    width = ft.flen if ft.flen > 0 else 1
    largest = (1 << width) - 1

    def convert(value: Value) -> int:
        if isinstance(value, bytes):
            number = int.from_bytes(value, "big")
        elif isinstance(value, str):
            number = int.from_bytes(value.encode("utf-8"), "big")
        elif isinstance(value, bool | int):
            number = int(value)
        elif isinstance(value, Decimal | float):
            number = int(_to_decimal(value, 0).to_integral_value(ROUND_HALF_UP))
        else:
            raise _Invalid(f"a {type(value).__name__} is not a bit value", 0)
        if number < 0:
            raise _Invalid("out of range for BIT", 0)
        if number > largest:
            raise _Invalid(f"too long for BIT({width})", largest)
        return number

    return convert


# --- strings --------------------------------------------------------------------------------


def _number_text(value: Value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if math.isfinite(value) else repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _string(ft: FieldType) -> Callable[[Value], bytes]:
    encoding = _ENCODINGS.get(ft.charset.lower(), "unknown")
    if encoding == "unknown":
        raise SchemaError(
            f"character set {ft.charset!r} is not supported; "
            f"supported: {', '.join(sorted(_ENCODINGS))}"
        )
    is_char = ft.tp == ColumnType.STRING
    byte_limit = _BLOB_LIMITS.get(ft.tp)
    char_limit = ft.flen if byte_limit is None and ft.flen >= 0 else None
    three_byte_utf8 = ft.charset.lower() in ("utf8", "utf8mb3")

    if encoding is None:
        pad_to = ft.flen if is_char and ft.flen > 0 else 0
        limit = byte_limit if byte_limit is not None else char_limit

        def convert_binary(value: Value) -> bytes:
            if isinstance(value, bytes):
                data = value
            elif isinstance(value, str):
                data = value.encode("utf-8")
            else:
                data = _number_text(value).encode("ascii")
            if limit is not None and len(data) > limit:
                raise _Invalid(f"data too long (more than {limit} bytes)", data[:limit])
            if len(data) < pad_to:
                data += b"\x00" * (pad_to - len(data))
            return data

        return convert_binary

    def convert_text(value: Value) -> bytes:
        bad_reason = None
        if isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = value[: exc.start].decode("utf-8")
                bad_reason = "incorrect string value (not valid UTF-8)"
        elif isinstance(value, str):
            text = value
        else:
            text = _number_text(value)
        if three_byte_utf8 and any(ord(ch) > 0xFFFF for ch in text):
            text = text[: next(i for i, ch in enumerate(text) if ord(ch) > 0xFFFF)]
            bad_reason = "incorrect string value (4-byte character in utf8)"
        if char_limit is not None and len(text) > char_limit:
            if text[char_limit:].strip(" "):
                bad_reason = f"data too long (more than {char_limit} characters)"
            text = text[:char_limit]
        if is_char:
            text = text.rstrip(" ")
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            data = text.encode(encoding, "replace")
            bad_reason = f"incorrect string value for character set {ft.charset}"
        if byte_limit is not None and len(data) > byte_limit:
            data = data[:byte_limit].decode(encoding, "ignore").encode(encoding)
            bad_reason = f"data too long (more than {byte_limit} bytes)"
        if bad_reason is not None:
            raise _Invalid(bad_reason, data)
        return data

    return convert_text


def _member_matcher(ft: FieldType) -> Callable[[str], int | None]:
    """Look up a member name the way the column collation compares: returns a 1-based index."""
    folded = not ft.collation.lower().endswith(("_bin", "binary"))
    exact = {name.rstrip(" "): i for i, name in reversed(list(enumerate(ft.elems, 1)))}
    loose = {name.rstrip(" ").lower(): i for i, name in reversed(list(enumerate(ft.elems, 1)))}

    def find(name: str) -> int | None:
        name = name.rstrip(" ")
        found = exact.get(name)
        if found is None and folded:
            found = loose.get(name.lower())
        return found

    return find


def _enum(ft: FieldType) -> Callable[[Value], int]:
    find = _member_matcher(ft)
    count = len(ft.elems)

    def convert(value: Value) -> int:
        text = _text(value)
        if text is not None:
            found = find(text)
            if found is not None:
                return found
            if text.strip().isdigit():
                number = int(text)
            else:
                raise _Invalid("not a member of the ENUM", 0)
        elif isinstance(value, bool | int):
            number = int(value)
        elif isinstance(value, Decimal | float):
            number = int(_to_decimal(value, 0).to_integral_value(ROUND_HALF_UP))
        else:
            raise _Invalid(f"a {type(value).__name__} is not an ENUM value", 0)
        if 1 <= number <= count:
            return number
        raise _Invalid("ENUM index out of range", 0)

    return convert


def _set(ft: FieldType) -> Callable[[Value], int]:
    find = _member_matcher(ft)
    largest = (1 << len(ft.elems)) - 1

    def convert(value: Value) -> int:
        text = _text(value)
        if text is not None:
            if text == "":
                return 0
            mask = 0
            unknown = False
            for name in text.split(","):
                found = find(name)
                if found is None:
                    unknown = True
                else:
                    mask |= 1 << (found - 1)
            if not unknown:
                return mask
            if not text.strip().isdigit():
                raise _Invalid("not a member of the SET", mask)
            number = int(text)
        elif isinstance(value, bool | int):
            number = int(value)
        elif isinstance(value, Decimal | float):
            number = int(_to_decimal(value, 0).to_integral_value(ROUND_HALF_UP))
        else:
            raise _Invalid(f"a {type(value).__name__} is not a SET value", 0)
        if 0 <= number <= largest:
            return number
        raise _Invalid("SET value out of range", number & largest if number > 0 else 0)

    return convert


def _json(ft: FieldType) -> Callable[[Value], JsonDoc]:
    def reject_constant(name: str) -> NoReturn:
        raise ValueError(f"{name} is not valid JSON")

    def convert(value: Value) -> JsonDoc:
        if isinstance(value, bytes | str):
            try:
                return JsonDoc(json.loads(value, parse_constant=reject_constant))
            except ValueError as exc:
                # Invalid JSON text is an error in every SQL mode.
                raise _Invalid(f"invalid JSON text: {exc}", None) from None
        if isinstance(value, Decimal):
            return JsonDoc(int(value) if value == value.to_integral_value() else float(value))
        if value is None or isinstance(value, bool | int | float):
            return JsonDoc(value)
        return JsonDoc(_number_text(value))

    return convert


# --- dates and times --------------------------------------------------------------------------


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _round_fraction(frac: str, fsp: int) -> tuple[int, int]:
    """Microseconds of ``frac`` rounded half-up to ``fsp`` digits, and a carry in seconds."""
    digits = (frac + "0000000")[:7]
    scaled = int(digits[:fsp] or "0")
    if int(digits[fsp]) >= 5:
        scaled += 1
    if scaled >= 10**fsp:
        return 0, 1
    return scaled * 10 ** (6 - fsp), 0


def parse_time_zone(name: str) -> datetime.tzinfo:
    """A MySQL ``time_zone`` value: ``UTC``/``SYSTEM``, ``+08:00`` or an IANA name."""
    if name.upper() in ("UTC", "+00:00", "Z"):
        return datetime.UTC
    if name.upper() == "SYSTEM":
        local = datetime.datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    match = re.fullmatch(r"([+-])(\d{1,2}):(\d{2})", name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        offset = datetime.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        return datetime.timezone(sign * offset)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SchemaError(
            f"unknown time zone {name!r}; use UTC, SYSTEM, an offset like +08:00 or an IANA name"
        ) from None


def _temporal(ft: FieldType, mode: SqlMode, zone: datetime.tzinfo) -> Callable[[Value], MysqlTime]:
    fsp = ft.decimal if ft.tp != ColumnType.DATE and 0 < ft.decimal <= 6 else 0
    date_only = ft.tp == ColumnType.DATE
    is_timestamp = ft.tp == ColumnType.TIMESTAMP

    def parse(value: Value) -> tuple[MysqlTime, str]:
        if isinstance(value, datetime.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
            return MysqlTime.from_datetime(value), f"{value.microsecond:06d}"
        if isinstance(value, datetime.date):
            return MysqlTime.from_datetime(value), ""
        text = _text(value)
        parsed = None
        if text is not None:
            parsed = parse_datetime_text(text)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if value == 0:
                return _ZERO_TIME, ""
            parsed = parse_datetime_digits(str(value))
        elif isinstance(value, Decimal) and value >= 0:
            whole, _, frac = format(value, "f").partition(".")
            parsed = parse_datetime_digits(whole, frac)
        if parsed is None:
            raise _Invalid("incorrect datetime value", _ZERO_TIME)
        return parsed

    def convert(value: Value) -> MysqlTime:
        parts, frac = parse(value)
        year, month, day, hour, minute, second, _ = parts
        if hour > 23 or minute > 59 or second > 59 or month > 12 or day > 31 or year > 9999:
            raise _Invalid("incorrect datetime value", _ZERO_TIME)
        if not any(parts) and not frac.strip("0"):
            if mode.no_zero_date:
                raise _Invalid("zero date is not allowed (NO_ZERO_DATE)", _ZERO_TIME)
            return _ZERO_TIME
        if month == 0 or day == 0:
            if mode.no_zero_in_date or is_timestamp:
                raise _Invalid("zero month or day is not allowed", _ZERO_TIME)
        elif day > _days_in_month(year, month) and (is_timestamp or not mode.allow_invalid_dates):
            raise _Invalid("incorrect date value (no such day)", _ZERO_TIME)
        if date_only:
            return MysqlTime(year, month, day)
        micro, carry = _round_fraction(frac, fsp)
        result = MysqlTime(year, month, day, hour, minute, second, micro)
        if carry:
            try:
                result = MysqlTime.from_datetime(
                    result.to_datetime() + datetime.timedelta(seconds=1)
                )
            except (ValueError, OverflowError):
                raise _Invalid("incorrect datetime value", _ZERO_TIME) from None
        if is_timestamp:
            result = to_utc(result)
        return result

    def to_utc(local: MysqlTime) -> MysqlTime:
        try:
            moment = local.to_datetime().replace(tzinfo=zone).astimezone(datetime.UTC)
        except (ValueError, OverflowError):
            raise _Invalid("out of range for TIMESTAMP", _ZERO_TIME) from None
        utc = MysqlTime.from_datetime(moment.replace(tzinfo=None))
        if not _TIMESTAMP_MIN <= utc <= _TIMESTAMP_MAX:
            raise _Invalid("out of range for TIMESTAMP", _ZERO_TIME)
        return utc

    return convert


def _duration(ft: FieldType) -> Callable[[Value], datetime.timedelta]:
    fsp = ft.decimal if 0 < ft.decimal <= 6 else 0
    zero = datetime.timedelta(0)
    unit = datetime.timedelta(microseconds=10 ** (6 - fsp))

    def clip(delta: datetime.timedelta) -> datetime.timedelta:
        if delta > _DURATION_MAX:
            raise _Invalid("out of range for TIME", _DURATION_MAX)
        if delta < -_DURATION_MAX:
            raise _Invalid("out of range for TIME", -_DURATION_MAX)
        return delta

    def from_parts(
        negative: bool, hours: int, minutes: int, seconds: int, frac: str
    ) -> datetime.timedelta:
        if minutes > 59 or seconds > 59:
            raise _Invalid("incorrect time value", zero)
        if hours > _DURATION_MAX_HOURS:  # beyond what timedelta holds, and far beyond TIME
            raise _Invalid("out of range for TIME", -_DURATION_MAX if negative else _DURATION_MAX)
        micro, carry = _round_fraction(frac, fsp)
        delta = datetime.timedelta(
            hours=hours, minutes=minutes, seconds=seconds + carry, microseconds=micro
        )
        return clip(-delta if negative else delta)

    def convert(value: Value) -> datetime.timedelta:
        if isinstance(value, datetime.timedelta):
            rounded = unit * round(value / unit) if fsp < 6 else value
            return clip(rounded)
        if isinstance(value, datetime.time):
            return from_parts(
                False, value.hour, value.minute, value.second, f"{value.microsecond:06d}"
            )
        if isinstance(value, datetime.datetime):
            return from_parts(
                False, value.hour, value.minute, value.second, f"{value.microsecond:06d}"
            )
        text = _text(value)
        if text is None:
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise _Invalid(f"a {type(value).__name__} is not a TIME value", zero)
            text = format(value, "f") if isinstance(value, Decimal) else str(value)
        parts = parse_duration_text(text)
        if parts is None:
            stamp = parse_datetime_text(text) if len(text.strip()) > 8 else None
            if stamp is None:
                raise _Invalid("incorrect time value", zero)
            moment, frac = stamp
            return from_parts(False, moment.hour, moment.minute, moment.second, frac)
        return from_parts(*parts)

    return convert


# --- the public entry points ------------------------------------------------------------------


def zero_value(ft: FieldType) -> object:
    """MySQL's implicit default of a NOT NULL column without DEFAULT (non-strict mode)."""
    if ft.is_integer or ft.tp in (ColumnType.YEAR, ColumnType.BIT, ColumnType.SET):
        return 0
    if ft.tp == ColumnType.ENUM:
        return 1 if ft.elems else 0
    if ft.tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return 0.0
    if ft.tp == ColumnType.NEWDECIMAL:
        return Decimal(0).scaleb(-max(ft.decimal, 0))
    if ft.is_time:
        return _ZERO_TIME
    if ft.tp == ColumnType.DURATION:
        return datetime.timedelta(0)
    if ft.tp == ColumnType.JSON:
        return JsonDoc(None)
    if ft.is_binary_string and ft.tp == ColumnType.STRING and ft.flen > 0:
        return b"\x00" * ft.flen
    return b""


def _typed_converter(ft: FieldType, mode: SqlMode, zone: datetime.tzinfo) -> Callable[[Any], Any]:
    tp = ft.tp
    if ft.is_integer:
        return _integer(ft)
    if tp == ColumnType.YEAR:
        return _year(ft)
    if tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return _float(ft)
    if tp in (ColumnType.NEWDECIMAL, ColumnType.DECIMAL):
        return _decimal(ft)
    if ft.is_string:
        return _string(ft)
    if ft.is_time:
        return _temporal(ft, mode, zone)
    if tp == ColumnType.DURATION:
        return _duration(ft)
    if tp == ColumnType.ENUM:
        return _enum(ft)
    if tp == ColumnType.SET:
        return _set(ft)
    if tp == ColumnType.BIT:
        return _bit(ft)
    if tp == ColumnType.JSON:
        return _json(ft)
    raise SchemaError(f"columns of type {tp.name} cannot be imported")


@attrs.frozen(kw_only=True)
class Passthrough:
    """The source values a column stores exactly as they are: its converter returns them.

    Callers (the KV encoders) may take such a value as it is; every other value must go
    through the converter. Integers: an ``int`` (not ``bool``) within ``int_range``. Strings:
    ``bytes`` of at most ``max_bytes`` bytes (-1: any) and ``max_chars`` characters (-1: any),
    at least ``min_bytes`` bytes, not ending in a space if ``no_trailing_space``, whose content
    ``text`` allows: ``"binary"`` any bytes, ``"utf8"`` valid UTF-8, ``"utf8mb3"`` valid UTF-8
    without 4-byte characters, ``"ascii"`` only ASCII. Decimals: a ``Decimal`` with exactly
    ``scale`` fraction digits (exponent ``-scale``) and at most ``precision`` digits, not
    negative if ``unsigned`` (``decimal`` is ``(precision, scale, unsigned)``).
    """

    int_range: tuple[int, int] | None = None
    decimal: tuple[int, int, bool] | None = None
    text: Literal["binary", "utf8", "utf8mb3", "ascii"] | None = None
    max_chars: int = -1
    max_bytes: int = -1
    min_bytes: int = 0
    no_trailing_space: bool = False


def passthrough(ft: FieldType) -> Passthrough | None:
    """What values of type ``ft`` convert to themselves, or None if the rule is not simple."""
    if ft.is_integer:
        low, high, uhigh = _INT_RANGES[ft.tp]
        return Passthrough(int_range=(0, uhigh) if ft.unsigned else (low, high))
    if ft.tp in (ColumnType.NEWDECIMAL, ColumnType.DECIMAL):
        precision = ft.flen if ft.flen > 0 else 10
        if precision > 65:
            return None
        return Passthrough(decimal=(precision, max(ft.decimal, 0), ft.unsigned))
    if not ft.is_string:
        return None
    charset = ft.charset.lower()
    byte_limit = _BLOB_LIMITS.get(ft.tp, -1)
    char_limit = ft.flen if byte_limit < 0 and ft.flen >= 0 else -1
    is_char = ft.tp == ColumnType.STRING
    if charset == "binary":
        limit = byte_limit if byte_limit >= 0 else char_limit
        pad_to = ft.flen if is_char and ft.flen > 0 else 0
        return Passthrough(text="binary", max_bytes=limit, min_bytes=pad_to)
    if charset not in _ENCODINGS:
        return None
    text: Literal["utf8", "utf8mb3", "ascii"] = "ascii"
    if charset == "utf8mb4":
        text = "utf8"
    elif charset in ("utf8", "utf8mb3"):
        text = "utf8mb3"
    return Passthrough(
        text=text, max_chars=char_limit, max_bytes=byte_limit, no_trailing_space=is_char
    )


@attrs.frozen(kw_only=True)
class DatetimeText:
    """A shortcut for the usual DATE/DATETIME source text, valid in every SQL mode.

    ``bytes`` of exactly ``YYYY-MM-DD`` or ``YYYY-MM-DD hh:mm:ss`` (ASCII digits) with month
    1-12, day from 1 to the days of that month, ``hh`` <= 23 and ``mm``, ``ss`` <= 59 convert to
    ``MysqlTime(year, month, day, hh, mm, ss)``, or ``MysqlTime(year, month, day)`` when
    ``date_only``. Other values must go through the converter.
    """

    date_only: bool


def datetime_text(ft: FieldType) -> DatetimeText | None:
    """The :class:`DatetimeText` shortcut of a DATE/DATETIME column (TIMESTAMPs move to UTC)."""
    if ft.tp == ColumnType.DATE:
        return DatetimeText(date_only=True)
    if ft.tp == ColumnType.DATETIME:
        return DatetimeText(date_only=False)
    return None


def _with_passthrough(rule: Passthrough | None, convert: Converter) -> Converter:
    """``convert`` behind a check that returns pass-through values at once (one call, not
    three, for the common clean integer or ASCII value)."""
    if rule is None:
        return convert
    if rule.int_range is not None:
        low, high = rule.int_range

        def integer(value: Value) -> object:
            if type(value) is int and low <= value <= high:
                return value
            return convert(value)

        return integer
    if rule.text in ("binary", None):
        return convert  # decimals: the check costs what the converter does
    limit = min(n for n in (rule.max_chars, rule.max_bytes, 1 << 62) if n >= 0)
    no_space = rule.no_trailing_space

    def ascii_text(value: Value) -> object:
        if (
            type(value) is bytes
            and len(value) <= limit
            and value.isascii()
            and not (no_space and value.endswith(b" "))
        ):
            return value
        return convert(value)

    return ascii_text


def field_converter(
    ft: FieldType,
    *,
    column: str,
    not_null: bool,
    sql_mode: str | SqlMode,
    time_zone: str = "UTC",
    warnings: WarningCounter | None = None,
) -> Converter:
    """A converter for a bare field type (what :func:`make_converter` builds on)."""
    mode = sql_mode if isinstance(sql_mode, SqlMode) else SqlMode.parse(sql_mode)
    counter = warnings if warnings is not None else WarningCounter()
    inner = _typed_converter(ft, mode, parse_time_zone(time_zone))
    strict = mode.strict
    null_fallback = zero_value(ft)
    is_json = ft.tp == ColumnType.JSON

    def convert(value: Value) -> object:
        if value is None:
            if not not_null:
                return None
            if strict:
                raise ConversionError(column, value, "column cannot be NULL")
            counter.warn(column, value, "NULL in a NOT NULL column: stored the implicit default")
            return null_fallback
        try:
            return inner(value)
        except _Invalid as exc:
            if strict or is_json:
                raise ConversionError(column, value, exc.reason) from None
            counter.warn(column, value, exc.reason)
            return exc.fallback

    return _with_passthrough(passthrough(ft), convert)


def make_converter(
    table: TableInfo,
    column: ColumnInfo,
    *,
    sql_mode: str,
    time_zone: str = "UTC",
    warnings: WarningCounter | None = None,
) -> Converter:
    """A closure turning one source value into ``column``'s canonical value.

    :param sql_mode: the target's ``sql_mode``; strict mode turns every warning into a
        :class:`ConversionError`.
    :param time_zone: the session time zone that TIMESTAMP text is in; results are UTC.
    :param warnings: counts non-strict warnings; pass one counter to all converters of a chunk.
    """
    del table  # part of the signature so per-table rules can be added without a new argument
    return field_converter(
        column.ft,
        column=column.name,
        not_null=column.not_null,
        sql_mode=sql_mode,
        time_zone=time_zone,
        warnings=warnings,
    )


@attrs.frozen
class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""In :func:`row_defaults`: the column has no value to use when it is missing (strict mode)."""


def _current_timestamp(ft: FieldType, now: datetime.datetime, zone: datetime.tzinfo) -> MysqlTime:
    fsp = ft.decimal if 0 < ft.decimal <= 6 else 0
    moment = now.astimezone(datetime.UTC if ft.tp == ColumnType.TIMESTAMP else zone)
    micro = moment.microsecond - moment.microsecond % 10 ** (6 - fsp)
    value = MysqlTime.from_datetime(moment.replace(tzinfo=None, microsecond=micro))
    return MysqlTime(*value[:3]) if ft.tp == ColumnType.DATE else value


def row_defaults(
    table: TableInfo,
    *,
    sql_mode: str,
    time_zone: str = "UTC",
    now: datetime.datetime | None = None,
) -> tuple[object, ...]:
    """The value of each column when a source file does not provide it, by column offset.

    ``DEFAULT`` literals give their value, ``CURRENT_TIMESTAMP`` gives ``now`` (the import's
    start, the same for every row), nullable columns give None. Auto-increment, auto-random and
    generated columns give None: the encoder fills them. A NOT NULL column without a default
    gives its implicit zero value in non-strict mode and :data:`NO_DEFAULT` in strict mode.
    """
    mode = SqlMode.parse(sql_mode)
    zone = parse_time_zone(time_zone)
    moment = now if now is not None else datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    result: list[object] = []
    for column in table.columns:
        if column.auto_increment or column.auto_random_bits or column.is_generated:
            result.append(None)
        elif column.default_expr is not None and column.default_expr.upper().startswith(
            ("CURRENT_TIMESTAMP", "NOW", "LOCALTIME")
        ):
            result.append(_current_timestamp(column.ft, moment, zone))
        elif column.has_default or not column.not_null:
            result.append(column.default)
        elif mode.strict:
            result.append(NO_DEFAULT)
        else:
            result.append(zero_value(column.ft))
    return tuple(result)


def check_missing_columns(table: TableInfo, missing: Iterable[str], *, sql_mode: str) -> None:
    """Fail early when a source lacks a NOT NULL column that has no default (strict mode).

    Call once per file with the columns it does not provide; rows need no further check.
    """
    if not SqlMode.parse(sql_mode).strict:
        return
    for name in missing:
        column = table.column(name)
        if column.auto_increment or column.auto_random_bits or column.is_generated:
            continue
        if column.not_null and not column.has_default and column.default_expr is None:
            raise ConversionError(
                column.name,
                None,
                f"table {table.qualified_name} needs a value: the column is NOT NULL without a "
                "default and the source file does not provide it; add it to the data or give "
                "it a DEFAULT",
            )
