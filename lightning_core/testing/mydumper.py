"""Helpers for end-to-end tests: a table with every column type, mydumper, and comparisons.

A typical round trip::

    fill_all_types(conn, db, ALL_TYPES_TABLE, rows=500, seed=1)
    files = run_mydumper(db, str(tmp_path / "dump"))
    ...  # import the dump into another database
    assert table_checksum(conn, db, ALL_TYPES_TABLE) == table_checksum(conn, other, ALL_TYPES_TABLE)

Everything talks to the test server of :mod:`lightning_core.testing.pytest_plugin`
(``LIGHTNING_TEST_MYSQL_*`` environment variables, default 127.0.0.1:3306 root).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PASSWORD,
    MARIADB_PORT,
    MARIADB_USER,
)

__all__ = [
    "ALL_TYPES_DDL",
    "ALL_TYPES_TABLE",
    "MydumperError",
    "all_types_ddl",
    "fill_all_types",
    "ordered_rows",
    "run_mydumper",
    "table_checksum",
]

ALL_TYPES_TABLE = "all_types"
"""The table name :data:`ALL_TYPES_DDL` creates."""

ALL_TYPES_DDL = """CREATE TABLE `all_types` (
  `id` BIGINT NOT NULL,
  `c_tinyint` TINYINT NULL,
  `c_tinyint_u` TINYINT UNSIGNED NULL,
  `c_smallint` SMALLINT NULL,
  `c_smallint_u` SMALLINT UNSIGNED NULL,
  `c_mediumint` MEDIUMINT NULL,
  `c_mediumint_u` MEDIUMINT UNSIGNED NULL,
  `c_int` INT NULL,
  `c_int_u` INT UNSIGNED NULL,
  `c_int_nn` INT NOT NULL DEFAULT 0,
  `c_bigint` BIGINT NOT NULL,
  `c_bigint_u` BIGINT UNSIGNED NULL,
  `c_decimal` DECIMAL(20,6) NULL,
  `c_decimal_nn` DECIMAL(20,6) NOT NULL DEFAULT 0,
  `c_float` FLOAT NULL,
  `c_double` DOUBLE NULL,
  `c_char` CHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  `c_varchar` VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `c_text` TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  `c_binary` BINARY(8) NULL,
  `c_varbinary` VARBINARY(64) NULL,
  `c_blob` BLOB NULL,
  `c_date` DATE NULL,
  `c_datetime` DATETIME(6) NULL,
  `c_timestamp` TIMESTAMP NULL DEFAULT NULL,
  `c_time` TIME NULL,
  `c_year` YEAR NULL,
  `c_json` JSON NULL,
  `c_enum` ENUM('a','b','c d','é') CHARACTER SET utf8mb4 NULL,
  `c_set` SET('x','y','z') NULL,
  `c_bit` BIT(10) NULL,
  PRIMARY KEY (`id`),
  KEY `idx_int_varchar` (`c_int`, `c_varchar`(20)),
  UNIQUE KEY `uk_bigint` (`c_bigint`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""
"""A table with every MySQL column type the readers handle: signed and unsigned integers,
decimals, floats, utf8mb4 and binary strings, temporal types, JSON, ENUM, SET and BIT; nullable
and NOT NULL variants; a primary key, a secondary index and a unique key."""

FILL_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
"""The session sql_mode :func:`fill_all_types` uses: strict, but zero dates allowed."""

_COLUMNS = [
    line.strip().split("`")[1]
    for line in ALL_TYPES_DDL.splitlines()[1:]
    if line.strip().startswith("`")
]

_AWKWARD_TEXT = [
    "it's",
    'say "hi"',
    "back\\slash",
    "trailing backslash \\",
    "line\nbreak",
    "cr\r\nlf",
    "tab\there",
    "nul\0byte",
    "ctrl-z\x1a",
    "Grüße 中文 🚀",
    "'); DROP TABLE t; --",
    "),(",
    "a,b;c",
    "\\N",
    "NULL",
    "",
    " leading and trailing ",
]
_HIGH_BYTES = [b"\x00", b"\xff", b"\x27", b"\x5c", b"\x22", b"\n", b"\r", b"\x1a", b"\x80\x81"]

_MAX_VALUES: dict[str, Any] = {
    "c_tinyint": 127,
    "c_tinyint_u": 255,
    "c_smallint": 32767,
    "c_smallint_u": 65535,
    "c_mediumint": 8388607,
    "c_mediumint_u": 16777215,
    "c_int": 2147483647,
    "c_int_u": 4294967295,
    "c_int_nn": 2147483647,
    "c_bigint": 9223372036854775807,
    "c_bigint_u": 18446744073709551615,
    "c_decimal": Decimal("99999999999999.999999"),
    "c_decimal_nn": Decimal("99999999999999.999999"),
    "c_float": 3.0e38,
    "c_double": 1.7976931348623157e308,
    "c_char": "z" * 20,
    "c_varchar": "\U0010ffff" * 200,
    "c_text": "x" * 65535,
    "c_binary": b"\xff" * 8,
    "c_varbinary": b"\xff" * 64,
    "c_blob": b"\xff" * 65535,
    "c_date": dt.date(9999, 12, 31),
    "c_datetime": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    "c_timestamp": "2038-01-19 03:14:07",
    "c_time": "838:59:59",
    "c_year": 2155,
    "c_json": '{"max": 1.7976931348623157e308, "s": "\\u00ff"}',
    "c_enum": "é",
    "c_set": "x,y,z",
    "c_bit": 1023,
}
_MIN_VALUES: dict[str, Any] = {
    "c_tinyint": -128,
    "c_tinyint_u": 0,
    "c_smallint": -32768,
    "c_smallint_u": 0,
    "c_mediumint": -8388608,
    "c_mediumint_u": 0,
    "c_int": -2147483648,
    "c_int_u": 0,
    "c_int_nn": -2147483648,
    "c_bigint": -9223372036854775808,
    "c_bigint_u": 0,
    "c_decimal": Decimal("-99999999999999.999999"),
    "c_decimal_nn": Decimal("-99999999999999.999999"),
    "c_float": -3.0e38,
    "c_double": -1.7976931348623157e308,
    "c_char": "",
    "c_varchar": "",
    "c_text": "",
    "c_binary": b"",
    "c_varbinary": b"",
    "c_blob": b"",
    "c_date": "0000-00-00",
    "c_datetime": "0000-00-00 00:00:00.000000",
    "c_timestamp": "0000-00-00 00:00:00",
    "c_time": "-838:59:59",
    "c_year": 0,
    "c_json": "[]",
    "c_enum": "a",
    "c_set": "",
    "c_bit": 0,
}
_NOT_NULL = {"id", "c_int_nn", "c_bigint", "c_decimal_nn", "c_varchar"}


class MydumperError(RuntimeError):
    """mydumper is not installed or did not produce a dump."""


def all_types_ddl(table: str = ALL_TYPES_TABLE, *, if_not_exists: bool = False) -> str:
    """:data:`ALL_TYPES_DDL` creating ``table`` instead of ``all_types``."""
    head = "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE TABLE"
    return ALL_TYPES_DDL.replace("CREATE TABLE `all_types`", f"{head} `{table}`", 1)


def _random_text(rng: random.Random, limit: int) -> str:
    """Concatenated awkward fragments, at most ``limit`` characters."""
    pieces = rng.sample(_AWKWARD_TEXT, k=rng.randrange(1, 4))
    return "".join(pieces)[:limit]


def _random_bytes(rng: random.Random, limit: int) -> bytes:
    """Raw bytes mixing awkward bytes and random ones, at most ``limit`` long."""
    out = b"".join(rng.choice(_HIGH_BYTES) for _ in range(rng.randrange(0, 4)))
    out += rng.randbytes(rng.randrange(0, 8))
    return out[:limit]


def _random_row(rng: random.Random, index: int) -> dict[str, Any]:
    """A row of ordinary varied values (each nullable column NULL about 10% of the time)."""
    base = dt.datetime(1970, 1, 2) + dt.timedelta(seconds=rng.randrange(2_000_000_000))
    values: dict[str, Any] = {
        "c_tinyint": rng.randrange(-128, 128),
        "c_tinyint_u": rng.randrange(256),
        "c_smallint": rng.randrange(-32768, 32768),
        "c_smallint_u": rng.randrange(65536),
        "c_mediumint": rng.randrange(-(2**23), 2**23),
        "c_mediumint_u": rng.randrange(2**24),
        "c_int": rng.randrange(-(2**31), 2**31),
        "c_int_u": rng.randrange(2**32),
        "c_int_nn": rng.randrange(-1000, 1000),
        # An odd multiplier is a bijection modulo 2**62, so the unique key never collides; the
        # range stays inside BIGINT and away from the min/max rows.
        "c_bigint": (index * 2654435761) % 2**62 - 2**61,
        "c_bigint_u": rng.randrange(2**64),
        "c_decimal": Decimal(rng.randrange(-(10**20) + 1, 10**20)).scaleb(-6),
        "c_decimal_nn": Decimal(rng.randrange(-(10**9), 10**9)).scaleb(-6),
        # MariaDB prints FLOAT with 6 significant digits, so mydumper's text keeps no more;
        # quarters below 2500 have at most 6 and are exact in binary, so they round-trip.
        "c_float": rng.randrange(-9999, 10000) / 4,
        "c_double": rng.randrange(-(2**50), 2**50) / 1024,
        "c_char": _random_text(rng, 20).rstrip(" "),
        "c_varchar": _random_text(rng, 200),
        "c_text": _random_text(rng, 1000) * rng.randrange(1, 4),
        "c_binary": _random_bytes(rng, 8),
        "c_varbinary": _random_bytes(rng, 64),
        "c_blob": _random_bytes(rng, 64) * rng.randrange(1, 5),
        "c_date": base.date(),
        "c_datetime": base.replace(microsecond=rng.randrange(1_000_000)),
        "c_timestamp": base.strftime("%Y-%m-%d %H:%M:%S"),
        "c_time": f"{rng.randrange(-838, 839)}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
        "c_year": rng.choice([0, 1901, 1999, 2000, 2024, 2155]),
        "c_json": rng.choice(
            [
                '{"a": 1, "b": [true, false, null], "s": "quote \\" and \\\\ backslash"}',
                '"ünïcode 🚀"',
                "null",
                "3.5",
                '[1, "two", {"three": 3}]',
                '{"nested": {"deep": {"line": "a\\nb"}}}',
            ]
        ),
        "c_enum": rng.choice(["a", "b", "c d", "é"]),
        "c_set": rng.choice(["", "x", "y,z", "x,y,z"]),
        "c_bit": rng.randrange(1024),
    }
    for name in values:
        if name not in _NOT_NULL and rng.random() < 0.1:
            values[name] = None
    return values


def _row_values(index: int, rng: random.Random) -> dict[str, Any]:
    """Row ``index``: 0 holds maxima, 1 minima and zero dates, 2 NULLs, the rest random."""
    if index == 0:
        values = dict(_MAX_VALUES)
    elif index == 1:
        values = dict(_MIN_VALUES)
    elif index == 2:
        values = {name: None for name in _COLUMNS if name not in _NOT_NULL}
        values.update(c_int_nn=0, c_bigint=-1, c_decimal_nn=Decimal(0), c_varchar="")
    else:
        values = _random_row(rng, index)
    values["id"] = index + 1
    return values


def fill_all_types(conn: Any, database: str, table: str, rows: int, seed: int) -> None:
    """Create ``database.table`` from :data:`ALL_TYPES_DDL` if missing and insert ``rows`` rows.

    The rows are a function of ``seed`` alone: the first three hold maximum values, minimum
    values with zero dates, and NULLs; the rest mix quotes, backslashes, newlines, UTF-8, NUL
    and high bytes, edge numbers and about 10% NULLs. Ids run from 1 to ``rows``.
    """
    rng = random.Random(seed)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    column_list = ", ".join(f"`{name}`" for name in _COLUMNS)
    insert = f"INSERT INTO `{database}`.`{table}` ({column_list}) VALUES ({placeholders})"
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.sql_mode, @@SESSION.time_zone")
        old_mode, old_zone = cur.fetchone()
        # TIMESTAMP values are given in UTC, as mydumper dumps them, so checksums do not depend
        # on the server's zone; the mode allows the zero dates of the "minimum" row.
        cur.execute("SET SESSION sql_mode = %s, SESSION time_zone = '+00:00'", (FILL_SQL_MODE,))
        try:
            cur.execute(f"USE `{database}`")
            cur.execute(all_types_ddl(table, if_not_exists=True))
            batch: list[tuple[Any, ...]] = []
            for index in range(rows):
                values = _row_values(index, rng)
                batch.append(tuple(values.get(name) for name in _COLUMNS))
                if len(batch) >= 200:
                    cur.executemany(insert, batch)
                    batch.clear()
            if batch:
                cur.executemany(insert, batch)
            conn.commit()
        finally:
            cur.execute("SET SESSION sql_mode = %s, SESSION time_zone = %s", (old_mode, old_zone))


def run_mydumper(
    database: str,
    outdir: str,
    *,
    chunk_mb: int | None = None,
    compress: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Dump ``database`` with the system's mydumper into ``outdir``; return the files written.

    ``chunk_mb`` splits tables into files of about that many MB (``-F``; mydumper 0.10's ``-r``
    crashes against MariaDB 10.11, so rows-per-chunk is not offered). ``compress`` gzips the
    files (``-c``). The result is the sorted absolute paths of every file in ``outdir``.

    :raises MydumperError: mydumper is not on PATH, exits non-zero, or reports a critical error.
    """
    binary = shutil.which("mydumper")
    if binary is None:
        raise MydumperError(
            "mydumper is not installed (not found on PATH); install it with "
            "`apt-get install mydumper` to run end-to-end dump tests"
        )
    command = [
        binary,
        "--database", database,
        "--outputdir", outdir,
        "--host", MARIADB_HOST,
        "--port", str(MARIADB_PORT),
        "--user", MARIADB_USER,
        "--threads", "2",
        "--verbose", "2",
    ]  # fmt: skip
    if MARIADB_PASSWORD:
        command += ["--password", MARIADB_PASSWORD]
    if chunk_mb is not None:
        command += ["--chunk-filesize", str(chunk_mb)]
    if compress:
        command.append("--compress")
    command += list(extra_args)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or "CRITICAL" in output:
        shown = [arg if arg != MARIADB_PASSWORD else "***" for arg in command]
        raise MydumperError(
            f"mydumper exited with {done.returncode} dumping {database!r} into {outdir}: "
            f"{output or '(no output)'}\ncommand: {' '.join(shown)}"
        )
    return sorted(os.path.join(outdir, name) for name in os.listdir(outdir))


def run_myloader(dump: str | Path, database: str) -> None:
    """Load a mydumper-layout dump into ``database`` with the system's myloader.

    :raises MydumperError: myloader is not on PATH, exits non-zero or reports a critical error.
    """
    binary = shutil.which("myloader")
    if binary is None:
        raise MydumperError("myloader is not installed; install it with `apt-get install mydumper`")
    command = [
        binary, "--directory", str(dump), "--database", database, "--host", MARIADB_HOST,
        "--port", str(MARIADB_PORT), "--user", MARIADB_USER, "--threads", "2", "--verbose", "2",
    ]  # fmt: skip
    if MARIADB_PASSWORD:
        command += ["--password", MARIADB_PASSWORD]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0 or "CRITICAL" in output:
        raise MydumperError(f"myloader failed (exit {done.returncode}): {output}")


def table_checksum(conn: Any, database: str, table: str) -> int:
    """``CHECKSUM TABLE`` of ``database.table``; raises ``LookupError`` if the table is missing."""
    with conn.cursor() as cur:
        cur.execute(f"CHECKSUM TABLE `{database}`.`{table}`")
        row = cur.fetchone()
    if row is None or row[1] is None:
        raise LookupError(f"CHECKSUM TABLE found no table `{database}`.`{table}`")
    return int(row[1])


def ordered_rows(conn: Any, database: str, table: str) -> list[tuple[Any, ...]]:
    """All rows of ``database.table``, ordered by the primary key, or by every column if none."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' "
            "ORDER BY SEQ_IN_INDEX",
            (database, table),
        )
        order = [name for (name,) in cur.fetchall()]
        if not order:
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (database, table),
            )
            order = [name for (name,) in cur.fetchall()]
        if not order:
            raise LookupError(f"no table `{database}`.`{table}` to read rows from")
        order_by = ", ".join(f"`{name}`" for name in order)
        cur.execute(f"SELECT * FROM `{database}`.`{table}` ORDER BY {order_by}")
        return list(cur.fetchall())


def assert_myloader_loads_the_same(
    conn: Any, original: str | Path, exported: str | Path, databases: tuple[str, str]
) -> None:
    """myloader loads the ``original`` dump into ``databases[0]`` and an import's ``exported``
    dump into ``databases[1]``: both hold the same tables with the same ``CHECKSUM TABLE``."""
    direct, through = databases
    run_myloader(original, direct)
    run_myloader(exported, through)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (direct,)
        )
        tables = sorted(name for (name,) in cur.fetchall())
    assert tables, f"myloader loaded no table from {original}"
    for table in tables:
        assert table_checksum(conn, through, table) == table_checksum(conn, direct, table), table
