"""Faults of the local backend's engines: a truncated run file, a merged database the walk
cannot read and a full sorted-kv-dir each stop with one line naming the file and what to do."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_local import engine as engine_module
from lightning_backend_local.engine import LocalEngine, RangeLimits, RunWriter
from lightning_backend_local.sst import write_sst

from lightning_core import Engine, TargetError, record_prefix
from lightning_core.testing.crash import KillPoint, run_once
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

ENGINE = Engine("`db`.`t`", 0)
LIMITS = RangeLimits(size=1 << 30, keys=1 << 30)


def _key(handle: int) -> bytes:
    return record_prefix(7) + (handle + (1 << 63)).to_bytes(8, "big")


def _write_run(root: Path, rows: int) -> Path:
    writer = RunWriter(str(root), ENGINE, "/dump/db.t.000.sql:0")
    for handle in range(rows):
        writer.add([(_key(handle), b"v" * 100)], [handle], [handle * 120])
    writer.flush(0)
    (run,) = (root / str(ENGINE.uuid) / "runs").glob("*.sst")
    return run


def test_a_truncated_run_file_stops_the_import_in_one_line(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\n")
    rows = [(i, f"row {i}".encode()) for i in range(500)]
    write_sql_dump(str(dump / "d.t.000000000.sql"), "t", None, rows)
    text = task_config(dump, backend="local", checkpoint=tmp_path / "cp.json")
    text = text.replace("[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{tmp_path}/kv"\n')
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(text + f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n')
    command = [*lightning_command(), "--config", str(config)]
    assert run_once(command, kill_at=KillPoint("chunk:done", 1)).killed  # runs, not closed
    data = Engine("`d`.`t`", 0)
    (run,) = (tmp_path / "kv").glob(f"*/{data.uuid}/runs/*.sst")
    os.truncate(run, run.stat().st_size // 2)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert f"engine {data.tag}" in line and str(run) in line, line
    assert "corrupted or truncated" in line and "--checkpoint-error-destroy=`d`.`t`" in line


def test_a_merged_database_the_walk_cannot_read_is_named(tmp_path: Path) -> None:
    run = _write_run(tmp_path, 2000)
    with open(run, "r+b") as file:  # a block in the middle: ingest reads only the footer
        file.seek(run.stat().st_size // 3)
        file.write(b"\0" * 300)
    with pytest.raises(TargetError) as raised:
        LocalEngine(str(tmp_path), ENGINE).close(LIMITS)
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path / str(ENGINE.uuid) / "merged") in message
    assert "corrupted" in message and "--checkpoint-error-destroy=`db`.`t`" in message


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        Exception("IO error: No space left on device: While appending to file"),  # RocksDB
    ],
)
def test_a_full_disk_while_writing_a_run_or_a_range_names_sorted_kv_dir(
    tmp_path: Path, monkeypatch: Any, failure: Exception
) -> None:
    root = tmp_path / "task"
    _write_run(root, 10)  # a run written before the disk filled up

    def full(path: str, pairs: Any) -> int:
        raise failure

    monkeypatch.setattr(engine_module, "write_sst", full)
    writer = RunWriter(str(root), ENGINE, "/dump/db.t.001.sql:0")
    writer.add([(_key(99), b"v")], [0], [0])
    with pytest.raises(TargetError) as in_run:
        writer.flush(0)
    with pytest.raises(TargetError) as in_range:
        LocalEngine(str(root), ENGINE).close(LIMITS)
    for raised, what in ((in_run, "a run of engine"), (in_range, "the ranges of engine")):
        message = str(raised.value)
        assert "\n" not in message and f"sorted-kv-dir {tmp_path} is full" in message, message
        assert f"{what} {ENGINE.tag}" in message and "MiB free" in message, message


def test_other_write_errors_are_not_called_a_full_disk(tmp_path: Path, monkeypatch: Any) -> None:
    def denied(path: str, pairs: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(engine_module, "write_sst", denied)
    writer = RunWriter(str(tmp_path), ENGINE, "/dump/db.t.000.sql:0")
    writer.add([(_key(1), b"v")], [0], [0])
    with pytest.raises(PermissionError):
        writer.flush(0)


def test_a_failed_sst_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    def pairs() -> Any:
        yield _key(1), b"v"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_sst(str(tmp_path / "a.sst"), pairs())
    assert list(tmp_path.iterdir()) == []
