"""Conflict resolution of the local backend: ``[conflict] strategy = "replace" | "ignore"``.

Two source rows conflict when they have one primary key (one record key) or one value of a
unique index (one index key). Per key, ``replace`` keeps the row that comes LAST in source
order (the plan's order of the table's chunks, then the offset in the file) and ``ignore`` the
FIRST; every other row of that key loses. A row that loses on any key is removed with all its
pairs — its record and every index entry — so no index entry is left without its row and no
row without its index entries.

So under ``replace`` a row is kept when no later row shares a key with it, which is exactly
what a sequence of MySQL ``REPLACE`` statements leaves. Under ``ignore`` a row is kept when no
earlier row shares a key with it; MySQL's ``INSERT IGNORE`` only compares with the earlier
rows it *kept*, so on a chain (row 2 collides with row 1 on one key and with row 3 on another)
it keeps rows 1 and 3 where this keeps only row 1.

The engine order decides where each step happens: a data engine's close resolves record keys
in its walk (losers' records never reach a range) and keeps a map of the rows it keeps, (chunk,
row) → record key with that pair's CRC-64 and length, and the kept records in key order; the
index engine's close, after every data engine of the table is imported, resolves the record
keys two data engines both hold, finds the unique-index losers, skips every index pair of
every loser, and its import deletes the records of the rows that lost only on an index and
writes again the winners of the keys two data engines held.

Everything lives under ``<sorted-kv-dir>/<task>/conflicts/<index engine uuid>/`` (kept until
the task succeeds), each file written whole and renamed into place:

- ``rows-<engine id>/`` — the row map of a data engine (a RocksDB database);
- ``records-<engine id>.sst`` — the records a data engine kept, with suffixes and offsets;
- ``data-<engine id>.json`` — a data engine's losers, their conflicts and checksum;
- ``index.json`` — the index engine's losers, the record keys its import deletes and the
  checksum of every pair it dropped.

The table's conflicts are listed in ``<conflict-dir>/<db>.<table>.csv``, which outlives the
task: key (hex), index (``PRIMARY`` for the record key), the kept row's ``file:offset`` and the
dropped row's. A kept row named there may itself lose on another key; it is then listed as
dropped on that one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rocksdict import AccessType, Rdict, SstFileWriter, WriteOptions

from lightning_backend_local.sst import fsync_directory, sst_options, write_json
from lightning_core import INDEX_ENGINE_ID, DuplicateKeyError, Engine, KVChecksum, failpoint

log = logging.getLogger(__name__)

STRATEGIES = ("replace", "ignore")
"""The strategies this module resolves; ``error`` stops at the first duplicate instead."""
#: Tolerated dropped rows when ``[conflict] threshold`` is negative (TiDB Lightning's default).
DEFAULT_THRESHOLD = 10000
PRIMARY = "PRIMARY"
"""The index name of a record key in the report."""
_ROW = struct.Struct(">QQ")  # a row map entry: CRC-64 and length of the record pair, then key


@attrs.frozen
class Conflict:
    """One row that lost on one key."""

    key: bytes
    index: str
    kept: str
    """``file:offset`` of the row that won this key."""
    dropped: str
    """``file:offset`` of the row that lost."""

    def as_list(self) -> list[str]:
        """The JSON and CSV form."""
        return [self.key.hex(), self.index, self.kept, self.dropped]

    @classmethod
    def from_list(cls, row: Sequence[str]) -> Conflict:
        """The inverse of :meth:`as_list`."""
        return cls(bytes.fromhex(row[0]), row[1], row[2], row[3])


@attrs.frozen(kw_only=True)
class Resolution:
    """What one engine's close resolved."""

    losers: tuple[bytes, ...]
    """Row ids (the 16-byte key suffixes) of the rows that lost here."""
    conflicts: tuple[Conflict, ...]
    dropped: KVChecksum
    """Checksum of the pairs left out here (and, for the index engine, the records deleted)."""
    deletes: tuple[bytes, ...] = ()
    """Record keys the import deletes from the target (index engine only)."""
    puts: tuple[tuple[bytes, bytes], ...] = ()
    """Record pairs the import writes again: winners of keys two data engines held."""
    chunks: Mapping[bytes, tuple[int, str]] = attrs.field(factory=dict)
    """Chunk id → order and path of the chunks a data engine held (to name rows later)."""

    def to_json(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "losers": [loser.hex() for loser in self.losers],
            "conflicts": [c.as_list() for c in self.conflicts],
            "dropped": [self.dropped.checksum, self.dropped.total_kvs, self.dropped.total_bytes],
            "deletes": [key.hex() for key in self.deletes],
            "puts": [[key.hex(), value.hex()] for key, value in self.puts],
            "chunks": {chunk.hex(): list(mark) for chunk, mark in self.chunks.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resolution:
        """The inverse of :meth:`to_json`."""
        checksum, kvs, size = data["dropped"]
        return cls(
            losers=tuple(bytes.fromhex(loser) for loser in data["losers"]),
            conflicts=tuple(Conflict.from_list(c) for c in data["conflicts"]),
            dropped=KVChecksum(checksum, kvs, size),
            deletes=tuple(bytes.fromhex(key) for key in data["deletes"]),
            puts=tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in data["puts"]),
            chunks={bytes.fromhex(c): (int(m[0]), str(m[1])) for c, m in data["chunks"].items()},
        )


class RowMap:
    """The rows a data engine keeps: (chunk, row) → record key, its pair's CRC-64 and length;
    written under a temporary name and renamed into place by :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._temporary = path.with_name(path.name + ".tmp")
        for stale in (self._temporary, path):
            if stale.exists():
                shutil.rmtree(stale)  # a close cut short: made again
        options = sst_options()
        options.create_if_missing(True)
        self._db = Rdict(str(self._temporary), options)
        self._write = WriteOptions()
        # flushed and synced by commit; an attribute at run time, a method in the stubs
        self._write.disable_wal = True  # type: ignore[method-assign,assignment]

    def add(self, suffix: bytes, crc: int, size: int, key: bytes) -> None:
        """Record that row ``suffix`` keeps the record ``key`` (pair CRC ``crc``, ``size``
        bytes)."""
        self._db.put(suffix, _ROW.pack(crc, size) + key, self._write)

    def commit(self) -> None:
        """Flush the map and move it to its final name."""
        self._db.flush(wait=True)
        self._db.close()
        os.replace(self._temporary, self._path)
        fsync_directory(str(self._path.parent))


class SortedRecords:
    """The records a data engine keeps, with their suffixes and offsets, in key order: an
    SST file written under a temporary name and renamed into place by :meth:`commit` (no
    file when there are none)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._temporary = path.with_name(path.name + ".tmp")
        path.unlink(missing_ok=True)
        self._writer = SstFileWriter(options=sst_options())
        self._writer.open(str(self._temporary))
        self._count = 0

    def add(self, stored_key: bytes, stored_value: bytes) -> None:
        """Append a record (keys increase)."""
        self._writer[stored_key] = stored_value
        self._count += 1

    def commit(self) -> None:
        """Finish the file and move it to its final name."""
        if self._count:
            self._writer.finish()
            fd = os.open(self._temporary, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._temporary, self._path)
            fsync_directory(str(self._path.parent))
        else:
            del self._writer
            self._temporary.unlink(missing_ok=True)


class TableConflicts:
    """The conflict state of one table under a task's directory of ``sorted-kv-dir``."""

    def __init__(
        self,
        root: str,
        table: str,
        *,
        strategy: str,
        threshold: int,
        report_dir: str,
        index_names: Mapping[int, str] | None = None,
    ) -> None:
        self.table = table
        self.strategy = strategy
        self.threshold = threshold if threshold >= 0 else DEFAULT_THRESHOLD
        self.dir = Path(root) / "conflicts" / str(Engine(table, INDEX_ENGINE_ID).uuid)
        schema, name = Engine(table, INDEX_ENGINE_ID).names
        self.report = Path(report_dir) / f"{schema}.{name}.csv".replace(os.sep, "%2F")
        self._index_names = index_names or {}

    @property
    def keeps_latest(self) -> bool:
        """True for ``replace``."""
        return self.strategy == "replace"

    def index_name(self, key: bytes) -> str:
        """The index an index key belongs to (``PRIMARY`` for a record key)."""
        if key[9:11] == b"_r":
            return PRIMARY
        index_id = int.from_bytes(key[11:19], "big") ^ (1 << 63)
        return self._index_names.get(index_id, f"index {index_id}")

    def row_map(self, engine: Engine) -> RowMap:
        """A new row map for data engine ``engine`` (an old one is replaced)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return RowMap(self.dir / f"rows-{engine.id}")

    def records(self, engine: Engine) -> SortedRecords:
        """A new file of the records data engine ``engine`` keeps (an old one is replaced)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return SortedRecords(self.dir / f"records-{engine.id}.sst")

    def record_files(self) -> list[Path]:
        """The kept records of every data engine that had any."""
        return sorted(self.dir.glob("records-*.sst")) if self.dir.exists() else []

    def chunk_marks(self) -> dict[bytes, tuple[int, str]]:
        """Order and path of every chunk the data engines held."""
        return {chunk: mark for found in self._data() for chunk, mark in found.chunks.items()}

    def save_data(self, engine: Engine, resolution: Resolution) -> None:
        """Record what data engine ``engine``'s close resolved."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / f"data-{engine.id}.json", resolution.to_json())

    def _data(self) -> list[Resolution]:
        if not self.dir.exists():
            return []
        return [
            Resolution.from_json(json.loads(path.read_text()))
            for path in sorted(self.dir.glob("data-*.json"))
        ]

    def _index(self) -> Resolution | None:
        path = self.dir / "index.json"
        return Resolution.from_json(json.loads(path.read_text())) if path.exists() else None

    def data_losers(self) -> set[bytes]:
        """The rows the data engines' closes dropped."""
        return {loser for found in self._data() for loser in found.losers}

    def finish(
        self,
        new_losers: Iterable[bytes],
        conflicts: Sequence[Conflict],
        dropped: KVChecksum,
        across: Resolution,
    ) -> set[bytes]:
        """The index engine's part: look up the records of the rows that lost only on an index
        (to delete them at import), save it all, write the report and apply the threshold.

        :param dropped: checksum of the index pairs the close left out.
        :param across: the record keys resolved between data engines.
        :returns: every loser of the table.
        :raises DuplicateKeyError: more rows lost than ``[conflict] threshold`` allows.
        """
        data = self._data()
        losers = {loser for found in data for loser in found.losers} | set(across.losers)
        fresh = sorted(set(new_losers) - losers)
        total = dropped.copy()
        total.add(across.dropped)
        deletes = []
        maps = [
            Rdict(str(path), sst_options(), access_type=AccessType.read_only())
            for path in sorted(self.dir.glob("rows-*"))
            if not path.name.endswith(".tmp")
        ]
        try:
            for loser in fresh:
                entry = next((m[loser] for m in maps if loser in m), None)
                if entry is None:
                    raise DuplicateKeyError(
                        f"table {self.table}: a row that lost a unique key is in no row map of "
                        "its data engines (were they closed with another [conflict] strategy?); "
                        f"run `tidb-lightning-ctl --checkpoint-error-destroy={self.table}` and "
                        "import the table again"
                    )
                crc, size = _ROW.unpack_from(entry)
                total.checksum ^= crc
                total.total_kvs += 1
                total.total_bytes += size
                deletes.append(bytes(entry[_ROW.size :]))
        finally:
            for found_map in maps:
                found_map.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        resolution = Resolution(
            losers=(*across.losers, *fresh),
            conflicts=(*across.conflicts, *conflicts),
            dropped=total,
            deletes=tuple(deletes),
            puts=tuple((k, v) for k, v in across.puts if k not in set(deletes)),
        )
        write_json(self.dir / "index.json", resolution.to_json())
        failpoint("local:resolved")
        every = losers | set(fresh)
        listed = [c for found in data for c in found.conflicts] + list(resolution.conflicts)
        if listed:
            self._write_report(listed)
            log.warning(
                "%s: [conflict] strategy = %s dropped %d rows (%d conflicts); they are listed "
                "in %s",
                self.table,
                self.strategy,
                len(every),
                len(listed),
                self.report,
            )
        self._check_threshold(len(every))
        return every

    def finish_without_index_engine(self, across: Callable[[], Resolution]) -> None:
        """The index engine's part where it holds nothing (no secondary index, or cleaned up
        after its import): :meth:`finish` once, then only the threshold again."""
        index = self._index()
        if index is None:
            self.finish((), (), KVChecksum(), across())
            return
        self._check_threshold(len(self.data_losers() | set(index.losers)))

    def _check_threshold(self, dropped_rows: int) -> None:
        if dropped_rows > self.threshold:
            raise DuplicateKeyError(
                f"table {self.table}: {dropped_rows} rows conflict on a primary or unique key, "
                f"more than [conflict] threshold = {self.threshold}; they are listed in "
                f"{self.report}; clean the source or raise the threshold, then run "
                f"`tidb-lightning-ctl --checkpoint-error-destroy={self.table}` and import again"
            )

    def _write_report(self, conflicts: Sequence[Conflict]) -> None:
        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        out.writerow(["key", "index", "kept", "dropped"])
        out.writerows(c.as_list() for c in conflicts)
        self.report.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.report.with_name(self.report.name + ".tmp")
        with open(temporary, "w", encoding="utf-8", newline="") as file:
            file.write(text.getvalue())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.report)
        fsync_directory(str(self.report.parent))

    def writes(self) -> tuple[tuple[tuple[bytes, bytes], ...], tuple[bytes, ...]]:
        """Record pairs the index engine's import writes again, and record keys it deletes
        from the target."""
        found = self._index()
        return (found.puts, found.deletes) if found is not None else ((), ())

    def dropped_checksum(self) -> KVChecksum | None:
        """Checksum of every pair resolution dropped from the table; None when none."""
        found = [*self._data(), *filter(None, [self._index()])]
        if not any(r.dropped.total_kvs for r in found):
            return None
        total = KVChecksum()
        for resolution in found:
            total.add(resolution.dropped)
        return total
