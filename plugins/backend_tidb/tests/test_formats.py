"""End to end: CSV and Parquet sources with every column type, imported with the TiDB backend.

Debian's mydumper 0.10 cannot write CSV (its ``--help`` has no CSV option), so the "CSV from a
real tool" cases use MariaDB's own ``SELECT ... INTO OUTFILE``. Every case imports the ALL_TYPES
table of a source database into a fresh target database through a ``[[routes]]`` rule and
compares the target with the source (``CHECKSUM TABLE`` and the rows themselves).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lightning_core.config import CsvConfig
from lightning_core.testing.csvdump import write_csv, write_parquet
from lightning_core.testing.mydumper import (
    ALL_TYPES_TABLE,
    all_types_ddl,
    fill_all_types,
    ordered_rows,
    table_checksum,
)
from lightning_core.testing.pytest_plugin import connect_target
from lightning_core.testing.tasks import run_lightning, task_config

pytestmark = pytest.mark.slow

ROWS = 300


class Source:
    """The source database: its name, column names and rows (read with time_zone +00:00)."""

    def __init__(self, name: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.name = name
        self.columns = columns
        self.rows = rows


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    """A source database with the ALL_TYPES table (300 rows) and its rows read by SELECT."""
    conn = connect_target()
    name = f"lt_fmt_src_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        fill_all_types(conn, name, ALL_TYPES_TABLE, rows=ROWS, seed=4242)
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM `{name}`.`{ALL_TYPES_TABLE}` ORDER BY id")
            columns = [d[0] for d in cur.description]
            rows = list(cur.fetchall())
        assert len(rows) == ROWS
        yield Source(name, columns, rows)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def target_database(target_connection: Any) -> Iterator[str]:
    """A database name for the import target, dropped afterwards (created by the import)."""
    name = f"lt_fmt_tgt_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _data_dir(root: Path, db: str) -> Path:
    """A data source directory holding the schema files of ``db``.all_types."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (root / f"{db}.{ALL_TYPES_TABLE}-schema.sql").write_text(all_types_ddl() + ";\n")
    return root


def _import(
    tmp_path: Path, data: Path, source: str, target: str, mode: str, csv_section: str = ""
) -> None:
    route = f'[[routes]]\nschema-pattern = "{source}"\ntarget-schema = "{target}"\n'
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(
            data,
            on_duplicate=mode,
            checkpoint=tmp_path / "cp.json",
            extra=route + csv_section,
        )
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def _first_difference(
    got: Sequence[tuple[Any, ...]], want: Sequence[tuple[Any, ...]], columns: Sequence[str]
) -> str:
    """A short description of the first differing row and column (for assertion messages)."""
    if len(got) != len(want):
        return f"{len(got)} rows imported, {len(want)} expected"
    for g, w in zip(got, want, strict=True):
        for name, a, b in zip(columns, g, w, strict=True):
            if a != b:
                return f"id={w[0]} column {name}: imported {a!r:.200}, expected {b!r:.200}"
    return "rows equal"


def _assert_same_table(conn: Any, target: str, source: Source) -> None:
    got = ordered_rows(conn, target, ALL_TYPES_TABLE)
    want = ordered_rows(conn, source.name, ALL_TYPES_TABLE)
    assert len(want) == ROWS
    assert got == want, _first_difference(got, want, source.columns)
    assert table_checksum(conn, target, ALL_TYPES_TABLE) == table_checksum(
        conn, source.name, ALL_TYPES_TABLE
    )


# --- CSV written by MariaDB (SELECT ... INTO OUTFILE) -------------------------------------------

OUTFILE_FORMAT = (
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' "
    "LINES TERMINATED BY '\\n'"
)

# What INTO OUTFILE above writes: ',' between fields, string columns in '"' (a '"' inside is
# written \"), numbers and dates... unquoted, NULL as an unquoted \N, backslash escapes (\\, \0,
# and a backslash before an embedded newline), '\n' at the end of each line.
OUTFILE_CSV = (
    "[mydumper.csv]\n"
    'separator = ","\n'
    "delimiter = '\"'\n"
    'terminator = "\\n"\n'
    "null = '\\N'\n"
    "backslash-escape = true\n"
    "not-null = false\n"
)


