"""ParquetReader: every supported type, row-index positions, resume, unsupported types."""

from __future__ import annotations

import datetime
import os
from decimal import Decimal

import pyarrow as pa
import pytest

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import Chunk, FileKind, ReadPosition, RowBatch, SourceFile
from lightning_core.interfaces import SourceReader as SourceReaderProtocol
from lightning_core.source import parquet_reader
from lightning_core.source.parquet_reader import ParquetReader
from lightning_core.testing.csvdump import write_parquet


def _chunk(path: str, compression: str | None = None, end: int | None = None) -> Chunk:
    file = SourceFile(
        path=path,
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format="parquet",
        compression=compression,
        size=os.path.getsize(path),
    )
    return Chunk(file=file, index=0, end=end)


def _batches(path: str, start: ReadPosition | None = None, **kwargs: object) -> list[RowBatch]:
    reader = ParquetReader(
        chunk=_chunk(path, **kwargs),  # type: ignore[arg-type]
        mydumper=MydumperConfig(),
        sql_mode="",
        start=start,
    )
    try:
        return list(reader.batches())
    finally:
        reader.close()


UTC = datetime.UTC
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))

TYPED = [
    ("i8", pa.int8(), [-128, None, 127]),
    ("u64", pa.uint64(), [0, 2**64 - 1, None]),
    ("i64", pa.int64(), [-(2**63), 0, 2**63 - 1]),
    ("f32", pa.float32(), [1.5, None, -0.25]),
    ("f64", pa.float64(), [3.141592653589793, 1e300, None]),
    ("dec", pa.decimal128(20, 4), [Decimal("12345678.9012"), None, Decimal("-0.0001")]),
    ("dec256", pa.decimal256(50, 2), [Decimal("1" * 48 + ".25"), Decimal("0.00"), None]),
    ("s", pa.string(), ["héllo", "", None]),
    ("ls", pa.large_string(), ["a" * 1000, None, "z"]),
    ("b", pa.binary(), [b"\x00\xff", b"", None]),
    ("fb", pa.binary(3), [b"abc", None, b"\x00\x01\x02"]),
    ("bool", pa.bool_(), [True, False, None]),
    ("d32", pa.date32(), [datetime.date(2024, 2, 29), None, datetime.date(1, 1, 1)]),
    (
        "ts",
        pa.timestamp("us"),
        [datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), None, datetime.datetime(1970, 1, 1)],
    ),
    ("ts_ms", pa.timestamp("ms"), [datetime.datetime(2020, 5, 6, 7, 8, 9, 123000), None, None]),
    ("t64", pa.time64("us"), [datetime.time(23, 59, 59, 999999), None, datetime.time(0, 0)]),
    ("t32", pa.time32("ms"), [datetime.time(12, 30, 0, 500000), None, datetime.time(1, 2, 3)]),
    ("dur", pa.duration("us"), [datetime.timedelta(days=1, microseconds=5), None, None]),
    ("n", pa.null(), [None, None, None]),
]


def test_every_supported_type_round_trips(tmp_path):
    path = str(tmp_path / "t.parquet")
    schema = pa.schema([(name, type_) for name, type_, _ in TYPED])
    rows = list(zip(*[values for _, _, values in TYPED], strict=True))
    write_parquet(path, [name for name, _, _ in TYPED], rows, schema)
    batches = _batches(path)
    assert len(batches) == 1
    assert batches[0].columns == tuple(name for name, _, _ in TYPED)
    assert batches[0].rows == rows
    assert batches[0].offsets == [0, 1, 2]
    assert batches[0].end == ReadPosition(offset=3, rows=3, columns=batches[0].columns)
    for row in batches[0].rows:
        for value in row:
            assert not isinstance(value, datetime.datetime) or value.tzinfo is None


def test_timestamps_with_time_zone_become_instants_in_utc(tmp_path):
    path = str(tmp_path / "tz.parquet")
    moment = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=PLUS2)
    schema = pa.schema([("at", pa.timestamp("us", tz="+02:00")), ("u", pa.timestamp("s", "UTC"))])
    write_parquet(path, ["at", "u"], [(moment, moment)], schema)
    [row] = _batches(path)[0].rows
    utc = datetime.datetime(2024, 6, 1, 10, 0, tzinfo=datetime.UTC)
    assert row == (utc, utc)
    assert all(value.utcoffset() == datetime.timedelta(0) for value in row)


def test_nanoseconds_are_truncated(tmp_path):
    path = str(tmp_path / "ns.parquet")
    table = pa.table({"at": pa.array([1_000_000_001_999], pa.timestamp("ns"))})
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    assert _batches(path)[0].rows == [(datetime.datetime(1970, 1, 1, 0, 16, 40, 1),)]


def test_dictionary_columns_are_decoded(tmp_path):
    path = str(tmp_path / "dict.parquet")
    import pyarrow.parquet as pq

    table = pa.table({"c": pa.array(["x", "y", "x", None]).dictionary_encode()})
    pq.write_table(table, path)
    assert _batches(path)[0].rows == [("x",), ("y",), ("x",), (None,)]


def test_unsupported_type_names_column_and_type(tmp_path):
    path = str(tmp_path / "list.parquet")
    schema = pa.schema([("id", pa.int32()), ("tags", pa.list_(pa.string()))])
    write_parquet(path, ["id", "tags"], [(1, ["a"])], schema)
    with pytest.raises(SourceError) as info:
        _batches(path)
    assert "'tags'" in str(info.value)
    assert "list<" in str(info.value)


def test_batches_row_groups_and_resume_from_every_batch_end(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 100)
    path = str(tmp_path / "big.parquet")
    rows = [(i, f"r{i}") for i in range(1050)]
    write_parquet(path, ["id", "name"], rows, row_group_size=256)
    batches = _batches(path)
    assert [r for b in batches for r in b.rows] == rows
    assert all(len(b.rows) <= 100 for b in batches)
    assert [o for b in batches for o in b.offsets] == list(range(1050))
    for batch in batches:
        assert batch.end.offset == batch.end.rows == batch.offsets[-1] + 1
        rest = [r for b in _batches(path, start=batch.end) for r in b.rows]
        assert rest == rows[batch.end.offset :]
    mid = [r for b in _batches(path, start=ReadPosition(offset=300, rows=300)) for r in b.rows]
    assert mid == rows[300:]
    assert [r for b in _batches(path, end=10) for r in b.rows] == rows[:10]


def test_compressed_parquet_and_reader_protocol(tmp_path):
    import zstandard

    plain = str(tmp_path / "p.parquet")
    write_parquet(plain, ["a"], [(1,), (2,)])
    packed = str(tmp_path / "p.parquet.zst")
    with open(plain, "rb") as src, open(packed, "wb") as dst:
        dst.write(zstandard.ZstdCompressor().compress(src.read()))
    reader = ParquetReader(
        chunk=_chunk(packed, "zst"), mydumper=MydumperConfig(), sql_mode="", start=None
    )
    assert isinstance(reader, SourceReaderProtocol)
    assert [r for b in reader.batches() for r in b.rows] == [(1,), (2,)]


def test_empty_file_and_not_parquet(tmp_path):
    path = str(tmp_path / "e.parquet")
    write_parquet(path, ["a"], [], pa.schema([("a", pa.int64())]))
    assert _batches(path) == []
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file")
    with pytest.raises(SourceError, match="cannot open as Parquet"):
        _batches(str(bad))
