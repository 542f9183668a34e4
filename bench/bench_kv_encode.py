"""Benchmark: KV encoding of three tables, the Python encoder against the native one.

For each table it builds N rows, writes them as a mydumper-style ``.sql`` file, reads them once
with ``lightning_core.source.sql_reader.SqlReader`` (timed: the reader is the peer every encoder
is compared with), then times each available encoder on the same batches:

* ``sbtest1``: sysbench (BIGINT handle, INT index, two CHAR columns);
* ``orders``: 8 columns, clustered composite primary key (common handle), no other index;
* ``orders_idx``: the same columns, non-clustered primary key plus three secondary indexes
  (composite, unique VARCHAR, utf8mb4_general_ci VARCHAR).

Encoders: ``kv`` (``TableKVEncoder``) and, when ``tidb-lightning-encoder-native`` is installed,
``kv-native``. Every encoder must give the same checksum. Reports µs per row and MB/s of
``.sql`` source per core. Not a test: ``python bench/bench_kv_encode.py --rows 100000``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lightning_core.interfaces import Chunk, FileKind, RowBatch, SourceFile
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
CI = {"charset": "utf8mb4", "collation": "utf8mb4_general_ci"}
NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


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


_ORDERS_COLUMNS = (
    ("o_w_id", FieldType(tp=ColumnType.LONG, flen=11), True),
    ("o_id", FieldType(tp=ColumnType.LONGLONG, flen=20), True),
    ("o_c_id", FieldType(tp=ColumnType.LONG, flen=11), True),
    ("o_entry_d", FieldType(tp=ColumnType.DATETIME), True),
    ("o_amount", FieldType(tp=ColumnType.NEWDECIMAL, flen=12, decimal=2), True),
    ("o_status", FieldType(tp=ColumnType.VARCHAR, flen=16, **BIN), True),
    ("o_email", FieldType(tp=ColumnType.VARCHAR, flen=64, **BIN), True),
    ("o_note", FieldType(tp=ColumnType.VARCHAR, flen=100, **CI), False),
)


def orders_table(*, secondary: bool) -> TableInfo:
    """``orders``: clustered (o_w_id, o_id) alone, or non-clustered plus three indexes."""
    columns = tuple(
        ColumnInfo(id=i + 1, name=name, offset=i, ft=ft, not_null=not_null)
        for i, (name, ft, not_null) in enumerate(_ORDERS_COLUMNS)
    )

    def cols(*names: str) -> tuple[IndexColumn, ...]:
        return tuple(IndexColumn(name=n, offset=[c.name for c in columns].index(n)) for n in names)

    indexes = [
        IndexInfo(id=1, name="PRIMARY", columns=cols("o_w_id", "o_id"), unique=True, primary=True)
    ]
    if secondary:
        indexes += [
            IndexInfo(id=2, name="idx_customer", columns=cols("o_w_id", "o_c_id", "o_entry_d")),
            IndexInfo(id=3, name="uk_email", columns=cols("o_email"), unique=True),
            IndexInfo(id=4, name="idx_note", columns=cols("o_note")),
        ]
    return TableInfo(
        id=200 if secondary else 201,
        schema="shop",
        name="orders_idx" if secondary else "orders",
        columns=columns,
        indexes=tuple(indexes),
        is_common_handle=not secondary,
    )


def _groups(rnd: random.Random, count: int) -> str:
    return "-".join(f"{rnd.randrange(10**11):011d}" for _ in range(count))


def sbtest_row(rnd: random.Random, i: int, rows: int) -> str:
    """One sysbench row as SQL text."""
    return f"({i},{rnd.randrange(1, rows + 1)},'{_groups(rnd, 10)}','{_groups(rnd, 5)}')"


_STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
_WORDS = ("alpha", "Beta", "gamma", "Delta", "epsilon", "zeta", "Eta", "theta", "café", "naïve")


def orders_row(rnd: random.Random, i: int, rows: int) -> str:
    """One orders row as SQL text (a NULL note now and then, some non-ASCII notes)."""
    del rows
    note = (
        "NULL"
        if i % 10 == 0
        else "'" + " ".join(rnd.choice(_WORDS) for _ in range(rnd.randrange(2, 8))) + "'"
    )
    stamp = f"2023-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d} 12:{i % 60:02d}:07"
    return (
        f"({i % 10 + 1},{i},{rnd.randrange(1, 30000)},'{stamp}',"
        f"{rnd.randrange(100, 10**9) / 100:.2f},'{rnd.choice(_STATUSES)}',"
        f"'user{i}@example{rnd.randrange(100)}.com',{note})"
    )


def write_dump(
    path: str, table: str, rows: int, row: Callable[[random.Random, int, int], str]
) -> int:
    """Write ``rows`` rows as INSERT statements of 1000 rows; return the file size."""
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for start in range(1, rows + 1, 1000):
            end = min(rows, start + 999)
            values = ",\n".join(row(rnd, i, rows) for i in range(start, end + 1))
            out.write(f"INSERT INTO `{table}` VALUES\n{values};\n")
    return os.path.getsize(path)


def read_batches(path: str, table: TableInfo, size: int) -> Iterator[RowBatch]:
    """Batches from the project's SqlReader."""
    from lightning_core.config import MydumperConfig
    from lightning_core.source.sql_reader import SqlReader

    source = SourceFile(
        path=path,
        schema=table.schema,
        table=table.name,
        kind=FileKind.DATA,
        format="sql",
        size=size,
    )
    reader = SqlReader(chunk=Chunk(file=source, index=0), mydumper=MydumperConfig(), sql_mode="")
    return reader.batches()


