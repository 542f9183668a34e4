"""The crash harness against the tidb backend: killed at ≥ 20 points over every phase (schema,
chunks, the commit of a batch in a worker, post-import, the removal of the checkpoint at the
end), with both checkpoint drivers, every resumed import ends with exactly the source's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.crash import Run, count_points, kill_and_resume, spread
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, task_config

KILL_POINTS = 20


def _dump(root: Path, db: str) -> None:
    root.mkdir()
    (root / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (root / f"{db}.keyed-schema.sql").write_text(
        "CREATE TABLE `keyed` (id INT PRIMARY KEY, v VARCHAR(40));\n"
    )
    (root / f"{db}.bare-schema.sql").write_text("CREATE TABLE `bare` (a INT, b VARCHAR(40));\n")
    for part in range(3):
        rows = [(part * 1000 + i, f"keyed {part}-{i}".encode()) for i in range(300)]
        write_sql_dump(
            str(root / f"{db}.keyed.00000000{part}.sql"), "keyed", None, rows, rows_per_statement=40
        )
    # a table without a key: a row written twice would stay twice
    bare = [(i % 7, f"bare {i}".encode()) for i in range(500)]
    write_sql_dump(str(root / f"{db}.bare.000000000.sql"), "bare", None, bare[:250])
    write_sql_dump(
        str(root / f"{db}.bare.000000001.sql.gz"), "bare", None, bare[250:], compression="gz"
    )


def _content(conn: Any, db: str) -> dict[str, tuple[int, int]]:
    found = {}
    with conn.cursor() as cur:
        for table in ("keyed", "bare"):
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
            count = cur.fetchone()[0]
            cur.execute(f"CHECKSUM TABLE `{db}`.`{table}`")
            found[table] = (count, cur.fetchone()[1])
    return found


@pytest.fixture
def names(database_pair: tuple[str, str]) -> tuple[str, str]:
    """A target database and a checkpoint schema, both dropped after the test."""
    return database_pair


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["file", "mysql"])
def test_every_kill_resumes_to_exactly_the_source(
    tmp_path: Path, driver: str, names: tuple[str, str], target_connection: Any
) -> None:
    db, checkpoint_schema = names
    _dump(tmp_path / "dump", db)
    checkpoint = tmp_path / "cp.json"
    text = task_config(
        tmp_path / "dump", checkpoint=checkpoint, checkpoint_schema=checkpoint_schema
    )
    if driver == "mysql":
        text = text.replace('driver = "file"', 'driver = "mysql"').replace(
            f'dsn = "{checkpoint}"', 'dsn = ""'
        )
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(text)
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        checkpoint.unlink(missing_ok=True)
        with target_connection.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{checkpoint_schema}`")

    counts = count_points(command)
    expected = _content(target_connection, db)
    assert expected["keyed"][0] == 900 and expected["bare"][0] == 500
    phases = {name.split(":")[0] for name in counts}
    assert {"schema", "chunk", "tidb", "post", "complete"} <= phases, counts

    def no_internal_error(run: Run) -> None:
        assert "internal error" not in run.stderr, run.stderr

    points = spread(counts, KILL_POINTS)
    assert len(points) >= KILL_POINTS
    for point in points:
        reset()
        kill_and_resume(command, point, check_resume=no_internal_error)
        assert _content(target_connection, db) == expected, f"killed at {point}"
    reset()
