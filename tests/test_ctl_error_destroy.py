"""``tidb-lightning-ctl --checkpoint-error-destroy=all|TABLE``, as TiDB Lightning has it: each
failed table is dropped on the target with what it holds, its engines are cleaned up and its
checkpoints forgotten, so that the next run imports it from the start. On both backends: tidb
(MariaDB) and local (the embedded store)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core import table_prefix
from lightning_core.testing.crash import KillPoint, run_once
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

CTL = [
    sys.executable,
    "-c",
    "import sys; from lightning_core.cli import ctl_main; sys.exit(ctl_main())",
]


@pytest.fixture
def database(target_connection: Any) -> Iterator[str]:
    """A database name unique to the test; it and the task's ledger schema are dropped after."""
    name = f"issue14_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"DROP DATABASE IF EXISTS `{name}_cp`")


def _dump(tmp_path: Path, database: str, files: dict[str, str]) -> Path:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{database}-schema-create.sql").write_text(f"CREATE DATABASE `{database}`;\n")
    for table in ("t", "u"):
        (dump / f"{database}.{table}-schema.sql").write_text(
            f"CREATE TABLE `{table}` (`id` int PRIMARY KEY, `v` varchar(20));\n"
        )
    for name, rows in files.items():
        (dump / f"{database}.{name}.sql").write_text(f"INSERT INTO `x` VALUES {rows};\n")
    return dump


def _ctl(config: Path, *args: str) -> Any:
    import subprocess

    return subprocess.run(
        [*CTL, "--config", str(config), *args], capture_output=True, text=True, timeout=300
    )


def _checkpoint(config: Path) -> dict[str, Any]:
    dumped = _ctl(config, "--checkpoint-dump")
    assert dumped.returncode == 0, dumped.stderr
    result: dict[str, Any] = json.loads(dumped.stdout)
    return result


def _rows(conn: Any, database: str, table: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, v FROM `{database}`.`{table}` ORDER BY id")
        return list(cur.fetchall())


def test_tidb_backend_failed_table_is_dropped_and_imported_anew(
    tmp_path: Path, database: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path, database, {"t.000": "(1,'a'),(2,'b')", "u.000": "(5,'e')"})
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            checkpoint_schema=f"{database}_cp",
            region_concurrency=1,
            table_concurrency=1,
        )
    )
    command = [*lightning_command(), "--config", str(config)]
    first = run_once(command, kill_at=KillPoint("chunk:done", 1))
    assert first.killed, first.stderr
    # another writer adds a row before the resume: the row count check fails that table
    (written,) = [t for t in ("t", "u") if _rows(target_connection, database, t)]
    with target_connection.cursor() as cur:
        cur.execute(f"INSERT INTO `{database}`.`{written}` VALUES (99, 'stray')")
    resumed = run_lightning(["--config", str(config)])
    assert resumed.returncode == 1 and "row count check" in resumed.stderr
    name = f"`{database}`.`{written}`"
    assert _checkpoint(config)["tables"][name]["status"] == "failed"
    # the other table is not failed: naming it destroys nothing
    other = f"`{database}`.`{'u' if written == 't' else 't'}`"
    untouched = _ctl(config, f"--checkpoint-error-destroy={other}")
    assert untouched.returncode == 0, untouched.stderr
    assert "nothing destroyed" in untouched.stdout
    destroyed = _ctl(config, "--checkpoint-error-destroy=all")
    assert destroyed.returncode == 0, destroyed.stderr
    assert f"Dropping table: {name}" in destroyed.stdout
    with target_connection.cursor() as cur:
        cur.execute("SHOW TABLES FROM `" + database + "` LIKE %s", (written,))
        assert cur.fetchall() == ()
    assert name not in _checkpoint(config)["tables"]
    again = run_lightning(["--config", str(config)])
    assert again.returncode == 0, again.stderr
    assert _rows(target_connection, database, "t") == [(1, "a"), (2, "b")]
    assert _rows(target_connection, database, "u") == [(5, "e")]


def test_local_backend_failed_table_leaves_no_key_in_the_store(
    tmp_path: Path, database: str
) -> None:
    from lightning_backend_local.store import EmbeddedStore

    # two engines of one table holding the same key: the post-import checksum fails the table
    dump = _dump(
        tmp_path, database, {"t.000": "(1,'a'),(2,'b')", "t.001": "(2,'c')", "u.000": "(5,'e')"}
    )
    config = tmp_path / "tidb-lightning.toml"
    text = task_config(
        dump, backend="local", checkpoint=tmp_path / "cp.json", region_concurrency=1
    ).replace("[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / "kv"}"\n')
    text = text.replace("[mydumper]\n", "[mydumper]\nbatch-size = 1\n")
    config.write_text(text + f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n')
    failed = run_lightning(["--config", str(config)])
    assert failed.returncode == 1 and "checksum mismatched" in failed.stderr, failed.stderr
    name = f"`{database}`.`t`"
    assert _checkpoint(config)["tables"][name]["status"] == "failed"

    def keys_of(table: str) -> int | None:
        store = EmbeddedStore.open(str(tmp_path / "store"))
        try:
            found = store.table(database, table)
            return None if found is None else store.count(table_prefix(found.table_id))
        finally:
            store.close()

    assert keys_of("t") == 2
    destroyed = _ctl(config, f"--checkpoint-error-destroy={name}")
    assert destroyed.returncode == 0, destroyed.stderr
    assert f"Dropping table: {name}" in destroyed.stdout
    assert "Closing and cleaning up engine: " in destroyed.stdout
    assert keys_of("t") is None  # no key and no catalog entry
    assert keys_of("u") == 1  # the other table is kept
    assert not list((tmp_path / "kv").rglob("*.sst"))  # no engine file of the table is left
    (dump / f"{database}.t.001.sql").write_text("INSERT INTO `x` VALUES (3,'c');\n")  # fixed
    again = run_lightning(["--config", str(config)])
    assert again.returncode == 0, again.stderr
    assert keys_of("t") == 3
