"""One frozen attrs class per section of tidb-lightning.toml, with Lightning's defaults.

Field names are the snake_case form of the TOML's kebab-case keys (``region-concurrency`` is
``region_concurrency``). The converter in :mod:`lightning_core.config` does the mapping, the
type checks and the parsing of sizes and durations; these classes only describe the shape.
Import them from :mod:`lightning_core.config`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from typing import Annotated, Any

import attrs

ByteSize = Annotated[int, "lightning:byte-size"]
"""A size in bytes. TOML accepts an integer or a string such as ``"96MiB"``, ``"64KiB"``,
``"1GB"`` (binary units, as Lightning: K, KB and KiB all mean 1024)."""

Seconds = Annotated[float, "lightning:duration"]
"""A duration in seconds. TOML accepts a Go duration string such as ``"5m"``, ``"1h30m"``,
``"500ms"``."""

LogLevel = Annotated[str, "lightning:log-level"]
"""``debug``, ``info``, ``warn``, ``warning``, ``error`` or ``fatal`` (stored lower-case)."""

LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warn", "warning", "error", "fatal")

MAX_INT64 = 2**63 - 1
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_FILTER: tuple[str, ...] = (
    "*.*",
    "!mysql.*",
    "!sys.*",
    "!INFORMATION_SCHEMA.*",
    "!PERFORMANCE_SCHEMA.*",
    "!METRICS_SCHEMA.*",
    "!INSPECTION_SCHEMA.*",
)


def _strings(value: str | Sequence[str]) -> tuple[str, ...]:
    """One string or several, as a tuple (``[mydumper.csv] null`` takes either)."""
    return (value,) if isinstance(value, str) else tuple(value)


def default_region_concurrency() -> int:
    """The number of logical CPUs this process may run on (Lightning's default concurrency)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class PostOpLevel(enum.StrEnum):
    """How a post-import step (checksum, analyze) runs; ``true``/``false`` mean required/off."""

    OFF = "off"
    OPTIONAL = "optional"
    """Run it; a failure is only a warning."""
    REQUIRED = "required"
    """Run it; a failure fails the import."""


class AutoOff(enum.StrEnum):
    """A speed-up the tidb backend uses where it applies (``auto``), or never (``off``)."""

    AUTO = "auto"
    OFF = "off"


class KeepStrategy(enum.StrEnum):
    """What happens to checkpoints after a successful import; ``true``/``false`` mean
    rename/remove."""

    REMOVE = "remove"
    RENAME = "rename"
    """Keep them under a name suffixed with the task id."""
    ORIGIN = "origin"
    """Keep them unchanged."""


@attrs.frozen(kw_only=True)
class MaxErrorConfig:
    """``[lightning] max-error``: an integer (type errors) or a table of limits per kind."""

    syntax: int = 0
    """Syntax errors tolerated (the offending chunk is skipped)."""
    charset: int = MAX_INT64
    """Character-set conversion errors tolerated."""
    type: int = 0
    """Rows with values the target rejects (strict mode, or a duplicate in the tidb backend)."""
    conflict: int = MAX_INT64
    """Unique-key conflicts tolerated in the local backend."""


@attrs.frozen(kw_only=True)
class LightningAppConfig:
    """``[lightning]``: logging, server mode and how much runs in parallel."""

    status_addr: str = ""
    """Listening address of the HTTP status server (``":8289"``); empty disables it."""
    server_mode: bool = False
    """Wait for tasks submitted over HTTP instead of running one import and exiting."""
    pprof_port: int = 0
    """Legacy alias of status-addr (a port number); 0 leaves status-addr alone."""
    level: LogLevel = "info"
    """Log level."""
    file: str = ""
    """Log file; empty means a timestamped file in the temp directory, ``"-"`` means stdout."""
    max_size: int = 128
    """Rotate the log file after this many megabytes."""
    max_days: int = 28
    """Delete rotated log files older than this many days."""
    max_backups: int = 14
    """Keep at most this many rotated log files."""
    enable_diagnose_logs: bool = False
    """Also log from dependencies, for diagnosis."""
    check_requirements: bool = True
    """Check the target cluster's version and free space before starting."""
    index_concurrency: int = 2
    """Index engines open at the same time."""
    table_concurrency: int = 6
    """Data engines (tables) open at the same time."""
    region_concurrency: int = attrs.field(factory=default_region_concurrency)
    """Chunks encoded at the same time (worker processes); defaults to the number of CPUs."""
    io_concurrency: int = 5
    """Files read at the same time."""
    meta_schema_name: str = "lightning_metadata"
    """Schema on the target holding task metadata for parallel imports."""
    max_error: MaxErrorConfig | None = None
    """Rows the target refuses or changes (warnings) tolerated before a table stops; None
    (the key absent) refuses every bad row and only counts warnings, as Lightning does."""
    task_info_schema_name: str = "lightning_task_info"
    """Schema on the target recording skipped rows and conflicts; empty disables recording."""


@attrs.frozen(kw_only=True)
class SecurityConfig:
    """``[security]`` and ``[tidb.security]``: TLS certificates and keys."""

    ca_path: str = ""
    """CA certificate; empty disables TLS."""
    cert_path: str = ""
    """This client's certificate."""
    key_path: str = attrs.field(default="", repr=False)
    """This client's private key."""
    redact_info_log: bool = False
    """Hide user data (keys, values) in the log."""


@attrs.frozen(kw_only=True)
class CheckpointConfig:
    """``[checkpoint]``: where import progress is recorded so a killed run can resume."""

    enable: bool = True
    """Record checkpoints."""
    schema: str = "tidb_lightning_checkpoint"
    """Database (mysql driver) or file stem (file driver) of the checkpoints."""
    driver: str = "file"
    """Checkpoint store: ``file``, ``mysql`` or one a plugin adds."""
    dsn: str = attrs.field(default="", repr=False)
    """File path (file driver) or ``USER:PASS@tcp(HOST:PORT)/`` (mysql driver); empty picks
    ``/tmp/<schema>.pb`` or the ``[tidb]`` server."""
    keep_after_success: KeepStrategy = KeepStrategy.REMOVE
    """What happens to the checkpoints after a successful import."""


@attrs.frozen(kw_only=True)
class ConflictConfig:
    """``[conflict]``: what happens to rows whose primary or unique key collides."""

    strategy: str = ""
    """``""``, ``error``, ``replace``, ``ignore`` or one a plugin adds; KV backends (local): two
    source rows of one primary or unique key stop the table (``error``, also for ``""``) or
    keep the latest (``replace``) / first (``ignore``) row. The tidb backend takes
    ``[tikv-importer] on-duplicate``."""
    precheck_conflict_before_import: bool = False
    """Also look for conflicts in the source data before importing."""
    threshold: int = 10000
    """Rows a table may drop under replace or ignore; more stop the table (negative: 10000)."""
    max_record_rows: int = 10000
    """Conflicting rows recorded in the task-info schema."""


@attrs.frozen(kw_only=True)
class TikvImporterConfig:
    """``[tikv-importer]``: the backend and its tuning."""

    backend: str = "local"
    """Backend name: ``local``, ``importer``, ``tidb`` or one a plugin adds."""
    addr: str = ""
    """``host:port`` of tikv-importer (importer backend)."""
    on_duplicate: str = "replace"
    """tidb backend: ``replace``, ``ignore`` or ``error`` on a duplicate key."""
    max_kv_pairs: int = 4096
    """KV pairs buffered per write to the importer."""
    send_kv_pairs: int = 32768
    """KV pairs per request to TiKV (deprecated: send-kv-size)."""
    send_kv_size: ByteSize = 16 * KIB
    """Bytes per write request to TiKV."""
    compress_kv_pairs: str = ""
    """Compression of KV pairs sent to TiKV: ``""``, ``gz`` or ``gzip``."""
    region_split_size: ByteSize = 96 * MIB
    """Bytes per SST / region produced by the local backend."""
    region_split_keys: int = 1_280_000
    """Keys per region produced by the local backend."""
    region_split_batch_size: int = 4096
    """Regions split in one batch."""
    region_split_concurrency: int = attrs.field(factory=default_region_concurrency)
    """Concurrent region splits; defaults to the number of CPUs."""
    region_check_backoff_limit: int = 1800
    """Retries while waiting for split regions to come online."""
    sorted_kv_dir: str = ""
    """Local directory where the local backend sorts KV pairs."""
    disk_quota: ByteSize = MAX_INT64
    """Soft limit on the size of sorted-kv-dir."""
    range_concurrency: int = 16
    """Ranges written to TiKV at the same time."""
    duplicate_resolution: str = "none"
    """Deprecated form of ``[conflict] strategy``: ``none``, ``remove`` / ``replace`` (the
    strategy ``replace``) or ``error``; setting both is an error."""
    duplicate_detection: bool = False
    """Old duplicate detection switch (deprecated)."""
    incremental_import: bool = False
    """Allow importing into tables that already hold data (deprecated: parallel-import)."""
    parallel_import: bool = False
    """Several Lightning instances import into the same tables."""
    engine_mem_cache_size: ByteSize = 512 * MIB
    """Memory cache per engine of the local backend."""
    local_writer_mem_cache_size: ByteSize = 128 * MIB
    """Memory cache per writer of the local backend before flushing to an engine."""
    store_write_bwlimit: ByteSize = 0
    """Bytes per second written to each TiKV store; 0 means no limit."""
    add_index_by_sql: bool = False
    """Import rows first, then add indexes with ``ALTER TABLE ... ADD INDEX``."""
    keyspace_name: str = ""
    """Keyspace of a multi-tenant cluster; empty asks the cluster."""
    pause_pd_scheduler_scope: str = "table"
    """``table`` or ``global``: where PD scheduling pauses during the import."""
    block_size: ByteSize = 16 * KIB
    """I/O block size of local sorting."""
    logical_import_batch_size: ByteSize = 96 * KIB
    """tidb backend: target size of the VALUES of one statement."""
    logical_import_batch_rows: int = 65536
    """tidb backend: rows per transaction at most."""
    logical_import_prep_stmt: bool = False
    """tidb backend: use prepared statements."""


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
    """No field is NULL: the ``null`` strings are ordinary values."""
    null: tuple[str, ...] = attrs.field(default=("\\N",), converter=_strings)
    """A field equal to one of these (quoted or not, after unescaping) is NULL. TOML accepts
    one string or a list; an empty list means ``[""]``."""
    backslash_escape: bool = True
    """Escapes (by ``escaped-by``) inside fields are interpreted."""
    escaped_by: str = "\\"
    """The escape character: one single-byte character, or empty for none. As in Lightning,
    ``backslash-escape = false`` turns off the default backslash; another character stays."""
    trim_last_separator: bool = False
    """A separator at the end of each line is dropped (deprecated: use terminator)."""

    def escape(self) -> str:
        """The escape character in force ("" for none), from escaped-by and backslash-escape."""
        if self.backslash_escape and not self.escaped_by:
            return "\\"
        if not self.backslash_escape and self.escaped_by == "\\":
            return ""
        return self.escaped_by

    def null_strings(self) -> tuple[str, ...]:
        """The strings that are NULL (none with not-null)."""
        if self.not_null:
            return ()
        return self.null or ("",)

    def problem(self) -> str | None:
        """Why these options cannot parse a file, or None when they can."""
        if not self.separator:
            return "separator must not be empty; set e.g. ','"
        terminators = [self.terminator] if self.terminator else ["\r\n", "\n", "\r"]
        if self.separator == self.delimiter or self.separator in terminators:
            return "separator must differ from the delimiter and the terminator"
        if self.delimiter and self.delimiter in terminators:
            return "delimiter must differ from the terminator"
        if len(self.escaped_by.encode("utf-8")) > 1:
            return f"escaped-by = {self.escaped_by!r}: use one single-byte character or ''"
        escape = self.escape()
        if escape and any(escape in s for s in (self.separator, self.delimiter, *terminators)):
            return "escaped-by must not appear in the separator, delimiter or terminator"
        return None


@attrs.frozen(kw_only=True)
class FileRule:
    """One ``[[mydumper.files]]`` routing rule; exactly one of pattern and path is set."""

    pattern: str = ""
    """Regular expression matched against the path relative to data-source-dir."""
    path: str = ""
    """One file, absolute or relative to data-source-dir."""
    schema: str = ""
    """Target database; may use ``$1`` / ``$name`` groups of the pattern."""
    table: str = ""
    """Target table; may use groups of the pattern."""
    type: str = ""
    """``schema-schema``, ``table-schema``, ``view-schema``, ``sql``, ``csv``, ``parquet`` or
    ``ignore``."""
    key: str = ""
    """Sort key among the files of one table (row-id order, checkpoints)."""
    compression: str = ""
    """``gz``, ``zst``, ... when the file name does not say."""


@attrs.frozen(kw_only=True)
class IgnoreColumnsRule:
    """One ``[[mydumper.ignore-data-columns]]`` rule: source columns that are not imported."""

    db: str = ""
    """Database name (with table), or empty when table-filter is used."""
    table: str = ""
    """Table name."""
    table_filter: tuple[str, ...] = ()
    """Table filter patterns (``db.tbl`` wildcards) instead of db and table."""
    columns: tuple[str, ...] = ()
    """Columns to drop."""


@attrs.frozen(kw_only=True)
class MydumperConfig:
    """``[mydumper]``: where the data source is and how it is read."""

    data_source_dir: str = ""
    """Directory (or storage URL) of the dump."""
    read_block_size: ByteSize = 64 * KIB
    """Bytes read from a file at a time."""
    batch_size: ByteSize = 100 * GIB
    """Source bytes per data engine; larger tables are split into several engines."""
    batch_import_ratio: float = 0.75
    """Growth of the first engines of a table, 0 <= ratio < 1 (0: all the same size)."""
    strict_format: bool = False
    """CSV values never contain a line terminator, so files can be split anywhere."""
    max_region_size: ByteSize = 256 * MIB
    """Chunk size for splitting large (strict-format) data files."""
    filter: tuple[str, ...] = DEFAULT_FILTER
    """Table filter: only tables matching these wildcard rules are imported."""
    no_schema: bool = False
    """Do not create schemas; the tables already exist on the target."""
    character_set: str = "auto"
    """Encoding of schema files: ``auto`` (UTF-8, else GB18030, per file), ``utf8mb4``,
    ``gb18030``, ``gbk``, ``latin1`` or ``binary`` (as is)."""
    data_character_set: str = "binary"
    """Encoding of the text in data files (SQL and CSV), converted to UTF-8: ``utf8mb4``,
    ``gb18030``, ``gbk``, ``latin1``, or ``binary`` (as is)."""
    data_invalid_char_replace: str = "\ufffd"
    """Replaces bytes that data-character-set cannot decode."""
    case_sensitive: bool = False
    """Database and table names are case-sensitive in routes and filters."""
    default_file_rules: bool = True
    """Also apply the built-in file-name rules after the custom ones."""
    files: tuple[FileRule, ...] = ()
    """Custom ``[[mydumper.files]]`` rules."""
    ignore_data_columns: tuple[IgnoreColumnsRule, ...] = ()
    """``[[mydumper.ignore-data-columns]]`` rules."""
    csv: CsvConfig = attrs.Factory(CsvConfig)
    """``[mydumper.csv]``."""


@attrs.frozen(kw_only=True)
class TidbConfig:
    """``[tidb]``: the target server (any MySQL-protocol server for the tidb backend)."""

    host: str = "127.0.0.1"
    """Host of one TiDB (or MySQL) server."""
    port: int = 4000
    """Its SQL port."""
    user: str = "root"
    """User name."""
    password: str = attrs.field(default="", repr=False)
    """Password (never logged)."""
    status_port: int = 10080
    """TiDB's HTTP status port."""
    pd_addr: str = ""
    """``host:port`` of PD; several separated by commas."""
    log_level: LogLevel = "error"
    """Log level of the TiDB library code."""
    sql_mode: str = "ONLY_FULL_GROUP_BY,NO_AUTO_CREATE_USER"
    """SQL mode used to parse schemas and encode values."""
    tls: str = ""
    """``""``, ``false``, ``cluster``, ``skip-verify`` or ``preferred``."""
    security: SecurityConfig | None = None
    """``[tidb.security]``; None means a copy of ``[security]``."""
    max_allowed_packet: ByteSize = 64 * MIB
    """Largest SQL packet; 0 asks the server."""
    build_stats_concurrency: int = 20
    """Session variable for ANALYZE."""
    distsql_scan_concurrency: int = 15
    """Session variable for checksum and ANALYZE."""
    index_serial_scan_concurrency: int = 20
    """Session variable for ANALYZE."""
    checksum_table_concurrency: int = 2
    """Tables checksummed at the same time."""
    session_vars: dict[str, Any] = attrs.Factory(dict)
    """``[tidb.session-vars]``: more session variables set on every connection."""
    defer_secondary_indexes: AutoOff = AutoOff.AUTO
    """tidb backend: tables this import creates are loaded without their non-unique secondary
    indexes, which are added in one ``ALTER TABLE`` after the rows (not Lightning's)."""
    load_data: AutoOff = AutoOff.AUTO
    """tidb backend: rows of CSV and Parquet sources go by ``LOAD DATA LOCAL INFILE`` where
    the server allows it (not Lightning's; SQL dumps are sent as their INSERT text)."""


@attrs.frozen(kw_only=True)
class PostRestoreConfig:
    """``[post-restore]``: steps after a table's data is imported (checksum, then analyze)."""

    checksum: PostOpLevel = PostOpLevel.REQUIRED
    """Compare the target's checksum of each table with the imported one."""
    analyze: PostOpLevel = PostOpLevel.OPTIONAL
    """``ANALYZE TABLE`` each table."""
    level_1_compact: bool = False
    """Level-1 compaction of TiKV after the import."""
    compact: bool = False
    """Full compaction of TiKV after the import."""
    post_process_at_last: bool = True
    """Checksum and analyze all tables at the end instead of after each table."""
    checksum_via_sql: bool = False
    """Checksum with ``ADMIN CHECKSUM TABLE`` through SQL."""


@attrs.frozen(kw_only=True)
class CronConfig:
    """``[cron]``: periodic background actions."""

    switch_mode: Seconds = 300.0
    """How often TiKV's import mode is refreshed."""
    log_progress: Seconds = 300.0
    """How often progress is logged."""
    check_disk_quota: Seconds = 60.0
    """How often the local backend checks its disk quota."""


@attrs.frozen(kw_only=True)
class RouteRule:
    """One ``[[routes]]`` rule: source schema/table patterns to a target name."""

    schema_pattern: str
    """Source database wildcard pattern."""
    table_pattern: str = ""
    """Source table wildcard pattern; empty routes the whole database."""
    target_schema: str
    """Target database."""
    target_table: str = ""
    """Target table; empty keeps the source table's name."""


@attrs.frozen(kw_only=True)
class TableNamePattern:
    """One ``do-tables`` / ``ignore-tables`` entry of ``[black-white-list]``."""

    db_name: str
    """Schema name: a wildcard pattern, or a regular expression after ``~``."""
    tbl_name: str
    """Table name: a wildcard pattern, or a regular expression after ``~``."""


@attrs.frozen(kw_only=True)
class BlackWhiteListConfig:
    """``[black-white-list]``: the deprecated form of ``[mydumper] filter`` (MySQL's
    replication rules), translated into filter rules when the file is read."""

    do_dbs: tuple[str, ...] = ()
    """Only schemas matching one of these are imported (ignore-dbs is then not consulted)."""
    ignore_dbs: tuple[str, ...] = ()
    """Schemas matching one of these are not imported."""
    do_tables: tuple[TableNamePattern, ...] = ()
    """Only tables matching one of these are imported (ignore-tables is then moot)."""
    ignore_tables: tuple[TableNamePattern, ...] = ()
    """Tables matching one of these are not imported."""

    def is_empty(self) -> bool:
        """No list has an entry: the section changes nothing, as in Lightning."""
        return not (self.do_dbs or self.ignore_dbs or self.do_tables or self.ignore_tables)


@attrs.frozen(kw_only=True)
class LightningConfig:
    """The whole tidb-lightning.toml."""

    lightning: LightningAppConfig = attrs.Factory(LightningAppConfig)
    """``[lightning]``."""
    security: SecurityConfig = attrs.Factory(SecurityConfig)
    """``[security]``."""
    checkpoint: CheckpointConfig = attrs.Factory(CheckpointConfig)
    """``[checkpoint]``."""
    conflict: ConflictConfig = attrs.Factory(ConflictConfig)
    """``[conflict]``."""
    tikv_importer: TikvImporterConfig = attrs.Factory(TikvImporterConfig)
    """``[tikv-importer]``."""
    mydumper: MydumperConfig = attrs.Factory(MydumperConfig)
    """``[mydumper]``."""
    tidb: TidbConfig = attrs.Factory(TidbConfig)
    """``[tidb]``."""
    post_restore: PostRestoreConfig = attrs.Factory(PostRestoreConfig)
    """``[post-restore]``."""
    cron: CronConfig = attrs.Factory(CronConfig)
    """``[cron]``."""
    routes: tuple[RouteRule, ...] = ()
    """``[[routes]]``."""
    plugin: dict[str, dict[str, Any]] = attrs.Factory(dict)
    """Raw ``[plugin.<name>]`` tables, validated by each plugin's options type
    (see :func:`lightning_core.config.plugin_options`)."""
