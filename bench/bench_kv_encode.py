"""Benchmark: reading a sysbench-like SQL dump vs reading it and encoding TiDB KV pairs.

Builds N rows of ``sbtest1`` (id BIGINT PRIMARY KEY, k INT with an index, c CHAR(120),
pad CHAR(60)), writes them as a mydumper-style ``.sql`` file, then times in one run

(a) reading the rows with ``lightning_core.source.sql_reader.SqlReader``, and
(b) reading them and encoding every row to KV pairs (record + index) with checksums,

and prints rows/s and MB/s (of the .sql file) of each and their ratio. Not a test:
``python bench/bench_kv_encode.py --rows 200000``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lightning_core.interfaces import Chunk, FileKind, ReadPosition, RowBatch, SourceFile
from lightning_core.kv.checksum import NATIVE, KVChecksum
from lightning_core.kv.encoder import TableKVEncoder
from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)

BIN = {"charset": "utf8mb4", "collation": "utf8mb4_bin"}


def sbtest_table() -> TableInfo:
    """The sysbench table as TiDB models it (int primary key is the handle)."""
    return TableInfo(
        id=100,
        schema="sbtest",
        name="sbtest1",
        columns=(
            ColumnInfo(
                id=1,
                name="id",
                offset=0,
                ft=FieldType(tp=ColumnType.LONGLONG, flen=20),
                not_null=True,
            ),
            ColumnInfo(
                id=2,
                name="k",
                offset=1,
                ft=FieldType(tp=ColumnType.LONG, flen=11),
                not_null=True,
                has_default=True,
                default=0,
            ),
            ColumnInfo(
                id=3,
                name="c",
                offset=2,
                ft=FieldType(tp=ColumnType.STRING, flen=120, **BIN),
                not_null=True,
                has_default=True,
                default=b"",
            ),
            ColumnInfo(
                id=4,
                name="pad",
                offset=3,
                ft=FieldType(tp=ColumnType.STRING, flen=60, **BIN),
                not_null=True,
                has_default=True,
                default=b"",
            ),
        ),
        indexes=(
            IndexInfo(
                id=1,
                name="PRIMARY",
                columns=(IndexColumn(name="id", offset=0),),
                unique=True,
                primary=True,
            ),
            IndexInfo(id=2, name="k_1", columns=(IndexColumn(name="k", offset=1),)),
        ),
        pk_is_handle=True,
    )


def _groups(rnd: random.Random, count: int) -> str:
    return "-".join(f"{rnd.randrange(10**11):011d}" for _ in range(count))


def write_dump(path: str, rows: int, per_statement: int = 1000) -> int:
    """Write ``rows`` sysbench rows as INSERT statements; return the file size."""
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for start in range(1, rows + 1, per_statement):
            end = min(rows, start + per_statement - 1)
            values = ",\n".join(
                f"({i},{rnd.randrange(1, rows + 1)},'{_groups(rnd, 10)}','{_groups(rnd, 5)}')"
                for i in range(start, end + 1)
            )
            out.write(f"INSERT INTO `sbtest1` VALUES\n{values};\n")
    return os.path.getsize(path)


def make_reader(path: str, size: int) -> tuple[Iterator[RowBatch], str]:
    """Batches from the project's SqlReader, or from a plain fallback parser if it is missing."""
    source = SourceFile(
        path=path, schema="sbtest", table="sbtest1", kind=FileKind.DATA, format="sql", size=size
    )
    chunk = Chunk(file=source, index=0)
    try:
        from lightning_core.config import MydumperConfig
        from lightning_core.source.sql_reader import SqlReader

        reader = SqlReader(chunk=chunk, mydumper=MydumperConfig(), sql_mode="")
        return reader.batches(), "SqlReader"
    except (ImportError, TypeError) as exc:  # the reader is written by another helper
        return _fallback_batches(path), f"fallback parser (SqlReader unavailable: {exc})"


def _fallback_batches(path: str) -> Iterator[RowBatch]:
    done = 0
    offset = 0
    with open(path, "rb") as data:
        for line in data:
            offset += len(line)
            line = line.strip().rstrip(b",;")
            if not line.startswith(b"("):
                continue
            a, b, c, d = line[1:-1].split(b",")
            done += 1
            yield RowBatch(
                columns=None,
                rows=[(int(a), int(b), c[1:-1], d[1:-1])],
                offsets=[offset],
                end=ReadPosition(offset=offset, rows=done),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    table = sbtest_table()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sbtest.sbtest1.000000000.sql")
        size = write_dump(path, args.rows)
        mb = size / 1e6

        batches, reader_name = make_reader(path, size)
        started = time.perf_counter()
        read_rows = sum(len(batch.rows) for batch in batches)
        read_seconds = time.perf_counter() - started

        batches, _ = make_reader(path, size)
        encoder = TableKVEncoder(table, sql_mode="STRICT_TRANS_TABLES")
        total = KVChecksum()
        started = time.perf_counter()
        encoded_rows = 0
        for batch in batches:
            _, checksum = encoder.encode_batch(batch, path)
            total.add(checksum)
            encoded_rows += len(batch.rows)
        encode_seconds = time.perf_counter() - started

    assert read_rows == encoded_rows == args.rows, (read_rows, encoded_rows)
    print(f"rows: {args.rows}, .sql file: {mb:.1f} MB, reader: {reader_name}")
    print(f"CRC-64: {'native (fastcrc)' if NATIVE else 'pure Python'}")
    print(
        f"(a) read only       : {read_seconds:7.2f} s  {read_rows / read_seconds:10,.0f} rows/s"
        f"  {mb / read_seconds:6.2f} MB/s"
    )
    print(
        f"(b) read + KV encode: {encode_seconds:7.2f} s  {encoded_rows / encode_seconds:10,.0f} "
        f"rows/s  {mb / encode_seconds:6.2f} MB/s"
    )
    print(
        f"KV pairs: {total.total_kvs:,} ({total.total_bytes / 1e6:.1f} MB), "
        f"checksum 0x{total.checksum:016x}"
    )
    print(f"ratio (b)/(a) time: {encode_seconds / read_seconds:.2f}x")


if __name__ == "__main__":
    main()
