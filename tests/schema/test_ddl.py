"""CREATE TABLE parsing: dump styles, TiDB comments, every type, keys and defaults."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from lightning_core.errors import SchemaError
from lightning_core.schema import ColumnType, JsonDoc, MysqlTime
from lightning_core.schema.ddl import parse_create_database, parse_create_table

MYDUMPER_SCHEMA = """/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;

/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `orders` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `customer` varchar(64) COLLATE utf8mb4_general_ci NOT NULL DEFAULT '',
  `note` text CHARACTER SET latin1,
  `amount` decimal(12,2) NOT NULL DEFAULT '0.00',
  `created` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  `status` enum('new','paid','shipped') NOT NULL DEFAULT 'new',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_customer_created` (`customer`,`created`),
  KEY `idx_note` (`note`(20))
) ENGINE=InnoDB AUTO_INCREMENT=1001 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
"""

TIDB_SHOW_CREATE = """CREATE TABLE `t` (
  `id` bigint(20) NOT NULL /*T![auto_rand] AUTO_RANDOM(5) */,
  `v` varchar(20) DEFAULT NULL,
  PRIMARY KEY (`id`) /*T![clustered_index] CLUSTERED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin \
/*T![auto_rand_base] AUTO_RANDOM_BASE=30001 */"""


def parse(sql: str, **kwargs: object):
    return parse_create_table(sql, table_id=42, schema="db", **kwargs)  # type: ignore[arg-type]


def test_mydumper_schema_file() -> None:
    table = parse(MYDUMPER_SCHEMA)
    assert (table.id, table.schema, table.name) == (42, "db", "orders")
    assert [c.name for c in table.columns] == [
        "id",
        "customer",
        "note",
        "amount",
        "created",
        "status",
    ]
    assert [c.id for c in table.columns] == [1, 2, 3, 4, 5, 6]
    assert [c.offset for c in table.columns] == [0, 1, 2, 3, 4, 5]
    assert (table.charset, table.collation) == ("utf8mb4", "utf8mb4_general_ci")
    assert table.auto_increment == 1001
    ident, customer, note, amount, created, status = table.columns
    assert ident.ft.tp == ColumnType.LONGLONG and ident.ft.unsigned and ident.auto_increment
    assert ident.not_null and not ident.has_default
    assert (customer.ft.charset, customer.ft.collation) == ("utf8mb4", "utf8mb4_general_ci")
    assert customer.default == b"" and customer.has_default
    assert (note.ft.tp, note.ft.charset, note.ft.collation) == (
        ColumnType.BLOB,
        "latin1",
        "latin1_bin",
    )
    assert amount.default == Decimal("0.00") and amount.ft.flen == 12 and amount.ft.decimal == 2
    assert created.default_expr == "CURRENT_TIMESTAMP(6)" and created.ft.decimal == 6
    assert status.default == 1 and status.ft.elems == ("new", "paid", "shipped")
    assert table.pk_is_handle and not table.is_common_handle
    assert table.handle_column is ident
    assert [i.name for i in table.indexes] == ["PRIMARY", "uk_customer_created", "idx_note"]
    assert [i.id for i in table.indexes] == [1, 2, 3]
    assert [i.name for i in table.stored_indexes] == ["uk_customer_created", "idx_note"]
    assert table.indexes[2].columns[0].length == 20
    assert table.indexes[1].unique and not table.indexes[2].unique


def test_tidb_auto_random_and_clustered() -> None:
    table = parse(TIDB_SHOW_CREATE)
    assert table.pk_is_handle
    assert table.auto_random_bits == 5
    assert table.columns[0].auto_random_bits == 5
    assert table.stored_indexes == ()


def test_nonclustered_int_primary_key_is_a_stored_index() -> None:
    table = parse(
        "CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */)"
    )
    assert not table.pk_is_handle and not table.is_common_handle
    assert table.handle_column is None
    assert [i.name for i in table.stored_indexes] == ["PRIMARY"]


def test_clustered_composite_key_is_common_handle() -> None:
    table = parse(
        "CREATE TABLE t (a varchar(10) NOT NULL, b int NOT NULL, c int,"
        " PRIMARY KEY (a, b) /*T![clustered_index] CLUSTERED */, KEY (c))"
    )
    assert table.is_common_handle and not table.pk_is_handle
    assert table.primary_index is not None and table.primary_index.name == "PRIMARY"
    assert [i.name for i in table.stored_indexes] == ["c"]


def test_composite_key_without_clustered_is_not_common_handle() -> None:
    table = parse("CREATE TABLE t (a varchar(10), b int, PRIMARY KEY (a, b))")
    assert not table.is_common_handle and not table.pk_is_handle
    assert table.column("a").not_null  # primary key columns are implicitly NOT NULL
    assert len(table.stored_indexes) == 1


def test_non_integer_single_pk_is_not_handle() -> None:
    table = parse("CREATE TABLE t (a varchar(10) PRIMARY KEY)")
    assert not table.pk_is_handle and table.primary_index is not None


def test_shard_row_id_bits_and_other_table_options() -> None:
    table = parse(
        "CREATE TABLE t (a int) ENGINE=InnoDB DEFAULT CHARSET=latin1 "
        "/*T! SHARD_ROW_ID_BITS=4 PRE_SPLIT_REGIONS=2 */ "
        "/*T![placement] PLACEMENT POLICY=`p1` */"
    )
    assert table.shard_row_id_bits == 4
    assert (table.charset, table.collation) == ("latin1", "latin1_bin")
    assert not table.pk_is_handle and table.indexes == ()


def test_inline_keys_and_generated_names() -> None:
    table = parse(
        "CREATE TABLE t (id int PRIMARY KEY, a int UNIQUE, b int, c int,"
        " KEY (b), KEY (b, c), UNIQUE KEY (c))"
    )
    # TiDB's order: table-level keys first, then keys declared on columns.
    assert [i.name for i in table.indexes] == ["b", "b_2", "c", "PRIMARY", "a"]
    assert [i.id for i in table.indexes] == [1, 2, 3, 4, 5]
    assert table.pk_is_handle


def test_generated_columns() -> None:
    table = parse(
        "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (`a` + 1) STORED,"
        " c int AS (a * 2) VIRTUAL, d varchar(10) AS (concat(a, 'x')))"
    )
    b, c, d = table.columns[1:]
    assert b.is_generated and b.generated_stored and "a" in (b.generated_expr or "")
    assert c.is_generated and not c.generated_stored
    assert d.generated_expr is not None and "CONCAT" in d.generated_expr.upper()


@pytest.mark.parametrize(
    ("type_sql", "tp", "flen", "decimal", "unsigned"),
    [
        ("tinyint", ColumnType.TINY, 4, 0, False),
        ("tinyint(1)", ColumnType.TINY, 1, 0, False),
        ("tinyint unsigned", ColumnType.TINY, 3, 0, True),
        ("bool", ColumnType.TINY, 1, 0, False),
        ("smallint(6)", ColumnType.SHORT, 6, 0, False),
        ("mediumint unsigned", ColumnType.INT24, 8, 0, True),
        ("middleint", ColumnType.INT24, 9, 0, False),
        ("int(11)", ColumnType.LONG, 11, 0, False),
        ("integer unsigned", ColumnType.LONG, 10, 0, True),
        ("int zerofill", ColumnType.LONG, 11, 0, True),
        ("bigint(20)", ColumnType.LONGLONG, 20, 0, False),
        ("int8", ColumnType.LONGLONG, 20, 0, False),
        ("float", ColumnType.FLOAT, 12, -1, False),
        ("float(7,3) unsigned", ColumnType.FLOAT, 7, 3, True),
        ("float(30)", ColumnType.DOUBLE, -1, -1, False),
        ("double", ColumnType.DOUBLE, 22, -1, False),
        ("real", ColumnType.DOUBLE, 22, -1, False),
        ("double precision(10,2)", ColumnType.DOUBLE, 10, 2, False),
        ("decimal", ColumnType.NEWDECIMAL, 10, 0, False),
        ("decimal(5)", ColumnType.NEWDECIMAL, 5, 0, False),
        ("numeric(20,6) unsigned", ColumnType.NEWDECIMAL, 20, 6, True),
        ("date", ColumnType.DATE, 10, 0, False),
        ("datetime", ColumnType.DATETIME, 19, 0, False),
        ("datetime(6)", ColumnType.DATETIME, 26, 6, False),
        ("timestamp(3)", ColumnType.TIMESTAMP, 23, 3, False),
        ("time", ColumnType.DURATION, 10, 0, False),
        ("time(2)", ColumnType.DURATION, 13, 2, False),
        ("year(4)", ColumnType.YEAR, 4, 0, True),
        ("bit", ColumnType.BIT, 1, 0, True),
        ("bit(64)", ColumnType.BIT, 64, 0, True),
        ("json", ColumnType.JSON, 4294967295, 0, False),
        ("char", ColumnType.STRING, 1, -1, False),
        ("char(10)", ColumnType.STRING, 10, -1, False),
        ("binary(16)", ColumnType.STRING, 16, -1, False),
        ("varchar(255)", ColumnType.VARCHAR, 255, -1, False),
        ("varbinary(8)", ColumnType.VARCHAR, 8, -1, False),
        ("tinytext", ColumnType.TINY_BLOB, 255, -1, False),
        ("text", ColumnType.BLOB, 65535, -1, False),
        ("text(100)", ColumnType.BLOB, 65535, -1, False),
        ("text(50)", ColumnType.TINY_BLOB, 255, -1, False),
        ("blob(300)", ColumnType.BLOB, 65535, -1, False),
        ("mediumtext", ColumnType.MEDIUM_BLOB, 16777215, -1, False),
        ("long", ColumnType.MEDIUM_BLOB, 16777215, -1, False),
        ("long varbinary", ColumnType.MEDIUM_BLOB, 16777215, -1, False),
        ("longblob", ColumnType.LONG_BLOB, 4294967295, -1, False),
    ],
)
def test_every_type(type_sql: str, tp: ColumnType, flen: int, decimal: int, unsigned: bool) -> None:
    column = parse(f"CREATE TABLE t (`c` {type_sql})").columns[0]
    assert (column.ft.tp, column.ft.flen, column.ft.decimal, column.ft.unsigned) == (
        tp,
        flen,
        decimal,
        unsigned,
    )


@pytest.mark.parametrize(
    ("type_sql", "charset", "collation"),
    [
        ("varchar(3)", "utf8mb4", "utf8mb4_bin"),
        ("varchar(3) CHARACTER SET latin1", "latin1", "latin1_bin"),
        ("varchar(3) CHARSET utf8 COLLATE utf8_general_ci", "utf8", "utf8_general_ci"),
        ("varchar(3) COLLATE utf8mb4_unicode_ci", "utf8mb4", "utf8mb4_unicode_ci"),
        ("varchar(3) CHARACTER SET binary", "binary", "binary"),
        ("char(3) BINARY", "utf8mb4", "utf8mb4_bin"),
        ("varbinary(3)", "binary", "binary"),
        ("blob", "binary", "binary"),
        ("int", "binary", "binary"),
        ("enum('a')", "utf8mb4", "utf8mb4_bin"),
    ],
)
def test_charsets(type_sql: str, charset: str, collation: str) -> None:
    ft = parse(f"CREATE TABLE t (c {type_sql})").columns[0].ft
    assert (ft.charset, ft.collation) == (charset, collation)
    if charset == "binary" and ft.is_string:
        assert ft.is_binary_string


def test_table_collation_alone_sets_charset() -> None:
    table = parse("CREATE TABLE t (c varchar(3)) COLLATE=latin1_swedish_ci")
    assert (table.charset, table.collation) == ("latin1", "latin1_swedish_ci")
    assert table.columns[0].ft.charset == "latin1"


def test_defaults_become_canonical_values() -> None:
    table = parse(
        "CREATE TABLE t ("
        " a int DEFAULT -5, b int DEFAULT '7', c double DEFAULT 1.5, d decimal(5,2) DEFAULT 3,"
        " e varchar(5) DEFAULT 'héllo', f varbinary(4) DEFAULT 0x0102,"
        " g bit(3) DEFAULT b'101', h date DEFAULT '2020-01-02',"
        " i datetime DEFAULT '0000-00-00 00:00:00', j timestamp NULL DEFAULT NULL,"
        " k timestamp DEFAULT CURRENT_TIMESTAMP, l time DEFAULT '12:34:56',"
        " m set('x','y','z') DEFAULT 'z,x', n year DEFAULT '99', o json DEFAULT NULL,"
        " p binary(3) DEFAULT 'a', q char(4) DEFAULT 'ab  ', r datetime DEFAULT now())"
    )
    values = {c.name: c.default for c in table.columns}
    assert values["a"] == -5 and values["b"] == 7 and values["c"] == 1.5
    assert values["d"] == Decimal("3.00") and str(values["d"]) == "3.00"
    assert values["e"] == "héllo".encode()
    assert values["f"] == b"\x01\x02" and values["g"] == 5
    assert values["h"] == MysqlTime(2020, 1, 2)
    assert values["i"] == MysqlTime(0, 0, 0)
    assert values["j"] is None and table.column("j").has_default
    assert table.column("k").default_expr == "CURRENT_TIMESTAMP"
    assert table.column("r").default_expr == "CURRENT_TIMESTAMP"
    assert values["l"] == datetime.timedelta(hours=12, minutes=34, seconds=56)
    assert values["m"] == 0b101 and values["n"] == 1999
    assert values["o"] is None
    assert values["p"] == b"a\x00\x00" and values["q"] == b"ab"
    assert not table.column("a").not_null


def test_json_default_and_type() -> None:
    column = parse("CREATE TABLE t (j json DEFAULT ('[1]'))").columns[0]
    assert column.default == JsonDoc([1])


def test_expression_default_is_kept_as_text() -> None:
    column = parse("CREATE TABLE t (u varchar(36) DEFAULT (uuid()))").columns[0]
    assert column.default is None and column.default_expr is not None
    assert "UUID" in column.default_expr.upper()


def test_names_and_comments() -> None:
    table = parse_create_table(
        "-- dumped\nCREATE TABLE IF NOT EXISTS `my db`.`we``ird` (\n"
        "  `col one` int COMMENT 'has /* and ; inside', # trailing comment\n"
        "  `Two` varchar(3) /* inline */ NOT NULL\n) ",
        table_id=1,
    )
    assert (table.schema, table.name) == ("my db", "we`ird")
    assert [c.name for c in table.columns] == ["col one", "Two"]
    assert table.column("TWO").not_null
    assert table.qualified_name == "`my db`.`we``ird`"


