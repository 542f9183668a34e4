"""Transient server errors are retried with backoff; the last failure is reported clearly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lightning_core.testing.pytest_plugin import connect_target
from lightning_core.testing.tasks import run_lightning, task_config


def _setup(tmp_path: Path, database: str, conn: Any) -> Path:
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{database}`.t (id INT PRIMARY KEY, v INT)")
        cur.execute(f"INSERT INTO `{database}`.t VALUES (1, 0)")
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src.t.000.sql").write_text("INSERT INTO t VALUES (1, 1), (2, 2);\n")
    extra = (
        "[tidb.session-vars]\ninnodb_lock_wait_timeout = 1\n"
        f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{database}"\n'
    )
    config = tmp_path / "task.toml"
    config.write_text(task_config(dump, extra=extra, checkpoint=tmp_path / "cp.json"))
    return config


def _lock_row(database: str) -> Any:
    """A second session holding a write lock on row 1 until it rolls back."""
    holder = connect_target()
    holder.autocommit(False)
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"SELECT * FROM `{database}`.t WHERE id = 1 FOR UPDATE")
    return holder


def test_lock_wait_timeouts_are_retried_until_the_lock_goes(
    tmp_path: Path, fresh_database: str, target_connection: Any
) -> None:
    config = _setup(tmp_path, fresh_database, target_connection)
    holder = _lock_row(fresh_database)
    release = threading.Timer(2.5, holder.rollback)
    release.start()
    try:
        result = run_lightning(["--config", str(config), "-L", "info", "--log-file", "-"])
    finally:
        release.join()
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "lock wait timeout" in result.stderr.lower()  # the retry was logged
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id, v FROM `{fresh_database}`.t ORDER BY id")
        assert cur.fetchall() == ((1, 1), (2, 2))


def test_a_lock_that_stays_fails_after_the_last_retry(
    tmp_path: Path, fresh_database: str, target_connection: Any
) -> None:
    config = _setup(tmp_path, fresh_database, target_connection)
    holder = _lock_row(fresh_database)
    try:
        result = run_lightning(["--config", str(config)])
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: write `")
    assert "after 4 attempts" in message and "lock wait timeout" in message
    assert "run again to resume" in message
    resumed = run_lightning(["--config", str(config)])
    assert resumed.returncode == 0, resumed.stderr
