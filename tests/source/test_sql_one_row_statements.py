"""Dumps of one row per statement (mysqldump --skip-extended-insert): rows travel in batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk
from lightning_core.source.sql_reader import BATCH_ROWS, JOIN_BELOW_ROWS, SqlReader
from tests.source.test_sql_reader import read_batches, source_file, sql_file

__all__ = ["sql_file"]  # the fixture

SqlFile = Callable[[bytes], Path]


def _one_row_dump(path: Path, rows: int, *, head: str = "INSERT INTO `t` VALUES ") -> bytes:
    data = "".join(f"{head}({i},'v{i}');\n" for i in range(rows)).encode()
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_one_row_statements_share_batches_of_batch_rows(tmp_path: Path, raw_sql: bool) -> None:
    path = tmp_path / "db.t.000.sql"
    rows = 2 * BATCH_ROWS + 5
    data = _one_row_dump(path, rows)
    batches = read_batches(path, raw_sql=raw_sql)
    assert sum(b.count for b in batches) == rows
    # a read block cuts a run, and the pieces are joined again: far fewer batches than rows
    assert len(batches) <= 3 * (data.count(b"\n") * 40 // (256 * 1024) + 3)
    assert max(b.count for b in batches) == BATCH_ROWS
    every = [o for b in batches for o in b.offsets]
    assert every == [data.index(f"({i},'v{i}')".encode()) for i in range(rows)]
    assert all(not b.end.mid_statement for b in batches)  # each ends after a ';'
    assert batches[-1].end.rows == rows


def test_resuming_at_a_joined_batch_end_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "db.t.000.sql"
    rows = BATCH_ROWS + 100
    _one_row_dump(path, rows)
    first = read_batches(path)[0]
    rest = read_batches(path, start=first.end)
    assert [r for b in rest for r in b.rows] == [
        (i, f"v{i}".encode()) for i in range(first.count, rows)
    ]


def test_a_different_column_list_starts_a_new_batch(sql_file: SqlFile) -> None:
    data = (
        b"INSERT INTO `t` VALUES (1,'a');\nINSERT INTO `t` VALUES (2,'b');\n"
        b"INSERT INTO `t` (`id`,`v`) VALUES (3,'c');\nINSERT INTO `t` (`id`,`v`) VALUES (4,'d');\n"
        b"INSERT INTO `t` VALUES (5,'e');\n"
    )
    batches = read_batches(sql_file(data))
    assert [b.rows for b in batches] == [
        [(1, b"a"), (2, b"b")],
        [(3, b"c"), (4, b"d")],
        [(5, b"e")],
    ]
    assert [b.columns for b in batches] == [None, ("id", "v"), None]


def test_long_statements_stay_batches_of_their_own(sql_file: SqlFile) -> None:
    row = ",".join(f"({i})" for i in range(JOIN_BELOW_ROWS))
    data = f"INSERT INTO t VALUES {row};\nINSERT INTO t VALUES {row};\n".encode()
    assert [b.count for b in read_batches(sql_file(data))] == [JOIN_BELOW_ROWS] * 2


def test_a_bad_statement_after_joined_ones_delivers_the_rows_before_it(
    sql_file: SqlFile,
) -> None:
    data = b"INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3,;\n"
    reader = SqlReader(
        chunk=Chunk(file=source_file(sql_file(data)), index=0),
        mydumper=MydumperConfig(),
        sql_mode="",
    )
    batches = reader.batches()
    assert next(batches).rows == [(1,), (2,)]
    with pytest.raises(SourceError) as info:
        next(batches)
    assert info.value.offset == data.index(b";\n", data.index(b"(3,"))  # where the value is due
    reader.close()
