"""The example dump in examples/ and the end-to-end helpers of lightning_core.testing.mydumper.

These tests need the MariaDB test server and Debian's mydumper/myloader; when either is missing
they fail with a message saying what to install or start, they never skip.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pymysql.constants import CLIENT

from lightning_core.testing.mydumper import (
    ALL_TYPES_DDL,
    ALL_TYPES_TABLE,
    MydumperError,
    all_types_ddl,
    fill_all_types,
    ordered_rows,
    run_mydumper,
    table_checksum,
)
from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PORT,
    MARIADB_USER,
    connect_target,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DUMP = EXAMPLES / "dump"

ORDERS_CSV_HEADER = ["id", "customer_id", "amount", "status", "ordered_at", "shipped_at", "details"]


def load_generator() -> ModuleType:
    """examples/make_example_dump.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_example_dump", EXAMPLES / "make_example_dump.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def second_database(target_connection: Any) -> Iterator[str]:
    """Another new, empty database, dropped after the test."""
    name = f"lt_{uuid.uuid4().hex[:12]}"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def run_myloader(directory: str, database: str) -> None:
    """Load a mydumper directory into ``database`` with the system's myloader."""
    binary = shutil.which("myloader")
    if binary is None:
        pytest.fail("myloader is not installed; install it with `apt-get install mydumper`")
    command = [binary, "-d", directory, "-B", database, "-h", MARIADB_HOST,
               "-P", str(MARIADB_PORT), "-u", MARIADB_USER, "-o", "-t", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "CRITICAL" not in done.stderr, done.stdout + done.stderr


# --- lightning_core.testing.mydumper -------------------------------------------------------


def test_all_types_ddl_names_every_type() -> None:
    ddl = ALL_TYPES_DDL.upper()
    for type_name in ["TINYINT ", "TINYINT UNSIGNED", "SMALLINT ", "SMALLINT UNSIGNED",
                      "MEDIUMINT ", "MEDIUMINT UNSIGNED", "INT ", "INT UNSIGNED", "BIGINT ",
                      "BIGINT UNSIGNED", "DECIMAL(20,6)", "FLOAT", "DOUBLE", "CHAR(20)",
                      "VARCHAR(200)", "TEXT", "BINARY(8)", "VARBINARY(64)", "BLOB", "DATE ",
                      "DATETIME(6)", "TIMESTAMP", "TIME ", "YEAR", "JSON", "ENUM(", "SET(",
                      "BIT(10)", "PRIMARY KEY", "UNIQUE KEY", "KEY `IDX_"]:  # fmt: skip
        assert type_name in ddl, type_name
    assert all_types_ddl("other").startswith("CREATE TABLE `other` (")
    assert all_types_ddl(if_not_exists=True).startswith("CREATE TABLE IF NOT EXISTS `all_types`")


def test_fill_all_types_is_deterministic_and_varied(
    target_connection: Any, fresh_database: str
) -> None:
    fill_all_types(target_connection, fresh_database, "a", rows=120, seed=3)
    fill_all_types(target_connection, fresh_database, "b", rows=120, seed=3)
    fill_all_types(target_connection, fresh_database, "c", rows=120, seed=4)
    checksum_a = table_checksum(target_connection, fresh_database, "a")
    assert checksum_a == table_checksum(target_connection, fresh_database, "b")
    assert checksum_a != table_checksum(target_connection, fresh_database, "c")

    rows = ordered_rows(target_connection, fresh_database, "a")
    assert [row[0] for row in rows] == list(range(1, 121))
    maxima, minima, nulls = rows[0], rows[1], rows[2]
    assert maxima[10] == 2**63 - 1 and maxima[11] == 2**64 - 1
    assert minima[10] == -(2**63) and minima[22] == "0000-00-00"  # zero date kept as text
    assert nulls[1] is None and nulls[-1] is None
    flat = [value for row in rows for value in row]
    texts = [v for v in flat if isinstance(v, str)]
    blobs = [v for v in flat if isinstance(v, bytes)]
    for needle in ["'", '"', "\\", "\n", "\0", "🚀"]:
        assert any(needle in text for text in texts), needle
    assert any(b"\xff" in blob for blob in blobs)
    assert any(b"\x00" in blob for blob in blobs)


def test_mydumper_round_trip_through_myloader(
    target_connection: Any, fresh_database: str, second_database: str, tmp_path: Path
) -> None:
    fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=300, seed=7)
    files = run_mydumper(fresh_database, str(tmp_path / "dump"))
    names = [Path(f).name for f in files]
    assert f"{fresh_database}-schema-create.sql" in names
    assert f"{fresh_database}.{ALL_TYPES_TABLE}-schema.sql" in names
    data = [n for n in names if re.fullmatch(rf"{fresh_database}\.all_types(\.\d+)?\.sql", n)]
    assert data, names
    text = b"".join((tmp_path / "dump" / n).read_bytes() for n in data)
    assert text.startswith(b"/*!40101 SET NAMES binary*/;")
    assert text.count(b"INSERT INTO `all_types` VALUES") >= 1
    # One tuple per line: every row's id opens a line.
    assert len(re.findall(rb"^\((\d+),", text, flags=re.MULTILINE)) == 300

    run_myloader(str(tmp_path / "dump"), second_database)
    assert table_checksum(target_connection, second_database, ALL_TYPES_TABLE) == table_checksum(
        target_connection, fresh_database, ALL_TYPES_TABLE
    )
    assert ordered_rows(target_connection, second_database, ALL_TYPES_TABLE) == ordered_rows(
        target_connection, fresh_database, ALL_TYPES_TABLE
    )


