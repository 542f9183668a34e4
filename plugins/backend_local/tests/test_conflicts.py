"""``[conflict] strategy = "replace" | "ignore"`` in the local backend: a dump with duplicate
primary keys and duplicate unique-index values across two files, imported into the embedded
store, exported and compared with MariaDB's REPLACE / INSERT IGNORE of the same dump; the
report of dropped rows; the threshold; the legacy key; a chain of conflicts; the crash
harness."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_local.store import EmbeddedStore

from lightning_core import ConfigError, kv_conflict_strategy
from lightning_core.config import config_from_toml
from lightning_core.testing.crash import (
    KillPoint,
    Run,
    count_points,
    kill_and_resume,
    run_once,
    spread,
)
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

SCHEMA = "CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(10) UNIQUE, v INT, KEY kv (v));\n"
FIRST = [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40)]
SECOND = [(1, "x", 11), (5, "b", 50), (6, "y", 60), (3, "b", 33)]
#: ``replace``: a row is kept when no later row shares its id or u (what REPLACE leaves).
REPLACED = [(1, "x", 11), (3, "b", 33), (4, "d", 40), (6, "y", 60)]
#: ``ignore``: a row is kept when no earlier row shares its id or u (no chain here, so what
#: INSERT IGNORE leaves too).
IGNORED = [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40), (6, "y", 60)]
FILES = ("d.t.000000000.sql", "d.t.000000001.sql")


def make_dump(root: Path, first: list[Any], second: list[Any], schema: str = SCHEMA) -> Path:
    """Schema files and two data files of table ``d.t``, one row per line."""
    dump = root / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text(schema)
    for name, rows in zip(FILES, (first, second), strict=True):
        write_sql_dump(str(dump / name), "t", None, rows, rows_per_statement=2)
    return dump


def where(dump: Path, file: int, row: tuple[Any, ...]) -> str:
    """``file:offset`` of ``row`` (found by its id, unique within a file) in data file
    ``file`` of ``dump``."""
    path = dump / FILES[file]
    line = b"\n(%d," % row[0]
    return f"{path}:{path.read_bytes().index(line) + 1}"


def config_file(
    tmp_path: Path, dump: Path, conflict: str, importer: str = "", mydumper: str = "", **kw: Any
) -> Path:
    """A local-backend task with the ``[conflict]`` keys ``conflict``."""
    text = task_config(dump, backend="local", checkpoint=tmp_path / "cp.json", **kw)
    text = text.replace("[mydumper]\n", f"[mydumper]\n{mydumper}").replace(
        "[tikv-importer]\n",
        f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / "sorted"}"\n{importer}',
    )
    text += f"[conflict]\n{conflict}" if conflict else ""
    text += (
        f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n'
        f'conflict-dir = "{tmp_path / "conflicts"}"\n'
    )
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(text)
    return path


def ctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from lightning_core.cli import ctl_main; "
         "sys.exit(ctl_main())", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def report(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "conflicts" / "d.t.csv", newline="") as file:
        return list(csv.DictReader(file))


def error_line(run: Any) -> str:
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    return str(line)


def mariadb_rows(tmp_path: Path, dump: Path, database: str, on_duplicate: str, conn: Any) -> Any:
    """The rows of ``t`` after the tidb backend loads ``dump`` into ``database`` with
    ``on-duplicate``: MariaDB's own REPLACE / INSERT IGNORE."""
    config = tmp_path / f"{database}.toml"
    route = f'[[routes]]\nschema-pattern = "d"\ntarget-schema = "{database}"\n'
    config.write_text(
        task_config(  # one worker: the statements run in source order
            dump,
            on_duplicate=on_duplicate,
            checkpoint=tmp_path / f"{database}.json",
            checkpoint_schema=f"{database}_cp",  # its ledger: no other test's to drop
            region_concurrency=1,
            extra=route,
        )
    )
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, u, v FROM `{database}`.`t` ORDER BY id")
        return [tuple(row) for row in cur.fetchall()]


