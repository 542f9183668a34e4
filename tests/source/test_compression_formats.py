"""Compressed data files as TiDB Lightning reads them: snappy, unsupported codecs, corrupt files.

Each test here failed before the behaviour it names was added (issue "Read every dump as TiDB
Lightning reads it", items 4 and 6).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import cramjam
import pytest
import zstandard

from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.source.compression import header_problem, open_decompressed
from lightning_core.source.discovery import discover
from tests.source.test_csv_reader import _rows as csv_rows
from tests.source.test_sql_reader import read_rows as sql_rows

SQL = b"".join(b"INSERT INTO t VALUES (%d,'row %d');\n" % (i, i) for i in range(3000))
CSV = b"a,b\n" + b"".join(b'%d,"row %d"\n' % (i, i) for i in range(3000))

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
    "snappy": lambda data: bytes(cramjam.snappy.compress(data)),
}


def test_framed_snappy_sql_and_csv_are_read(tmp_path: Path) -> None:
    sql = tmp_path / "db.t.1.sql.snappy"
    sql.write_bytes(COMPRESS["snappy"](SQL))
    csv = tmp_path / "db.t.2.csv.snappy"
    csv.write_bytes(COMPRESS["snappy"](CSV))
    (tmp_path / "db.t-schema.sql").write_text("CREATE TABLE t (a int, b text);")
    plan = discover(MydumperConfig(data_source_dir=str(tmp_path)))
    files = plan.tables[0].data_files
    assert [(f.format, f.compression) for f in files] == [("sql", "snappy"), ("csv", "snappy")]
    assert sql_rows(sql, compression="snappy") == [(i, b"row %d" % i) for i in range(3000)]
    assert csv_rows(str(csv), CsvConfig(), compression="snappy") == [
        (b"%d" % i, b"row %d" % i) for i in range(3000)
    ]


def test_snappy_skips_padding_and_reads_uncompressed_chunks(tmp_path: Path) -> None:
    framed = COMPRESS["snappy"](b"hello ")
    # An uncompressed chunk (type 1) of "world" with its masked CRC-32C, then padding (0xfe).
    import fastcrc

    crc = fastcrc.crc32.iscsi(b"world")
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    body = masked.to_bytes(4, "little") + b"world"
    framed += b"\x01" + len(body).to_bytes(3, "little") + body + b"\xfe\x02\x00\x00\x00\x00"
    path = tmp_path / "x.snappy"
    path.write_bytes(framed)
    with open_decompressed(str(path), "snappy") as stream:
        assert stream.read() == b"hello world"


def test_unsupported_compression_of_an_excluded_table_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "db.t.1.sql").write_bytes(SQL)
    (tmp_path / "other.x.1.sql.lzo").write_bytes(b"\x89LZO")
    plan = discover(MydumperConfig(data_source_dir=str(tmp_path), filter=("db.*",)))
    assert [t.target_table for t in plan.tables] == ["t"]
    assert plan.filtered == ("other.x.1.sql.lzo",)
    with pytest.raises(SourceError, match=r"other\.x\.1\.sql\.lzo:0: lzo compression is not"):
        discover(MydumperConfig(data_source_dir=str(tmp_path)))


@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("damage", ["truncated", "not compressed", "flipped"])
def test_corrupt_file_is_one_source_error(tmp_path: Path, compression: str, damage: str) -> None:
    good = COMPRESS[compression](SQL)
    if damage == "truncated":
        data = good[: len(good) // 2]
    elif damage == "not compressed":
        data = SQL
    else:  # a byte of the first compressed block flipped
        at = 20
        data = good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1 :]
    path = tmp_path / f"db.t.1.sql.{compression}"
    path.write_bytes(data)
    try:
        rows = sql_rows(path, compression=compression)
    except SourceError as exc:
        text = str(exc)
        assert "\n" not in text
        assert text.startswith(f"{path}:{exc.offset}: ")
        assert "corrupt" in text or "syntax" in text or "unexpected" in text, text
    else:
        # zstd frames carry no checksum unless asked: a flipped byte may decode to other rows
        assert (compression, damage) == ("zst", "flipped"), rows[:3]


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_corrupt_csv_names_file_and_offset(tmp_path: Path, compression: str) -> None:
    # large enough for several gzip blocks, zstd blocks and snappy chunks
    data = b"".join(b"%d,%d\n" % (i, i * 7919 % 10007) for i in range(200_000))
    good = COMPRESS[compression](data)
    path = tmp_path / f"db.t.1.csv.{compression}"
    path.write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(SourceError, match=rf"^{path}:\d+: corrupt \w+ data") as info:
        csv_rows(str(path), CsvConfig(), compression=compression)
    assert info.value.offset > 0  # rows before the damage were read


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_plan_checks_the_header_of_each_compressed_file(tmp_path: Path, compression: str) -> None:
    (tmp_path / "db.t-schema.sql").write_text("CREATE TABLE t (a int, b text);")
    good = tmp_path / f"db.t.1.sql.{compression}"
    good.write_bytes(COMPRESS[compression](SQL))
    assert header_problem(str(good), compression) is None
    discover(MydumperConfig(data_source_dir=str(tmp_path), no_schema=True))
    bad = tmp_path / f"db.t.2.sql.{compression}"
    bad.write_bytes(SQL)
    with pytest.raises(SourceError, match=rf"^{bad}:0: not a \w+ file \(its first bytes are 49"):
        discover(MydumperConfig(data_source_dir=str(tmp_path), no_schema=True))


def test_zstd_skippable_frame_header_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "x.zst"
    skippable = b"\x5a\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"abc"
    path.write_bytes(skippable + COMPRESS["zst"](b"data"))
    assert header_problem(str(path), "zst") is None
    with open_decompressed(str(path), "zst") as stream:
        assert stream.read() == b"data"
