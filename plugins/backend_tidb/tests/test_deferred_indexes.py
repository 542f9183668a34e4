"""Deferred secondary indexes: tables the import creates get them after their rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightning_backend_tidb.indexes import PENDING_TABLE, index_name, split_secondary_indexes

from lightning_core.testing.crash import KillPoint, kill_and_resume
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

CREATE = """CREATE TABLE `orders` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `customer` int NOT NULL,
  `note` varchar(40) DEFAULT 'a, (b' COMMENT 'x)',
  `price` decimal(10,2),
  PRIMARY KEY (`id`),
  UNIQUE KEY `u_note` (`note`),
  KEY `by_customer` (`customer`),
  KEY `by_price` (`price`,`customer`) USING BTREE
) ENGINE=InnoDB"""


def test_only_plain_secondary_indexes_are_split_off() -> None:
    stripped, deferred = split_secondary_indexes(CREATE)
    assert deferred == [
        "KEY `by_customer` (`customer`)",
        "KEY `by_price` (`price`,`customer`) USING BTREE",
    ]
    assert "UNIQUE KEY `u_note`" in stripped and "PRIMARY KEY" in stripped
    assert "by_customer" not in stripped and stripped.endswith(") ENGINE=InnoDB")
    assert "DEFAULT 'a, (b' COMMENT 'x)'" in stripped
    assert [index_name(d) for d in deferred] == ["by_customer", "by_price"]


def test_foreign_keys_and_auto_increment_indexes_are_kept() -> None:
    with_fk = CREATE.replace(
        "  KEY `by_price`",
        "  CONSTRAINT `fk` FOREIGN KEY (`customer`) REFERENCES `c` (`id`),\n  KEY `by_price`",
    )
    assert split_secondary_indexes(with_fk) == (with_fk, [])
    auto = "CREATE TABLE t (a INT, id INT AUTO_INCREMENT, PRIMARY KEY (a), KEY k (id), KEY j (a))"
    assert split_secondary_indexes(auto) == (
        "CREATE TABLE t (a INT, id INT AUTO_INCREMENT, PRIMARY KEY (a), KEY k (id))",
        ["KEY j (a)"],
    )


@pytest.fixture
def names(database_pair: tuple[str, str]) -> tuple[str, str]:
    """A target database and a checkpoint schema, both dropped after the test."""
    return database_pair


def _task(tmp_path: Path, names: tuple[str, str], extra: str = "") -> Path:
    db, checkpoint_schema = names
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (dump / f"{db}.orders-schema.sql").write_text(CREATE + ";\n")
    for part in range(2):
        rows = [
            (part * 500 + i + 1, (i * 7) % 50, f"n{part}-{i}".encode(), f"{i % 90}.25")
            for i in range(500)
        ]
        write_sql_dump(
            str(dump / f"{db}.orders.00000000{part}.sql"),
            "orders",
            None,
            rows,
            rows_per_statement=50,
        )
    config = tmp_path / "task.toml"
    config.write_text(
        task_config(
            dump, checkpoint=tmp_path / "cp.json", checkpoint_schema=checkpoint_schema, extra=extra
        )
    )
    return config


def _indexes(conn: Any, db: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(f"SHOW INDEX FROM `{db}`.orders")
        return {row[2] for row in cur.fetchall()}


def _pending_table_exists(conn: Any, schema: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND "
            "TABLE_NAME = %s",
            (schema, PENDING_TABLE),
        )
        return bool(cur.fetchone()[0])


def test_a_created_table_gets_its_indexes_after_the_rows(
    tmp_path: Path, names: tuple[str, str], target_connection: Any
) -> None:
    result = run_lightning(["--config", str(_task(tmp_path, names))])
    assert result.returncode == 0, result.stderr
    assert "created without 2 secondary indexes" in result.stderr
    assert "2 deferred indexes added" in result.stderr
    assert _indexes(target_connection, names[0]) == {"PRIMARY", "u_note", "by_customer", "by_price"}
    assert not _pending_table_exists(target_connection, names[1])
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{names[0]}`.orders FORCE INDEX (by_customer)")
        assert cur.fetchone()[0] == 1000


def test_off_creates_every_index_at_once(
    tmp_path: Path, names: tuple[str, str], target_connection: Any
) -> None:
    config = _task(tmp_path, names, extra='defer-secondary-indexes = "off"\n')
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert "secondary indexes" not in result.stderr
    assert _indexes(target_connection, names[0]) == {"PRIMARY", "u_note", "by_customer", "by_price"}


def test_a_table_that_existed_before_is_never_altered(
    tmp_path: Path, names: tuple[str, str], target_connection: Any
) -> None:
    config = _task(tmp_path, names)
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{names[0]}`")
        cur.execute(
            f"CREATE TABLE `{names[0]}`.orders (id BIGINT PRIMARY KEY, customer INT, "
            "note VARCHAR(40), price DECIMAL(10,2), KEY mine (note))"
        )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert "secondary indexes" not in result.stderr
    assert _indexes(target_connection, names[0]) == {"PRIMARY", "mine"}


@pytest.mark.parametrize("checkpoints", [True, False], ids=["checkpoints", "no-checkpoints"])
@pytest.mark.parametrize("point", ["tidb:indexes-pending", "tidb:indexes-added"])
def test_a_kill_around_the_index_build_resumes_to_it(
    tmp_path: Path, names: tuple[str, str], target_connection: Any, point: str, checkpoints: bool
) -> None:
    config = _task(tmp_path, names)
    if not checkpoints:  # the rerun imports again into the table the killed run created
        config.write_text(config.read_text().replace("enable = true", "enable = false"))
    command = [*lightning_command(), "--config", str(config)]
    runs = kill_and_resume(command, KillPoint(point, 1))
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), SUM(id), SUM(customer) FROM `{names[0]}`.orders")
        assert cur.fetchone() == (
            1000,
            sum(range(1, 1001)),
            2 * sum((i * 7) % 50 for i in range(500)),
        )
    assert _indexes(target_connection, names[0]) == {"PRIMARY", "u_note", "by_customer", "by_price"}
    assert not _pending_table_exists(target_connection, names[1])
    assert "deferred indexes added" in runs[-1].stderr or point == "tidb:indexes-added"
