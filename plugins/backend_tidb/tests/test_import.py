"""End to end: real mydumper dumps imported into the real MariaDB with the TiDB backend."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.mydumper import (
    ALL_TYPES_TABLE,
    fill_all_types,
    ordered_rows,
    run_mydumper,
    table_checksum,
)
from lightning_core.testing.pytest_plugin import connect_target
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

pytestmark = pytest.mark.slow


@pytest.fixture
def target_database(target_connection: Any) -> Iterator[str]:
    """A database name for the import target, dropped afterwards (created by the import)."""
    name = f"lt_target_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def scratch_database(target_connection: Any) -> Iterator[str]:
    """A new, empty source database for one test, dropped afterwards."""
    name = f"lt_src_{uuid.uuid4().hex[:10]}"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def ctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run tidb-lightning-ctl with this interpreter."""
    command = lightning_command()
    command[2] = command[2].replace("main", "ctl_main")
    return subprocess.run(
        [*command, "--config", str(config), *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def source_dump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A source database with every column type (600 rows) and its mydumper dump."""
    conn = connect_target()
    name = f"lt_src_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    fill_all_types(conn, name, ALL_TYPES_TABLE, rows=600, seed=7)
    out = tmp_path_factory.mktemp("dump")
    run_mydumper(name, str(out))
    yield name, out
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def route_to(source: str, target: str) -> str:
    return f'[[routes]]\nschema-pattern = "{source}"\ntarget-schema = "{target}"\n'


def write_config(tmp_path: Path, dump: Path, source: str, target: str, **kw: Any) -> Path:
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(task_config(dump, extra=route_to(source, target), **kw))
    return path


def error_mode_task(tmp_path: Path, dump: Path, target: str, **kw: Any) -> Path:
    """``src`` routed to ``target``, on-duplicate = "error", file checkpoints, one worker."""
    return write_config(
        tmp_path,
        dump,
        "src",
        target,
        on_duplicate="error",
        checkpoint=tmp_path / "cp.json",
        region_concurrency=1,
        **kw,
    )


@pytest.mark.parametrize("mode", ["replace", "ignore", "error"])
def test_every_type_round_trips_into_empty_table(
    tmp_path: Path,
    source_dump: tuple[str, Path],
    target_database: str,
    target_connection: Any,
    mode: str,
) -> None:
    source, dump = source_dump
    config = write_config(
        tmp_path, dump, source, target_database, on_duplicate=mode, checkpoint=tmp_path / "cp.json"
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    conn = target_connection
    assert ordered_rows(conn, target_database, ALL_TYPES_TABLE) == ordered_rows(
        conn, source, ALL_TYPES_TABLE
    )
    assert table_checksum(conn, target_database, ALL_TYPES_TABLE) == table_checksum(
        conn, source, ALL_TYPES_TABLE
    )
    assert "total" in result.stdout and "600" in result.stdout


def _prefill(conn: Any, source: str, target: str, change: bool) -> None:
    """Create the target table with the first 100 source rows (values changed if asked)."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"CREATE DATABASE `{target}`")
        cur.execute(
            f"CREATE TABLE `{target}`.`{ALL_TYPES_TABLE}` LIKE `{source}`.`{ALL_TYPES_TABLE}`"
        )
        table = f"`{ALL_TYPES_TABLE}`"
        cur.execute(
            f"INSERT INTO `{target}`.{table} SELECT * FROM `{source}`.{table} WHERE id <= 100"
        )
        if change:
            cur.execute(
                f"UPDATE `{target}`.`{ALL_TYPES_TABLE}` SET c_varchar = 'stale' WHERE id <= 100"
            )


@pytest.mark.parametrize(("mode", "change"), [("replace", True), ("ignore", False)])
def test_populated_table_ends_equal_to_source(
    tmp_path: Path,
    source_dump: tuple[str, Path],
    target_database: str,
    target_connection: Any,
    mode: str,
    change: bool,
) -> None:
    source, dump = source_dump
    _prefill(target_connection, source, target_database, change)
    config = write_config(tmp_path, dump, source, target_database, on_duplicate=mode)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert table_checksum(target_connection, target_database, ALL_TYPES_TABLE) == table_checksum(
        target_connection, source, ALL_TYPES_TABLE
    )


def test_populated_table_with_error_mode_stops_at_the_duplicate(
    tmp_path: Path,
    source_dump: tuple[str, Path],
    target_database: str,
    target_connection: Any,
) -> None:
    source, dump = source_dump
    _prefill(target_connection, source, target_database, False)
    config = write_config(
        tmp_path,
        dump,
        source,
        target_database,
        on_duplicate="error",
        checkpoint=tmp_path / "cp.json",
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    assert "Duplicate entry" in result.stderr or "duplicate entry" in result.stderr
    data_file = next(p for p in dump.iterdir() if p.name.startswith(f"{source}.{ALL_TYPES_TABLE}."))
    assert f"{data_file}:" in result.stderr  # names the source file and byte offset of the row
    assert ALL_TYPES_TABLE in result.stderr
    # fixed on the target side instead: nothing was committed, so the rerun counts afresh
    with target_connection.cursor() as cur:
        cur.execute(f"DELETE FROM `{target_database}`.`{ALL_TYPES_TABLE}`")
    resumed = run_lightning(["--config", str(config)])
    assert resumed.returncode == 0, resumed.stderr
    assert table_checksum(target_connection, target_database, ALL_TYPES_TABLE) == table_checksum(
        target_connection, source, ALL_TYPES_TABLE
    )


def _write_small_dump(root: Path, db: str, files: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (root / f"{db}.t-schema.sql").write_text(
        "CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(20), PRIMARY KEY (`id`));\n"
    )
    for name, text in files.items():
        (root / f"{db}.t.{name}.sql").write_text(text)


def test_duplicate_in_source_stops_then_resumes_after_fix(
    tmp_path: Path, target_database: str, target_connection: Any
) -> None:
    dump = tmp_path / "dump"
    first = "INSERT INTO `t` VALUES (1,'a'),(2,'b');\nINSERT INTO `t` VALUES (3,'c');\n"
    second_bad = (
        "INSERT INTO `t` VALUES (4,'d');\nINSERT INTO `t` VALUES (5,'e'),(2,'dup'),(6,'f');\n"
    )
    _write_small_dump(dump, "src", {"000": first, "001": second_bad})
    config = error_mode_task(tmp_path, dump, target_database)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    offset = second_bad.index("(2,'dup')")
    assert f"{dump / 'src.t.001.sql'}:{offset}" in result.stderr, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id FROM `{target_database}`.t ORDER BY id")
        # committed rows stay: file 000's; (4,'d') shares its batch with the bad statement
        assert [r[0] for r in cur.fetchall()] == [1, 2, 3]
    fixed = second_bad.replace(",(2,'dup')", "")
    (dump / "src.t.001.sql").write_text(fixed)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id, v FROM `{target_database}`.t ORDER BY id")
        assert cur.fetchall() == ((1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f"))


def test_changed_imported_input_is_refused_on_resume(tmp_path: Path, target_database: str) -> None:
    dump = tmp_path / "dump"
    files = {"000": "INSERT INTO `t` VALUES (1,'a');\n", "001": "INSERT INTO `t` VALUES (1,'x');\n"}
    _write_small_dump(dump, "src", files)
    config = error_mode_task(tmp_path, dump, target_database)
    assert run_lightning(["--config", str(config)]).returncode == 1
    (dump / "src.t.000.sql").write_text("INSERT INTO `t` VALUES (7,'changed');\n")
    (dump / "src.t.001.sql").write_text("INSERT INTO `t` VALUES (2,'x');\n")
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    assert "src.t.000.sql" in result.stderr and "already imported" in result.stderr


@pytest.mark.parametrize(
    ("mode", "stop"),
    [
        ("error", signal.SIGKILL),
        ("replace", signal.SIGKILL),
        ("error", signal.SIGINT),
        ("replace", signal.SIGTERM),
    ],
)
def test_killed_or_interrupted_then_resumed_gives_exact_content(
    tmp_path: Path,
    target_connection: Any,
    target_database: str,
    scratch_database: str,
    mode: str,
    stop: int,
) -> None:
    conn = target_connection
    source = scratch_database
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source}`.big (id INT PRIMARY KEY, k INT, c CHAR(100), KEY (k))"
        )
        cur.execute(
            f"INSERT INTO `{source}`.big SELECT seq, seq % 1000, REPEAT(CHAR(65 + seq % 26), 100) "
            f"FROM `{source}`.seq_1_to_200000"
        )
        cur.execute(f"CREATE TABLE `{source}`.nokey (a INT, b VARCHAR(10))")
        cur.execute(
            f"INSERT INTO `{source}`.nokey SELECT seq % 7, 'x' FROM `{source}`.seq_1_to_30000"
        )
    dump = tmp_path / "dump"
    run_mydumper(source, str(dump), chunk_mb=4)
    checkpoint = tmp_path / "cp.json"
    config = write_config(
        tmp_path, dump, source, target_database, on_duplicate=mode, checkpoint=checkpoint
    )
    process = subprocess.Popen(
        [*lightning_command(), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        # as from a background job: the import must not depend on inherited dispositions
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint.exists() and checkpoint.read_text().count('"chunk"') >= 5:
            break
        time.sleep(0.02)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    if stop == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:  # Ctrl-C, SIGTERM: workers finish their batch, the checkpoint is saved, exit non-zero
        assert process.returncode == (130 if stop == signal.SIGINT else 143), stderr
        assert "interrupted" in stderr and "resume" in stderr
        assert stop == signal.SIGINT or "terminated (SIGTERM)" in stderr
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    for table in ("big", "nokey"):
        assert table_checksum(conn, target_database, table) == table_checksum(
            conn, source, table
        ), table


def test_compressed_dump_imports(
    tmp_path: Path, target_database: str, target_connection: Any
) -> None:
    dump = tmp_path / "dump"
    _write_small_dump(dump, "src", {})
    with gzip.open(dump / "src.t.000.sql.gz", "wt") as f:
        f.write("INSERT INTO `t` (`v`,`id`) VALUES ('a',1),('b',2);\n")
    config = write_config(tmp_path, dump, "src", target_database)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id, v FROM `{target_database}`.t ORDER BY id")
        assert cur.fetchall() == ((1, "a"), (2, "b"))


def test_ctl_dumps_and_removes_checkpoints(tmp_path: Path, target_database: str) -> None:
    dump = tmp_path / "dump"
    files = {"000": "INSERT INTO `t` VALUES (1,'a');\n", "001": "INSERT INTO `t` VALUES (1,'x');\n"}
    _write_small_dump(dump, "src", files)
    checkpoint = tmp_path / "cp.json"
    config = error_mode_task(tmp_path, dump, target_database)
    assert run_lightning(["--config", str(config)]).returncode == 1
    dumped = ctl(config, "--checkpoint-dump")
    assert dumped.returncode == 0, dumped.stderr
    state = json.loads(dumped.stdout)
    done = {key.rsplit("/", 1)[-1]: chunk["done"] for key, chunk in state["chunks"].items()}
    assert done["src.t.000.sql:0"] is True
    removed = ctl(config, "--checkpoint-remove=all")
    assert removed.returncode == 0, removed.stderr
    assert not checkpoint.exists()
    (dump / "src.t.001.sql").write_text("INSERT INTO `t` VALUES (2,'x');\n")
    result = run_lightning(["--config", str(config), "--on-duplicate", "replace"])
    assert result.returncode == 0, result.stderr  # a fresh task: nothing left to resume


def test_generated_columns_are_left_to_the_server(
    tmp_path: Path, target_database: str, target_connection: Any, scratch_database: str
) -> None:
    source = scratch_database
    with target_connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source}`.g (id INT PRIMARY KEY, a INT, "
            "b INT AS (a * 2) VIRTUAL, c INT AS (a + 1) STORED)"
        )
        cur.execute(f"INSERT INTO `{source}`.g (id, a) VALUES (1, 5), (2, 7)")
    dump = tmp_path / "dump"
    run_mydumper(source, str(dump))
    # a dump without column lists holds the non-generated columns in table order
    (dump / f"{source}.g.00099.sql").write_text("INSERT INTO `g` VALUES (3, 9);\n")
    config = write_config(tmp_path, dump, source, target_database)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id, a, b, c FROM `{target_database}`.g ORDER BY id")
        assert cur.fetchall() == ((1, 5, 10, 6), (2, 7, 14, 8), (3, 9, 18, 10))


def test_bytes_of_every_charset_arrive_unchanged(
    tmp_path: Path, target_database: str, target_connection: Any, scratch_database: str
) -> None:
    source = scratch_database
    with target_connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source}`.t (id INT PRIMARY KEY, a VARCHAR(10) CHARSET latin1, "
            "b VARCHAR(10) CHARSET utf8mb4, c BLOB, d VARCHAR(10) CHARSET gbk)"
        )
        cur.execute(
            f"INSERT INTO `{source}`.t VALUES (1, 'café', 'naïve☃', UNHEX('00FF80C3'), '汉字')"
        )
    dump = tmp_path / "dump"
    run_mydumper(source, str(dump))
    result = run_lightning(["--config", str(write_config(tmp_path, dump, source, target_database))])
    assert result.returncode == 0, result.stderr
    assert table_checksum(target_connection, target_database, "t") == table_checksum(
        target_connection, source, "t"
    )


def test_malformed_dump_names_file_and_offset(tmp_path: Path, target_database: str) -> None:
    dump = tmp_path / "dump"
    text = "INSERT INTO `t` VALUES (1,'a'),(2,'b' garbage),(3,'c');\n"
    _write_small_dump(dump, "src", {"000": text})
    result = run_lightning(["--config", str(write_config(tmp_path, dump, "src", target_database))])
    assert result.returncode == 1
    assert f"{dump / 'src.t.000.sql'}:" in result.stderr, result.stderr
    assert "BrokenProcessPool" not in result.stderr


def _two_table_task(tmp_path: Path, target: str, u_rows: str) -> tuple[Path, Path]:
    """Tables t (one good row) then u (``u_rows``), error mode, one table at a time."""
    dump = tmp_path / "dump"
    _write_small_dump(dump, "src", {"000": "INSERT INTO `t` VALUES (1,'a');\n"})
    (dump / "src.u-schema.sql").write_text("CREATE TABLE `u` (`id` int PRIMARY KEY);\n")
    (dump / "src.u.000.sql").write_text(u_rows)
    config = error_mode_task(tmp_path, dump, target, table_concurrency=1)
    return dump, config


def test_a_file_added_to_a_finished_table_is_imported_on_resume(
    tmp_path: Path, target_database: str, target_connection: Any
) -> None:
    dump, config = _two_table_task(tmp_path, target_database, "INSERT INTO `u` VALUES (1),(1);\n")
    assert run_lightning(["--config", str(config)]).returncode == 1  # t done, u stopped
    (dump / "src.t.001.sql").write_text("INSERT INTO `t` VALUES (2,'b');\n")
    (dump / "src.u.000.sql").write_text("INSERT INTO `u` VALUES (1),(2);\n")
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id FROM `{target_database}`.t ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [1, 2]
        cur.execute(f"SELECT id FROM `{target_database}`.u ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [1, 2]


def test_one_tables_checkpoint_removed_then_that_table_starts_over(
    tmp_path: Path, target_database: str, target_connection: Any
) -> None:
    dump, config = _two_table_task(  # two column lists: two batches
        tmp_path,
        target_database,
        "INSERT INTO `u` VALUES (1);\nINSERT INTO `u` (`id`) VALUES (1);\n",
    )
    assert run_lightning(["--config", str(config)]).returncode == 1  # u: (1) committed, then dup
    # fixing the imported part of the file is refused while the checkpoint remembers it ...
    (dump / "src.u.000.sql").write_text(
        "INSERT INTO `u` VALUES (5);\nINSERT INTO `u` VALUES (6);\n"
    )
    refused = run_lightning(["--config", str(config)])
    assert refused.returncode == 1 and "already imported" in refused.stderr
    # ... so the user empties u and removes its checkpoint; t stays done
    with target_connection.cursor() as cur:
        cur.execute(f"DELETE FROM `{target_database}`.u")
    removed = ctl(config, f"--checkpoint-remove=`{target_database}`.`u`")
    assert removed.returncode == 0, removed.stderr
    unknown = ctl(config, "--checkpoint-remove=nope.x")
    assert unknown.returncode == 1 and "no table 'nope.x'" in unknown.stderr
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id FROM `{target_database}`.u ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [5, 6]
        cur.execute(f"SELECT id FROM `{target_database}`.t ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [1]


def test_a_successful_import_leaves_only_a_tombstone_behind(
    tmp_path: Path, target_database: str, target_connection: Any
) -> None:
    """No ledger is left; the checkpoint keeps only the task's tombstone, so that running the
    task again (say after a kill in the moment it finished) adds nothing."""
    dump = tmp_path / "dump"
    _write_small_dump(dump, "src", {"000": "INSERT INTO `t` VALUES (1,'a');\n"})
    schema = f"lt_cp_{uuid.uuid4().hex[:8]}"
    config = write_config(
        tmp_path,
        dump,
        "src",
        target_database,
        checkpoint=tmp_path / "cp.json",
        checkpoint_schema=schema,
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (schema,)
        )
        assert cur.fetchone()[0] == 0
    records = [json.loads(line) for line in (tmp_path / "cp.json").read_text().splitlines()]
    assert [r["type"] for r in records] == ["task", "completed"]
    again = run_lightning(["--config", str(config)])
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{target_database}`.`t`")
        assert cur.fetchone()[0] == 1
