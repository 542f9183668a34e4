"""Configuration: tidb-lightning.toml read into frozen attrs classes by one strict converter.

The section classes live in :mod:`lightning_core.config_sections` and are re-exported here.
The converter maps kebab-case keys to snake_case fields, parses sizes (``"96MiB"``) and Go
durations (``"1h30m"``), refuses values of the wrong type and refuses unknown keys, naming the
file, the section, the key and the nearest valid key. ``[plugin.<name>]`` tables are kept raw
and validated by :func:`plugin_options` with the same rules.
"""

from __future__ import annotations

import ast
import difflib
import enum
import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override

from lightning_core.config_sections import (
    DEFAULT_FILTER,
    LOG_LEVELS,
    BlackWhiteListConfig,
    ByteSize,
    CheckpointConfig,
    ConflictConfig,
    CronConfig,
    CsvConfig,
    FileRule,
    IgnoreColumnsRule,
    KeepStrategy,
    LightningAppConfig,
    LightningConfig,
    LogLevel,
    MaxErrorConfig,
    MydumperConfig,
    PostOpLevel,
    PostRestoreConfig,
    RouteRule,
    Seconds,
    SecurityConfig,
    TableNamePattern,
    TidbConfig,
    TikvImporterConfig,
    default_region_concurrency,
)
from lightning_core.dsn import REDACTED, redact_dsn
from lightning_core.errors import ConfigError
from lightning_core.source.charset import DATA_CHARACTER_SETS
from lightning_core.source.table_filter import TableFilter, black_white_list_rules

__all__ = [
    "DEFAULT_FILTER",
    "LOG_LEVELS",
    "TIDB_PASSWORD_ENV",
    "BlackWhiteListConfig",
    "ByteSize",
    "CheckpointConfig",
    "ConflictConfig",
    "CronConfig",
    "CsvConfig",
    "FileRule",
    "IgnoreColumnsRule",
    "KeepStrategy",
    "LightningAppConfig",
    "LightningConfig",
    "LogLevel",
    "MaxErrorConfig",
    "MydumperConfig",
    "PostOpLevel",
    "PostRestoreConfig",
    "RouteRule",
    "Seconds",
    "SecurityConfig",
    "TableNamePattern",
    "TidbConfig",
    "TikvImporterConfig",
    "apply_environment",
    "config_from_mapping",
    "config_from_toml",
    "config_to_mapping",
    "default_region_concurrency",
    "kv_conflict_strategy",
    "load_config_file",
    "parse_byte_size",
    "parse_duration",
    "parse_log_level",
    "parse_post_op_level",
    "plugin_options",
    "redacted",
]

T = TypeVar("T")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Value syntax shared by the converter and the command-line flags.

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?(?:([kmgtpe])(i)?)?(b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE_UNITS["e"] = 1 << 60
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "μs": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}