def test_mydumper_compressed_chunked(
    target_connection: Any, fresh_database: str, tmp_path: Path
) -> None:
    fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=50, seed=1)
    files = run_mydumper(fresh_database, str(tmp_path / "gz"), chunk_mb=1, compress=True)
    data = [f for f in files if ".all_types." in Path(f).name]
    assert data and all(f.endswith(".sql.gz") for f in data), files
    assert gzip.decompress(Path(data[0]).read_bytes()).startswith(b"/*!40101 SET NAMES binary*/;")


def test_run_mydumper_reports_missing_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MydumperError, match="mydumper is not installed"):
        run_mydumper("anything", str(tmp_path / "out"))


def test_run_mydumper_reports_failure(tmp_path: Path) -> None:
    with pytest.raises(MydumperError, match="mydumper exited"):
        run_mydumper("db", str(tmp_path / "out"), extra_args=["--no-such-option"])


def test_ordered_rows_without_primary_key(target_connection: Any, fresh_database: str) -> None:
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE TABLE `{fresh_database}`.t (a INT, b VARCHAR(5))")
        cur.execute(f"INSERT INTO `{fresh_database}`.t VALUES (2,'x'),(1,'z'),(1,'y'),(1,'y')")
    rows = ordered_rows(target_connection, fresh_database, "t")
    assert rows == [(1, "y"), (1, "y"), (1, "z"), (2, "x")]
    with pytest.raises(LookupError):
        ordered_rows(target_connection, fresh_database, "missing")
    with pytest.raises(LookupError):
        table_checksum(target_connection, fresh_database, "missing")


# --- examples/dump ---------------------------------------------------------------------------


def test_example_dump_is_reproducible(tmp_path: Path) -> None:
    names = load_generator().write_dump(tmp_path / "dump")
    assert names == sorted(p.name for p in DUMP.iterdir())
    for name in names:
        assert (tmp_path / "dump" / name).read_bytes() == (DUMP / name).read_bytes(), (
            f"examples/dump/{name} differs from what examples/make_example_dump.py writes; "
            "rerun the generator and commit its output"
        )


def test_example_dump_layout() -> None:
    names = {p.name for p in DUMP.iterdir()}
    assert names == {
        "metadata",
        "shop-schema-create.sql",
        "shop_archive_01-schema-create.sql",
        "shop_archive_02-schema-create.sql",
        "shop.customers-schema.sql",
        "shop.customers.000000000.sql",
        "shop.customers.000000001.sql",
        "shop.orders-schema.sql",
        "shop.orders.000000000.csv",
        "shop.orders.000000001.csv",
        "shop.notes-schema.sql",
        "shop.notes.000000000.sql.gz",
        "shop.visits-schema.sql",
        "shop.visits.000000000.sql",
        "shop.big_customers-schema.sql",
        "shop.big_customers-schema-view.sql",
        "shop_archive_01.orders_2023-schema.sql",
        "shop_archive_01.orders_2023.000000000.sql",
        "shop_archive_02.orders_2023-schema.sql",
        "shop_archive_02.orders_2023.000000000.sql",
    }
    assert sum((DUMP / n).stat().st_size for n in names) < 200_000
    gz = (DUMP / "shop.notes.000000000.sql.gz").read_bytes()
    assert gz[:2] == b"\x1f\x8b" and gz[3] & 0x08 == 0, "gzip header must carry no file name"
    assert gz[4:8] == b"\0\0\0\0", "gzip header must carry no mtime"
    for name in names:
        if re.fullmatch(r".*\.\d{9}\.sql(\.gz)?", name):
            text = read_dump_text(name)
            assert text.startswith("/*!40101 SET NAMES binary*/;\n"), name
            assert "INSERT INTO `" in text, name
    for name in ("shop.orders.000000000.csv", "shop.orders.000000001.csv"):
        rows = list(csv.reader(io.StringIO(read_dump_text(name)), doublequote=True))
        assert rows[0] == ORDERS_CSV_HEADER
        assert all(len(row) == len(ORDERS_CSV_HEADER) for row in rows[1:]), name