def encoder_factories() -> dict[str, Callable[..., Any]]:
    """``kv`` and, if installed, ``kv-native``, by their registered names."""
    factories: dict[str, Callable[..., Any]] = {"kv": TableKVEncoder}
    try:
        from lightning_encoder_native.encoder import NativeTableKVEncoder
    except ImportError as exc:
        print(f"kv-native unavailable ({exc}); install plugins/encoder_native")
    else:
        factories["kv-native"] = NativeTableKVEncoder
    return factories


def encode_all(
    factory: Callable[..., Any], table: TableInfo, batches: list[RowBatch]
) -> tuple[float, KVChecksum]:
    """Seconds (CPU of this process) to encode every batch, and the total checksum."""
    encoder = factory(table, sql_mode="STRICT_TRANS_TABLES", now=NOW)
    total = KVChecksum()
    started = time.process_time()
    for batch in batches:
        total.add(encoder.encode_batch(batch, "<bench>")[1])
    return time.process_time() - started, total


TABLES: tuple[tuple[Callable[[], TableInfo], Callable[[random.Random, int, int], str]], ...] = (
    (sbtest_table, sbtest_row),
    (lambda: orders_table(secondary=False), orders_row),
    (lambda: orders_table(secondary=True), orders_row),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    factories = encoder_factories()
    print(f"rows per table: {args.rows:,}; CRC-64: {'fastcrc' if NATIVE else 'pure Python'}")
    print(f"{'table':<11} {'encoder':<10} {'µs/row':>7} {'MB/s':>7} {'vs read':>8}  checksum")
    for make_table, make_row in TABLES:
        table = make_table()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{table.schema}.{table.name}.000000000.sql")
            size = write_dump(path, table.name, args.rows, make_row)
            started = time.process_time()
            batches = list(read_batches(path, table, size))
            read_seconds = time.process_time() - started
        mb = size / 1e6
        assert sum(len(b.rows) for b in batches) == args.rows
        print(
            f"{table.name:<11} {'(read)':<10} {read_seconds / args.rows * 1e6:7.2f} "
            f"{mb / read_seconds:7.1f} {1.0:7.2f}x  ({mb:.1f} MB of .sql)"
        )
        checksums = set()
        for name, factory in factories.items():
            seconds, total = encode_all(factory, table, batches)
            checksums.add((total.checksum, total.total_kvs, total.total_bytes))
            print(
                f"{'':<11} {name:<10} {seconds / args.rows * 1e6:7.2f} {mb / seconds:7.1f} "
                f"{seconds / read_seconds:7.2f}x  0x{total.checksum:016x} "
                f"({total.total_kvs:,} pairs)"
            )
        assert len(checksums) == 1, f"encoders disagree on {table.name}: {checksums}"


if __name__ == "__main__":
    main()
