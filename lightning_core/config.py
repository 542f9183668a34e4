"""Configuration: attrs classes per TOML section of tidb-lightning.toml, one strict converter.

(Initial skeleton: the [mydumper] part that source reading needs. The config issue owner extends
this file with every section, the converter, loading and flags.)
"""

from __future__ import annotations

import attrs

DEFAULT_FILTER: tuple[str, ...] = (
    "*.*",
    "!mysql.*",
    "!sys.*",
    "!INFORMATION_SCHEMA.*",
    "!PERFORMANCE_SCHEMA.*",
    "!METRICS_SCHEMA.*",
    "!INSPECTION_SCHEMA.*",
)


@attrs.frozen(kw_only=True)
class CsvConfig:
    """``[mydumper.csv]``: how CSV data files are parsed."""

    separator: str = ","
    """Field separator; one or more characters."""
    delimiter: str = '"'
    """Quoting delimiter; empty means no quoting. One or more characters."""
    terminator: str = ""
    """Line terminator; empty means any of \\r, \\n, \\r\\n."""
    header: bool = True
    """The first line of each file names the columns."""
    header_schema_match: bool = True
    """Header names are matched to the table's columns (false: header skipped, table order)."""
    not_null: bool = False
    """No field is NULL: the ``null`` string is an ordinary value."""
    null: str = "\\N"
    """A field equal to this (unquoted) is NULL."""
    backslash_escape: bool = True
    """Backslash escapes inside fields are interpreted."""
    trim_last_separator: bool = False
    """A separator at the end of each line is dropped (deprecated: use terminator)."""


@attrs.frozen(kw_only=True)
class FileRule:
    """One ``[[mydumper.files]]`` routing rule."""

    pattern: str
    """Regular expression matched against the path relative to data-source-dir."""
    schema: str = ""
    table: str = ""
    type: str = ""
    """``schema-schema``, ``table-schema``, ``view-schema``, ``sql``, ``csv``, ``parquet`` or
    ``ignore``."""
    key: str = ""
    compression: str = ""


@attrs.frozen(kw_only=True)
class RouteRule:
    """One ``[[routes]]`` rule: source schema/table patterns to a target name."""

    schema_pattern: str
    table_pattern: str = ""
    target_schema: str
    target_table: str = ""


@attrs.frozen(kw_only=True)
class MydumperConfig:
    """``[mydumper]``: where the data source is and how it is read."""

    data_source_dir: str = ""
    read_block_size: int = 64 * 1024
    """Bytes read from a file at a time."""
    strict_format: bool = False
    """CSV values never contain a line terminator, so files can be split anywhere."""
    max_region_size: int = 256 * 1024 * 1024
    """Chunk size for splitting large (strict-format) data files."""
    filter: tuple[str, ...] = DEFAULT_FILTER
    no_schema: bool = False
    character_set: str = "auto"
    data_character_set: str = "binary"
    case_sensitive: bool = False
    default_file_rules: bool = True
    files: tuple[FileRule, ...] = ()
    csv: CsvConfig = attrs.Factory(CsvConfig)
