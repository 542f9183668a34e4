"""The local backend end to end into the embedded store: the contract suite, the example dump
(exported again and loaded into MariaDB, compared with a tidb-backend import of the original),
duplicate keys and the crash harness."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_local.export import export_store
from lightning_backend_local.store import EmbeddedStore

from lightning_core import Chunk, Engine, FileKind, SourceFile, record_prefix
from lightning_core.config import config_from_toml
from lightning_core.plugins import load_plugins
from lightning_core.testing.contracts import BackendContract, BackendSetup, describe_table
from lightning_core.testing.crash import (
    KillPoint,
    Run,
    count_points,
    kill_and_resume,
    run_once,
    spread,
)
from lightning_core.testing.mydumper import (
    ALL_TYPES_TABLE,
    assert_myloader_loads_the_same,
    fill_all_types,
    run_mydumper,
)
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dump"
ROWS = 1_000


def local_config(tmp_path: Path, dump: Path, importer: str = "", **kw: Any) -> str:
    """A task importing ``dump`` with the local backend into a store under ``tmp_path``;
    ``importer`` adds ``[tikv-importer]`` keys."""
    text = task_config(dump, backend="local", checkpoint=tmp_path / "cp.json", **kw)
    text = text.replace(
        "[tikv-importer]\n",
        f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / "sorted"}"\n{importer}',
    )
    return text + f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n'


def _config_file(tmp_path: Path, dump: Path, **kw: Any) -> Path:
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(local_config(tmp_path, dump, **kw))
    return path


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend_setup(self, tmp_path: Path) -> Iterator[BackendSetup]:
        path = tmp_path / "db.t.000000000.sql"
        rows = [(i, f"row {i}".encode()) for i in range(ROWS)]
        write_sql_dump(str(path), "t", None, rows, rows_per_statement=50)
        # a writer flushes after every batch: the kill comes after two durable runs
        config = config_from_toml(
            local_config(tmp_path, tmp_path, importer="local-writer-mem-cache-size = 1\n")
        )
        store = EmbeddedStore.open(str(tmp_path / "store"))
        store.create_database("db", "CREATE DATABASE `db`")
        store.create_table("db", "t", "CREATE TABLE `t` (id INT PRIMARY KEY, name VARCHAR(20))")
        store.close()
        source = SourceFile(
            path=str(path), schema="db", table="t", kind=FileKind.DATA, format="sql",
            size=path.stat().st_size,
        )  # fmt: skip
        registry = load_plugins().registry
        yield BackendSetup(
            config=config,
            table=describe_table(registry, config, "db", "t"),
            chunk=Chunk(file=source, index=0),
            rows=ROWS,
            registry=registry,
        )


def _checksums(conn: Any, db: str) -> dict[str, tuple[int, int]]:
    found = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_TYPE = 'BASE TABLE'",
            (db,),
        )
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
            count = cur.fetchone()[0]
            cur.execute(f"CHECKSUM TABLE `{db}`.`{table}`")
            found[table] = (count, cur.fetchone()[1])
    return found


def _routes(db: str) -> str:
    """The example's shards merged into ``db``.orders_archive, everything else into ``db``."""
    return (
        f'[[routes]]\nschema-pattern = "shop_archive_*"\ntarget-schema = "{db}"\n'
        f'[[routes]]\nschema-pattern = "shop_archive_*"\ntable-pattern = "orders_*"\n'
        f'target-schema = "{db}"\ntarget-table = "orders_archive"\n'
        f'[[routes]]\nschema-pattern = "shop"\ntarget-schema = "{db}"\n'
    )


def _tidb_import(tmp_path: Path, dump: Path, db: str) -> None:
    config = tmp_path / f"{db}.toml"
    config.write_text(task_config(dump, checkpoint=tmp_path / f"{db}.json") + _routes(db))
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr


def test_the_example_dump_round_trips_through_the_embedded_store(
    tmp_path: Path, database_pair: tuple[str, str], target_connection: Any
) -> None:
    config = _config_file(tmp_path, EXAMPLE)
    config.write_text(config.read_text() + _routes("shop"))
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr
    assert not (tmp_path / "sorted").exists()  # removed after success
    exported = tmp_path / "export"
    export_store(str(tmp_path / "store"), str(exported))
    direct, through_store = database_pair
    _tidb_import(tmp_path, EXAMPLE, direct)
    _tidb_import(tmp_path, exported, through_store)
    expected = _checksums(target_connection, direct)
    assert expected and _checksums(target_connection, through_store) == expected


