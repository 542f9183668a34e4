"""The tidb backend and the ``sql`` encoder against the core's contract suites."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_tidb.encoder import SqlStatementEncoder

from lightning_core import Encoder, ReadPosition, RowBatch, TargetTable
from lightning_core.builtin.conflicts import VerbStrategy
from lightning_core.config import config_from_toml
from lightning_core.interfaces import Chunk, FileKind, SourceFile
from lightning_core.plugins import load_plugins
from lightning_core.testing.contracts import (
    BackendContract,
    BackendSetup,
    EncoderContract,
    describe_table,
)
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import task_config

ROWS = 1_000
TABLE = TargetTable(schema="db", name="t", columns=("id", "name"))


def _rows() -> list[tuple[Any, ...]]:
    return [(i, f"row {i}".encode()) for i in range(ROWS)]


class TestTiDBBackend(BackendContract):
    @pytest.fixture
    def backend_setup(
        self, tmp_path: Path, fresh_database: str, target_connection: Any
    ) -> Iterator[BackendSetup]:
        with target_connection.cursor() as cur:
            cur.execute(f"CREATE TABLE `{fresh_database}`.t (id INT, name VARCHAR(20))")
        path = tmp_path / f"{fresh_database}.t.000000000.sql"
        write_sql_dump(str(path), "t", None, _rows(), rows_per_statement=50)
        checkpoint_schema = f"{fresh_database}_cp"
        config = config_from_toml(
            task_config(
                tmp_path, checkpoint=tmp_path / "cp.json", checkpoint_schema=checkpoint_schema
            )
        )
        source = SourceFile(
            path=str(path),
            schema=fresh_database,
            table="t",
            kind=FileKind.DATA,
            format="sql",
            size=path.stat().st_size,
        )
        registry = load_plugins().registry
        yield BackendSetup(
            config=config,
            table=describe_table(registry, config, fresh_database, "t"),
            chunk=Chunk(file=source, index=0),
            rows=ROWS,
            registry=registry,
        )
        with target_connection.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{checkpoint_schema}`")


class TestSqlEncoder(EncoderContract):
    @pytest.fixture
    def make_encoder(self) -> Callable[[], Encoder[object]]:
        return lambda: SqlStatementEncoder(TABLE, VerbStrategy("replace", "REPLACE INTO"))

    @pytest.fixture
    def batches(self) -> tuple[list[RowBatch], str]:
        rows = _rows()
        batches = []
        for start in range(0, ROWS, 100):
            part = rows[start : start + 100]
            batches.append(
                RowBatch(
                    columns=("id", "name"),
                    rows=part,
                    offsets=list(range(start, start + len(part))),
                    end=ReadPosition(offset=start + len(part), rows=start + len(part)),
                )
            )
        return batches, "dump.sql"