def test_unknown_column_lookup_names_the_table() -> None:
    table = parse("CREATE TABLE t (a int)")
    with pytest.raises(SchemaError, match=r"`db`.`t`.*`nope`"):
        table.column("nope")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SET NAMES binary;", "no CREATE TABLE"),
        ("CREATE TABLE t (a int NOT NOT NULL)", "cannot parse"),
        ("CREATE TABLE t (a foo(3))", "cannot parse"),
        ("CREATE TABLE t (a int) PARTITION BY HASH(a) PARTITIONS 4", "cannot parse"),
        ("CREATE TABLE t (a int, b)", "cannot understand"),
        ("CREATE TABLE t (a geometry)", "not supported"),
        ("CREATE TABLE t (a int, KEY (zz))", "unknown column"),
        ("CREATE TABLE t (a int, FULLTEXT KEY f (a))", "FULLTEXT"),
        ("CREATE TABLE t (a int DEFAULT 'abc')", "column `a`"),
        ("CREATE TABLE t (a tinyint DEFAULT 300)", "out of range"),
        ("CREATE TABLE t (a varchar(3) DEFAULT 'abcd')", "too long"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int, PRIMARY KEY (b))", "multiple primary"),
        ("CREATE TABLE t (a int /*T![auto_rand] AUTO_RANDOM(5) */)", "AUTO_RANDOM"),
        ("CREATE TABLE t2 LIKE t", "."),
    ],
)
def test_errors_name_the_table(sql: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        parse(sql)
    if sql.startswith("CREATE TABLE t ("):
        assert "table `t`" in str(info.value)


def test_create_database() -> None:
    assert parse_create_database("CREATE DATABASE `shop`;") == "shop"
    assert (
        parse_create_database(
            "/*!40101 SET NAMES binary*/;\n"
            "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `we``ird` "
            "/*!40100 DEFAULT CHARACTER SET utf8mb4 */;"
        )
        == "we`ird"
    )
    assert parse_create_database("create schema if not exists s2") == "s2"
    with pytest.raises(SchemaError):
        parse_create_database("CREATE TABLE t (a int)")
