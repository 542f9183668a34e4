"""Open data files as decompressed byte streams.

Readable: gzip (``gz``), zstandard (``zst``) and framed snappy (``snappy``, the format of
``github.com/golang/snappy``'s writer that Dumpling and TiDB Lightning use). A stream that is
not valid for its compression raises a one-line :class:`SourceError` naming the file and the
offset in the decompressed data where it broke, whichever reader (SQL, CSV, schema file,
chunk splitter) was reading.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from lightning_core.errors import SourceError

COMPRESSIONS: dict[str, str] = {
    ".gz": "gz",
    ".gzip": "gz",
    ".zst": "zst",
    ".zstd": "zst",
    ".snappy": "snappy",
}
"""File-name suffix → compression name."""

_NAMES = {"gz": "gzip", "zst": "zstd", "snappy": "snappy"}

_SNAPPY_STREAM_ID = b"\xff\x06\x00\x00sNaPpY"


def header_problem(path: str, compression: str) -> str | None:
    """Why the first bytes of ``path`` cannot start a ``compression`` stream, or None.

    Checks the magic bytes only (an empty file is an empty stream); ``tidb-lightning plan``
    uses it to report a damaged or misnamed file before anything is imported.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(len(_SNAPPY_STREAM_ID))
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not head:
        return None
    if compression == "gz":
        valid = head.startswith(b"\x1f\x8b")
    elif compression == "zst":
        # a zstd frame, or a skippable frame (magic 0x184D2A50..5F, little-endian)
        valid = head.startswith(b"\x28\xb5\x2f\xfd") or (
            head[1:4] == b"\x2a\x4d\x18" and 0x50 <= head[0] <= 0x5F
        )
    else:
        valid = head == _SNAPPY_STREAM_ID
    if valid:
        return None
    return (
        f"not a {_NAMES[compression]} file (its first bytes are {head[:4].hex(' ')}); "
        "the file is damaged or its name gives the wrong compression: re-create it or rename it"
    )


def open_decompressed(path: str, compression: str | None) -> BinaryIO:
    """Open ``path`` for reading as a stream of its decompressed bytes.

    Offsets used everywhere else (chunks, rows, checkpoints) are offsets in this stream.

    :raises SourceError: the file cannot be opened, or (when read) is not valid for its
        compression.
    """
    try:
        if compression is None:
            return open(path, "rb")
        if compression == "gz":
            stream: io.RawIOBase | BinaryIO = gzip.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
        elif compression == "zst":
            stream = _ZstdReader(open(path, "rb"))  # noqa: SIM115
        elif compression == "snappy":
            stream = _FramedSnappyReader(open(path, "rb"))  # noqa: SIM115
        else:
            raise SourceError(
                path, 0, f"unknown compression {compression!r}; use gz, zst, snappy or none"
            )
    except OSError as exc:
        raise SourceError(path, 0, f"cannot open: {exc.strerror or exc}") from exc
    return io.BufferedReader(_Checked(stream, path, _NAMES[compression]))


class _Checked(io.RawIOBase):
    """A decompressing stream whose decoding errors become one-line ``SourceError``\\ s."""

    def __init__(self, stream: io.RawIOBase | BinaryIO, path: str, name: str) -> None:
        self._stream = stream
        self._path = path
        self._name = name
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except OSError as exc:
            if exc.errno is not None:  # a real I/O error, not bad data
                raise SourceError(
                    self._path, self._offset, f"cannot read: {exc.strerror or exc}"
                ) from exc
            raise self._corrupt(exc) from exc
        except Exception as exc:  # each codec has its own errors: EOFError, zlib, zstd, ...
            raise self._corrupt(exc) from exc
        assert data is not None
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def _corrupt(self, exc: Exception) -> SourceError:
        return SourceError(
            self._path,
            self._offset,
            f"corrupt {self._name} data ({exc or type(exc).__name__}); the file is damaged "
            "or truncated: re-create it, or decompress it by hand to find the damage",
        )

    def close(self) -> None:
        self._stream.close()
        super().close()


class _ZstdReader(io.RawIOBase):
    """Zstandard frames one after another; a frame cut short is an error, not an early end."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._frame = self._new()
        self._in_frame = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            data = self._raw.read(128 * 1024)
            if not data:
                if self._in_frame:
                    raise EOFError("the file ends inside a frame")
                return 0
            while data:
                self._in_frame = True
                self._pending += self._frame.decompress(data)
                if not self._frame.eof:
                    break
                data = self._frame.unused_data
                self._frame = self._new()
                self._in_frame = False
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _FramedSnappyReader(io.RawIOBase):
    """Snappy's framing format: a stream identifier, then checksummed chunks of 64 KiB or less.

    https://github.com/google/snappy/blob/main/framing_format.txt
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pending = b""
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._next_chunk()
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_chunk(self) -> bytes | None:
        """The data of the next data chunk; None at the end of the stream."""
        import cramjam
        import fastcrc

        while True:
            at = self._raw.tell()
            head = self._raw.read(4)
            if not head:
                return None
            if len(head) < 4:
                raise ValueError(f"truncated chunk header at compressed byte {at}")
            kind = head[0]
            length = int.from_bytes(head[1:], "little")
            body = self._raw.read(length)
            if len(body) < length:
                raise ValueError(f"truncated chunk at compressed byte {at}")
            if not self._started and kind != 0xFF:
                raise ValueError("no stream identifier at the start")
            if kind == 0xFF:
                if body != _SNAPPY_STREAM_ID[4:]:
                    raise ValueError(f"bad stream identifier at compressed byte {at}")
                self._started = True
                continue
            if kind in (0x00, 0x01):
                if length < 4:
                    raise ValueError(f"chunk without checksum at compressed byte {at}")
                try:
                    data = body[4:] if kind else bytes(cramjam.snappy.decompress_raw(body[4:]))
                except cramjam.DecompressionError as exc:
                    raise ValueError(f"{exc} at compressed byte {at}") from exc
                crc = fastcrc.crc32.iscsi(data)
                masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
                if masked != int.from_bytes(body[:4], "little"):
                    raise ValueError(f"checksum mismatch in the chunk at compressed byte {at}")
                if data:
                    return data
                continue
            if kind <= 0x7F:
                raise ValueError(f"reserved chunk type {kind:#x} at compressed byte {at}")
            # 0x80-0xfe: skippable (padding and the like)

    def close(self) -> None:
        self._raw.close()
        super().close()
