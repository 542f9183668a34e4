"""``tidb-lightning-ctl``: the checkpoint as TiDB Lightning's CSV files, honest messages when
there is no checkpoint, and output piped into ``head`` without a traceback."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

REPO = Path(__file__).resolve().parent.parent
CTL = [
    sys.executable,
    "-c",
    "import sys; from lightning_core.cli import ctl_main; sys.exit(ctl_main())",
]


@pytest.fixture
def target(fresh_database: str, target_connection: Any) -> Iterator[str]:
    """A target database; the tidb backend's ledger schema of the task is dropped after."""
    yield fresh_database
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{fresh_database}_cp`")


def _config(tmp_path: Path, target: str) -> Path:
    """``src`` (two files, the second repeating the first's key) routed to ``target``."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src-schema-create.sql").write_text("CREATE DATABASE `src`;\n")
    (dump / "src.t-schema.sql").write_text(
        "CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(20), PRIMARY KEY (`id`));\n"
    )
    (dump / "src.t.000.sql").write_text("INSERT INTO `t` VALUES (1,'a'),(2,'b');\n")
    (dump / "src.t.001.sql").write_text("INSERT INTO `t` VALUES (1,'x');\n")
    config = tmp_path / "tidb-lightning.toml"
    routes = f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{target}"\n'
    config.write_text(
        task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            checkpoint_schema=f"{target}_cp",
            on_duplicate="error",
            region_concurrency=1,
            extra=routes,
        )
    )
    return config


def ctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTL, "--config", str(config), *args], capture_output=True, text=True, timeout=120
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_checkpoint_dump_writes_tables_engines_and_chunks_csv(tmp_path: Path, target: str) -> None:
    config = _config(tmp_path, target)
    assert run_lightning(["--config", str(config)]).returncode == 1  # the repeated key
    out = tmp_path / "dumped"
    dumped = ctl(config, f"--checkpoint-dump={out}")
    assert dumped.returncode == 0, dumped.stderr
    assert sorted(os.listdir(out)) == ["chunks.csv", "engines.csv", "tables.csv"]
    (table,) = _rows(out / "tables.csv")
    assert table["table_name"] == f"`{target}`.`t`"
    assert (table["status"], table["error"]) == ("pending", "")  # a data error: fix and resume
    assert table["rows_before"] == "0" and int(table["table_id"]) > 0
    chunks = {row["key"].rsplit("/", 1)[-1]: row for row in _rows(out / "chunks.csv")}
    first = chunks["src.t.000.sql:0"]
    assert (first["done"], first["rows"], first["max_row_id"]) == ("1", "2", "0")
    assert int(first["bytes"]) == len("INSERT INTO `t` VALUES (1,'a'),(2,'b');\n")
    with open(out / "engines.csv", newline="") as f:  # the tidb backend has no engines
        assert f.read() == "engine,status\r\n"
    as_json = ctl(config, "--checkpoint-dump")  # without a directory: JSON, as before
    assert as_json.returncode == 0 and '"src.t.000.sql:0"' not in as_json.stdout
    assert f"{tmp_path}/dump/src.t.000.sql:0" in as_json.stdout


def test_without_a_checkpoint_nothing_is_dumped_or_claimed_removed(
    tmp_path: Path, target: str
) -> None:
    config = _config(tmp_path, target)
    checkpoint = tmp_path / "cp.json"
    out = tmp_path / "dumped"
    for args in ([f"--checkpoint-dump={out}"], ["--checkpoint-dump"]):
        result = ctl(config, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"no checkpoint in {checkpoint}; nothing to dump\n"
    assert not out.exists()
    for which in ("all", f"`{target}`.`t`"):
        result = ctl(config, f"--checkpoint-remove={which}")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"no checkpoint in {checkpoint}; nothing removed\n"
    assert not checkpoint.exists()  # no stray record that would make the store unreadable
    piped = _into_closed_pipe([*CTL, "--config", str(config), "--checkpoint-dump"])
    assert (piped.returncode, piped.stderr) == (141, "")


def test_the_mysql_driver_leaves_no_schema_when_nothing_was_removed(
    tmp_path: Path, target: str, target_connection: Any
) -> None:
    config = _config(tmp_path, target)
    file_driver = f'driver = "file"\ndsn = "{tmp_path / "cp.json"}"'
    config.write_text(config.read_text().replace(file_driver, 'driver = "mysql"\ndsn = ""'))
    for which in ("all", f"`{target}`.`t`"):
        result = ctl(config, f"--checkpoint-remove={which}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"no checkpoint in {target}_cp.checkpoint_log on ")
        with target_connection.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (f"{target}_cp",))
            assert cur.fetchall() == ()


def test_a_damaged_checkpoint_can_still_be_removed(tmp_path: Path, target: str) -> None:
    config = _config(tmp_path, target)
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text('not json\n{"type": "task"}\n')
    assert "is damaged" in ctl(config, "--checkpoint-dump").stderr
    removed = ctl(config, "--checkpoint-remove=all")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == f"checkpoints removed from {checkpoint}\n"
    assert not checkpoint.exists()


@pytest.mark.parametrize(
    "command",
    [
        [*lightning_command(), "plugins"],
        [*lightning_command(), "plan", "--backend", "tidb", "-d", str(REPO / "examples" / "dump")],
    ],
    ids=["plugins", "plan"],
)
def test_output_into_a_closed_pipe_ends_quietly(command: list[str]) -> None:
    result = _into_closed_pipe(command)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""


def _into_closed_pipe(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader is gone, as `| head` leaves it once it has its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)
