"""Engines on local disk: sorted runs written by workers, merged at close, cut into ranges,
ingested at import.

Layout under ``<sorted-kv-dir>/<task>/<engine uuid>/``:

- ``runs/*.sst`` — one sorted run per writer flush (workers write them; a run under its final
  name is complete and fsynced);
- ``chunk-<chunk id>.json`` — the chunk's key and its place among the table's chunks, to name
  the rows of a duplicate and to tell which came first;
- ``merged/`` — a RocksDB database the runs are ingested into at close (RocksDB does the k-way
  merge in C++);
- ``ranges/*.sst`` — the merged pairs cut into ranges of ``region-split-size`` /
  ``region-split-keys``, made at close and ingested at import;
- ``closed.json`` / ``imported.json`` — markers written once a step is done (``closed.json``
  names the ranges and the rows conflict resolution left out of them).

In runs and in ``merged/`` each key carries a 16-byte suffix — the id of the chunk and the row's
number in it — and each value an 8-byte prefix — the row's source offset. A row written twice
(after a resume) has the same suffix and collapses; two source rows with one key do not, so
the merge sees them side by side and reports both — or, under ``[conflict] strategy =
"replace" | "ignore"``, keeps one of them (see :mod:`lightning_backend_local.resolve`).

A run the merge cannot read, a merged database the walk cannot read and a full disk stop the
engine with one line naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import cast

import attrs
from rocksdict import IngestExternalFileOptions, Rdict

from lightning_backend_local.resolve import PRIMARY, Conflict, Resolution, TableConflicts
from lightning_backend_local.sst import sst_options, write_json, write_sst
from lightning_core import (
    DuplicateKeyError,
    Engine,
    KVChecksum,
    LightningError,
    TargetError,
    failpoint,
)

_SUFFIX = struct.Struct(">8sQ")
SUFFIX_BYTES = _SUFFIX.size
_OFFSET = struct.Struct(">Q")
OFFSET_BYTES = _OFFSET.size


def chunk_id(chunk_key: str) -> bytes:
    """The 8 bytes that name a chunk in engine keys."""
    return hashlib.sha1(chunk_key.encode()).digest()[:8]


def engine_dir(root: str, engine: Engine) -> Path:
    """Where an engine's files live under a task's directory of ``sorted-kv-dir``."""
    return Path(root) / str(engine.uuid)


#: A row in an engine: its key without the suffix, the 16-byte suffix, the stored value.
Member = tuple[bytes, bytes, bytes]


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return "No space left on device" in str(exc)  # RocksDB's IO errors are plain exceptions


@contextlib.contextmanager
def disk_writes(root: Path, what: str) -> Iterator[None]:
    """Turn a full disk while writing ``what`` under the task directory ``root`` (of
    ``sorted-kv-dir``) into one line saying so and how much space is free."""
    try:
        yield
    except LightningError:
        raise
    except Exception as exc:
        if not _disk_full(exc):
            raise
        sorted_kv_dir = root.parent
        free = shutil.disk_usage(sorted_kv_dir if sorted_kv_dir.exists() else "/").free
        raise TargetError(
            f"sorted-kv-dir {sorted_kv_dir} is full: no space left on device while writing "
            f"{what} ({free / (1 << 20):.1f} MiB free without it); free space there or set "
            "[tikv-importer] sorted-kv-dir to a larger disk, then run again to resume"
        ) from exc


class RunWriter:
    """A worker's buffer of one engine's pairs for one chunk; each flush is a sorted run."""

    def __init__(self, root: str, engine: Engine, chunk_key: str, order: int = 0) -> None:
        """:param order: the chunk's place among the table's chunks (increasing in the plan's
        order: its ``row_id_base``), which decides the row conflict resolution keeps."""
        self._root = Path(root)
        self._engine = engine
        self._dir = engine_dir(root, engine)
        self._runs = self._dir / "runs"
        self._chunk = chunk_id(chunk_key)
        self._chunk_key = chunk_key
        self._order = order
        self._pairs: list[tuple[bytes, bytes]] = []
        self.buffered_bytes = 0
        """Memory the buffer holds (keys, values and the objects around them)."""

    def add(
        self, pairs: Sequence[tuple[bytes, bytes]], rows: Iterable[int], offsets: Iterable[int]
    ) -> None:
        """Buffer pairs, one per row: ``pairs[i]`` belongs to row ``rows[i]`` of the chunk,
        which starts at source offset ``offsets[i]``."""
        chunk = self._chunk
        suffix = _SUFFIX.pack
        prefix = _OFFSET.pack
        added = [
            (key + suffix(chunk, row), prefix(max(0, offset)) + value)
            for (key, value), row, offset in zip(pairs, rows, offsets, strict=False)
        ]
        self._pairs.extend(added)
        # two bytes objects and a tuple per pair, besides the bytes themselves
        self.buffered_bytes += sum(len(k) + len(v) for k, v in added) + 120 * len(added)

    def flush(self, first_row: int) -> None:
        """Write the buffer as a sorted, fsynced run (nothing when it is empty)."""
        if not self._pairs:
            return
        pairs = self._pairs
        self._pairs = []
        self.buffered_bytes = 0
        pairs.sort()  # timsort: one pass when the keys already increase
        name = f"{self._chunk.hex()}-{first_row:012d}-{os.urandom(4).hex()}.sst"
        with disk_writes(self._root, f"a run of engine {self._engine.tag}"):
            self._runs.mkdir(parents=True, exist_ok=True)
            self._register_chunk()
            write_sst(str(self._runs / name), pairs)

    def _register_chunk(self) -> None:
        mark = self._dir / f"chunk-{self._chunk.hex()}.json"
        if not mark.exists():
            write_json(mark, {"key": self._chunk_key, "order": self._order})


@attrs.frozen
class RangeLimits:
    """Where ranges are cut: ``[tikv-importer] region-split-size`` / ``region-split-keys``."""

    size: int
    keys: int


#: Chunk id → the chunk's order among the table's chunks and its file's path.
ChunkMarks = Mapping[bytes, tuple[int, str]]


def _members(db: Rdict, stored_keys: list[bytes]) -> list[Member]:
    return [(key[:-SUFFIX_BYTES], key[-SUFFIX_BYTES:], cast(bytes, db[key])) for key in stored_keys]


def duplicate_groups(
    db: Rdict, check: Callable[[bytes | None], None] | None = None
) -> Iterator[list[Member]]:
    """The groups of rows of ``db`` (keys with suffixes) that share a key, from a walk of the
    keys only; ``check(last key walked)`` at the end."""
    group: list[bytes] = []
    previous: bytes | None = None
    stored_key: bytes | None = None
    keys = db.keys()  # keys only: the values of duplicates are read one by one
    for raw_key in keys:
        stored_key = cast(bytes, raw_key)
        key = stored_key[:-SUFFIX_BYTES]
        if key == previous:
            group.append(stored_key)
            continue
        if len(group) > 1:
            yield _members(db, group)
        group, previous = [stored_key], key
    if len(group) > 1:
        yield _members(db, group)
    if check is not None:
        check(stored_key)


def winner(group: list[Member], marks: ChunkMarks, keep_latest: bool) -> Member:
    """The row of ``group`` that keeps its key: the latest or the first in source order."""
    if len(group) == 1:
        return group[0]

    def place(member: Member) -> tuple[int, int, int]:
        chunk, row = _SUFFIX.unpack(member[1])
        (offset,) = _OFFSET.unpack(member[2][:OFFSET_BYTES])
        return (marks.get(chunk, (0, ""))[0], offset, row)

    choose: Callable[..., Member] = max if keep_latest else min
    return choose(group, key=place)


def where(member: Member, marks: ChunkMarks) -> str:
    """``file:offset`` of a row (the chunk and row number where the chunk is unknown)."""
    chunk, row = _SUFFIX.unpack(member[1])
    (offset,) = _OFFSET.unpack(member[2][:OFFSET_BYTES])
    found = marks.get(chunk)
    return f"{found[1]}:{offset}" if found is not None else f"row {row} of chunk {chunk.hex()}"


def resolve_across_engines(conflicts: TableConflicts) -> Resolution:
    """Resolve record keys that two data engines of the table both hold (each close saw only
    its own): the kept records the closes saved are merged once more, the losers left out
    and each winner's record written again, since the target holds whichever engine was
    imported last."""
    files = conflicts.record_files()
    if len(files) < 2:
        return Resolution(losers=(), conflicts=(), dropped=KVChecksum())
    marks = conflicts.chunk_marks()
    temporary = conflicts.dir / "across.tmp"
    if temporary.exists():
        shutil.rmtree(temporary)
    db = Rdict(str(temporary), sst_options())
    losers: list[bytes] = []
    found: list[Conflict] = []
    puts: list[tuple[bytes, bytes]] = []
    dropped = KVChecksum()
    try:
        db.ingest_external_file([str(f) for f in files])  # copied: a rerun finds them again
        for group in duplicate_groups(db):
            kept = winner(group, marks, conflicts.keeps_latest)
            puts.append((kept[0], kept[2][OFFSET_BYTES:]))
            for member in group:
                if member is not kept:
                    losers.append(member[1])
                    dropped.update_one(member[0], member[2][OFFSET_BYTES:])
                    found.append(
                        Conflict(kept[0], PRIMARY, where(kept, marks), where(member, marks))
                    )
    finally:
        db.close()
        shutil.rmtree(temporary)
    return Resolution(
        losers=tuple(losers), conflicts=tuple(found), dropped=dropped, puts=tuple(puts)
    )


class LocalEngine:
    """The coordinator's view of one engine directory; every step is idempotent."""

    def __init__(self, root: str, engine: Engine) -> None:
        self.engine = engine
        self.dir = engine_dir(root, engine)
        self._root = Path(root)
        self._marks: dict[bytes, tuple[int, str]] | None = None

    @property
    def exists(self) -> bool:
        """False for an engine nothing was written to, or that was cleaned up."""
        return self.dir.exists()

    def close(self, limits: RangeLimits, conflicts: TableConflicts | None = None) -> None:
        """Merge the runs and cut the ranges to import; duplicate keys stop the table, or,
        with ``conflicts``, are resolved (see :mod:`lightning_backend_local.resolve`)."""
        if conflicts is not None and self.engine.is_index and not self.exists:
            conflicts.finish_without_index_engine(lambda: resolve_across_engines(conflicts))
            return
        if not self.exists or (self.dir / "closed.json").exists():
            return
        merged = self._merge()
        skip: set[bytes] = set()
        try:
            with disk_writes(self._root, f"the ranges of engine {self.engine.tag}"):
                if conflicts is None:
                    ranges = self._cut_ranges(merged, limits, self._pairs(merged))
                elif self.engine.is_index:
                    ranges, skip = self._close_index(merged, limits, conflicts)
                else:
                    ranges, skip = self._close_data(merged, limits, conflicts)
        finally:
            merged.close()
        write_json(
            self.dir / "closed.json", {"ranges": ranges, "skip": sorted(s.hex() for s in skip)}
        )

    def _merge(self) -> Rdict:
        merged = Rdict(str(self.dir / "merged"), sst_options())
        runs = sorted(str(p) for p in (self.dir / "runs").glob("*.sst"))
        if runs:
            ingest = IngestExternalFileOptions()
            ingest.set_move_files(True)
            try:
                with disk_writes(self._root, f"the merge of engine {self.engine.tag}"):
                    merged.ingest_external_file(runs, ingest)
                    merged.flush(wait=True)
            except LightningError:
                merged.close()
                raise
            except Exception as exc:  # rocksdict raises plain exceptions
                merged.close()
                bad = next((run for run in runs if run in str(exc)), str(self.dir / "runs"))
                raise self._unreadable(bad, exc) from exc
        return merged

    def _unreadable(self, path: str, exc: BaseException) -> TargetError:
        return TargetError(
            f"engine {self.engine.tag} ({self.engine.uuid}): {path} is corrupted or truncated "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}), so the rows "
            "written to it are lost; run `tidb-lightning-ctl --checkpoint-error-destroy="
            f"{self.engine.table}` and import the table again (or remove the checkpoint and "
            "the task's directory in sorted-kv-dir to start over)"
        )

    def _check_walk(self, merged: Rdict, last: bytes | None) -> None:
        """Raise when a walk of ``merged`` that ended after ``last`` (None: at once) stopped
        at an unreadable block rather than at the end: rocksdict's iteration ends silently."""
        cursor = merged.iter()
        if last is None:
            cursor.seek_to_first()
        else:
            cursor.seek(last)
            cursor.next()
        try:
            cursor.status()
        except Exception as exc:  # rocksdict raises plain exceptions
            raise self._unreadable(str(self.dir / "merged"), exc) from exc
        if cursor.valid():
            raise self._unreadable(str(self.dir / "merged"), RuntimeError("the walk stopped"))

    def _pairs(self, merged: Rdict) -> Iterator[tuple[bytes, bytes]]:
        """The merged pairs without suffixes; a duplicate key stops with both rows named."""
        previous_key: bytes | None = None
        previous_origin = (b"", 0, 0)
        stored_key: bytes | None = None
        for raw_key, raw_value in merged.items():
            stored_key, stored_value = cast(bytes, raw_key), cast(bytes, raw_value)
            key = stored_key[:-SUFFIX_BYTES]
            chunk, row = _SUFFIX.unpack(stored_key[-SUFFIX_BYTES:])
            (offset,) = _OFFSET.unpack(stored_value[:OFFSET_BYTES])
            origin = (chunk, row, offset)
            if key == previous_key:
                raise DuplicateKeyError(self._duplicate_message(key, previous_origin, origin))
            previous_key, previous_origin = key, origin
            yield key, stored_value[OFFSET_BYTES:]
        self._check_walk(merged, stored_key)

    def _kept(
        self, merged: Rdict, skip: set[bytes], dropped: KVChecksum
    ) -> Iterator[tuple[bytes, bytes]]:
        """The merged pairs without suffixes, but for the rows ``skip`` names (their pairs
        are added to ``dropped``)."""
        stored_key: bytes | None = None
        for raw_key, raw_value in merged.items():
            stored_key, stored_value = cast(bytes, raw_key), cast(bytes, raw_value)
            key = stored_key[:-SUFFIX_BYTES]
            if stored_key[-SUFFIX_BYTES:] in skip:
                dropped.update_one(key, stored_value[OFFSET_BYTES:])
                continue
            yield key, stored_value[OFFSET_BYTES:]
        self._check_walk(merged, stored_key)

    def _groups(self, merged: Rdict) -> Iterator[list[Member]]:
        """The merged rows, grouped by key."""
        group: list[Member] = []
        previous: bytes | None = None
        stored_key: bytes | None = None
        for raw_key, raw_value in merged.items():
            stored_key = cast(bytes, raw_key)
            key = stored_key[:-SUFFIX_BYTES]
            if key != previous:
                if group:
                    yield group
                group, previous = [], key
            group.append((key, stored_key[-SUFFIX_BYTES:], cast(bytes, raw_value)))
        if group:
            yield group
        self._check_walk(merged, stored_key)

    def _duplicate_groups(self, merged: Rdict) -> Iterator[list[Member]]:
        """The groups of rows that share a key (a walk of the keys only)."""
        return duplicate_groups(merged, lambda last: self._check_walk(merged, last))

    def _winner(self, group: list[Member], keep_latest: bool) -> Member:
        return winner(group, self._chunk_marks(), keep_latest)

    def _close_data(
        self, merged: Rdict, limits: RangeLimits, conflicts: TableConflicts
    ) -> tuple[list[str], set[bytes]]:
        """Cut the ranges keeping one row per record key; save the losers and the row map."""
        rows = conflicts.row_map(self.engine)
        records = conflicts.records(self.engine)
        losers: list[bytes] = []
        found: list[Conflict] = []
        dropped = KVChecksum()
        scratch = KVChecksum()
        keep_latest = conflicts.keeps_latest

        def kept() -> Iterator[tuple[bytes, bytes]]:
            for group in self._groups(merged):
                winner = self._winner(group, keep_latest)
                key, suffix, value = winner
                pair = value[OFFSET_BYTES:]
                scratch.checksum = 0
                scratch.update_one(key, pair)
                rows.add(suffix, scratch.checksum, len(key) + len(pair), key)
                records.add(key + suffix, value)
                yield key, pair
                for member in group:
                    if member is not winner:
                        losers.append(member[1])
                        dropped.update_one(key, member[2][OFFSET_BYTES:])
                        found.append(
                            Conflict(key, PRIMARY, self._where_of(winner), self._where_of(member))
                        )

        ranges = self._cut_ranges(merged, limits, kept())
        rows.commit()
        records.commit()
        failpoint("local:rows-mapped")
        resolution = Resolution(
            losers=tuple(losers),
            conflicts=tuple(found),
            dropped=dropped,
            chunks=self._chunk_marks(),
        )
        conflicts.save_data(self.engine, resolution)
        return ranges, set(losers)

    def _close_index(
        self, merged: Rdict, limits: RangeLimits, conflicts: TableConflicts
    ) -> tuple[list[str], set[bytes]]:
        """Find the record-key losers between data engines and the unique-index losers, then
        cut the ranges without any loser's pairs."""
        across = resolve_across_engines(conflicts)
        lost = conflicts.data_losers() | set(across.losers)
        fresh: set[bytes] = set()
        found: list[Conflict] = []
        for group in self._duplicate_groups(merged):
            winner = self._winner(group, conflicts.keeps_latest)
            index = conflicts.index_name(winner[0])
            for member in group:
                if member is not winner:
                    found.append(
                        Conflict(winner[0], index, self._where_of(winner), self._where_of(member))
                    )
                    if member[1] not in lost:
                        fresh.add(member[1])
        dropped = KVChecksum()
        ranges = self._cut_ranges(merged, limits, self._kept(merged, lost | fresh, dropped))
        return ranges, conflicts.finish(fresh, found, dropped, across)

    def _duplicate_message(
        self, key: bytes, first: tuple[bytes, int, int], second: tuple[bytes, int, int]
    ) -> str:
        kind = "primary key / record" if key[9:11] == b"_r" else "unique index"
        return (
            f"duplicate {kind} key {key.hex()} in table {self.engine.table}: the rows at "
            f"{self._where(first)} and {self._where(second)} have the same key; remove one of "
            'them from the source, or set [conflict] strategy = "replace" or "ignore", then run '
            "again to resume"
        )

    def _chunk_marks(self) -> dict[bytes, tuple[int, str]]:
        """Chunk id → the chunk's order and file path, from the marks writers leave."""
        if self._marks is None:
            marks = {}
            for mark in self.dir.glob("chunk-*.json"):
                try:
                    data = json.loads(mark.read_text())
                    key = str(data["key"])
                except (OSError, ValueError, KeyError):
                    continue
                marks[chunk_id(key)] = (int(data.get("order", 0)), key.rsplit(":", 1)[0])
            self._marks = marks
        return self._marks

    def _where_of(self, member: Member) -> str:
        return where(member, self._chunk_marks())

    def _where(self, origin: tuple[bytes, int, int]) -> str:
        chunk, row, offset = origin
        found = self._chunk_marks().get(chunk)
        if found is None:
            return f"row {row} of chunk {chunk.hex()}"
        return f"{found[1]}:{offset}"

    def _cut_ranges(
        self, merged: Rdict, limits: RangeLimits, pairs: Iterator[tuple[bytes, bytes]]
    ) -> list[str]:
        directory = self.dir / "ranges"
        if directory.exists():
            shutil.rmtree(directory)  # a close cut short: cut them again
        directory.mkdir()
        names: list[str] = []
        batch: list[tuple[bytes, bytes]] = []
        size = 0
        for key, value in pairs:
            batch.append((key, value))
            size += len(key) + len(value)
            if size >= limits.size or len(batch) >= limits.keys:
                names.append(self._write_range(directory, len(names), batch))
                batch, size = [], 0
        if batch:
            names.append(self._write_range(directory, len(names), batch))
        return names

    @staticmethod
    def _write_range(directory: Path, number: int, pairs: list[tuple[bytes, bytes]]) -> str:
        name = f"{number:06d}.sst"
        write_sst(str(directory / name), pairs)
        return name

    def range_files(self) -> list[str] | None:
        """The ranges to ingest, cut again from the merged pairs where an import cut short
        moved some of them away already; None when the engine is imported or unknown."""
        if not self.exists or (self.dir / "imported.json").exists():
            return None
        closed = self.dir / "closed.json"
        if not closed.exists():
            raise RuntimeError(f"engine {self.engine.tag} is imported before it is closed")
        marker = json.loads(closed.read_text())
        names = marker["ranges"]
        paths = [self.dir / "ranges" / name for name in names]
        if not all(p.exists() for p in paths):
            skip = {bytes.fromhex(s) for s in marker.get("skip", [])}
            closed.unlink()
            merged = Rdict(str(self.dir / "merged"), sst_options())
            try:
                with disk_writes(self._root, f"the ranges of engine {self.engine.tag}"):
                    pairs = self._kept(merged, skip, KVChecksum()) if skip else self._pairs(merged)
                    names = self._cut_ranges(merged, RangeLimits(size=1 << 62, keys=1 << 62), pairs)
            finally:
                merged.close()
            write_json(closed, {"ranges": names, "skip": marker.get("skip", [])})
            paths = [self.dir / "ranges" / name for name in names]
        return [str(p) for p in paths]

    def mark_imported(self) -> None:
        """Record that the ranges are in the store."""
        write_json(self.dir / "imported.json", {})

    def cleanup(self) -> None:
        """Remove the engine's files."""
        if self.exists:
            shutil.rmtree(self.dir)
