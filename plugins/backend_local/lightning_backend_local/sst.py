"""SST files as this backend writes them: sorted pairs, written to a temporary name, fsynced,
then renamed, so a file under its final name is always complete.

Block format 2 with CRC32C checksums: what TiKV's RocksDB reads (rocksdict's defaults, format 6
with XXH3, it cannot)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from rocksdict import BlockBasedOptions, ChecksumType, Options, SstFileWriter


def sst_options() -> Options:
    """Options for writing SST files and opening stores that ingest them."""
    options = Options(raw_mode=True)
    table = BlockBasedOptions()
    table.set_format_version(2)
    table.set_checksum_type(ChecksumType.crc32c())
    options.set_block_based_table_factory(table)
    return options


def write_sst(path: str, pairs: Iterable[tuple[bytes, bytes]]) -> int:
    """Write strictly increasing ``pairs`` to the SST file ``path``; its size (0 and no file
    when there are no pairs). A failed write (a full disk) leaves no temporary file behind."""
    temporary = f"{path}.tmp"
    writer = SstFileWriter(options=sst_options())
    count = size = 0
    try:
        writer.open(temporary)
        for key, value in pairs:
            writer[key] = value
            count += 1
        if count:
            writer.finish()
            size = os.path.getsize(temporary)
            fd = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        del writer  # closes the file, so removing it frees the space
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    if count == 0:
        del writer
        if os.path.exists(temporary):
            os.remove(temporary)
        return 0
    os.replace(temporary, path)
    fsync_directory(os.path.dirname(path))
    return size


def fsync_directory(path: str) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` to ``path`` whole: a temporary file, fsynced, renamed into place."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_directory(str(path.parent))
