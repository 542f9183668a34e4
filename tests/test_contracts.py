"""Built-in components run the same contract suites as third-party ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.checkpoints.file_store import FileCheckpointStore
from lightning_core.checkpoints.mysql_store import MySQLCheckpointStore
from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.interfaces import Chunk, FileKind, SourceFile
from lightning_core.plugins import load_plugins
from lightning_core.target import TargetAddress
from lightning_core.testing.contracts import (
    CheckpointStoreContract,
    ConflictStrategyContract,
    SourceReaderContract,
)
from lightning_core.testing.csvdump import write_csv, write_parquet
from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PASSWORD,
    MARIADB_PORT,
    MARIADB_USER,
)
from lightning_core.testing.sqldump import write_sql_dump

ROWS = [(i, f"name {i}".encode(), None if i % 5 == 0 else b"x\n'y") for i in range(1, 10_000)]


class TestFileStore(CheckpointStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], FileCheckpointStore]:
        return lambda: FileCheckpointStore(str(tmp_path / "cp.json"))


def test_file_store_ignores_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(b'{"type":"task"}\n{"type":"chu')
    store = FileCheckpointStore(str(path))
    assert store.read() == [{"type": "task"}]
    store.append([{"type": "chunk"}])
    assert store.read() == [{"type": "task"}, {"type": "chunk"}]


class TestMySQLStore(CheckpointStoreContract):
    @pytest.fixture
    def make_store(self, target_connection: Any) -> Iterator[Callable[[], MySQLCheckpointStore]]:
        schema = f"lt_cp_{uuid.uuid4().hex[:10]}"
        address = TargetAddress(
            host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, password=MARIADB_PASSWORD
        )
        yield lambda: MySQLCheckpointStore(address, schema, "task-1")
        with target_connection.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")


@pytest.fixture(params=["replace", "ignore", "error"])
def builtin_strategy(request: pytest.FixtureRequest) -> Any:
    registry = load_plugins(strict=True).registry
    return registry.get("conflict_strategy", request.param).factory()


class TestBuiltinStrategies(ConflictStrategyContract):
    @pytest.fixture
    def strategy(self, builtin_strategy: Any) -> Any:
        return builtin_strategy


def _chunk(path: Path, fmt: str) -> Chunk:
    file = SourceFile(
        path=str(path),
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format=fmt,
        size=path.stat().st_size,
    )
    return Chunk(file=file, index=0)


def _reader_factory(fmt: str) -> Callable[..., Any]:
    record = load_plugins(strict=True).registry.find_reader(fmt)
    mydumper = MydumperConfig(csv=CsvConfig(header=True))
    return lambda chunk, start: record.factory(
        chunk=chunk, mydumper=mydumper, sql_mode="", start=start
    )


class TestSqlReader(SourceReaderContract):
    @pytest.fixture
    def make_reader(self) -> Callable[..., Any]:
        return _reader_factory("sql")

    @pytest.fixture
    def sample(self, tmp_path: Path) -> tuple[Chunk, list[tuple[Any, ...]]]:
        path = tmp_path / "db.t.000.sql"
        write_sql_dump(str(path), "t", ["id", "name", "note"], ROWS, rows_per_statement=3000)
        return _chunk(path, "sql"), ROWS


class TestCsvReader(SourceReaderContract):
    @pytest.fixture
    def make_reader(self) -> Callable[..., Any]:
        return _reader_factory("csv")

    @pytest.fixture
    def sample(self, tmp_path: Path) -> tuple[Chunk, list[tuple[Any, ...]]]:
        path = tmp_path / "db.t.000.csv"
        rows = [(str(i).encode(), name, note) for i, name, note in ROWS]
        write_csv(str(path), ["id", "name", "note"], rows, CsvConfig(header=True))
        return _chunk(path, "csv"), rows


class TestParquetReader(SourceReaderContract):
    @pytest.fixture
    def make_reader(self) -> Callable[..., Any]:
        return _reader_factory("parquet")

    @pytest.fixture
    def sample(self, tmp_path: Path) -> tuple[Chunk, list[tuple[Any, ...]]]:
        path = tmp_path / "db.t.000.parquet"
        write_parquet(str(path), ["id", "name", "note"], ROWS, row_group_size=2000)
        return _chunk(path, "parquet"), ROWS
