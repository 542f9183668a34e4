"""A table's chunks are written in the dump's key order: file sequence (numeric), then offset."""

from __future__ import annotations

from pathlib import Path

from lightning_core.config import config_from_toml
from lightning_core.pipeline.plan import make_plan
from lightning_core.testing.sqldump import write_sql_dump


def test_chunks_follow_the_file_sequence_and_offsets_across_engines(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "db-schema-create.sql").write_text("CREATE DATABASE `db`;\n")
    (dump / "db.t-schema.sql").write_text("CREATE TABLE `t` (id INT PRIMARY KEY, v TEXT);\n")
    # mydumper numbers files by key range; 10 sorts after 9 by number, not by text
    for number in (1, 2, 9, 10):
        rows = [(number * 1000 + i, b"x" * 200) for i in range(300)]
        write_sql_dump(str(dump / f"db.t.{number}.sql"), "t", None, rows, rows_per_statement=20)
    config = config_from_toml(
        f'[mydumper]\ndata-source-dir = "{dump}"\nmax-region-size = "16KiB"\n'
        'batch-size = "40KiB"\n[tikv-importer]\nbackend = "tidb"\n'
    )
    (table,) = make_plan(config).tables
    assert len(table.engines) > 1 and len(table.chunks) > 8  # several engines, several chunks
    scheduled = [c for engine in table.engines for c in engine.chunks]  # the scheduler's order
    keys = [(int(Path(c.file.path).name.split(".")[2]), c.offset) for c in scheduled]
    assert keys == sorted(keys)
    assert keys[0][0] == 1 and keys[-1][0] == 10