def _select_expr(column: str) -> str:
    # MariaDB writes BIT values to OUTFILE as raw bytes, unquoted and unescaped (a byte 0x2C,
    # 0x0A, 0x22 or 0x5C breaks the line), so BIT is written as the binary string of its bytes.
    if column == "c_bit":
        return "CAST(`c_bit` AS BINARY) AS `c_bit`"
    return f"`{column}`"


def _outfile(conn: Any, database: str, columns: Sequence[str]) -> bytes:
    """The bytes MariaDB writes for ``SELECT columns ... INTO OUTFILE`` (in UTC, ordered by id)."""
    # The server (user mysql) writes the file: a directory it may write to, removed afterwards.
    directory = tempfile.mkdtemp(prefix="lt_outfile_")
    try:
        os.chmod(directory, 0o777)
        path = os.path.join(directory, "out.csv")
        select = ", ".join(_select_expr(c) for c in columns)
        with conn.cursor() as cur:
            cur.execute("SELECT @@SESSION.time_zone")
            (zone,) = cur.fetchone()
            cur.execute("SET SESSION time_zone = '+00:00'")
            try:
                cur.execute(
                    f"SELECT {select} INTO OUTFILE '{path}' {OUTFILE_FORMAT} "
                    f"FROM `{database}`.`{ALL_TYPES_TABLE}` ORDER BY id"
                )
            finally:
                cur.execute("SET SESSION time_zone = %s", (zone,))
        return Path(path).read_bytes()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_outfile_csv_without_header_replace(
    tmp_path: Path, source: Source, target_database: str, target_connection: Any
) -> None:
    data = _data_dir(tmp_path / "data", source.name)
    body = _outfile(target_connection, source.name, source.columns)
    assert body.count(b"\n") >= ROWS
    (data / f"{source.name}.{ALL_TYPES_TABLE}.000.csv").write_bytes(body)
    csv = OUTFILE_CSV + "header = false\n"
    _import(tmp_path, data, source.name, target_database, "replace", csv)
    _assert_same_table(target_connection, target_database, source)


