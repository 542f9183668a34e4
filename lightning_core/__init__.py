"""tidb-lightning for Python: import mydumper/dumpling exports through pluggable backends.

The public API for plugin authors is re-exported here; everything else is private.
"""

import importlib
from typing import TYPE_CHECKING

from lightning_core._markers import hookimpl, hookspec
from lightning_core.config_sections import LightningConfig
from lightning_core.context import ImportContext, TableSummary
from lightning_core.errors import (
    CheckpointError,
    ConfigError,
    DuplicateKeyError,
    EncodeError,
    LightningError,
    PluginError,
    SchemaError,
    SourceError,
    TargetError,
)
from lightning_core.failpoints import reach as failpoint
from lightning_core.interfaces import (
    ENGINE_NAMESPACE,
    INDEX_ENGINE_ID,
    Backend,
    BackendWorker,
    BinaryLiteral,
    CheckpointStore,
    Chunk,
    ChunkProgress,
    ConflictStrategy,
    Encoder,
    Engine,
    EngineWriter,
    FileKind,
    ReadPosition,
    RowBatch,
    SourceFile,
    SourceReader,
    Target,
    TargetTable,
    Value,
)
from lightning_core.pipeline.plan import EnginePlan, ImportPlan, TableTask
from lightning_core.pipeline.schema_files import schema_statements
from lightning_core.registry import (
    BackendRecord,
    CheckpointStoreRecord,
    ConflictStrategyRecord,
    EncoderRecord,
    SourceReaderRecord,
)
from lightning_core.schema.model import TableInfo
from lightning_core.source.discovery import TablePlan
from lightning_core.sqltext import format_row, quote_identifier, sql_mode_has
from lightning_core.target import (
    CONNECTION_ERRORS,
    TargetAddress,
    address_from_config,
    connect,
    drop_if_unused,
    error_code,
    is_transient,
    statement_limit,
    with_retries,
)

if TYPE_CHECKING:
    from lightning_core.config import kv_conflict_strategy
    from lightning_core.kv.checksum import KVChecksum
    from lightning_core.kv.collation import general_ci_weight_table
    from lightning_core.kv.decoder import TableKVDecoder
    from lightning_core.kv.encoder import RowFailure, TableKVEncoder
    from lightning_core.kv.keys import record_prefix, table_prefix
    from lightning_core.kv.memcomparable import decode_bytes, encode_bytes
    from lightning_core.kv.plan import ConversionStep, KeyColumn, RestoreColumn
    from lightning_core.kv.plan import TablePlan as KVTablePlan
    from lightning_core.pipeline.progress import human_bytes, report_ranges
    from lightning_core.pipeline.sql_target import SqlTarget
    from lightning_core.schema.ddl import parse_create_table
    from lightning_core.schema.values import MysqlTime

#: Names imported on first use: the KV codec and the DDL parser cost a tenth of a second to
#: import, which a tidb-backend import never needs.
_LAZY: dict[str, tuple[str, str]] = {
    "report_ranges": ("lightning_core.pipeline.progress", "report_ranges"),
    "human_bytes": ("lightning_core.pipeline.progress", "human_bytes"),
    "kv_conflict_strategy": ("lightning_core.config", "kv_conflict_strategy"),
    "KVChecksum": ("lightning_core.kv.checksum", "KVChecksum"),
    "general_ci_weight_table": ("lightning_core.kv.collation", "general_ci_weight_table"),
    "TableKVDecoder": ("lightning_core.kv.decoder", "TableKVDecoder"),
    "RowFailure": ("lightning_core.kv.encoder", "RowFailure"),
    "TableKVEncoder": ("lightning_core.kv.encoder", "TableKVEncoder"),
    "record_prefix": ("lightning_core.kv.keys", "record_prefix"),
    "table_prefix": ("lightning_core.kv.keys", "table_prefix"),
    "encode_bytes": ("lightning_core.kv.memcomparable", "encode_bytes"),
    "decode_bytes": ("lightning_core.kv.memcomparable", "decode_bytes"),
    "SqlTarget": ("lightning_core.pipeline.sql_target", "SqlTarget"),
    "ConversionStep": ("lightning_core.kv.plan", "ConversionStep"),
    "KeyColumn": ("lightning_core.kv.plan", "KeyColumn"),
    "RestoreColumn": ("lightning_core.kv.plan", "RestoreColumn"),
    "KVTablePlan": ("lightning_core.kv.plan", "TablePlan"),
    "parse_create_table": ("lightning_core.schema.ddl", "parse_create_table"),
    "MysqlTime": ("lightning_core.schema.values", "MysqlTime"),
}


def __getattr__(name: str) -> object:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'lightning_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "CONNECTION_ERRORS",
    "ENGINE_NAMESPACE",
    "INDEX_ENGINE_ID",
    "Backend",
    "BackendRecord",
    "BackendWorker",
    "BinaryLiteral",
    "CheckpointError",
    "CheckpointStore",
    "CheckpointStoreRecord",
    "Chunk",
    "ChunkProgress",
    "ConfigError",
    "ConflictStrategy",
    "ConflictStrategyRecord",
    "ConversionStep",
    "DuplicateKeyError",
    "EncodeError",
    "Encoder",
    "EncoderRecord",
    "Engine",
    "EnginePlan",
    "EngineWriter",
    "FileKind",
    "ImportContext",
    "ImportPlan",
    "KVChecksum",
    "KVTablePlan",
    "KeyColumn",
    "LightningConfig",
    "LightningError",
    "MysqlTime",
    "PluginError",
    "ReadPosition",
    "RestoreColumn",
    "RowBatch",
    "RowFailure",
    "SchemaError",
    "SourceError",
    "SourceFile",
    "SourceReader",
    "SourceReaderRecord",
    "SqlTarget",
    "TableInfo",
    "TableKVDecoder",
    "TableKVEncoder",
    "TablePlan",
    "TableSummary",
    "TableTask",
    "Target",
    "TargetAddress",
    "TargetError",
    "TargetTable",
    "Value",
    "__version__",
    "address_from_config",
    "connect",
    "decode_bytes",
    "drop_if_unused",
    "encode_bytes",
    "error_code",
    "failpoint",
    "format_row",
    "general_ci_weight_table",
    "hookimpl",
    "hookspec",
    "human_bytes",
    "is_transient",
    "kv_conflict_strategy",
    "parse_create_table",
    "quote_identifier",
    "record_prefix",
    "report_ranges",
    "schema_statements",
    "sql_mode_has",
    "statement_limit",
    "table_prefix",
    "with_retries",
]
