"""Rows the server changes (warnings) or refuses: counted, named, and ``[lightning] max-error``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PASSWORD,
    MARIADB_PORT,
    MARIADB_USER,
)
from lightning_core.testing.tasks import run_lightning

CSV = b"id,d\n1,1.50\n2,abc\n3,99999999999.5\n4,2.25\n"
#: Where the rows with ``abc`` and the out-of-range decimal start in the file.
BAD_OFFSETS = (CSV.index(b"2,abc"), CSV.index(b"3,9999"))


@pytest.fixture
def names(target_connection: Any) -> Iterator[dict[str, str]]:
    """Target, checkpoint and task-info schema names for one test, dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    found = {
        "target": f"tidbfast_bad_{tag}",
        "checkpoint": f"tidbfast_cp_{tag}",
        "info": f"tidbfast_info_{tag}",
    }
    yield found
    with target_connection.cursor() as cur:
        for name in found.values():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _task(
    tmp_path: Path,
    names: dict[str, str],
    *,
    lightning: str = "",
    sql_mode: str | None = None,
    on_duplicate: str = "replace",
    rows: bytes = CSV,
) -> Path:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src-schema-create.sql").write_text("CREATE DATABASE `src`;\n")
    (dump / "src.m-schema.sql").write_text(
        "CREATE TABLE `m` (`id` INT PRIMARY KEY, `d` DECIMAL(10,2));\n"
    )
    (dump / "src.m.000.csv").write_bytes(rows)
    mode = f'sql-mode = "{sql_mode}"\n' if sql_mode is not None else ""  # else Lightning's
    config = tmp_path / "task.toml"
    config.write_text(
        f'[lightning]\nlevel = "info"\nfile = "-"\nregion-concurrency = 1\n'
        f'task-info-schema-name = "{names["info"]}"\n{lightning}'
        f'[checkpoint]\nenable = true\ndriver = "file"\ndsn = "{tmp_path / "cp.pb"}"\n'
        f'schema = "{names["checkpoint"]}"\n'
        f'[tikv-importer]\nbackend = "tidb"\non-duplicate = "{on_duplicate}"\n'
        f'[mydumper]\ndata-source-dir = "{dump}"\n'
        f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{names["target"]}"\n'
        f'[tidb]\nhost = "{MARIADB_HOST}"\nport = {MARIADB_PORT}\nuser = "{MARIADB_USER}"\n'
        f'password = "{MARIADB_PASSWORD}"\n{mode}'
    )
    return config


def _rows(conn: Any, names: dict[str, str]) -> list[tuple[int, str]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, CAST(d AS CHAR) FROM `{names['target']}`.m ORDER BY id")
        return [(row[0], row[1]) for row in cur.fetchall()]


def test_changed_values_are_counted_and_named_under_the_default_sql_mode(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    result = run_lightning(["--config", str(_task(tmp_path, names))])
    assert result.returncode == 0, result.stderr
    for offset in BAD_OFFSETS:  # the log names each changed row by file:offset
        assert f"src.m.000.csv:{offset}: the target changed values of the row" in result.stderr
    assert "warnings/skipped" in result.stdout  # the summary has the column ...
    line = next(line for line in result.stdout.splitlines() if names["target"] in line)
    assert line.split()[-1] == "2/0", result.stdout  # ... and this table's two warnings
    assert "gave 2 warnings" in result.stderr
    assert _rows(target_connection, names) == [
        (1, "1.50"),
        (2, "0.00"),
        (3, "99999999.99"),
        (4, "2.25"),
    ]


def test_max_error_zero_stops_the_table_naming_the_rows(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    config = _task(tmp_path, names, lightning="max-error = 0\n")
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1, result.stdout
    assert "max-error type = 0" in result.stderr
    assert f"src.m.000.csv:{BAD_OFFSETS[0]}: Warning 1366" in result.stderr
    assert _rows(target_connection, names) == []  # the batch was rolled back


def test_max_error_within_the_budget_records_the_rows_and_succeeds(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    config = _task(tmp_path, names, lightning="[lightning.max-error]\ntype = 10\n")
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(
            f"SELECT table_name, path, `offset`, error, row_data FROM "
            f"`{names['info']}`.type_error_v2 ORDER BY `offset`"
        )
        recorded = cur.fetchall()
    assert [row[2] for row in recorded] == list(BAD_OFFSETS)
    assert all(row[0] == f"`{names['target']}`.`m`" for row in recorded)
    assert all(row[1].endswith("src.m.000.csv") for row in recorded)
    assert "1366" in recorded[0][3] and "1264" in recorded[1][3]
    assert recorded[0][4] == "('2','abc')"
    assert len(_rows(target_connection, names)) == 4


def test_refused_rows_within_the_budget_are_skipped_and_counted_by_the_check(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    config = _task(
        tmp_path,
        names,
        lightning="[lightning.max-error]\ntype = 2\n",
        sql_mode="STRICT_TRANS_TABLES",
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr  # the row count check allows for the skips
    assert _rows(target_connection, names) == [(1, "1.50"), (4, "2.25")]
    line = next(line for line in result.stdout.splitlines() if names["target"] in line)
    assert line.split()[-1] == "0/2", result.stdout
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{names['info']}`.type_error_v2")
        assert cur.fetchone()[0] == 2


def test_one_refused_row_beyond_the_budget_stops_the_table(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    config = _task(tmp_path, names, lightning="max-error = 1\n", sql_mode="STRICT_TRANS_TABLES")
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    assert "2 rows with values the target refused or changed" in result.stderr
    assert f"src.m.000.csv:{BAD_OFFSETS[1]}" in result.stderr


def test_a_duplicate_in_error_mode_is_recorded_then_stops(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    rows = b"id,d\n1,1.50\n1,2.50\n"
    config = _task(tmp_path, names, lightning="max-error = 5\n", on_duplicate="error", rows=rows)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    assert f"src.m.000.csv:{rows.index(b'1,2.50')}" in result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT `offset`, row_id, row_data FROM `{names['info']}`.conflict_records_v2")
        assert cur.fetchall() == ((rows.index(b"1,2.50"), 1, "('1','2.50')"),)


def test_conflicts_beyond_max_error_conflict_stop_under_replace(
    tmp_path: Path, names: dict[str, str], target_connection: Any
) -> None:
    rows = b"id,d\n1,1.50\n1,2.50\n2,1.00\n2,3.00\n"
    limit = "[lightning.max-error]\nconflict = 1\n"
    result = run_lightning(["--config", str(_task(tmp_path, names, lightning=limit, rows=rows))])
    assert result.returncode == 1
    assert "2 rows met an existing key (replace)" in result.stderr
    assert "max-error conflict = 1" in result.stderr
