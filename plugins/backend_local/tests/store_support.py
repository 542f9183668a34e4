"""Helpers for the store tests: tables put into an embedded store as the local backend puts
them (encoder → sorted pairs → SST file → ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_backend_local.sst import write_sst
from lightning_backend_local.store import EmbeddedStore

from lightning_core import (
    KVChecksum,
    ReadPosition,
    RowBatch,
    TableKVEncoder,
    parse_create_table,
)

SQL_MODE = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"


def source_value(value: Any) -> Any:
    """``value`` as a SQL dump's reader gives it: text as UTF-8 bytes, the rest as it is."""
    return value.encode("utf-8") if isinstance(value, str) else value


def fill_table(
    store: EmbeddedStore,
    tmp: Path,
    *,
    schema: str,
    statement: str,
    rows: Sequence[Sequence[Any]],
    files: int = 1,
    columns: tuple[str, ...] | None = None,
) -> tuple[int, KVChecksum]:
    """Create ``statement``'s table in ``store`` and ingest ``rows`` (of ``columns``, default
    every column in table order) encoded, split over ``files`` SST files; the table ID and the
    encoder's checksum."""
    model = parse_create_table(statement, table_id=0, schema=schema)
    table_id = store.create_table(schema, model.name, statement)
    model = parse_create_table(statement, table_id=table_id, schema=schema)
    encoder = TableKVEncoder(model, sql_mode=SQL_MODE)
    checksum = KVChecksum()
    paths = []
    per_file = -(-len(rows) // files)
    for part in range(files):
        chunk = [
            [source_value(v) for v in row] for row in rows[part * per_file : (part + 1) * per_file]
        ]
        batch = RowBatch(
            columns=columns,
            rows=[tuple(row) for row in chunk],
            offsets=[0] * len(chunk),
            end=ReadPosition(offset=0, rows=part * per_file + len(chunk)),
        )
        pairs = sorted(encoder.encode_batch(batch, "<rows>")[0])
        checksum.update(pairs)
        path = tmp / f"{schema}.{model.name}.{part}.sst"
        tmp.mkdir(parents=True, exist_ok=True)
        if write_sst(str(path), pairs):
            paths.append(str(path))
    store.ingest(paths)
    return table_id, checksum
