"""Every Loader key this tool knows, and the reason for each one it cannot translate.

Sources: the Loader documentation of v2.1–v4.0 (``loader-overview``), the sample ``config.toml``
of the Loader binaries (standalone and the DM-era build), and the keys of the tidb-tools filter
and table-router packages Loader used.
"""

from __future__ import annotations

KeyPath = tuple[str, ...]

TRANSLATED_TOP_LEVEL = frozenset(
    {
        "log-level",
        "log-file",
        "status-addr",
        "pprof-addr",
        "pool-size",
        "dir",
        "checkpoint-schema",
        "rm-checkpoint",
        "case-sensitive",
        "alternative-db",
        "source-db",
        "route-rules",
        "do-db",
        "do-table",
        "ignore-db",
        "ignore-table",
        "replicate-do-db",
        "replicate-ignore-db",
        "replicate-do-table",
        "replicate-ignore-table",
        "black-white-list",
        "db",
        "to",
    }
)
"""Top-level keys (and tables) the converter reads."""

DB_KEYS = frozenset({"host", "port", "user", "password", "sql-mode", "max-allowed-packet"})
"""Keys of Loader's ``[db]`` (``[to]`` in the DM-era build)."""

BLACK_WHITE_LIST_KEYS = frozenset({"do-dbs", "ignore-dbs", "do-tables", "ignore-tables"})
"""Keys of ``[black-white-list]``."""

UNTRANSLATED: dict[KeyPath, str] = {
    ("pool-count",): (
        "Loader's block scheduling; Lightning splits data files into chunks itself "
        "(region-concurrency workers)"
    ),
    ("file-num-per-block",): (
        "Loader's block scheduling; Lightning splits data files into chunks itself"
    ),
    ("file-num",): (
        "per-table file concurrency; Lightning schedules chunks of all tables together "
        "(region-concurrency)"
    ),
    ("skip-unique-check",): (
        "the TiDB backend has no such switch; rows that collide on a unique key are handled "
        'by [tikv-importer] on-duplicate ("replace", "ignore" or "error")'
    ),
    ("checkpoint",): (
        "Loader's checkpoint file has another format; Lightning cannot resume from it "
        "(Lightning keeps its own checkpoints, see [checkpoint])"
    ),
    ("log-rotate",): "Lightning rotates its log by size: [lightning] max-size, max-days",
    ("source-id",): "identifies a DM source; a one-off import has none",
    ("is-sharding",): (
        "Lightning merges sharded tables with [[routes]] alone; make sure the merged rows do "
        "not collide on primary or unique keys"
    ),
    ("filter-rules",): (
        "binlog event filters; Lightning imports a dump, not a binlog (skip whole tables "
        "with [mydumper] filter)"
    ),
    ("mapping-rule",): "column mapping has no Lightning equivalent",
    ("column-mappings",): "column mapping has no Lightning equivalent",
    ("timezone",): "Lightning reads the time zone from the dump's SET TIME_ZONE statements",
    ("meta-schema",): "DM task metadata; a one-off import has none",
    ("name",): "DM task name; a one-off import has none",
    ("mode",): "DM task mode; Lightning always does a full import",
    ("server-id",): "a Syncer key; Lightning does not read a binlog",
    ("from",): "the upstream server of DM; Lightning reads the dump directory instead",
    ("version",): "-V only printed Loader's version",
}
"""Keys Loader (or a sibling tool whose file a Loader user may have) knew, and why they stop."""

LOADER_TOP_LEVEL_KEYS = TRANSLATED_TOP_LEVEL | {path[0] for path in UNTRANSLATED}
"""A file with none of these is not a Loader configuration."""
