"""An engine's range files read back: they are hard-linked into one temporary RocksDB beside
them (no copy; the range files themselves stay for a resume), which seeks and iterates in C
and is read by every range job at once. The ranges are disjoint, so the database keeps one
file per range, and its file metadata gives each range's first and last key and count."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import cast

import attrs
from rocksdict import IngestExternalFileOptions, Rdict, ReadOptions

from lightning_backend_local.sst import sst_options
from lightning_backend_local.tikv.regions import KeyRange

READ_DIRECTORY = "cluster-read"


@attrs.frozen
class RangeFile:
    """One range file: its name, first and last key, and how many pairs it holds."""

    name: str
    first: bytes
    last: bytes
    kvs: int


class EngineReader:
    """Reads the range files of one engine; a context manager that removes its database."""

    def __init__(self, paths: Sequence[str]) -> None:
        ordered = sorted(paths)
        self._dir = Path(ordered[0]).parent.parent / READ_DIRECTORY
        if self._dir.exists():
            shutil.rmtree(self._dir)  # left by a killed run
        self._dir.mkdir()
        options = sst_options()
        options.create_if_missing(True)
        self._db = Rdict(str(self._dir / "db"), options)
        links = []
        for number, path in enumerate(ordered):
            link = self._dir / f"{number:06d}.sst"
            os.link(path, link)
            links.append(str(link))
        ingest = IngestExternalFileOptions()
        ingest.set_move_files(True)
        self._db.ingest_external_file(links, ingest)
        files = sorted(self._db.live_files(), key=lambda f: cast(bytes, f["start_key"]))
        if len(files) != len(ordered):
            raise AssertionError(f"{len(ordered)} range files became {len(files)} in RocksDB")
        self.ranges = [
            RangeFile(
                os.path.basename(path),
                cast(bytes, found["start_key"]),
                cast(bytes, found["end_key"]),
                int(cast(int, found["num_entries"])),
            )
            for path, found in zip(ordered, files, strict=True)
        ]
        """The range files in key order."""

    def __enter__(self) -> EngineReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close and remove the temporary database."""
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def last_key(self, keys: KeyRange) -> bytes | None:
        """The largest key in ``keys`` (None: the range holds none)."""
        iterator = self._db.iter()
        iterator.seek_for_prev(keys.end)
        while iterator.valid():
            key = cast(bytes, iterator.key())
            if key < keys.end:
                return key if key >= keys.start else None
            iterator.prev()
        return None

    def pairs(self, keys: KeyRange) -> Iterator[tuple[bytes, bytes]]:
        """The pairs in ``keys``, in order."""
        options = ReadOptions()
        options.set_iterate_upper_bound(keys.end)
        yield from cast(
            Iterator[tuple[bytes, bytes]],
            self._db.items(from_key=keys.start, read_opt=options),
        )