def test_a_duplicate_key_names_both_rows(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\n")
    (dump / "d.t.000000000.sql").write_text("INSERT INTO t VALUES (1,'a'),(2,'b');\n")
    second = "INSERT INTO t VALUES (3,'c'),(1,'again');\n"
    (dump / "d.t.000000001.sql").write_text(second)
    config = _config_file(tmp_path, dump)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    first_row = f"{dump / 'd.t.000000000.sql'}:{len('INSERT INTO t VALUES ')}"
    again_row = f"{dump / 'd.t.000000001.sql'}:{second.index('(1,')}"
    assert first_row in done.stderr and again_row in done.stderr, done.stderr


@pytest.mark.slow
def test_every_kill_resumes_to_exactly_the_source(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    shutil.copytree(EXAMPLE, dump)
    config = _config_file(tmp_path, dump, region_concurrency=2)
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        for leftover in ("cp.json", "store", "sorted"):
            path = tmp_path / leftover
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def content() -> list[tuple[bytes, bytes]]:
        store = EmbeddedStore.open(str(tmp_path / "store"))
        try:
            return list(store.scan(b""))
        finally:
            store.close()

    counts = count_points(command)
    expected = content()
    assert expected
    phases = {name.split(":")[0] for name in counts}
    assert {"schema", "chunk", "local", "engine", "post", "complete"} <= phases, counts

    def clean(run: Run) -> None:
        assert "internal error" not in run.stderr, run.stderr

    points = spread(counts, 20)
    assert len(points) >= 20
    for point in points:
        reset()
        kill_and_resume(command, point, check_resume=clean)
        assert content() == expected, f"killed at {point}"


@pytest.mark.slow
def test_a_mydumper_dump_of_every_type_round_trips_through_the_store(
    tmp_path: Path, database_pair: tuple[str, str], target_connection: Any, fresh_database: str
) -> None:
    """A real mydumper dump of every supported column type: the local backend's store,
    exported, loaded by myloader, equals myloader's load of the original dump."""
    source = fresh_database
    fill_all_types(target_connection, source, ALL_TYPES_TABLE, rows=400, seed=11)
    dump = tmp_path / "dump"
    run_mydumper(source, str(dump))
    config = _config_file(tmp_path, dump)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr  # the store's checksum is the encoder's
    exported = tmp_path / "export"
    export_store(str(tmp_path / "store"), str(exported))
    assert_myloader_loads_the_same(target_connection, dump, exported, database_pair)


def test_ctl_imports_and_cleans_up_one_engine(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\n")
    (dump / "d.t.000000000.sql").write_text("INSERT INTO t VALUES (1,'a'),(2,'b');\n")
    config = _config_file(tmp_path, dump)
    command = [*lightning_command(), "--config", str(config)]
    assert run_once(command, kill_at=KillPoint("engine:closed", 1)).killed
    data = Engine("`d`.`t`", 0)

    def ctl(*args: str) -> Any:
        return subprocess.run(
            [sys.executable, "-c", "import sys; from lightning_core.cli import ctl_main; "
             "sys.exit(ctl_main())", "--config", str(config), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    imported = ctl(f"--import-engine={data.uuid}")
    assert imported.returncode == 0 and "imported" in imported.stdout, imported.stderr
    store = EmbeddedStore.open(str(tmp_path / "store"))
    try:
        table = store.table("d", "t")
        assert table is not None
        assert store.count(record_prefix(table.table_id)) == 2
    finally:
        store.close()
    cleaned = ctl(f"--cleanup-engine={data.tag}")
    assert cleaned.returncode == 0 and "cleaned up" in cleaned.stdout, cleaned.stderr
    unknown = ctl("--import-engine=`d`.`t`:7")
    assert unknown.returncode == 1 and "no engine" in unknown.stderr
    done = run_lightning(["--config", str(config)])  # the rest of the task, checks included
    assert done.returncode == 0, done.stderr
