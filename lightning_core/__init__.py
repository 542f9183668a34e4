"""tidb-lightning for Python: import mydumper/dumpling exports through pluggable backends.

The public API for plugin authors is re-exported here; everything else is private.
"""

from lightning_core._markers import hookimpl, hookspec
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
    Chunk,
    FileKind,
    ReadPosition,
    RowBatch,
    SourceFile,
    SourceReader,
    Value,
)
from lightning_core.registry import (
    BackendRecord,
    CheckpointStoreRecord,
    ConflictStrategyRecord,
    EncoderRecord,
    SourceReaderRecord,
)

__version__ = "0.1.0"

__all__ = [
    "BackendRecord",
    "CheckpointError",
    "CheckpointStoreRecord",
    "Chunk",
    "ConfigError",
    "ConflictStrategyRecord",
    "DuplicateKeyError",
    "EncodeError",
    "EncoderRecord",
    "FileKind",
    "ImportContext",
    "LightningError",
    "PluginError",
    "ReadPosition",
    "RowBatch",
    "SchemaError",
    "SourceError",
    "SourceFile",
    "SourceReader",
    "SourceReaderRecord",
    "TableSummary",
    "TargetError",
    "Value",
    "__version__",
    "hookimpl",
    "hookspec",
]
