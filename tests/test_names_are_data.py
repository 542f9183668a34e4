"""Names are data everywhere, never templates: database and table names holding a backslash,
``\\1``, ``\\n``, ``{}`` and ``%s`` go through routing, the schema rewrite, the import and the
checks unchanged (a backslash once went through a regular-expression replacement template:
``rel_db\\1`` was an internal error and ``rel_db\\n`` created a database with a newline)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.tasks import run_lightning, task_config

HOSTILE = "\\1\\n{}%s\\"
"""A backslash before ``1`` and ``n``, braces, a printf conversion and a trailing backslash."""


def _toml(text: str) -> str:
    """A TOML basic string of ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture
def hostile_database(target_connection: Any) -> Iterator[str]:
    """A database name unique to the test, with every hostile part in it; dropped after."""
    name = f"issue14_{uuid.uuid4().hex[:8]}_{HOSTILE}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")
        cur.execute(f"DROP DATABASE IF EXISTS {_quote(_ledger_schema(name))}")


def _ledger_schema(database: str) -> str:
    """The tidb backend's ledger schema of the test (a plain name: the test is about routes)."""
    return database.split("\\", 1)[0] + "cp"


def test_hostile_names_go_through_routing_unchanged(
    tmp_path: Path, hostile_database: str, target_connection: Any
) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    source_table = f"x{HOSTILE}"  # a source name of the same kind, kept by the schema route
    (dump / "src-schema-create.sql").write_text("CREATE DATABASE `src`;\n")
    (dump / "src.t-schema.sql").write_text(
        "CREATE TABLE `t` (`id` int PRIMARY KEY, `v` varchar(20));\n"
    )
    (dump / "src.t.000.sql").write_text("INSERT INTO `t` VALUES (1,'a'),(2,'\\\\1');\n")
    (dump / f"src.{source_table}-schema.sql").write_text(
        f"CREATE TABLE {_quote(source_table)} (`id` int PRIMARY KEY);\n"
    )
    (dump / f"src.{source_table}.000.sql").write_text(
        f"INSERT INTO {_quote(source_table)} VALUES (7);\n"
    )
    target_table = f"t{HOSTILE}"
    routes = (
        f'[[routes]]\nschema-pattern = "src"\ntarget-schema = {_toml(hostile_database)}\n'
        f'[[routes]]\nschema-pattern = "src"\ntable-pattern = "t"\n'
        f"target-schema = {_toml(hostile_database)}\ntarget-table = {_toml(target_table)}\n"
    )
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            checkpoint_schema=_ledger_schema(hostile_database),
            extra=routes,
        )
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (hostile_database.replace("\\", "\\\\"),))
        assert cur.fetchall() == ((hostile_database,),)
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME",
            (hostile_database,),
        )
        assert [row[0] for row in cur.fetchall()] == sorted([target_table, source_table])
        cur.execute(f"SELECT id, v FROM {_quote(hostile_database)}.{_quote(target_table)}")
        assert cur.fetchall() == ((1, "a"), (2, "\\1"))
        cur.execute(f"SELECT id FROM {_quote(hostile_database)}.{_quote(source_table)}")
        assert cur.fetchall() == ((7,),)
    assert f"{hostile_database}`.`{target_table}" in result.stdout  # the summary names it
