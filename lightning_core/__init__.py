"""tidb-lightning for Python: import mydumper/dumpling exports through pluggable backends.

The public API for plugin authors is re-exported here; everything else is private.
"""

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
from lightning_core.kv.checksum import KVChecksum
from lightning_core.kv.collation import general_ci_weight_table
from lightning_core.kv.decoder import TableKVDecoder
from lightning_core.kv.encoder import RowFailure, TableKVEncoder
from lightning_core.kv.keys import record_prefix, table_prefix
from lightning_core.kv.plan import ConversionStep, KeyColumn, RestoreColumn
from lightning_core.kv.plan import TablePlan as KVTablePlan
from lightning_core.pipeline.plan import EnginePlan, ImportPlan, TableTask
from lightning_core.pipeline.schema_files import schema_statements
from lightning_core.registry import (
    BackendRecord,
    CheckpointStoreRecord,
    ConflictStrategyRecord,
    EncoderRecord,
    SourceReaderRecord,
)
from lightning_core.schema.ddl import parse_create_table
from lightning_core.schema.model import TableInfo
from lightning_core.schema.values import MysqlTime
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
    with_retries,
)

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
    "drop_if_unused",
    "error_code",
    "failpoint",
    "format_row",
    "general_ci_weight_table",
    "hookimpl",
    "hookspec",
    "is_transient",
    "parse_create_table",
    "quote_identifier",
    "record_prefix",
    "schema_statements",
    "sql_mode_has",
    "table_prefix",
    "with_retries",
]