def read_dump_text(name: str) -> str:
    """A file of examples/dump as text, decompressed if it ends in .gz."""
    data = (DUMP / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def target_table(name: str) -> str:
    """The table a dump file's table lands in: the [[routes]] of examples/tidb-lightning.toml."""
    db, table = name.split(".")[:2]
    table = table.removesuffix("-schema")
    if db.startswith("shop_archive_") and table.startswith("orders_"):
        return "orders_archive"
    return table


def load_example_dump(database: str) -> None:
    """Load examples/dump into ``database`` without tidb-lightning, routes applied by hand.

    SQL files are executed as they are (table names rewritten for the routed shards), CSV files
    with LOAD DATA, so what MariaDB itself makes of the files is the reference.
    """
    conn = connect_target(
        database, client_flag=CLIENT.MULTI_STATEMENTS | CLIENT.LOCAL_FILES, local_infile=True
    )

    def execute_script(text: str) -> None:
        with conn.cursor() as cur:
            cur.execute(text)
            while cur.nextset():
                pass
            cur.execute("SET NAMES utf8mb4")

    names = sorted(p.name for p in DUMP.iterdir())
    try:
        created: set[str] = set()
        for name in names:
            if name.endswith("-schema.sql") and name != "shop.big_customers-schema.sql":
                target = target_table(name)
                if target not in created:
                    source = name.split(".")[1].removesuffix("-schema")
                    execute_script(read_dump_text(name).replace(f"`{source}`", f"`{target}`"))
                    created.add(target)
        for name in names:
            if re.fullmatch(r".*\.\d{9}\.sql(\.gz)?", name):
                source, target = name.split(".")[1], target_table(name)
                execute_script(read_dump_text(name).replace(f"`{source}`", f"`{target}`"))
            elif name.endswith(".csv"):
                with conn.cursor() as cur:
                    cur.execute(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{target_table(name)}` "
                        "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
                        " ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' IGNORE 1 LINES",
                        (str(DUMP / name),),
                    )
                    cur.execute("SHOW WARNINGS")
                    assert cur.fetchall() == (), name
        execute_script(read_dump_text("shop.big_customers-schema-view.sql"))
    finally:
        conn.close()


def readme_counts() -> dict[str, int]:
    """The ``| `table` | rows |`` lines of examples/README.md."""
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| `([\w.]+)` \| (\d+) \|", text, re.M)}


def test_example_readme_states_the_generator_counts() -> None:
    generator = load_generator()
    expected = dict(generator.EXPECTED_ROWS)
    expected["shop.big_customers"] = generator.big_customer_count()
    assert readme_counts() == expected


def test_example_dump_loads_into_mariadb(target_connection: Any, fresh_database: str) -> None:
    load_example_dump(fresh_database)
    counts = readme_counts()
    with target_connection.cursor() as cur:
        for qualified, rows in counts.items():
            table = qualified.split(".")[1]
            cur.execute(f"SELECT COUNT(*) FROM `{fresh_database}`.`{table}`")
            assert cur.fetchone()[0] == rows, qualified
        db = fresh_database
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.orders WHERE JSON_VALID(details)")
        assert cur.fetchone()[0] == counts["shop.orders"]
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.orders WHERE shipped_at IS NULL")
        assert 0 < cur.fetchone()[0] < counts["shop.orders"]
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.orders WHERE INSTR(details, %s)", ('say \\"hi',))
        assert cur.fetchone()[0] > 0
        cur.execute(f"SELECT body FROM `{db}`.notes WHERE INSTR(body, %s)", ("\0",))
        assert "\0<-" in cur.fetchone()[0]
        for needle in ["🚀", "\\Users", 'It\'s a "quoted"', "),(", ";\nINSERT", "\r\n"]:
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.notes WHERE INSTR(body, %s)", (needle,))
            assert cur.fetchone()[0] > 0, needle
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.notes WHERE body = ''")
        assert cur.fetchone()[0] > 0
        cur.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT * FROM `{db}`.visits) d")
        assert cur.fetchone()[0] < counts["shop.visits"]


def test_example_config_matches_the_dump() -> None:
    with (EXAMPLES / "tidb-lightning.toml").open("rb") as f:
        config = tomllib.load(f)
    assert config["tikv-importer"]["backend"] == "tidb"
    assert config["checkpoint"]["driver"] == "file"
    assert (EXAMPLES.parent / config["mydumper"]["data-source-dir"]).resolve() == DUMP
    csv_config = config["mydumper"]["csv"]
    assert (csv_config["separator"], csv_config["delimiter"], csv_config["null"]) == (
        ",",
        '"',
        "\\N",
    )
    assert csv_config["header"] is True and csv_config["backslash-escape"] is True
    table_rule = [r for r in config["routes"] if r.get("table-pattern")]
    assert table_rule == [
        {
            "schema-pattern": "shop_archive_*",
            "table-pattern": "orders_*",
            "target-schema": "shop",
            "target-table": "orders_archive",
        }
    ]


# --- the project's own readers over examples/dump ----------------------------------------------


def read_example_with_project_readers() -> dict[str, list[tuple[Any, ...]]]:
    """Rows per target table, read by discovery + SqlReader/CsvReader with the example config."""
    import attrs

    from lightning_core.config import load_config_file
    from lightning_core.interfaces import Chunk
    from lightning_core.source.csv_reader import CsvReader
    from lightning_core.source.discovery import discover
    from lightning_core.source.sql_reader import SqlReader

    config = load_config_file(str(EXAMPLES / "tidb-lightning.toml"))
    mydumper = attrs.evolve(config.mydumper, data_source_dir=str(DUMP))
    plan = discover(mydumper, config.routes)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in plan.tables:
        rows = tables.setdefault(f"{table.target_schema}.{table.target_table}", [])
        for file in table.data_files:
            reader_type = SqlReader if file.format == "sql" else CsvReader
            reader = reader_type(
                chunk=Chunk(file=file, index=0), mydumper=mydumper, sql_mode=config.tidb.sql_mode
            )
            try:
                for batch in reader.batches():
                    rows.extend(batch.rows)
            finally:
                reader.close()
    return tables


def test_project_readers_count_the_readme_rows() -> None:
    tables = read_example_with_project_readers()
    counts = readme_counts()
    views = {"shop.big_customers"}
    assert set(tables) == set(counts)
    for name, expected in counts.items():
        assert len(tables[name]) == (0 if name in views else expected), name


def test_project_readers_agree_with_mariadb_on_notes(
    target_connection: Any, fresh_database: str
) -> None:
    load_example_dump(fresh_database)
    stored = ordered_rows(target_connection, fresh_database, "notes")
    read = sorted(read_example_with_project_readers()["shop.notes"], key=lambda row: int(row[0]))
    assert len(read) == len(stored)
    for from_reader, from_server in zip(read, stored, strict=True):
        body = from_reader[3]
        as_text = body.decode("utf-8") if isinstance(body, bytes) else body
        assert as_text == from_server[3], from_server[0]


# --- tidb-lightning itself on the example ------------------------------------------------------


def example_config_into(database: str, work: Path) -> Path:
    """examples/tidb-lightning.toml with every table routed into ``database``, files in ``work``."""
    text = (EXAMPLES / "tidb-lightning.toml").read_text(encoding="utf-8")
    text = text[: text.index("[[routes]]")]
    text = text.replace('"/tmp/tidb_lightning_example_checkpoint.json"', f'"{work / "cp.json"}"')
    text = text.replace('"/tmp/tidb_lightning_example.log"', f'"{work / "lightning.log"}"')
    text = text.replace('data-source-dir = "examples/dump"', f'data-source-dir = "{DUMP}"')
    text += f"""
[[routes]]
schema-pattern = "shop*"
target-schema = "{database}"

[[routes]]
schema-pattern = "shop_archive_*"
table-pattern = "orders_*"
target-schema = "{database}"
target-table = "orders_archive"
"""
    path = work / "tidb-lightning.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_tidb_lightning_imports_the_example_like_mariadb_loads_it(
    target_connection: Any, fresh_database: str, second_database: str, tmp_path: Path
) -> None:
    command = Path(sys.executable).with_name("tidb-lightning")
    assert command.exists(), f"{command} is missing: pip install -e . into the venv"
    config = example_config_into(fresh_database, tmp_path)
    done = subprocess.run(
        [str(command), "--config", str(config)], capture_output=True, text=True, check=False
    )
    log = tmp_path / "lightning.log"
    assert done.returncode == 0, (
        done.stdout + done.stderr + (log.read_text(errors="replace") if log.exists() else "")
    )

    load_example_dump(second_database)
    for qualified, rows in readme_counts().items():
        table = qualified.split(".")[1]
        with target_connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{fresh_database}`.`{table}`")
            assert cur.fetchone()[0] == rows, qualified
        if table != "big_customers":
            assert table_checksum(target_connection, fresh_database, table) == table_checksum(
                target_connection, second_database, table
            ), qualified