def parse_byte_size(value: int | str) -> int:
    """Bytes of ``"96MiB"``, ``"64KiB"``, ``"1GB"``, ``"16"`` or an integer.

    Units are binary whatever the spelling (K, KB and KiB are 1024), as in Lightning.

    :raises ValueError: the text is not a size.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f'expected a size such as "96MiB", got {_show(value)}')
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f'expected a size such as "96MiB" or "64KiB", got {_show(value)}')
    number, unit = Fraction(match.group(1)), (match.group(2) or "").lower()
    return int(number * _SIZE_UNITS[unit])


def parse_duration(value: str | int | float) -> float:
    """Seconds of a Go duration such as ``"5m"``, ``"1h30m"``, ``"500ms"``, ``"-1.5h"``.

    A plain number is taken as seconds.

    :raises ValueError: the text is not a duration.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'expected a duration such as "5m", got {_show(value)}')
    if not isinstance(value, str):
        return float(value)
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    total, pos = Fraction(0), 0
    while body and pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None or not any(c.isdigit() for c in match.group(1)):
            break
        total += Fraction(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos < len(body):
        raise ValueError(
            f'expected a duration such as "5m", "1h30m" or "500ms", got {_show(value)}'
        )
    return float(sign * total)


def parse_log_level(value: str) -> str:
    """A log level, lower-cased; one of :data:`LOG_LEVELS`.

    :raises ValueError: another value.
    """
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {_show(value)}")
    return value.lower()


def parse_post_op_level(value: str | bool) -> PostOpLevel:
    """``required`` / ``optional`` / ``off``; ``true`` and ``false`` mean required and off."""
    return _parse_bool_enum(PostOpLevel, value, PostOpLevel.REQUIRED, PostOpLevel.OFF)


E = TypeVar("E", bound=enum.StrEnum)


def _parse_bool_enum(kind: type[E], value: Any, if_true: E, if_false: E) -> E:
    if isinstance(value, bool):
        return if_true if value else if_false
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return if_true if text == "true" else if_false
        try:
            return kind(text)
        except ValueError:
            pass
    choices = ", ".join(f'"{member.value}"' for member in kind)
    raise ValueError(f"expected one of {choices}, true or false, got {_show(value)}")


def _show(value: Any) -> str:
    """A short, typed description of a TOML value for error messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------------------------
# The converter.


class _InvalidValue(ValueError):
    """A value the converter refuses; the message already says what was expected.

    ``whole_section`` is set when the problem is the section (table) itself, not one key.
    """

    def __init__(self, message: str, *, whole_section: bool = False) -> None:
        super().__init__(message)
        self.whole_section = whole_section


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _wrap(parse: Callable[[Any], T]) -> Callable[[Any, Any], T]:
    def hook(value: Any, _type: Any) -> T:
        try:
            return parse(value)
        except ValueError as exc:
            raise _InvalidValue(str(exc)) from None

    return hook


def _strict(kind: type, expected: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _type: Any) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise _InvalidValue(f"expected {expected}, got {_show(value)}")
        return value

    return hook


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _equal_to(alias: Any) -> Callable[[Any], bool]:
    return lambda type_: bool(type_ == alias)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def attrs_hook(cl: type) -> Callable[[Any, Any], Any]:
        renames: dict[str, Any] = {
            f.name: override(rename=_kebab(f.name)) for f in attrs.fields(cl)
        }
        return make_dict_structure_fn(cl, conv, _cattrs_forbid_extra_keys=True, **renames)

    def tuple_hook(type_: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        element = get_args(type_)[0]
        inner = conv.get_structure_hook(element)

        def structure(value: Any, _type: Any) -> tuple[Any, ...]:
            if not isinstance(value, list | tuple):
                raise _InvalidValue(f"expected an array, got {_show(value)}")
            items, errors = [], []
            for index, item in enumerate(value):
                try:
                    items.append(inner(item, element))
                except Exception as exc:
                    note = IterableValidationNote(f"@ index {index}", index, element)
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"While structuring {type_!r}", errors, type_)
            return tuple(items)

        return structure

    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)
    conv.register_structure_hook(bool, _strict(bool, "a boolean (true or false)"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(str, _strict(str, "a string"))
    # The Annotated aliases are ordinary int / float / str to type checkers; only the converter
    # tells them apart, by equality of the whole Annotated type.
    syntaxes: list[tuple[Any, Callable[[Any], Any]]] = [
        (ByteSize, parse_byte_size),
        (Seconds, parse_duration),
        (LogLevel, parse_log_level),
    ]
    for alias, parse in syntaxes:
        conv.register_structure_hook_func(_equal_to(alias), _wrap(parse))
    conv.register_structure_hook(PostOpLevel, _wrap(parse_post_op_level))
    conv.register_structure_hook(
        KeepStrategy,
        _wrap(
            lambda v: _parse_bool_enum(KeepStrategy, v, KeepStrategy.RENAME, KeepStrategy.REMOVE)
        ),
    )

    max_error_table = attrs_hook(MaxErrorConfig)

    def max_error(value: Any, type_: Any) -> MaxErrorConfig:
        # Lightning's historical form is a bare integer: the limit on type errors.
        if isinstance(value, int) and not isinstance(value, bool):
            return MaxErrorConfig(type=value)
        return max_error_table(value, type_)  # type: ignore[no-any-return]

    file_rule_table = attrs_hook(FileRule)

    def file_rule(value: Any, type_: Any) -> FileRule:
        rule: FileRule = file_rule_table(value, type_)
        if bool(rule.pattern) == bool(rule.path):
            raise _InvalidValue("set exactly one of pattern and path", whole_section=True)
        return rule

    csv_table = attrs_hook(CsvConfig)

    def csv_options(value: Any, type_: Any) -> CsvConfig:
        if isinstance(value, dict) and isinstance(value.get("null"), str):
            value = {**value, "null": [value["null"]]}  # one string or a list of them
        csv: CsvConfig = csv_table(value, type_)
        problem = csv.problem()
        if problem is not None:
            raise _InvalidValue(problem, whole_section=True)
        return csv

    def port(value: Any, type_: Any) -> TidbConfig:
        tidb: TidbConfig = tidb_table(value, type_)
        if not 0 < tidb.port < 65536:
            raise _InvalidValue(f"port {tidb.port} is not between 1 and 65535", whole_section=True)
        return tidb

    # Hooks of nested sections first: a table's hook is generated with the hooks in force then.
    conv.register_structure_hook(CsvConfig, csv_options)
    conv.register_structure_hook(MaxErrorConfig, max_error)
    conv.register_structure_hook(FileRule, file_rule)
    tidb_table = attrs_hook(TidbConfig)
    mydumper_table = attrs_hook(MydumperConfig)

    def mydumper_options(value: Any, type_: Any) -> MydumperConfig:
        mydumper: MydumperConfig = mydumper_table(value, type_)
        for key, given, allowed in (
            (
                "character-set",
                mydumper.character_set,
                ("auto", "binary", "utf8mb4", "utf8", "gb18030", "gbk", "latin1"),
            ),
            ("data-character-set", mydumper.data_character_set, DATA_CHARACTER_SETS),
        ):
            if given.lower() not in allowed:
                # sending bytes of another charset unconverted would corrupt text silently
                raise _InvalidValue(
                    f"{key} = {given!r} is not supported: files are read as they are "
                    f"({', '.join(allowed)}); convert them to UTF-8 first",
                    whole_section=True,
                )
        return mydumper

    conv.register_structure_hook(MydumperConfig, mydumper_options)
    conv.register_structure_hook(TidbConfig, port)
    return conv


_CONVERTER = _make_converter()


# ---------------------------------------------------------------------------------------------
# Error messages.

_PATH_TOKEN = re.compile(r"\.(\w+)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")
_EXPECTED = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _parse_path(path: str) -> list[str | int]:
    """``$.mydumper.files[0].pattern`` as TOML names: ``["mydumper", "files", 0, "pattern"]``."""
    tokens: list[str | int] = []
    for attr, index, key in _PATH_TOKEN.findall(path.removeprefix("$")):
        if attr:
            tokens.append(_kebab(attr))
        elif index:
            tokens.append(int(index))
        else:
            tokens.append(str(ast.literal_eval(key)))
    return tokens


def _dotted(tokens: Sequence[str | int]) -> str:
    text = ""
    for token in tokens:
        text += f"[{token}]" if isinstance(token, int) else f".{token}" if text else token
    return text


def _section(tokens: Sequence[str | int]) -> str:
    if not tokens:
        return "the top level"
    if isinstance(tokens[-1], int):
        return f"[[{_dotted(tokens[:-1])}]] #{tokens[-1] + 1}"
    return f"[{_dotted(tokens)}]"


_MISSING = object()


def _value_at(data: Any, tokens: Sequence[str | int]) -> Any:
    for token in tokens:
        in_array = isinstance(token, int) and isinstance(data, list | tuple) and token < len(data)
        in_table = isinstance(token, str) and isinstance(data, Mapping) and token in data
        if not (in_array or in_table):
            return _MISSING
        data = data[token]
    return data


def _unknown_key(key: str, valid: Sequence[str], tokens: list[str | int], value: Any) -> str:
    """``unknown key "regin-concurrency" in [lightning]; did you mean "region-concurrency"?``"""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    is_table = isinstance(value, Mapping)
    is_table_array = (
        isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)
    )
    if is_table or is_table_array:
        brackets = ("[[", "]]") if is_table_array else ("[", "]")
        name = _dotted([*tokens, key])
        text = f"unknown section {brackets[0]}{name}{brackets[1]}"
        if close:
            text += f"; did you mean {brackets[0]}{_dotted([*tokens, close[0]])}{brackets[1]}?"
    else:
        text = f'unknown key "{key}" in {_section(tokens)}'
        if close:
            text += f'; did you mean "{close[0]}"?'
    if not close:
        text += f"; valid keys are: {', '.join(valid)}"
    return text


def _explain(
    exc: BaseException,
    type_: Any,
    tokens: list[str | int],
    data: Any,
    prefix: list[str | int],
) -> list[str]:
    """One message per problem found in ``exc`` at ``prefix + tokens``."""
    where = [*prefix, *tokens]
    if isinstance(exc, ForbiddenExtraKeysError):
        valid = [_kebab(f.name) for f in attrs.fields(exc.cl)]
        return [
            _unknown_key(key, valid, where, _value_at(data, [*tokens, key]))
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [f'missing required key "{where[-1]}" in {_section(where[:-1])}']
    if isinstance(exc, _InvalidValue) and exc.whole_section:
        return [f"{_section(where)}: {exc}"]
    if isinstance(exc, _InvalidValue):
        return [f"invalid value for {_dotted(where)}: {exc}"]
    got = _value_at(data, tokens)
    shown = "" if got is _MISSING else f", got {_show(got)}"
    if attrs.has(type_) or get_origin(type_) is dict or type_ is dict:
        return [f"{_section(where)} must be a table{shown}"]
    expected = _EXPECTED.get(type_, getattr(type_, "__name__", repr(type_)))
    return [f"invalid value for {_dotted(where)}: expected {expected}{shown}"]


def _structure(
    data: Any, type_: type[T], source: str | None, prefix: list[str | int] | None = None
) -> T:
    """Structure ``data`` as ``type_`` or raise one ConfigError listing every problem."""
    prefix = prefix or []
    try:
        return _CONVERTER.structure(data, type_)
    except Exception as exc:
        seen: list[tuple[BaseException, Any]] = []

        def remember(error: BaseException, error_type: Any) -> str:
            seen.append((error, error_type))
            return str(len(seen) - 1)

        unknown: list[str] = []  # listed first: a misspelt key often explains the rest
        problems: list[str] = []
        for line in cattrs.transform_error(exc, path="$", format_exception=remember):
            index, _, path = line.partition(" @ ")
            error, error_type = seen[int(index)]
            found = _explain(error, error_type, _parse_path(path), data, prefix)
            (unknown if isinstance(error, ForbiddenExtraKeysError) else problems).extend(found)
        problems = unknown + problems
        if not problems:  # not a validation error: a bug, keep its traceback
            raise
        lead = f"{source}: " if source else ""
        raise ConfigError("\n".join(lead + problem for problem in problems)) from exc


# ---------------------------------------------------------------------------------------------
# Public API.

_TOML_LOCATION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def config_from_mapping(data: Mapping[str, Any], source: str) -> LightningConfig:
    """Validate an already parsed TOML document (kebab-case keys) into a LightningConfig.

    :param source: what the data came from, for error messages (a file name).
    :raises ConfigError: unknown keys, wrong types or invalid values; one line per problem.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a table at the top level, got {_show(data)}")
    config = _with_black_white_list(data, source)
    try:
        kv_conflict_strategy(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


#: ``[tikv-importer] duplicate-resolution`` (deprecated) → the ``[conflict] strategy`` it means.
_DUPLICATE_RESOLUTION = {"none": "", "remove": "replace", "replace": "replace", "error": "error"}


def kv_conflict_strategy(config: LightningConfig) -> str:
    """What a KV backend does with two source rows of one primary or unique key:
    ``[conflict] strategy``, else what the deprecated ``[tikv-importer] duplicate-resolution``
    means (``remove`` / ``replace`` → ``replace``), else ``error``.

    :raises ConfigError: both keys are set, or duplicate-resolution has an unknown value.
    """
    strategy = config.conflict.strategy
    legacy = config.tikv_importer.duplicate_resolution
    mapped = _DUPLICATE_RESOLUTION.get(legacy)
    if mapped is None:
        raise ConfigError(
            f"[tikv-importer] duplicate-resolution = {json.dumps(legacy)} is not one of "
            f'{", ".join(_DUPLICATE_RESOLUTION)} ("record" left the table inconsistent and '
            'is gone); use [conflict] strategy = "replace", "ignore" or "error"'
        )
    if strategy and mapped:
        raise ConfigError(
            f"[conflict] strategy = {json.dumps(strategy)} and the deprecated [tikv-importer] "
            f"duplicate-resolution = {json.dumps(legacy)} are both set; keep only "
            "[conflict] strategy"
        )
    return strategy or mapped or "error"


#: Keys TiDB Lightning has whose other values change what an import does, and that this
#: implementation does not do yet: a non-default value is refused rather than ignored.
#: (Tuning keys — sizes, concurrencies, log rotation — are accepted and may be ignored.)
_UNIMPLEMENTED: tuple[tuple[str, str, str], ...] = (
    ("lightning", "server_mode", "the server mode (tasks posted over HTTP) is not implemented"),
    ("tikv_importer", "incremental_import", "imports into non-empty tables need the tidb backend"),
    ("tikv_importer", "parallel_import", "parallel imports into one table are not implemented"),
    ("tikv_importer", "duplicate_detection", "duplicate keys are always found and named"),
    ("tikv_importer", "add_index_by_sql", "indexes are always written as KV pairs"),
    ("tikv_importer", "keyspace_name", "keyspaces are not supported"),
    ("conflict", "precheck_conflict_before_import", "the conflict precheck is not implemented"),
    ("security", "redact_info_log", "row data in logs is not redacted (passwords always are)"),
    ("mydumper", "ignore_data_columns", "ignoring source columns is not implemented"),
)


def refuse_unimplemented(config: LightningConfig) -> None:
    """Stop an import whose configuration asks for something this implementation does not do
    (the configuration itself is valid: ``plan`` and the Loader migrator accept it).

    :raises ConfigError: naming every such key, in one line.
    """
    defaults = LightningConfig()
    found = []
    for section, key, why in _UNIMPLEMENTED:
        value = getattr(getattr(config, section), key)
        if value != getattr(getattr(defaults, section), key):
            name = f"[{_kebab(section)}] {_kebab(key)}"
            if isinstance(value, bool | int | float | str):
                name += f" = {json.dumps(value)}"
            found.append(f"{name} ({why})")
    if found:
        raise ConfigError(
            f"not implemented by this tidb-lightning: {'; '.join(found)}; remove these keys or "
            "set them back to their defaults"
        )


def _with_black_white_list(data: Mapping[str, Any], source: str) -> LightningConfig:
    if _BLACK_WHITE_LIST not in data:
        return _structure(data, LightningConfig, source)
    rest = {key: value for key, value in data.items() if key != _BLACK_WHITE_LIST}
    config = _structure(rest, LightningConfig, source)
    lists = _structure(data[_BLACK_WHITE_LIST], BlackWhiteListConfig, source, [_BLACK_WHITE_LIST])
    if lists.is_empty():
        return config
    if "filter" in rest.get("mydumper", {}):
        raise ConfigError(
            f"{source}: [black-white-list] and [mydumper] filter cannot both be set; "
            "[black-white-list] is the deprecated form of the filter, so keep only one of them"
        )
    rules = _filter_of(lists, config.mydumper.case_sensitive, source)
    log.warning(
        "%s: [black-white-list] is deprecated; it is read as the equivalent "
        "[mydumper] filter = [%s]",
        source,
        ", ".join(_toml_string(rule) for rule in rules),
    )
    return attrs.evolve(config, mydumper=attrs.evolve(config.mydumper, filter=rules))


_BLACK_WHITE_LIST = "black-white-list"


def _filter_of(lists: BlackWhiteListConfig, case_sensitive: bool, source: str) -> tuple[str, ...]:
    """The ``[mydumper] filter`` rules selecting what ``lists`` selects.

    :raises ConfigError: the lists have no equivalent rules, or a name is not a valid pattern.
    """
    try:
        rules = black_white_list_rules(
            do_dbs=lists.do_dbs,
            ignore_dbs=lists.ignore_dbs,
            do_tables=[(t.db_name, t.tbl_name) for t in lists.do_tables],
            ignore_tables=[(t.db_name, t.tbl_name) for t in lists.ignore_tables],
            case_sensitive=case_sensitive,
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: [black-white-list]: {exc}") from exc
    try:
        TableFilter.parse(rules, case_sensitive)
    except ConfigError as exc:
        raise ConfigError(f"{source}: [black-white-list] has an invalid name: {exc}") from exc
    return rules


def _toml_string(text: str) -> str:
    """``text`` as a TOML string: literal (``'...'``) when it can be, so backslashes stay."""
    if "'" in text or any(ord(char) < 32 or ord(char) == 127 for char in text):
        return json.dumps(text, ensure_ascii=False)
    return f"'{text}'"


def config_from_toml(text: str, source: str = "<string>") -> LightningConfig:
    """Parse TOML text into a LightningConfig.

    :raises ConfigError: invalid TOML (with line and column) or an invalid configuration.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LOCATION.search(message)
        if match:
            line, column = match.groups()
            message = message[: match.start()]
            raise ConfigError(f"{source}:{line}:{column}: invalid TOML: {message}") from exc
        raise ConfigError(f"{source}: invalid TOML: {message}") from exc
    return config_from_mapping(data, source)


def load_config_file(path: str) -> LightningConfig:
    """Read and validate a tidb-lightning.toml file.

    :raises ConfigError: the file cannot be read, is not TOML or is not a valid configuration.
    """
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte offset {exc.start})") from exc
    return config_from_toml(text, path)


def plugin_options(
    config: LightningConfig, name: str, options_type: type[T], *, source: str | None = None
) -> T:
    """The ``[plugin.<name>]`` table validated as ``options_type`` (an attrs class).

    Keys are kebab-case forms of the field names, checked as strictly as the rest of the file;
    an absent table gives the type's defaults.

    :param source: the configuration file's name, to start error messages with.
    :raises ConfigError: naming ``[plugin.<name>]`` and the offending key.
    """
    data = config.plugin.get(name, {})
    return _structure(data, options_type, source, ["plugin", name])


def _is_secret(key: str) -> bool:
    key = key.lower()
    return (
        any(word in key for word in ("password", "passwd", "secret", "token"))
        or key.endswith("key-path")
        or key in ("private-key", "access-key")
    )


def _dump(value: Any, *, redact: bool) -> Any:
    if attrs.has(type(value)):
        return {
            _kebab(f.name): _dump_field(_kebab(f.name), getattr(value, f.name), redact)
            for f in attrs.fields(type(value))
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _dump_field(str(k), v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(item, redact=redact) for item in value]
    return value


def _dump_field(key: str, value: Any, redact: bool) -> Any:
    if redact and isinstance(value, str):
        if _is_secret(key):
            return REDACTED
        if key == "dsn":
            return redact_dsn(value)
    return _dump(value, redact=redact)


def config_to_mapping(config: Any) -> dict[str, Any]:
    """The configuration (or one section) as TOML-shaped data: kebab-case keys, plain values.

    Secrets are included; use :func:`redacted` for anything that is logged or shown.
    """
    result: dict[str, Any] = _dump(config, redact=False)
    return result


def redacted(config: Any) -> dict[str, Any]:
    """Like :func:`config_to_mapping`, with every password, key path and DSN password
    (also in ``[plugin.*]`` tables) replaced by ``"******"``; safe for logs."""
    result: dict[str, Any] = _dump(config, redact=True)
    return result


#: The environment variable that holds ``[tidb] password``. It overrides the file and is
#: overridden by ``--tidb-password``; unlike a flag, it is not readable in ``/proc/*/cmdline``.
TIDB_PASSWORD_ENV = "TIDB_LIGHTNING_TIDB_PASSWORD"


def apply_environment(
    config: LightningConfig, environ: Mapping[str, str] | None = None
) -> LightningConfig:
    """``config`` with ``$TIDB_LIGHTNING_TIDB_PASSWORD``, when set, as ``[tidb] password``."""
    password = (os.environ if environ is None else environ).get(TIDB_PASSWORD_ENV)
    if password is None:
        return config
    return attrs.evolve(config, tidb=attrs.evolve(config.tidb, password=password))
