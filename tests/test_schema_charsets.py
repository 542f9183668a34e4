"""``[mydumper] character-set`` = gbk, latin1 and binary: schema files decoded (or kept as bytes)
as Lightning does, and the tables created from them in the real MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.errors import SchemaError
from lightning_core.interfaces import FileKind, SourceFile
from lightning_core.pipeline.schema_files import decode_schema_file, schema_statements
from lightning_core.testing.tasks import run_lightning, task_config

# 0x80 is € in cp1252 (MySQL's latin1); 0x81 is undefined there and MySQL keeps it as U+0081
LATIN1_TABLE = b"CREATE TABLE `caf\xe9` (`pr\xeex` int PRIMARY KEY COMMENT '\x80 \x81 \xff');"
LATIN1_TEXT = "CREATE TABLE `café` (`prîx` int PRIMARY KEY COMMENT '€ \x81 ÿ');"
# 乗 and 乣 end in the bytes of a backslash and a backquote (0x5C, 0x60)
GBK_TEXT = "CREATE TABLE `订单乣` (`编号乗` int PRIMARY KEY COMMENT '金额；元乗乣\\\\');"
# bytes that are UTF-8 nowhere: binary keeps them for a varbinary default
BINARY_TABLE = b"CREATE TABLE `raw` (id int PRIMARY KEY, v varbinary(4) DEFAULT '\xe9\xff\x00;');"


def schema_file(path: Path, data: bytes) -> SourceFile:
    path.write_bytes(data)
    return SourceFile(
        path=str(path), schema="d", table="t", kind=FileKind.TABLE_SCHEMA, size=len(data)
    )


def test_gbk_schema_files_are_decoded(tmp_path: Path) -> None:
    file = schema_file(tmp_path / "d.t-schema.sql", GBK_TEXT.encode("gbk"))
    assert decode_schema_file(file, "gbk") == GBK_TEXT
    assert decode_schema_file(file, "GBK") == GBK_TEXT
    assert GBK_TEXT.encode("gbk").count(b"\\") == 4  # the splitter works on decoded text
    assert schema_statements(file, "gbk", "") == [GBK_TEXT.removesuffix(";")]


def test_latin1_is_mysql_latin1(tmp_path: Path) -> None:
    file = schema_file(tmp_path / "d.t-schema.sql", LATIN1_TABLE)
    assert decode_schema_file(file, "latin1") == LATIN1_TEXT


def test_binary_keeps_the_bytes(tmp_path: Path) -> None:
    file = schema_file(tmp_path / "d.t-schema.sql", BINARY_TABLE)
    (statement,) = schema_statements(file, "binary", "")
    assert statement.encode("utf-8", "surrogateescape") == BINARY_TABLE.removesuffix(b";")


def test_a_file_not_valid_in_gbk_is_refused_naming_it(tmp_path: Path) -> None:
    data = b"CREATE TABLE t (c int COMMENT '\x81');"  # a lead byte without its trail byte
    file = schema_file(tmp_path / "d.t-schema.sql", data)
    with pytest.raises(SchemaError) as info:
        decode_schema_file(file, "gbk")
    assert str(info.value).startswith(f"{file.path}: byte offset {data.index(0x81)}: not valid gbk")


# --- end to end, into the real MariaDB --------------------------------------------------------


@pytest.fixture
def db(target_connection: Any) -> Iterator[str]:
    name = f"lt_cs_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def import_schema(tmp_path: Path, db: str, table: str, schema: bytes, character_set: str) -> Any:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;")
    (dump / f"{db}.{table}-schema.sql").write_bytes(schema)
    config = tmp_path / "tidb-lightning.toml"
    mydumper = f'[mydumper]\ncharacter-set = "{character_set}"\n'
    config.write_text(task_config(dump).replace("[mydumper]\n", mydumper))
    return run_lightning(["--config", str(config)])


def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(row) for row in cur.fetchall()]


def columns(conn: Any, db: str) -> list[tuple[Any, ...]]:
    return rows(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db}' ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )


@pytest.mark.slow
def test_gbk_schema_files_create_their_tables(
    tmp_path: Path, target_connection: Any, db: str
) -> None:
    result = import_schema(tmp_path, db, "订单乣", GBK_TEXT.encode("gbk"), "gbk")
    assert result.returncode == 0, result.stderr
    assert columns(target_connection, db) == [("订单乣", "编号乗", "金额；元乗乣\\")]


@pytest.mark.slow
def test_latin1_schema_files_create_their_tables(
    tmp_path: Path, target_connection: Any, db: str
) -> None:
    result = import_schema(tmp_path, db, "café", LATIN1_TABLE, "latin1")
    assert result.returncode == 0, result.stderr
    assert columns(target_connection, db) == [("café", "prîx", "€ \x81 ÿ")]


@pytest.mark.slow
def test_binary_schema_files_reach_the_server_byte_for_byte(
    tmp_path: Path, target_connection: Any, db: str
) -> None:
    result = import_schema(tmp_path, db, "raw", BINARY_TABLE, "binary")
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"INSERT INTO `{db}`.raw (id) VALUES (1)")
    assert rows(target_connection, f"SELECT v FROM `{db}`.raw") == [(b"\xe9\xff\x00;",)]
