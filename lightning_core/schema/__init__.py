"""The table model (columns, types, keys) from DDL or from the target, and value conversion."""

from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)
from lightning_core.schema.values import JsonDoc, MysqlTime

__all__ = [
    "ColumnInfo",
    "ColumnType",
    "FieldType",
    "IndexColumn",
    "IndexInfo",
    "JsonDoc",
    "MysqlTime",
    "TableInfo",
]
