"""Tests of chunk splitting."""

from __future__ import annotations

import gzip
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow
import pyarrow.parquet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.interfaces import Chunk, FileKind, SourceFile
from lightning_core.source.chunks import csv_cuts, row_bound, split_chunks, sql_cuts
from lightning_core.source.discovery import TablePlan


def data_file(path: Path, fmt: str, compression: str | None = None, key: str = "") -> SourceFile:
    return SourceFile(
        path=str(path),
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format=fmt,
        compression=compression,
        sort_key=key,
        size=path.stat().st_size,
    )


def plan(*files: SourceFile) -> TablePlan:
    return TablePlan(
        target_schema="db",
        target_table="t",
        sources=(("db", "t"),),
        schema_file=None,
        data_files=files,
    )


def config(max_region_size: int, strict: bool = True, **csv: object) -> MydumperConfig:
    return MydumperConfig(
        max_region_size=max_region_size,
        strict_format=strict,
        csv=CsvConfig(**csv),  # type: ignore[arg-type]
    )


def fake_header(path: str, compression: str | None, mydumper: MydumperConfig) -> tuple[str, ...]:
    with open(path, "rb") as stream:
        return tuple(stream.readline().decode().strip().split(mydumper.csv.separator))


def fake_statement_ends(path: str, compression: str | None, sql_mode: str) -> Iterator[int]:
    # Good enough for test files whose strings hold no ';'.
    data = Path(path).read_bytes()
    for match in re.finditer(rb";", data):
        yield match.end()


def byte_ranges(chunks: list[Chunk], size: int) -> list[tuple[int, int]]:
    return [(c.offset, size if c.end is None else c.end) for c in chunks]


# --- CSV ---------------------------------------------------------------------------------------


def test_strict_csv_is_cut_after_terminators(tmp_path: Path) -> None:
    path = tmp_path / "db.t.1.csv"
    lines = [b"a,b\n"] + [f"{i},{'x' * (i % 7)}\n".encode() for i in range(200)]
    path.write_bytes(b"".join(lines))
    data = path.read_bytes()
    chunks = split_chunks(plan(data_file(path, "csv")), config(100), read_header=fake_header)
    assert len(chunks) > 5
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].offset == 0 and chunks[0].columns is None
    assert all(c.columns == ("a", "b") for c in chunks[1:])
    assert chunks[-1].end is None
    for previous, chunk in itertools.pairwise(chunks):
        assert previous.end == chunk.offset
        assert data[chunk.offset - 1 : chunk.offset] == b"\n"
        assert chunk.offset - previous.offset >= 100
    assert [c.row_id_base for c in chunks] == [c.offset for c in chunks]


def test_csv_without_strict_format_is_one_chunk(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"a\n" * 1000)
    chunks = split_chunks(plan(data_file(path, "csv")), config(10, strict=False))
    assert [(c.offset, c.end) for c in chunks] == [(0, None)]


def test_csv_small_file_is_one_chunk(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"a\n" * 10)
    chunks = split_chunks(plan(data_file(path, "csv")), config(20))
    assert [(c.offset, c.end) for c in chunks] == [(0, None)]


def test_csv_custom_terminator_and_no_header(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"1,2|\n3,4|\n" * 30)

    def no_header(*args: object) -> tuple[str, ...]:
        raise AssertionError("read_header must not be called without a header")

    cfg = config(25, terminator="|\n", header=False)
    chunks = split_chunks(plan(data_file(path, "csv")), cfg, read_header=no_header)
    assert len(chunks) > 1
    data = path.read_bytes()
    for chunk in chunks[1:]:
        assert data[chunk.offset - 2 : chunk.offset] == b"|\n"
        assert chunk.columns is None


def test_csv_header_not_matched_to_schema_gives_no_columns(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"a\n" + b"1\n" * 100)
    cfg = config(30, header_schema_match=False)
    chunks = split_chunks(plan(data_file(path, "csv")), cfg, read_header=fake_header)
    assert len(chunks) > 1
    assert all(c.columns is None for c in chunks)


