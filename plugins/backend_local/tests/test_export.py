"""The store's export: a mydumper dump that loads back into MySQL exactly.

The key test builds a table of every common column type in the store through the KV encoder,
exports it, loads the export with ``myloader`` (and with ``tidb-lightning --backend tidb``) and
compares ``CHECKSUM TABLE`` with the same rows inserted into MariaDB by plain SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_local.export import export_store, main
from lightning_backend_local.store import EmbeddedStore
from store_support import SQL_MODE, fill_table

from lightning_core.testing.mydumper import ordered_rows, run_myloader, table_checksum
from lightning_core.testing.tasks import run_lightning, task_config

TYPES_DDL = """CREATE TABLE `t_types` (
  `id` INT NOT NULL,
  `c_tiny` TINYINT NULL,
  `c_tiny_u` TINYINT UNSIGNED NULL,
  `c_small` SMALLINT NULL,
  `c_medium_u` MEDIUMINT UNSIGNED NULL,
  `c_int` INT NULL,
  `c_big` BIGINT NULL,
  `c_big_u` BIGINT UNSIGNED NULL,
  `c_dec` DECIMAL(20,6) NULL,
  `c_dec0` DECIMAL(10,0) NULL,
  `c_float` FLOAT NULL,
  `c_double` DOUBLE NULL,
  `c_varchar` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  `c_latin1` VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_bin NULL,
  `c_char` CHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
  `c_text` TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  `c_binary` BINARY(6) NULL,
  `c_varbinary` VARBINARY(50) NULL,
  `c_blob` BLOB NULL,
  `c_date` DATE NULL,
  `c_datetime` DATETIME NULL,
  `c_datetime6` DATETIME(6) NULL,
  `c_timestamp` TIMESTAMP(3) NULL DEFAULT NULL,
  `c_time` TIME NULL,
  `c_time6` TIME(6) NULL,
  `c_year` YEAR NULL,
  `c_enum` ENUM('a','b','c d','é') CHARACTER SET utf8mb4 NULL,
  `c_set` SET('x','y','z') NULL,
  `c_json` JSON NULL,
  `c_bit` BIT(10) NULL,
  `c_bit1` BIT(1) NULL,
  PRIMARY KEY (`id`),
  KEY `k_int_varchar` (`c_int`, `c_varchar`(10)),
  UNIQUE KEY `u_big` (`c_big`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""

AWKWARD = "it's \"q\" back\\slash \\ line\nbreak cr\r tab\t nul\0 ctrl-z\x1a Grüße 中文 🚀 '),("

# One row per line: maxima, minima with zero dates, NULLs, awkward text, ordinary values. JSON
# is written as TiDB prints a document (keys sorted, ", " and ": "), since the KV form keeps the
# document, not its text.
TYPES_ROWS: list[list[Any]] = [
    [
        1, 127, 255, 32767, 16777215, 2147483647, 9223372036854775807, 18446744073709551615,
        Decimal("99999999999999.999999"), Decimal("9999999999"), 3.4e38,
        1.7976931348623157e308, "\U0010ffff" * 100, "ÿ" * 100, "z" * 10,
        "x" * 65535, b"\xff" * 6, b"\xff" * 50, b"\xff" * 65535, "9999-12-31",
        "9999-12-31 23:59:59", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999",
        "838:59:59", "838:59:59.000000", 2155, "é", "x,y,z",
        '{"max": 1.7976931348623157e+308, "s": "ÿ"}', 1023, 1,
    ],
    [
        2, -128, 0, -32768, 0, -2147483648, -9223372036854775808, 0,
        Decimal("-99999999999999.999999"), Decimal("-9999999999"), -3.4e38,
        -1.7976931348623157e308, "", "", "", "", b"", b"", b"", "0000-00-00",
        "0000-00-00 00:00:00", "0000-00-00 00:00:00.000000", "1970-01-01 00:00:01.000",
        "-838:59:59", "-838:59:59.000000", 1901, "a", "", "[]", 0, 0,
    ],
    [3] + [None] * 30,
    [
        4, 0, 1, -1, 1, 0, 0, 1, Decimal("-0.000001"), Decimal("0"), Decimal("0.1"),
        Decimal("0.1"), AWKWARD, "café Ñ ÿ", "ab", AWKWARD * 3, b"\x00\xff",
        b"\x00\xff'\\\"\n\r\x1a", bytes(range(256)) * 3, "2024-02-29", "2024-02-29 12:34:56",
        "2024-02-29 12:34:56.000001", "2024-02-29 12:34:56.123", "00:00:00", "-00:00:00.000001",
        2000, "c d", "x,z",
        '{"a": 1, "b": [true, false, null], "s": "quote \\" and \\\\ backslash \\n"}', 5, 1,
    ],
    [
        5, 42, 200, 1234, 65536, 123456, -5, 7, Decimal("123.456"), Decimal("-42"),
        Decimal("2.5"), Decimal("-1234.5678"), "plain", "latin", "c", "text", b"bin",
        b"varbin", b"blob", "1999-01-01", "1999-12-31 23:59:59", "2000-01-01 00:00:00.5",
        "2001-09-09 01:46:40", "12:34:56", "123:45:06.789", 1999, "b", "y", '"ünïcode 🚀"',
        512, 0,
    ],
    [
        6, None, None, None, None, 7, 6, None, None, None, None, None, "x", None, None, None,
        None, None, None, None, None, None, None, None, None, None, None, None, "null", None,
        None,
    ],
    [
        7, None, None, None, None, None, None, None, None, None, None, None, "y", None, None,
        None, None, None, None, None, None, None, None, None, None, None, None, None,
        '{"nested": {"deep": [1, 2.5, "three", 1.5e-7, 1e+21, 0.00001, -0.0]}}', None, None,
    ],
    [
        8, None, None, None, None, None, None, None, None, None, None, None, "z", None, None,
        None, None, None, None, None, None, None, None, None, None, None, None, None, "3.5",
        None, None,
    ],
]  # fmt: skip


@pytest.fixture
def database_names(target_connection: Any) -> Iterator[str]:
    """A unique prefix for the databases of one test; every database with it is dropped."""
    tag = f"lt_{uuid.uuid4().hex[:10]}"
    yield tag
    with target_connection.cursor() as cur:
        cur.execute("SHOW DATABASES")
        for (name,) in cur.fetchall():
            if name.startswith(tag):
                cur.execute(f"DROP DATABASE `{name}`")


def insert_by_sql(conn: Any, database: str) -> None:
    """The reference: ``TYPES_DDL`` and ``TYPES_ROWS`` inserted by plain SQL."""
    placeholders = ",".join(["%s"] * len(TYPES_ROWS[0]))
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = %s, SESSION time_zone = '+00:00'", (SQL_MODE,))
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(f"USE `{database}`")
        cur.execute(TYPES_DDL)
        cur.executemany(f"INSERT INTO `t_types` VALUES ({placeholders})", TYPES_ROWS)


@pytest.fixture
def types_store(tmp_path: Path, database_names: str) -> Iterator[tuple[Path, str]]:
    """A store holding ``<prefix>_src.t_types`` filled by the encoder; (store dir, schema)."""
    schema = f"{database_names}_src"
    store = EmbeddedStore.open(str(tmp_path / "store"))
    try:
        store.create_database(schema, f"CREATE DATABASE IF NOT EXISTS `{schema}`")
        fill_table(store, tmp_path / "sst", schema=schema, statement=TYPES_DDL, rows=TYPES_ROWS)
    finally:
        store.close()
    yield tmp_path / "store", schema


@pytest.mark.slow
def test_export_loads_with_myloader_exactly_as_sql_inserts(
    tmp_path: Path, target_connection: Any, database_names: str, types_store: tuple[Path, str]
) -> None:
    store_dir, schema = types_store
    dump = tmp_path / "dump"
    files = export_store(str(store_dir), str(dump))
    assert [Path(f).name for f in files] == [
        f"{schema}-schema-create.sql",
        f"{schema}.t_types-schema.sql",
        f"{schema}.t_types.000000000.sql",
        "metadata",
    ]
    data = (dump / f"{schema}.t_types.000000000.sql").read_bytes()
    assert data.startswith(b"/*!40101 SET NAMES binary*/;\n")
    assert b"INSERT INTO `t_types` VALUES\n(1," in data

    reference, loaded = f"{database_names}_ref", f"{database_names}_myloader"
    insert_by_sql(target_connection, reference)
    run_myloader(dump, loaded)
    assert ordered_rows(target_connection, loaded, "t_types") == ordered_rows(
        target_connection, reference, "t_types"
    )
    assert table_checksum(target_connection, loaded, "t_types") == table_checksum(
        target_connection, reference, "t_types"
    )
    with target_connection.cursor() as cur:
        cur.execute(f"SHOW CREATE TABLE `{loaded}`.`t_types`")
        loaded_ddl = cur.fetchone()[1]
        cur.execute(f"SHOW CREATE TABLE `{reference}`.`t_types`")
        assert loaded_ddl == cur.fetchone()[1]


@pytest.mark.slow
def test_export_loads_with_the_tidb_backend_exactly_as_sql_inserts(
    tmp_path: Path, target_connection: Any, database_names: str, types_store: tuple[Path, str]
) -> None:
    store_dir, schema = types_store
    dump = tmp_path / "dump"
    export_store(str(store_dir), str(dump))
    reference = f"{database_names}_ref"
    insert_by_sql(target_connection, reference)
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(task_config(dump))
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert ordered_rows(target_connection, schema, "t_types") == ordered_rows(
        target_connection, reference, "t_types"
    )
    assert table_checksum(target_connection, schema, "t_types") == table_checksum(
        target_connection, reference, "t_types"
    )


def test_statements_and_files_are_bounded(tmp_path: Path) -> None:
    store = EmbeddedStore.open(str(tmp_path / "store"))
    try:
        statement = "CREATE TABLE `t` (`id` INT PRIMARY KEY, `v` VARCHAR(100))"
        fill_table(
            store,
            tmp_path / "sst",
            schema="db",
            statement=statement,
            rows=[[i, "v" * 50] for i in range(1, 201)],
        )
        fill_table(
            store,
            tmp_path / "sst",
            schema="db",
            statement="CREATE TABLE `empty` (`id` INT PRIMARY KEY)",
            rows=[],
        )
    finally:
        store.close()
    files = export_store(
        str(tmp_path / "store"), str(tmp_path / "dump"), statement_bytes=1000, file_bytes=5000
    )
    names = [Path(f).name for f in files]
    assert "db.empty-schema.sql" in names and not any(n.startswith("db.empty.0") for n in names)
    # no schema-create file was recorded for db: a plain one is written
    assert (tmp_path / "dump" / "db-schema-create.sql").read_text() == (
        "CREATE DATABASE IF NOT EXISTS `db`;\n"
    )
    data = sorted(tmp_path.glob("dump/db.t.0*.sql"))
    assert len(data) > 2 and data[0].name == "db.t.000000000.sql"
    ids = []
    for path in data:
        text = path.read_bytes()
        assert text.startswith(b"/*!40101 SET NAMES binary*/;")
        assert len(text) < 5000 + 1000
        for statement_text in text.split(b";\n")[3:]:
            if statement_text:
                assert len(statement_text) <= 1000
                assert statement_text.startswith(b"INSERT INTO `t` VALUES\n(")
                ids += [int(row.split(b",")[0]) for row in statement_text.split(b"\n(")[1:]]
    assert ids == list(range(1, 201))


def test_named_tables_only_and_errors(tmp_path: Path, capsys: Any) -> None:
    store = EmbeddedStore.open(str(tmp_path / "store"))
    try:
        for name in ("a", "b"):
            fill_table(
                store,
                tmp_path / "sst",
                schema="db",
                statement=f"CREATE TABLE `{name}` (`id` INT PRIMARY KEY)",
                rows=[[1], [2]],
            )
    finally:
        store.close()
    assert main(["--store-dir", str(tmp_path / "store"), "--out", str(tmp_path / "d"), "DB.b"]) == 0
    assert "files written" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "db-schema-create.sql",
        "db.b-schema.sql",
        "db.b.000000000.sql",
        "metadata",
    ]
    assert main(["--store-dir", str(tmp_path / "store"), "--out", str(tmp_path / "e"), "db.c"]) == 1
    assert "table 'db.c' is not in the store" in capsys.readouterr().err
    assert main(["--store-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "f")]) == 1
    assert "is not an embedded store" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


CLUSTERED_DDL = """CREATE TABLE `t_keys` (
  `k` VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
  `n` INT UNSIGNED NOT NULL,
  `v` VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
  `doubled` BIGINT AS (`n` * 2) VIRTUAL,
  PRIMARY KEY (`k`, `n`) /*T![clustered_index] CLUSTERED */,
  UNIQUE KEY `u_v` (`v`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""
CLUSTERED_ROWS: list[list[Any]] = [
    ["Straße", 4294967295, "Ünïcode"],
    ["a b ", 0, None],
    ["", 7, "x'y"],
    ["中文🚀", 1, ""],
]


@pytest.mark.slow
def test_a_clustered_key_and_a_generated_column_export_exactly(
    tmp_path: Path, target_connection: Any, database_names: str
) -> None:
    schema = f"{database_names}_src"
    store = EmbeddedStore.open(str(tmp_path / "store"))
    try:
        fill_table(
            store,
            tmp_path / "sst",
            schema=schema,
            statement=CLUSTERED_DDL,
            rows=CLUSTERED_ROWS,
            columns=("k", "n", "v"),  # the virtual column has no source value
        )
    finally:
        store.close()
    export_store(str(tmp_path / "store"), str(tmp_path / "dump"))
    data = (tmp_path / "dump" / f"{schema}.t_keys.000000000.sql").read_bytes()
    assert b"INSERT INTO `t_keys` (`k`,`n`,`v`) VALUES\n" in data
    reference, loaded = f"{database_names}_ref", f"{database_names}_myloader"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{reference}`")
        cur.execute(f"USE `{reference}`")
        cur.execute(CLUSTERED_DDL)
        cur.executemany("INSERT INTO `t_keys` (`k`, `n`, `v`) VALUES (%s, %s, %s)", CLUSTERED_ROWS)
    run_myloader(tmp_path / "dump", loaded)
    assert ordered_rows(target_connection, loaded, "t_keys") == ordered_rows(
        target_connection, reference, "t_keys"
    )
    assert table_checksum(target_connection, loaded, "t_keys") == table_checksum(
        target_connection, reference, "t_keys"
    )
