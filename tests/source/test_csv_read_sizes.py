"""The CSV reader gives the same rows and positions at every read size, compressed or not.

Read sizes of 1, 2, 7 and 64 bytes cut every field, quote, escape and terminator somewhere.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import attrs
import cramjam
import pytest
import zstandard

from lightning_core.config import CsvConfig
from tests.source.test_csv_reader import _batches

READ_SIZES = [1, 2, 7, 64]

DATA = (
    b"id,name,note\r\n"
    b'1,"a ""quoted"" name","line\nbreak"\n'
    b"\n"
    b"2,plain,\\N\r\n"
    b'3,"with, comma",esc\\,aped\\\\\r'
    b'4,"\\"q\\"",""\n'
    b"5,\xe4\xb8\xad\xe6\x96\x87,\\t\\0\\Z\n"
    + b"".join(b'%d,"name %d",note %d\n' % (i, i, i) for i in range(6, 40))
    + b"40,last,no terminator"
)

CONFIGS = {
    "default": CsvConfig(),
    "crlf-terminator": attrs.evolve(CsvConfig(), terminator="\n"),
    "multibyte": CsvConfig(separator="||", delimiter="'", header=False),
    "no-escape": CsvConfig(backslash_escape=False, header=False),
    "trim": CsvConfig(trim_last_separator=True, header=False),
}

MULTIBYTE = DATA.replace(b",", b"||").replace(b'"', b"'")
NO_ESCAPE = DATA.replace(b'4,"\\"q\\"",""', b'4,"q\\",""')


def _compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gz":
        return gzip.compress(data)
    if compression == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if compression == "snappy":
        return bytes(cramjam.snappy.compress(data))
    return data


def snapshot(batches: list[Any]) -> list[tuple[Any, ...]]:
    return [(b.columns, b.rows, b.offsets, b.end) for b in batches]


@pytest.mark.parametrize("compression", [None, "gz", "zst", "snappy"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_read_size_reads_a_file_alike(
    tmp_path: Path, compression: str | None, config: str
) -> None:
    csv = CONFIGS[config]
    data = {"multibyte": MULTIBYTE, "no-escape": NO_ESCAPE}.get(config, DATA)
    path = tmp_path / f"t.csv{'.' + compression if compression else ''}"
    path.write_bytes(_compress(data, compression))
    expected = snapshot(_batches(str(path), csv, compression=compression))
    assert sum(len(b.rows) for b in _batches(str(path), csv, compression=compression)) >= 39
    for size in READ_SIZES:
        got = snapshot(_batches(str(path), csv, compression=compression, block=size))
        assert got == expected, f"read size {size}"


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_resume_at_every_record_at_every_read_size(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / f"t.csv{'.' + compression if compression else ''}"
    path.write_bytes(_compress(DATA, compression))
    whole = _batches(str(path), CsvConfig(), compression=compression)
    rows = [r for b in whole for r in b.rows]
    offsets = [o for b in whole for o in b.offsets]
    for size in READ_SIZES:
        for i in (1, 5, len(rows) - 1):
            start = attrs.evolve(whole[0].end, offset=offsets[i], rows=i)
            tail = _batches(
                str(path), CsvConfig(), compression=compression, block=size, start=start
            )
            assert [r for b in tail for r in b.rows] == rows[i:], f"read size {size}, row {i}"
            assert [o for b in tail for o in b.offsets] == offsets[i:]