def test_csv_without_a_terminator_after_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"0123456789" * 10 + b"\n" + b"tail-without-newline")
    assert csv_cuts(str(path), path.stat().st_size, 20, b"\n") == [101]
    path.write_bytes(b"0123456789" * 10 + b"\n")
    assert csv_cuts(str(path), path.stat().st_size, 20, b"\n") == []


def test_csv_terminator_straddling_search_blocks(tmp_path: Path) -> None:
    from lightning_core.source import chunks as module

    path = tmp_path / "db.t.csv"
    body = b"x" * (module._SEARCH_BLOCK - 1) + b"\r\n" + b"y" * 10 + b"\r\n" + b"z"
    path.write_bytes(body)
    assert csv_cuts(str(path), len(body), 1, b"\r\n") == [module._SEARCH_BLOCK + 1, len(body) - 1]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    limit=st.integers(min_value=1, max_value=300),
    trailing=st.booleans(),
)
def test_csv_cuts_property(tmp_path: Path, lines: list[bytes], limit: int, trailing: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    path = tmp_path / "prop.csv"
    path.write_bytes(data)
    cuts = csv_cuts(str(path), len(data), limit, b"\n")
    # Every cut lies right after a terminator, strictly inside the file, increasing.
    assert all(0 < cut < len(data) and data[cut - 1 : cut] == b"\n" for cut in cuts)
    assert cuts == sorted(set(cuts))
    # The chunks cover the file exactly, without overlap or gaps.
    source = SourceFile(
        path=str(path), schema="d", table="t", kind=FileKind.DATA, format="csv", size=len(data)
    )
    chunks = split_chunks(plan(source), config(limit, header=False))
    covered = b"".join(data[start:end] for start, end in byte_ranges(chunks, len(data)))
    assert covered == data
    # Each chunk but the last is at least ``limit`` bytes: cuts only move forward.
    assert all(end - start >= limit for start, end in byte_ranges(chunks, len(data))[:-1])


# --- SQL ---------------------------------------------------------------------------------------


def test_sql_cut_at_statement_ends() -> None:
    ends = [30, 90, 110, 250, 260, 400]
    assert sql_cuts(iter(ends), 400, 100) == [110, 250]
    assert sql_cuts(iter(ends), 401, 100) == [110, 250, 400]
    assert sql_cuts(iter([100, 200]), 300, 100) == [100, 200]
    assert sql_cuts(iter([]), 300, 100) == []


def test_large_sql_file_is_split(tmp_path: Path) -> None:
    path = tmp_path / "db.t.001.sql"
    statement = b"INSERT INTO t VALUES (1),(2),(3);\n"
    path.write_bytes(statement * 20)
    chunks = split_chunks(
        plan(data_file(path, "sql")), config(100), statement_ends=fake_statement_ends
    )
    assert len(chunks) > 3
    data = path.read_bytes()
    for chunk in chunks[1:]:
        assert data[chunk.offset - 1 : chunk.offset] == b";"
        assert chunk.columns is None
    assert byte_ranges(chunks, len(data))[-1][1] == len(data)


def test_small_sql_file_is_not_scanned(tmp_path: Path) -> None:
    path = tmp_path / "db.t.sql"
    path.write_bytes(b"INSERT INTO t VALUES (1);")

    def never(*args: object) -> Iterator[int]:
        raise AssertionError("statement_ends must not be called for a small file")

    chunks = split_chunks(plan(data_file(path, "sql")), config(1000), statement_ends=never)
    assert [(c.offset, c.end) for c in chunks] == [(0, None)]


def test_sql_mode_is_passed_on(tmp_path: Path) -> None:
    path = tmp_path / "db.t.sql"
    path.write_bytes(b"INSERT INTO t VALUES (1);" * 10)
    seen: list[str] = []

    def spy(path: str, compression: str | None, sql_mode: str) -> Iterator[int]:
        seen.append(sql_mode)
        return fake_statement_ends(path, compression, sql_mode)

    split_chunks(plan(data_file(path, "sql")), config(50), "ANSI_QUOTES", statement_ends=spy)
    assert seen == ["ANSI_QUOTES"]


# --- compressed, parquet, row ids -------------------------------------------------------------


def test_compressed_and_parquet_files_are_one_chunk(tmp_path: Path) -> None:
    gz = tmp_path / "db.t.1.csv.gz"
    gz.write_bytes(gzip.compress(b"a\n" * 1000))
    sql_gz = tmp_path / "db.t.2.sql.gz"
    sql_gz.write_bytes(gzip.compress(b"INSERT INTO t VALUES (1);" * 100))
    pq = tmp_path / "db.t.3.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"a": list(range(50))}), pq)
    files = (
        data_file(gz, "csv", "gz", "1"),
        data_file(sql_gz, "sql", "gz", "2"),
        data_file(pq, "parquet", None, "3"),
    )
    chunks = split_chunks(plan(*files), config(10))
    assert [(c.file.sort_key, c.index, c.offset, c.end) for c in chunks] == [
        ("1", 0, 0, None),
        ("2", 0, 0, None),
        ("3", 0, 0, None),
    ]
    # Bounds use decompressed sizes, not the smaller compressed ones.
    assert [c.row_id_base for c in chunks] == [0, 2000, 2000 + 2500]


def test_row_id_base_accumulates_over_files(tmp_path: Path) -> None:
    first = tmp_path / "db.t.1.csv"
    first.write_bytes(b"1\n" * 100)
    second = tmp_path / "db.t.2.csv"
    second.write_bytes(b"2\n" * 100)
    files = (data_file(first, "csv", key="1"), data_file(second, "csv", key="2"))
    chunks = split_chunks(plan(*files), config(50, header=False))
    assert [c.file.sort_key for c in chunks].count("1") > 1
    for chunk in chunks:
        earlier = 0 if chunk.file.sort_key == "1" else 200
        assert chunk.row_id_base == earlier + chunk.offset
    # Row IDs of different chunks never collide: each chunk has fewer rows than bytes.
    spans = [(c.row_id_base, c.row_id_base + ((c.end or c.file.size) - c.offset)) for c in chunks]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_row_bound_of_a_parquet_file_is_its_row_count(tmp_path: Path) -> None:
    pq = tmp_path / "db.t.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"a": [7] * 10_000}), pq)
    source = data_file(pq, "parquet")
    assert source.size < 10_000  # dictionary encoding: far fewer bytes than rows
    assert row_bound(source) == 10_000


def test_chunk_keys_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b"h\n" + b"1\n" * 300)
    chunks = split_chunks(plan(data_file(path, "csv")), config(40), read_header=fake_header)
    assert len({c.key for c in chunks}) == len(chunks)


# --- with the real readers ---------------------------------------------------------------------


def test_real_csv_header_reader(tmp_path: Path) -> None:
    path = tmp_path / "db.t.csv"
    path.write_bytes(b'"id","name"\n' + b'1,"a"\n' * 100)
    chunks = split_chunks(plan(data_file(path, "csv")), config(100))
    assert len(chunks) > 1
    assert chunks[0].columns is None
    assert all(c.columns == ("id", "name") for c in chunks[1:])


def test_real_sql_statement_finder(tmp_path: Path) -> None:
    path = tmp_path / "db.t.sql"
    statements = [f"INSERT INTO t VALUES ({i},'semi;colon{i}');\n".encode() for i in range(40)]
    path.write_bytes(b"".join(statements))
    boundaries = set()
    position = 0
    for statement in statements:
        position += len(statement)
        boundaries.add(position - 1)  # just after the ';', before the newline
    chunks = split_chunks(plan(data_file(path, "sql")), config(200))
    assert len(chunks) > 3
    assert all(c.offset in boundaries for c in chunks[1:])
