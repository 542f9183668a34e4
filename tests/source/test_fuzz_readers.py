"""Damaged dumps: every outcome is rows or a one-line ``SourceError`` at ``file:offset``.

Real mydumper-style files (``examples/dump``), plain and compressed, are truncated, have bytes
flipped, inserted and quotes dropped, and are read by the SQL and CSV readers at several read
sizes. Any other exception, or a read that does not finish within a few seconds, fails.
The number of cases run is printed (``pytest -s``) and recorded as the ``fuzz_cases``
property of each test.
"""

from __future__ import annotations

import gzip
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cramjam
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk, FileKind, SourceFile
from lightning_core.source.csv_reader import CsvReader
from lightning_core.source.sql_reader import SqlReader

DUMP = Path(__file__).parents[2] / "examples" / "dump"
SQL_SEEDS = [
    (DUMP / name).read_bytes()[:6000]
    for name in ("shop.customers.000000000.sql", "shop.visits.000000000.sql")
]
CSV_SEEDS = [(DUMP / "shop.orders.000000000.csv").read_bytes()[:6000]]
CASES = 650
"""Examples per test (four tests); about 15 s in all."""
TIME_LIMIT = 5
"""Seconds one read may take before it counts as a hang."""

COMPRESS: dict[str | None, Callable[[bytes], bytes]] = {
    None: lambda data: data,
    "gz": gzip.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
    "snappy": lambda data: bytes(cramjam.snappy.compress(data)),
}


@st.composite
def damaged(draw: st.DrawFn, seeds: list[bytes]) -> tuple[bytes, str | None, bool]:
    """(file bytes, compression, damage applied to the compressed bytes)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    compression = draw(st.sampled_from([None, None, "gz", "zst", "snappy"]))
    after = compression is not None and draw(st.booleans())
    if after:
        data = bytearray(COMPRESS[compression](bytes(data)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "drop-quote"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(QUOTES))
        else:
            quotes = [i for i, c in enumerate(data) if c in b"'\"`"]
            if quotes:
                del data[quotes[draw(st.integers(0, len(quotes) - 1))]]
    if compression is not None and not after:
        data = bytearray(COMPRESS[compression](bytes(data)))
    return bytes(data), compression, after


QUOTES = [b"'", b'"', b"\\", b"(", b")", b",", b";", b"\n", b"/*", b"--", b"0x", b"\r"]


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a read took more than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_all(reader: Any) -> int:
    try:
        return sum(len(batch.offsets) for batch in reader.batches())
    finally:
        reader.close()


def check(path: Path, make_reader: Callable[[Chunk], Any], fmt: str, compression: str | None):
    file = SourceFile(
        path=str(path),
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format=fmt,
        compression=compression,
        size=os.path.getsize(path),
    )
    chunk = Chunk(file=file, index=0, offset=0, end=None)
    with time_limit(TIME_LIMIT):
        try:
            read_all(make_reader(chunk))
        except SourceError as exc:
            text = str(exc)
            assert text.startswith(f"{path}:{exc.offset}: "), text
            assert exc.offset >= 0 and "\n" not in text, text


def run_cases(
    tmp_path: Path,
    record_property: Any,
    seeds: list[bytes],
    fmt: str,
    make_reader: Callable[[Chunk, int], Any],
) -> int:
    count = 0

    @settings(
        max_examples=CASES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=damaged(seeds), block=st.sampled_from([64, 1000, 64 * 1024]))
    def one(case: tuple[bytes, str | None, bool], block: int) -> None:
        nonlocal count
        count += 1
        data, compression, _ = case
        path = tmp_path / f"db.t.{fmt}{'.' + compression if compression else ''}"
        path.write_bytes(data)
        check(path, lambda chunk: make_reader(chunk, block), fmt, compression)

    one()
    print(f"\n{fmt}: {count} damaged files read")
    record_property("fuzz_cases", count)
    return count


def test_damaged_sql_files(tmp_path: Path, record_property: Any) -> None:
    def reader(chunk: Chunk, block: int) -> SqlReader:
        return SqlReader(chunk=chunk, mydumper=MydumperConfig(read_block_size=block), sql_mode="")

    assert run_cases(tmp_path, record_property, SQL_SEEDS, "sql", reader) >= CASES // 2


def test_damaged_sql_files_raw(tmp_path: Path, record_property: Any) -> None:
    def reader(chunk: Chunk, block: int) -> SqlReader:
        mydumper = MydumperConfig(read_block_size=block, data_character_set="utf8mb4")
        return SqlReader(chunk=chunk, mydumper=mydumper, sql_mode="", raw_sql=True)

    assert run_cases(tmp_path, record_property, SQL_SEEDS, "sql", reader) >= CASES // 2


@pytest.mark.parametrize("csv", [CsvConfig(), CsvConfig(escaped_by="|", null=("\\N", ""))])
def test_damaged_csv_files(tmp_path: Path, record_property: Any, csv: CsvConfig) -> None:
    def reader(chunk: Chunk, block: int) -> CsvReader:
        mydumper = MydumperConfig(read_block_size=block, csv=csv)
        return CsvReader(chunk=chunk, mydumper=mydumper, sql_mode="")

    assert run_cases(tmp_path, record_property, CSV_SEEDS, "csv", reader) >= CASES // 2
