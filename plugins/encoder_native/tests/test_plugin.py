"""The distribution registers ``kv-native``, whose factory takes the ``kv`` encoder's arguments."""

from __future__ import annotations

from lightning_core import ReadPosition, RowBatch, TableKVEncoder
from lightning_core.plugins import load_plugins
from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)


def table() -> TableInfo:
    ci = FieldType(
        tp=ColumnType.VARCHAR, flen=20, charset="utf8mb4", collation="utf8mb4_general_ci"
    )
    return TableInfo(
        id=9,
        schema="s",
        name="t",
        columns=(
            ColumnInfo(id=1, name="id", offset=0, ft=FieldType(tp=ColumnType.LONG), not_null=True),
            ColumnInfo(id=2, name="name", offset=1, ft=ci),
        ),
        indexes=(
            IndexInfo(
                id=1,
                name="PRIMARY",
                columns=(IndexColumn(name="id", offset=0),),
                primary=True,
                unique=True,
            ),
            IndexInfo(
                id=2, name="u", columns=(IndexColumn(name="name", offset=1, length=3),), unique=True
            ),
        ),
        is_common_handle=True,
    )


def test_kv_native_is_registered_and_encodes_like_kv() -> None:
    host = load_plugins(strict=True)
    record = host.registry.get("encoder", "kv-native")
    assert record.name == "kv-native"
    native = record.factory(table=table(), sql_mode="STRICT_TRANS_TABLES", auto_id_base=10)
    python = TableKVEncoder(table=table(), sql_mode="STRICT_TRANS_TABLES", auto_id_base=10)
    batch = RowBatch(
        columns=None,
        rows=[(1, "Ünïcode ".encode()), (2, None), (3, b"abcdef")],
        offsets=[0, 10, 20],
        end=ReadPosition(offset=30, rows=3),
    )
    assert native.encode_batch(batch, "t.sql") == python.encode_batch(batch, "t.sql")
    assert native.max_row_id == python.max_row_id == 13
