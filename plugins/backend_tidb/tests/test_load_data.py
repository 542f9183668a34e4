"""The LOAD DATA LOCAL INFILE path (CSV sources) against the INSERT path, per on-duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightning_backend_tidb.load_data import memory_file, tsv

from lightning_core.testing.crash import KillPoint, kill_and_resume
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config


def test_values_are_written_in_load_datas_escaping() -> None:
    from decimal import Decimal

    rows = [(1, b"a\tb\\c\nd\x00", None, "\u00e9", Decimal("1.50"))]
    assert tsv(rows) == b"1\ta\\tb\\\\c\\nd\\0\t\\N\t\xc3\xa9\t1.50\n"
    assert tsv([(1.5,)]) is None  # a float goes by INSERT


def test_a_memory_file_the_server_never_reads_does_not_hang() -> None:
    with memory_file(b"x" * 1_000_000) as path:
        assert path.startswith("/dev/fd/")
    with memory_file(b"abc") as path, open(path, "rb") as f:
        assert f.read() == b"abc"


@pytest.fixture
def names(database_pair: tuple[str, str]) -> tuple[str, str]:
    """A target database and a checkpoint schema, both dropped after the test."""
    return database_pair


NULL = "\\N"


def _rows(first: int, count: int) -> str:
    """CSV rows: an escaped tab, a quoted line break, a NULL every ninth row."""
    return "".join(
        f'{i},"v\\t{i}","line\nbreak",{i % 9 or NULL}\n' for i in range(first, first + count)
    )


def _task(
    tmp_path: Path,
    names: tuple[str, str],
    *,
    on_duplicate: str,
    load_data: str,
    files: dict[str, str],
    region_concurrency: int = 2,
) -> Path:
    db, checkpoint_schema = names
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;\n")
    (dump / f"{db}.t-schema.sql").write_text(
        "CREATE TABLE `t` (id INT PRIMARY KEY, v VARCHAR(20), note TEXT, n INT, KEY (n));\n"
    )
    for name, text in files.items():
        (dump / f"{db}.t.{name}.csv").write_text("id,v,note,n\n" + text)
    config = tmp_path / "task.toml"
    config.write_text(
        task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            checkpoint_schema=checkpoint_schema,
            on_duplicate=on_duplicate,
            region_concurrency=region_concurrency,
            extra=f'load-data = "{load_data}"\n',
        )
    )
    return config


def _content(conn: Any, db: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, v, note, n FROM `{db}`.t ORDER BY id")
        return list(cur.fetchall())


def _loads(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Com_load'")
        return int(cur.fetchone()[1])


EXPECTED = [(i, f"v\t{i}", "line\nbreak", (i % 9) or None) for i in range(1, 101)]


@pytest.mark.parametrize("on_duplicate", ["replace", "ignore", "error"])
@pytest.mark.parametrize("load_data", ["auto", "off"])
def test_both_paths_write_the_same_rows(
    tmp_path: Path,
    names: tuple[str, str],
    target_connection: Any,
    on_duplicate: str,
    load_data: str,
) -> None:
    files = {"000": _rows(1, 50), "001": _rows(51, 50)}
    config = _task(tmp_path, names, on_duplicate=on_duplicate, load_data=load_data, files=files)
    before = _loads(target_connection)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert _content(target_connection, names[0]) == EXPECTED
    if load_data == "auto":
        assert _loads(target_connection) - before >= 2  # one LOAD DATA per file at least


@pytest.mark.parametrize("on_duplicate", ["replace", "ignore"])
def test_duplicates_in_the_source_follow_on_duplicate(
    tmp_path: Path, names: tuple[str, str], target_connection: Any, on_duplicate: str
) -> None:
    files = {"000": _rows(1, 100) + '5,"again","x",1\n'}
    config = _task(tmp_path, names, on_duplicate=on_duplicate, load_data="auto", files=files)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    row5 = _content(target_connection, names[0])[4]
    assert row5 == ((5, "again", "x", 1) if on_duplicate == "replace" else EXPECTED[4])


def test_a_duplicate_under_error_stops_naming_the_row(
    tmp_path: Path, names: tuple[str, str], target_connection: Any
) -> None:
    bad = _rows(51, 10) + '7,"dup","x",1\n'
    files = {"000": _rows(1, 50), "001": bad}
    config = _task(  # one worker: file 000 is in first
        tmp_path, names, on_duplicate="error", load_data="auto", files=files, region_concurrency=1
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    offset = len("id,v,note,n\n") + bad.index('7,"dup"')
    assert f"{names[0]}.t.001.csv:{offset}" in result.stderr, result.stderr
    assert "Duplicate entry '7'" in result.stderr
    ids = [row[0] for row in _content(target_connection, names[0])]
    assert 51 not in ids  # the bad batch was rolled back whole


@pytest.mark.slow
@pytest.mark.parametrize("point", ["tidb:committed", "chunk:done"])
def test_a_kill_then_resume_gives_exact_content(
    tmp_path: Path, names: tuple[str, str], target_connection: Any, point: str
) -> None:
    files = {f"{n:03d}": _rows(1 + 20 * n, 20) for n in range(5)}
    config = _task(tmp_path, names, on_duplicate="error", load_data="auto", files=files)
    kill_and_resume([*lightning_command(), "--config", str(config)], KillPoint(point, 3))
    assert _content(target_connection, names[0]) == EXPECTED


def test_backslashes_survive_under_no_backslash_escapes(
    tmp_path: Path, names: tuple[str, str], target_connection: Any
) -> None:
    config = _task(
        tmp_path, names, on_duplicate="error", load_data="auto", files={"000": _rows(1, 100)}
    )
    text = config.read_text().replace(
        "STRICT_TRANS_TABLES,", "NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES,"
    )
    assert "NO_BACKSLASH_ESCAPES" in text
    config.write_text(text)
    before = _loads(target_connection)
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert _loads(target_connection) > before
    assert _content(target_connection, names[0]) == EXPECTED  # "v\t1" is a tab, as on INSERT
