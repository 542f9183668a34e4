"""tidb-lightning for Python: import mydumper/dumpling exports through pluggable backends.

The public API for plugin authors is re-exported here; everything else is private.
"""

from lightning_core._markers import hookimpl, hookspec
from lightning_core.checkpoints.state import ChunkState
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
from lightning_core.interfaces import (
    BinaryLiteral,
    Chunk,
    ChunkResult,
    ConflictStrategy,
    FileKind,
    ReadPosition,
    RowBatch,
    SourceFile,
    SourceReader,
    Value,
)
from lightning_core.kv.collation import general_ci_weight_table
from lightning_core.kv.encoder import RowFailure, TableKVEncoder
from lightning_core.kv.plan import ConversionStep, KeyColumn, RestoreColumn, TablePlan
from lightning_core.pipeline.targets import TargetTable
from lightning_core.registry import (
    BackendRecord,
    CheckpointStoreRecord,
    ConflictStrategyRecord,
    EncoderRecord,
    SourceReaderRecord,
)
from lightning_core.schema.values import MysqlTime
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
    "BackendRecord",
    "BinaryLiteral",
    "CheckpointError",
    "CheckpointStoreRecord",
    "Chunk",
    "ChunkResult",
    "ChunkState",
    "ConfigError",
    "ConflictStrategy",
    "ConflictStrategyRecord",
    "ConversionStep",
    "DuplicateKeyError",
    "EncodeError",
    "EncoderRecord",
    "FileKind",
    "ImportContext",
    "KeyColumn",
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
    "TableKVEncoder",
    "TablePlan",
    "TableSummary",
    "TargetAddress",
    "TargetError",
    "TargetTable",
    "Value",
    "__version__",
    "address_from_config",
    "connect",
    "drop_if_unused",
    "error_code",
    "format_row",
    "general_ci_weight_table",
    "hookimpl",
    "hookspec",
    "is_transient",
    "quote_identifier",
    "sql_mode_has",
    "with_retries",
]
