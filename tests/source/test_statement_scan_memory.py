"""Planning keeps memory bounded whatever a statement's size: the statement-end scan reads the
file block by block and carries the lexer's state, instead of growing its buffer until a whole
statement fits (a single 512 MiB INSERT drove planning to about 1 GiB)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.config import config_from_toml
from lightning_core.pipeline.plan import make_plan
from lightning_core.source import sql_reader
from lightning_core.source.sql_grammar import grammar_for
from lightning_core.source.sql_reader import statement_ends

STATEMENT_BYTES = 64 * 1024 * 1024
PEAK_BOUND = 16 * 1024 * 1024
"""A quarter of the statement: what one 4 MiB read block, its copy and the planner need."""


def _write_large_insert(path: Path, size: int) -> int:
    """One INSERT of about ``size`` bytes with strings, escapes, comments and negative numbers
    in it, then a small one; the offset where the large one ends."""
    row = b"(12345,'it''s a \\'quoted\\' string; not an end',-7,\"dq;\",NULL)"
    rows_per_block = 4096
    block = b",".join([row] * rows_per_block)
    with open(path, "wb") as f:
        f.write(b"INSERT INTO `t` /* a comment; */ VALUES ")
        written = 0
        while written < size:
            if written:
                f.write(b",\n")
            f.write(block)
            written += len(block) + 2
        f.write(b";")
        end = f.tell()
        f.write(b"\nINSERT INTO `t` VALUES (1,'a',-1,\"b\",NULL);\n")
    return end


def test_planning_a_64_mib_statement_stays_far_below_its_size(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "db-schema-create.sql").write_text("CREATE DATABASE `db`;\n")
    (dump / "db.t-schema.sql").write_text(
        "CREATE TABLE `t` (a int, b text, c int, d text, e int);\n"
    )
    data = dump / "db.t.000.sql"
    end = _write_large_insert(data, STATEMENT_BYTES)
    config = config_from_toml(
        f'[mydumper]\ndata-source-dir = "{dump}"\nmax-region-size = "1MiB"\n'
        '[tidb]\nsql-mode = "ANSI_QUOTES"\n'
    )
    tracemalloc.start()
    try:
        plan = make_plan(config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (task,) = plan.tables
    # the cut after the large statement: the planner read it through to its end
    assert [(c.offset, c.end) for c in task.chunks] == [(0, end), (end, None)]
    assert peak < PEAK_BOUND, f"planning peaked at {peak / 2**20:.1f} MiB"
    print(f"planning peak: {peak / 2**20:.1f} MiB for a {STATEMENT_BYTES >> 20} MiB statement")


_PIECES = st.sampled_from(
    [
        b"'",
        b'"',
        b"`",
        b"\\",
        b";",
        b"/*",
        b"*/",
        b"*",
        b"/",
        b"-- ",
        b"--",
        b"-",
        b"#",
        b"\n",
        b"a",
        b"1",
        b" ",
        b"''",
        b"x",
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(_PIECES, max_size=40), nbe=st.booleans(), block=st.integers(1, 7))
def test_block_by_block_scan_finds_what_one_match_over_the_whole_file_finds(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes], nbe: bool, block: int
) -> None:
    data = b"".join(pieces)
    mode = "NO_BACKSLASH_ESCAPES" if nbe else ""
    statement = grammar_for(mode).statement
    expected = []
    pos = 0
    while (m := statement.match(data, pos)) is not None:
        pos = m.end()
        expected.append(pos)
    path = tmp_path_factory.mktemp("scan") / "t.sql"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sql_reader, "_SCAN_BLOCK", block)
        assert list(statement_ends(str(path), None, mode)) == expected