def test_outfile_csv_with_reordered_header_ignore(
    tmp_path: Path, source: Source, target_database: str, target_connection: Any
) -> None:
    # The columns in another order than the table's (reversed, id in the middle), named by a
    # header line written here (INTO OUTFILE writes none), quoted as Dumpling quotes it.
    reordered = list(reversed(source.columns))
    reordered.remove("id")
    reordered.insert(len(reordered) // 2, "id")
    assert reordered != source.columns
    data = _data_dir(tmp_path / "data", source.name)
    header = ",".join(f'"{c}"' for c in reordered).encode() + b"\n"
    body = _outfile(target_connection, source.name, reordered)
    (data / f"{source.name}.{ALL_TYPES_TABLE}.000.csv").write_bytes(header + body)
    csv = OUTFILE_CSV + "header = true\nheader-schema-match = true\n"
    _import(tmp_path, data, source.name, target_database, "ignore", csv)
    _assert_same_table(target_connection, target_database, source)


# --- CSV written by write_csv, multi-character separator and delimiter ------------------------


def _mysql_time(value: dt.timedelta) -> str:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, frac = divmod(abs(micros), 1_000_000)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + (f".{frac:06d}" if frac else "")


def _as_mysql_text(value: Any) -> Any:
    """``value`` (as pymysql returns it) as the text MySQL prints; bytes and None unchanged."""
    if value is None or isinstance(value, bytes | str):
        return value  # str: text columns, JSON, ENUM, SET, zero dates; bytes: binary, BIT
    if isinstance(value, bool):
        raise TypeError("no BOOLEAN column in ALL_TYPES")
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _mysql_time(value)
    raise TypeError(f"unexpected {type(value).__name__} from SELECT: {value!r}")


def test_write_csv_multichar_separator_and_delimiter_error(
    tmp_path: Path, source: Source, target_database: str, target_connection: Any
) -> None:
    options = CsvConfig(
        separator="|;|",
        delimiter="<@",
        terminator="\r\n",
        header=True,
        null="nil",
        backslash_escape=True,
    )
    data = _data_dir(tmp_path / "data", source.name)
    # YEAR prints with four digits: the text '0' would be the year 2000, '0000' is 0.
    year = source.columns.index("c_year")
    rows = [
        tuple(
            f"{v:04d}" if i == year and v is not None else _as_mysql_text(v)
            for i, v in enumerate(row)
        )
        for row in source.rows
    ]
    path = data / f"{source.name}.{ALL_TYPES_TABLE}.000.csv"
    write_csv(str(path), source.columns, rows, options)
    csv = (
        "[mydumper.csv]\n"
        'separator = "|;|"\n'
        'delimiter = "<@"\n'
        'terminator = "\\r\\n"\n'
        "header = true\n"
        'null = "nil"\n'
        "backslash-escape = true\n"
    )
    _import(tmp_path, data, source.name, target_database, "error", csv)
    _assert_same_table(target_connection, target_database, source)


# --- Parquet ---------------------------------------------------------------------------------

_TEMPORAL = ("c_date", "c_datetime", "c_timestamp")


def _arrow_schema(columns: Sequence[str], temporal_as_text: bool) -> Any:
    import pyarrow as pa

    types = {
        "id": pa.int64(),
        "c_tinyint": pa.int8(),
        "c_tinyint_u": pa.uint8(),
        "c_smallint": pa.int16(),
        "c_smallint_u": pa.uint16(),
        "c_mediumint": pa.int32(),
        "c_mediumint_u": pa.uint32(),
        "c_int": pa.int32(),
        "c_int_u": pa.uint32(),
        "c_int_nn": pa.int32(),
        "c_bigint": pa.int64(),
        "c_bigint_u": pa.uint64(),
        "c_decimal": pa.decimal128(20, 6),
        "c_decimal_nn": pa.decimal128(20, 6),
        "c_float": pa.float32(),
        "c_double": pa.float64(),
        "c_char": pa.string(),
        "c_varchar": pa.string(),
        "c_text": pa.string(),
        "c_binary": pa.binary(),
        "c_varbinary": pa.binary(),
        "c_blob": pa.binary(),
        "c_date": pa.date32(),
        "c_datetime": pa.timestamp("us"),
        "c_timestamp": pa.timestamp("us"),
        "c_time": pa.duration("us"),  # TIME spans -838:59:59..838:59:59, beyond time64
        "c_year": pa.uint16(),
        "c_json": pa.string(),
        "c_enum": pa.string(),
        "c_set": pa.string(),
        "c_bit": pa.uint16(),
    }
    if temporal_as_text:  # zero dates ('0000-00-00') have no Arrow date or timestamp
        types.update({name: pa.string() for name in _TEMPORAL})
    return pa.schema([(name, types[name]) for name in columns])


def _parquet_value(name: str, value: Any) -> Any:
    if name == "c_bit" and value is not None:
        return int.from_bytes(value, "big")
    return value


def test_parquet_every_type_error(
    tmp_path: Path, source: Source, target_database: str, target_connection: Any
) -> None:
    columns = source.columns
    data = _data_dir(tmp_path / "data", source.name)
    rows = [
        tuple(_parquet_value(name, v) for name, v in zip(columns, row, strict=True))
        for row in source.rows
    ]
    index = [columns.index(name) for name in _TEMPORAL]
    # Rows holding a zero date (pymysql returns those as str) go to a second file whose
    # temporal columns are strings; every other row uses Arrow's date and timestamp types.
    zero = [row for row in rows if any(isinstance(row[i], str) for i in index)]
    typed = [row for row in rows if not any(isinstance(row[i], str) for i in index)]
    assert zero and len(typed) > ROWS - 5
    prefix = data / f"{source.name}.{ALL_TYPES_TABLE}"
    write_parquet(
        f"{prefix}.000.parquet", columns, typed, _arrow_schema(columns, False), row_group_size=64
    )
    as_text = [
        tuple(
            v.isoformat(" ") if isinstance(v, dt.datetime) else
            v.isoformat() if isinstance(v, dt.date) else v
            for v in row
        )
        for row in zero
    ]  # fmt: skip
    write_parquet(f"{prefix}.001.parquet", columns, as_text, _arrow_schema(columns, True))
    _import(tmp_path, data, source.name, target_database, "error")
    _assert_same_table(target_connection, target_database, source)
