"""The pairs of a range file read back: the SST is hard-linked into a temporary RocksDB beside
it (no copy; the range file itself stays for a resume), which seeks and iterates in C."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from types import TracebackType
from typing import cast

from rocksdict import IngestExternalFileOptions, Rdict, ReadOptions

from lightning_backend_local.sst import sst_options
from lightning_backend_local.tikv.regions import KeyRange


class RangeReader:
    """Reads one range file; a context manager that removes its temporary database."""

    def __init__(self, path: str) -> None:
        self._dir = f"{path}.read"
        if os.path.exists(self._dir):
            shutil.rmtree(self._dir)  # left by a killed run
        os.makedirs(self._dir)
        options = sst_options()
        options.create_if_missing(True)
        self._db = Rdict(os.path.join(self._dir, "db"), options)
        link = os.path.join(self._dir, "input.sst")
        os.link(path, link)
        ingest = IngestExternalFileOptions()
        ingest.set_move_files(True)
        self._db.ingest_external_file([link], ingest)

    def __enter__(self) -> RangeReader:
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

    def bounds(self) -> tuple[bytes, bytes, int] | None:
        """The first key, the last key and the number of pairs (None: no pairs)."""
        iterator = self._db.iter()
        iterator.seek_to_first()
        if not iterator.valid():
            return None
        first = cast(bytes, iterator.key())
        iterator.seek_to_last()
        last = cast(bytes, iterator.key())
        count = sum(1 for _ in self._db.keys())  # noqa: SIM118 (Rdict is no iterable)
        return first, last, count

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
