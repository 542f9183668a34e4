"""Engines on local disk: sorted runs written by workers, merged at close, cut into ranges,
ingested at import.

Layout under ``<sorted-kv-dir>/<task>/<engine uuid>/``:

- ``runs/*.sst`` — one sorted run per writer flush (workers write them; a run under its final
  name is complete and fsynced);
- ``chunks.json`` — chunk id → chunk key, to name the rows of a duplicate;
- ``merged/`` — a RocksDB database the runs are ingested into at close (RocksDB does the k-way
  merge in C++);
- ``ranges/*.sst`` — the merged pairs cut into ranges of ``region-split-size`` /
  ``region-split-keys``, made at close and ingested at import;
- ``closed.json`` / ``imported.json`` — markers written once a step is done.

In runs and in ``merged/`` each key carries a 16-byte suffix — the id of the chunk and the row's
number in it — and each value an 8-byte prefix — the row's source offset. A row written twice
(after a resume) has the same suffix and collapses; two source rows with one key do not, so
the merge sees them side by side and reports both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import cast

import attrs
from rocksdict import IngestExternalFileOptions, Rdict

from lightning_backend_local.sst import fsync_directory, sst_options, write_sst
from lightning_core import DuplicateKeyError, Engine

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


def _write_json(path: Path, data: object) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_directory(str(path.parent))


class RunWriter:
    """A worker's buffer of one engine's pairs for one chunk; each flush is a sorted run."""

    def __init__(self, root: str, engine: Engine, chunk_key: str) -> None:
        self._dir = engine_dir(root, engine)
        self._runs = self._dir / "runs"
        self._chunk = chunk_id(chunk_key)
        self._chunk_key = chunk_key
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
        self._runs.mkdir(parents=True, exist_ok=True)
        self._register_chunk()
        name = f"{self._chunk.hex()}-{first_row:012d}-{os.urandom(4).hex()}.sst"
        write_sst(str(self._runs / name), pairs)

    def _register_chunk(self) -> None:
        mark = self._dir / f"chunk-{self._chunk.hex()}.json"
        if not mark.exists():
            _write_json(mark, {"key": self._chunk_key})


@attrs.frozen
class RangeLimits:
    """Where ranges are cut: ``[tikv-importer] region-split-size`` / ``region-split-keys``."""

    size: int
    keys: int


class LocalEngine:
    """The coordinator's view of one engine directory; every step is idempotent."""

    def __init__(self, root: str, engine: Engine) -> None:
        self.engine = engine
        self.dir = engine_dir(root, engine)

    @property
    def exists(self) -> bool:
        """False for an engine nothing was written to, or that was cleaned up."""
        return self.dir.exists()

    def close(self, limits: RangeLimits) -> None:
        """Merge the runs and cut the ranges to import; reports duplicate keys."""
        if not self.exists or (self.dir / "closed.json").exists():
            return
        merged = self._merge()
        try:
            ranges = self._cut_ranges(merged, limits)
        finally:
            merged.close()
        _write_json(self.dir / "closed.json", {"ranges": ranges})

    def _merge(self) -> Rdict:
        merged = Rdict(str(self.dir / "merged"), sst_options())
        runs = sorted(str(p) for p in (self.dir / "runs").glob("*.sst"))
        if runs:
            ingest = IngestExternalFileOptions()
            ingest.set_move_files(True)
            merged.ingest_external_file(runs, ingest)
            merged.flush(wait=True)
        return merged

    def _pairs(self, merged: Rdict) -> Iterator[tuple[bytes, bytes]]:
        """The merged pairs without suffixes; a duplicate key stops with both rows named."""
        previous_key: bytes | None = None
        previous_origin = (b"", 0, 0)
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

    def _duplicate_message(
        self, key: bytes, first: tuple[bytes, int, int], second: tuple[bytes, int, int]
    ) -> str:
        kind = "primary key / record" if key[9:11] == b"_r" else "unique index"
        return (
            f"duplicate {kind} key {key.hex()} in table {self.engine.table}: the rows at "
            f"{self._where(first)} and {self._where(second)} have the same key; remove one of "
            "them from the source, then run again to resume"
        )

    def _where(self, origin: tuple[bytes, int, int]) -> str:
        chunk, row, offset = origin
        mark = self.dir / f"chunk-{chunk.hex()}.json"
        try:
            key = json.loads(mark.read_text())["key"]
        except (OSError, ValueError, KeyError):
            return f"row {row} of chunk {chunk.hex()}"
        path = key.rsplit(":", 1)[0]
        return f"{path}:{offset}"

    def _cut_ranges(self, merged: Rdict, limits: RangeLimits) -> list[str]:
        directory = self.dir / "ranges"
        if directory.exists():
            shutil.rmtree(directory)  # a close cut short: cut them again
        directory.mkdir()
        names: list[str] = []
        batch: list[tuple[bytes, bytes]] = []
        size = 0
        for key, value in self._pairs(merged):
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
        names = json.loads(closed.read_text())["ranges"]
        paths = [self.dir / "ranges" / name for name in names]
        if not all(p.exists() for p in paths):
            closed.unlink()
            merged = Rdict(str(self.dir / "merged"), sst_options())
            try:
                names = self._cut_ranges(merged, RangeLimits(size=1 << 62, keys=1 << 62))
            finally:
                merged.close()
            _write_json(closed, {"ranges": names})
            paths = [self.dir / "ranges" / name for name in names]
        return [str(p) for p in paths]

    def mark_imported(self) -> None:
        """Record that the ranges are in the store."""
        _write_json(self.dir / "imported.json", {})

    def cleanup(self) -> None:
        """Remove the engine's files."""
        if self.exists:
            shutil.rmtree(self.dir)
