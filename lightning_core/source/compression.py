"""Open data files as decompressed byte streams."""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from lightning_core.errors import SourceError

COMPRESSIONS: dict[str, str] = {".gz": "gz", ".gzip": "gz", ".zst": "zst", ".zstd": "zst"}
"""File-name suffix → compression name."""


def open_decompressed(path: str, compression: str | None) -> BinaryIO:
    """Open ``path`` for reading as a stream of its decompressed bytes.

    Offsets used everywhere else (chunks, rows, checkpoints) are offsets in this stream.
    """
    try:
        if compression is None:
            return open(path, "rb")
        if compression == "gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        if compression == "zst":
            import zstandard

            raw = open(path, "rb")  # noqa: SIM115
            reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
            return io.BufferedReader(reader)
    except OSError as exc:
        raise SourceError(path, 0, f"cannot open: {exc.strerror or exc}") from exc
    raise SourceError(path, 0, f"unknown compression {compression!r}; use gz, zst or none")
