"""Engines in the plan, the table status ladder, table IDs, older checkpoints and worker start
methods, through the tidb backend into the real MariaDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.crash import KillPoint, run_once
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

KEYED = "CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(20), PRIMARY KEY (`id`));\n"


@pytest.fixture
def db(target_connection: Any) -> Iterator[str]:
    name = f"lt_steps_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"DROP DATABASE IF EXISTS `{name}_cp`")


def _dump(root: Path, db: str, files: int = 3, rows: int = 20) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (root / f"{db}.t-schema.sql").write_text(KEYED)
    for part in range(files):
        values = ",".join(f"({part * 1000 + i},'v{i}')" for i in range(rows))
        (root / f"{db}.t.{part:09d}.sql").write_text(f"INSERT INTO `t` VALUES {values};\n")
    return root


def _config(tmp_path: Path, dump: Path, db: str, extra: str = "", **kw: Any) -> Path:
    path = tmp_path / "tidb-lightning.toml"
    text = task_config(
        dump,
        checkpoint=tmp_path / "cp.json",
        checkpoint_schema=f"{db}_cp",
        on_duplicate="error",
        extra=extra,
        **kw,
    )
    path.write_text(text)
    return path


def _count(conn: Any, db: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.t")
        return int(cur.fetchone()[0])


def test_plan_json_lists_each_tables_engines_with_uuids_and_chunks(tmp_path: Path, db: str) -> None:
    dump = _dump(tmp_path / "dump", db)
    # 3 files of ~200 bytes against a batch-size of 300 bytes: more than one data engine
    config = _config(tmp_path, dump, db)
    config.write_text(config.read_text().replace("[mydumper]\n", "[mydumper]\nbatch-size = 300\n"))
    done = run_lightning(["plan", "--config", str(config), "--json"])
    assert done.returncode == 0, done.stderr
    (table,) = json.loads(done.stdout)["tables"]
    engines = table["engines"]
    data = [e for e in engines if not e.get("index")]
    (index,) = [e for e in engines if e.get("index")]
    assert len(data) >= 2 and [e["id"] for e in data] == list(range(len(data)))
    assert index["id"] == -1
    chunks = [key for e in data for key in e["chunks"]]
    assert len(chunks) == 3 and len(set(chunks)) == 3
    tag = f"`{db}`.`t`:0"
    assert data[0]["uuid"] == str(
        uuid.uuid5(uuid.UUID("d68d6abe-c59e-45d6-ade8-e2b0ceb7bedf"), tag)
    )


def test_engine_uuids_are_lightnings() -> None:
    from lightning_core import Engine

    # computed with the namespace and tag TiDB Lightning uses (see the reference)
    assert str(Engine("`db`.`t`", 0).uuid) == "a65740db-8738-5be7-8167-cd5dc61a6d79"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_workers_start_with_spawn_and_forkserver(
    tmp_path: Path, db: str, target_connection: Any, method: str
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db)
    done = run_lightning(["--config", str(config)], env={"TIDB_LIGHTNING_WORKER_START": method})
    assert done.returncode == 0, done.stderr
    assert _count(target_connection, db) == 60


def test_a_failed_check_is_kept_until_cleared(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db)
    command = [*lightning_command(), "--config", str(config)]
    killed = run_once(command, kill_at=KillPoint("post:rebased", 1))
    assert killed.killed
    with target_connection.cursor() as cur:  # another writer, between the import and its check
        cur.execute(f"INSERT INTO `{db}`.t VALUES (999999, 'intruder')")
    failed = run_lightning(["--config", str(config)])
    assert failed.returncode == 1
    assert "row count check" in failed.stderr and "a row count only" in failed.stderr
    refused = run_lightning(["--config", str(config)])
    assert refused.returncode == 1
    assert "failed in an earlier run" in refused.stderr, refused.stderr
    assert "--checkpoint-error-ignore" in refused.stderr
    ctl = run_lightning_ctl(config, "--checkpoint-error-ignore=all")
    assert ctl.returncode == 0 and "cleared" in ctl.stdout, ctl.stderr
    relaxed = config.read_text() + '[post-restore]\nchecksum = "off"\n'
    config.write_text(relaxed)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert _count(target_connection, db) == 61


def run_lightning_ctl(config: Path, *args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lightning_core.cli import ctl_main; sys.exit(ctl_main())",
            "--config",
            str(config),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_table_created_again_behind_the_checkpoint_is_refused(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db, region_concurrency=1)
    command = [*lightning_command(), "--config", str(config)]
    assert run_once(command, kill_at=KillPoint("chunk:done", 1)).killed
    with target_connection.cursor() as cur:
        cur.execute(f"DROP TABLE `{db}`.t")
    refused = run_lightning(["--config", str(config)])
    assert refused.returncode == 1
    assert "dropped and created again" in refused.stderr, refused.stderr


def test_a_checkpoint_of_the_previous_version_is_read(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    from lightning_core.checkpoints.state import file_signature, settings_digest
    from lightning_core.config import load_config_file
    from lightning_core.pipeline.plan import make_plan
    from lightning_core.pipeline.task import fingerprint_settings

    dump = _dump(tmp_path / "dump", db)
    config_path = _config(tmp_path, dump, db)
    config = load_config_file(str(config_path))
    plan = make_plan(config)
    (task,) = plan.tables
    first, *rest = task.chunks
    # version 1 wrote: no version, no KV fields, "verified" tables; here one chunk was done
    records = [
        {
            "type": "task",
            "settings": settings_digest(fingerprint_settings(config, version=1)),
            "files": {f.path: file_signature(f) for f in plan.data_files},
        },
        {"type": "table", "table": task.name, "rows_before": 0},
        {
            "type": "chunk",
            "key": first.key,
            "offset": first.file.size,
            "rows": 20,
            "columns": None,
            "mid": False,
            "bytes": first.file.size,
            "done": True,
        },
    ]
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(
            f"CREATE TABLE `{db}`.t (`id` int NOT NULL, `v` varchar(20), PRIMARY KEY (`id`))"
        )
        cur.execute(f"INSERT INTO `{db}`.t VALUES " + ",".join(f"({i},'v{i}')" for i in range(20)))
    (tmp_path / "cp.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = run_lightning(["--config", str(config_path)])
    assert done.returncode == 0, done.stderr
    assert "resuming from checkpoint" in done.stderr + done.stdout
    assert _count(target_connection, db) == 60
    assert len(rest) == 2


def test_the_sql_target_gives_the_table_model_and_id(db: str, target_connection: Any) -> None:
    import pickle

    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.sql_target import SqlTarget

    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(
            f"CREATE TABLE `{db}`.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(30) "
            "NOT NULL, amount DECIMAL(10,2), UNIQUE KEY (name), KEY (amount, id))"
        )
    target = SqlTarget(config_from_toml(task_config("/nonexistent")))
    try:
        table = target.table(db, "t", model=True)
        again = target.table(db, "t")
    finally:
        target.close()
    assert table is not None and table.model is not None and again is not None
    assert table.table_id > 0 and table.model.id == table.table_id == again.table_id
    assert [c.name for c in table.model.columns] == ["id", "name", "amount"]
    assert len(table.model.indexes) == 3
    assert len(pickle.dumps(table)) < 4096


class _Target:
    """A target with a KV checksum, for the comparison logic alone."""

    def __init__(self, checksum: Any) -> None:
        self._checksum = checksum
        self.steps: list[str] = []

    def checksum(self, table: Any) -> Any:
        return self._checksum

    def count_rows(self, table: Any) -> int:
        raise AssertionError("a target with a checksum is not counted")

    def rebase(self, table: Any, max_row_id: int) -> None:
        self.steps.append(f"rebase {max_row_id}")

    def analyze(self, table: Any) -> None:
        self.steps.append("analyze")


@pytest.mark.parametrize("level", ["required", "optional"])
def test_a_checksum_mismatch_stops_with_both_figures_or_warns(
    level: str, caplog: pytest.LogCaptureFixture
) -> None:
    from lightning_core import KVChecksum, TargetTable
    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.postimport import TableOutcome, VerificationError, post_import

    config = config_from_toml(task_config("/x") + f'[post-restore]\nchecksum = "{level}"\n')
    table = TargetTable(schema="db", name="t", columns=("a",))
    outcome = TableOutcome(
        name="`db`.`t`",
        table=table,
        status="imported",
        rows_read=3,
        rows_before=0,
        local=KVChecksum(123, 6, 90),
        max_row_id=3,
    )
    target = _Target(KVChecksum(124, 6, 90))
    steps: list[str] = []
    if level == "required":
        with pytest.raises(VerificationError) as failure:
            post_import(outcome, target, config, steps.append)  # type: ignore[arg-type]
        assert "(checksum: 124 vs 123) (total_kvs: 6 vs 6) (total_bytes: 90 vs 90)" in str(
            failure.value
        )
        assert steps == ["rebased"]
    else:
        post_import(outcome, target, config, steps.append)  # type: ignore[arg-type]
        assert steps == ["rebased", "checksummed", "analyzed"]
        assert "checksum mismatched" in caplog.text
    assert target.steps[0] == "rebase 3"
    matching = _Target(KVChecksum(123, 6, 90))
    done: list[str] = []
    post_import(outcome, matching, config, done.append)  # type: ignore[arg-type]
    assert done == ["rebased", "checksummed", "analyzed"]


def test_a_run_that_imported_nothing_does_not_block_the_corrected_rerun(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db)
    good = config.read_text()
    config.write_text(good.replace("port = 3306", "port = 1"))
    failed = run_lightning(["--config", str(config)])
    assert failed.returncode == 1
    config.write_text(good)
    fixed = run_lightning(["--config", str(config)])
    assert fixed.returncode == 0, fixed.stderr
    assert "held no progress" in fixed.stderr + fixed.stdout
    assert _count(target_connection, db) == 60


def test_changed_settings_under_progress_are_named(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db, region_concurrency=1)
    command = [*lightning_command(), "--config", str(config)]
    assert run_once(command, kill_at=KillPoint("chunk:done", 1)).killed
    config.write_text(
        config.read_text().replace('on-duplicate = "error"', 'on-duplicate = "ignore"')
    )
    refused = run_lightning(["--config", str(config)])
    assert refused.returncode == 1
    assert "on_duplicate changed" in refused.stderr, refused.stderr
    assert "--checkpoint-remove=all" in refused.stderr


def _kill(conn: Any, thread_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute(f"KILL {thread_id}")


def test_the_main_process_reconnects_after_a_lost_connection(
    db: str, target_connection: Any
) -> None:
    """A server restart or a killed connection is retried on a new connection, in the SQL
    target and in the mysql checkpoint store alike — never an internal error."""
    from lightning_core.checkpoints.mysql_store import MySQLCheckpointStore
    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.sql_target import SqlTarget
    from lightning_core.target import address_from_config

    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(f"CREATE TABLE `{db}`.t (id INT)")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1), (2)")
    config = config_from_toml(task_config("/nonexistent"))
    target = SqlTarget(config)
    store = MySQLCheckpointStore(address_from_config(config), f"{db}_cp", "task")
    try:
        table = target.table(db, "t")
        assert table is not None and target.count_rows(table) == 2
        _kill(target_connection, target._conn().thread_id())
        assert target.count_rows(table) == 2
        store.append([{"type": "task"}])
        assert store._conn is not None
        _kill(target_connection, store._conn.thread_id())
        store.append([{"type": "chunk"}])
        assert [r["type"] for r in store.read()] == ["task", "chunk"]
    finally:
        target.close()
        store.close()


def test_debug_logging_shows_tables_chunks_and_batches_also_from_spawned_workers(
    tmp_path: Path, db: str
) -> None:
    dump = _dump(tmp_path / "dump", db)
    config = _config(tmp_path, dump, db)
    done = run_lightning(
        ["--config", str(config), "-L", "debug"], env={"TIDB_LIGHTNING_WORKER_START": "spawn"}
    )
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert "started at offset" in log and "durable up to offset" in log  # chunks
    assert "in 1 statements" in log  # batches, logged by the workers
    assert f"table `{db}`.`t`: analyzed" in log  # the table's steps


def _connections(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        return int(cur.fetchone()[1])


def test_an_import_of_many_tables_opens_a_bounded_number_of_connections(
    tmp_path: Path, db: str, target_connection: Any
) -> None:
    """Schema, verification and post-import reuse their connections: 60 tables do not mean
    60 more connections to the server."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    for number in range(60):
        (dump / f"{db}.t{number}-schema.sql").write_text(KEYED)
        (dump / f"{db}.t{number}.000000000.sql").write_text(
            f"INSERT INTO `t{number}` VALUES ({number},'v');\n"
        )
    before = _connections(target_connection)
    done = run_lightning(["--config", str(_config(tmp_path, dump, db))])
    opened = _connections(target_connection) - before
    assert done.returncode == 0, done.stderr
    assert opened < 30, f"{opened} connections for 60 tables"  # one per table would be 60+