@pytest.mark.parametrize(
    ("strategy", "expected", "dropped"),
    [
        ("replace", REPLACED, [(0, FIRST[0]), (0, FIRST[1]), (0, FIRST[2]), (1, SECOND[1])]),
        ("ignore", IGNORED, [(1, SECOND[0]), (1, SECOND[1]), (1, SECOND[3])]),
    ],
)
def test_the_strategy_keeps_what_mariadb_keeps_and_the_checksum_verifies(
    tmp_path: Path,
    database_pair: tuple[str, str],
    target_connection: Any,
    strategy: str,
    expected: list[tuple[Any, ...]],
    dropped: list[tuple[int, tuple[Any, ...]]],
) -> None:
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(tmp_path, dump, f'strategy = "{strategy}"\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "`d`.`t`: checksum pass" in output, output  # the table is not failed
    assert f"dropped {len(dropped)} rows" in output and "d.t.csv" in output, output
    listed = report(tmp_path)
    assert sorted({r["dropped"] for r in listed}) == sorted(where(dump, *d) for d in dropped)
    assert {r["index"] for r in listed} == {"PRIMARY", "u"}
    kept = {r["kept"] for r in listed}
    assert all(r["key"].startswith("74") for r in listed) and kept  # t{table id}...
    exported = tmp_path / "export"
    done = ctl(config, "--export", str(exported))
    assert done.returncode == 0, done.stderr
    direct, through_store = database_pair
    assert mariadb_rows(tmp_path, dump, direct, strategy, target_connection) == expected
    assert mariadb_rows(tmp_path, exported, through_store, "error", target_connection) == expected
    assert (tmp_path / "conflicts" / "d.t.csv").exists()  # kept after success
    assert not (tmp_path / "sorted").exists()


@pytest.mark.parametrize(("strategy", "expected"), [("replace", REPLACED), ("ignore", IGNORED)])
def test_record_keys_two_data_engines_hold_are_resolved_too(
    tmp_path: Path, strategy: str, expected: list[tuple[Any, ...]]
) -> None:
    """Each file in a data engine of its own (a tiny batch-size): the ids both hold are found
    at the index engine's close, the losers' pairs left out, the winners' records written
    again."""
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(
        tmp_path, dump, f'strategy = "{strategy}"\n', mydumper="batch-size = 200\n"
    )
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "engine `d`.`t`:1 " in output and "`d`.`t`: checksum pass" in output, output
    exported = tmp_path / "export"
    assert ctl(config, "--export", str(exported)).returncode == 0
    (data,) = exported.glob("d.t.*.sql")
    rows = [line.rstrip(",;") for line in data.read_text().splitlines() if line.startswith("(")]
    assert rows == [f"({i},'{u}',{v})" for i, u, v in expected]
    assert len(report(tmp_path)) == 4 if strategy == "replace" else 3


@pytest.mark.parametrize("strategy", ["replace", "ignore"])
def test_under_a_disk_quota_the_ranges_cut_at_import_give_the_same_result(
    tmp_path: Path, strategy: str
) -> None:
    """A quota (here never reached) defers cutting the ranges to the import: the same rows
    are kept and dropped."""
    results = []
    for importer in ("", 'disk-quota = "1GiB"\n'):
        root = tmp_path / str(len(results))
        root.mkdir()
        dump = make_dump(root, FIRST, SECOND)
        config = config_file(root, dump, f'strategy = "{strategy}"\n', importer=importer)
        done = run_lightning(["--config", str(config)])
        assert done.returncode == 0, done.stderr
        assert "checksum pass" in done.stdout + done.stderr
        store = EmbeddedStore.open(str(root / "store"))
        try:
            pairs = list(store.scan(b""))
        finally:
            store.close()
        dropped = sorted(r["dropped"].replace(str(root), "") for r in report(root))
        results.append((pairs, dropped))
    assert results[0] == results[1] and results[0][1]


def test_a_chain_of_conflicts_under_ignore_keeps_only_rows_no_earlier_row_collides_with(
    tmp_path: Path,
) -> None:
    """Row 2 collides with row 1 on u and with row 3 on id: INSERT IGNORE would keep rows 1
    and 3 (row 2 is skipped, so row 3 collides with nothing kept); this keeps row 1 only."""
    dump = make_dump(tmp_path, [(1, "a", 1), (2, "a", 2)], [(2, "b", 3)])
    config = config_file(tmp_path, dump, 'strategy = "ignore"\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    exported = tmp_path / "export"
    assert ctl(config, "--export", str(exported)).returncode == 0
    (data,) = exported.glob("d.t.*.sql")
    assert "(1,'a',1)" in data.read_text() and "(2," not in data.read_text()
    assert {r["dropped"] for r in report(tmp_path)} == {
        where(dump, 0, (2, "a", 2)),
        where(dump, 1, (2, "b", 3)),
    }


def test_a_table_without_secondary_indexes_resolves_its_primary_key(tmp_path: Path) -> None:
    dump = make_dump(
        tmp_path,
        [(1, "a"), (2, "b")],
        [(1, "c")],
        schema="CREATE TABLE t (id INT PRIMARY KEY, u TEXT);\n",
    )
    config = config_file(tmp_path, dump, "", importer='duplicate-resolution = "remove"\n')
    done = run_lightning(["--config", str(config)])  # the deprecated key: strategy replace
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr
    (row,) = report(tmp_path)
    assert row["kept"] == where(dump, 1, (1, "c")) and row["dropped"] == where(dump, 0, (1, "a"))


def test_more_conflicts_than_the_threshold_stop_the_table(tmp_path: Path) -> None:
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(tmp_path, dump, 'strategy = "replace"\nthreshold = 3\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    line = error_line(done)
    assert "4 rows conflict" in line and "threshold = 3" in line, line
    assert str(tmp_path / "conflicts" / "d.t.csv") in line and len(report(tmp_path)) == 4


def test_max_record_rows_bounds_the_report_but_not_the_count(tmp_path: Path) -> None:
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(tmp_path, dump, 'strategy = "replace"\nmax-record-rows = 2\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert len(report(tmp_path)) == 2
    log = done.stdout + done.stderr
    assert "dropped 4 rows (4 conflicts)" in log, log
    assert "the first 2 ([conflict] max-record-rows) are listed" in log, log


@pytest.mark.parametrize(("before", "after"), [("replace", "error"), ("", "ignore")])
def test_a_resume_with_another_strategy_is_refused(tmp_path: Path, before: str, after: str) -> None:
    """The strategy is part of the task's identity; ``error`` is what a checkpoint without it
    (written before it was) means."""
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(tmp_path, dump, f'strategy = "{before}"\n')
    command = [*lightning_command(), "--config", str(config)]
    assert run_once(command, kill_at=KillPoint("chunk:done", 1)).killed
    config.write_text(config.read_text().replace(f'strategy = "{before}"', f'strategy = "{after}"'))
    refused = run_lightning(["--config", str(config)])
    assert refused.returncode == 1
    line = error_line(refused)
    assert "conflict.strategy changed" in line and "--checkpoint-remove=all" in line, line


def test_the_strategy_and_the_deprecated_key_together_are_refused(tmp_path: Path) -> None:
    dump = make_dump(tmp_path, FIRST, SECOND)
    config = config_file(
        tmp_path, dump, 'strategy = "replace"\n', importer='duplicate-resolution = "remove"\n'
    )
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    line = error_line(done)
    assert "duplicate-resolution" in line and "keep only [conflict] strategy" in line, line


@pytest.mark.slow
def test_kills_during_resolution_resume_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """The crash harness with strategy replace: kills during both engine closes, the index
    import and the deletes end with the store and the report of an uninterrupted run."""
    dump = make_dump(tmp_path, FIRST * 1, SECOND)
    config = config_file(
        tmp_path, dump, 'strategy = "replace"\n', importer="local-writer-mem-cache-size = 1\n"
    )
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        for leftover in ("cp.json", "store", "sorted", "conflicts"):
            path = tmp_path / leftover
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def content() -> tuple[list[tuple[bytes, bytes]], list[dict[str, str]]]:
        store = EmbeddedStore.open(str(tmp_path / "store"))
        try:
            return list(store.scan(b"")), report(tmp_path)
        finally:
            store.close()

    counts = count_points(command)
    expected = content()
    assert expected[0] and len(expected[1]) == 4
    wanted = {"local:rows-mapped", "local:resolved", "local:closed", "local:ingested"}
    assert wanted | {"local:deleted", "engine:closed"} <= set(counts), counts

    def clean(run: Run) -> None:
        assert "internal error" not in run.stderr, run.stderr

    points = set(spread(counts, 14))
    points |= {KillPoint(name, hit) for name in wanted for hit in range(1, counts[name] + 1)}
    points.add(KillPoint("local:deleted", 1))
    assert len(points) >= 10
    for point in sorted(points, key=str):
        reset()
        kill_and_resume(command, point, check_resume=clean)
        assert content() == expected, f"killed at {point}"


@pytest.mark.parametrize(
    ("keys", "strategy"),
    [
        ("", "error"),
        ('[conflict]\nstrategy = "ignore"', "ignore"),
        ('[tikv-importer]\nduplicate-resolution = "none"', "error"),
        ('[tikv-importer]\nduplicate-resolution = "remove"', "replace"),
        ('[tikv-importer]\nduplicate-resolution = "replace"', "replace"),
        ('[tikv-importer]\nduplicate-resolution = "error"', "error"),
    ],
)
def test_the_strategy_of_a_kv_backend(keys: str, strategy: str) -> None:
    assert kv_conflict_strategy(config_from_toml(keys)) == strategy


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ('[tikv-importer]\nduplicate-resolution = "record"', '"record" left the table'),
        (
            '[tikv-importer]\nduplicate-resolution = "error"\n[conflict]\nstrategy = "error"',
            "are both set",
        ),
    ],
)
def test_a_config_with_conflicting_or_unknown_keys_is_refused(keys: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        config_from_toml(keys, "t.toml")
