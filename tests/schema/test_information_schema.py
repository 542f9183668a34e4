"""Reading a table's model from the real MariaDB test server."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from lightning_core.errors import SchemaError
from lightning_core.schema import ColumnType, MysqlTime
from lightning_core.schema.ddl import parse_create_table
from lightning_core.schema.information_schema import table_from_information_schema

CREATE = """CREATE TABLE `{db}`.`items` (
  id int PRIMARY KEY AUTO_INCREMENT,
  name varchar(10) NOT NULL DEFAULT 'x',
  note text CHARACTER SET latin1,
  updated timestamp(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3),
  price decimal(6,2) DEFAULT 1.5,
  kind enum('a','b') NOT NULL DEFAULT 'b',
  flags set('x','y') DEFAULT 'x,y',
  mask bit(4) DEFAULT b'101',
  derived int AS (id + 1) VIRTUAL,
  seen datetime DEFAULT '2020-01-02 03:04:05',
  yr year DEFAULT 2000,
  span time(1) DEFAULT '-01:02:03.5',
  ratio float unsigned,
  doc json,
  UNIQUE KEY uk_name (name),
  KEY k2 (name(3), price)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""


def test_table_from_target(target_connection: Any, fresh_database: str) -> None:
    with target_connection.cursor() as cur:
        cur.execute(CREATE.format(db=fresh_database))
    table = table_from_information_schema(target_connection, fresh_database, "items", table_id=7)
    assert (table.id, table.schema, table.name) == (7, fresh_database, "items")
    assert [c.name for c in table.columns][:3] == ["id", "name", "note"]
    assert table.pk_is_handle and table.handle_column is table.column("id")
    assert table.column("id").auto_increment and table.column("id").not_null
    name = table.column("name")
    assert (name.ft.tp, name.ft.flen, name.ft.charset, name.ft.collation) == (
        ColumnType.VARCHAR,
        10,
        "utf8mb4",
        "utf8mb4_general_ci",
    )
    assert name.default == b"x" and name.not_null
    assert table.column("note").ft.charset == "latin1"
    assert table.column("updated").default_expr == "CURRENT_TIMESTAMP(3)"
    assert table.column("price").default == Decimal("1.50")
    assert table.column("kind").default == 2
    assert table.column("flags").default == 3
    assert table.column("mask").default == 5
    assert table.column("derived").is_generated
    assert table.column("seen").default == MysqlTime(2020, 1, 2, 3, 4, 5)
    assert table.column("yr").default == 2000
    assert table.column("span").default == -datetime.timedelta(hours=1, minutes=2, seconds=3.5)
    assert table.column("ratio").ft.unsigned
    # MariaDB stores JSON as LONGTEXT with a json_valid() check.
    assert table.column("doc").ft.tp == ColumnType.LONG_BLOB
    assert [i.name for i in table.indexes] == ["PRIMARY", "uk_name", "k2"]
    assert table.indexes[2].columns[0].length == 3
    assert [i.name for i in table.stored_indexes] == ["uk_name", "k2"]


def test_round_trip_through_the_server(target_connection: Any, fresh_database: str) -> None:
    """A dump's DDL and the server's re-rendering of it give the same model."""
    ddl = (
        "CREATE TABLE `t` (`a` bigint unsigned NOT NULL, `b` varchar(20) DEFAULT NULL,"
        " `c` decimal(10,3) NOT NULL DEFAULT '0.000', PRIMARY KEY (`a`),"
        " KEY `ix` (`b`(4),`c`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    )
    with target_connection.cursor() as cur:
        cur.execute(f"USE `{fresh_database}`")
        cur.execute(ddl)
    from_server = table_from_information_schema(target_connection, fresh_database, "t", table_id=1)
    from_dump = parse_create_table(ddl, table_id=1, schema=fresh_database)
    for mine, theirs in zip(from_dump.columns, from_server.columns, strict=True):
        assert (mine.name, mine.ft.tp, mine.ft.unsigned, mine.ft.decimal) == (
            theirs.name,
            theirs.ft.tp,
            theirs.ft.unsigned,
            theirs.ft.decimal,
        )
        assert (mine.ft.charset, mine.ft.collation) == (theirs.ft.charset, theirs.ft.collation)
        assert mine.default == theirs.default and mine.not_null == theirs.not_null
    assert from_dump.indexes == from_server.indexes


def test_missing_table_is_a_schema_error(target_connection: Any, fresh_database: str) -> None:
    with pytest.raises(SchemaError, match="nope"):
        table_from_information_schema(target_connection, fresh_database, "nope", table_id=1)
