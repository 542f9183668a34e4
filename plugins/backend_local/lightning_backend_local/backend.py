"""The local backend: workers encode rows into KV pairs and keep them in the worker — pairs
never cross a process boundary — until a flush writes them as sorted runs into the engines on
local disk; the main process merges each engine at close and ingests its ranges at import."""

from __future__ import annotations

import os
import resource
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from lightning_backend_local.chunks import ChunkPairs, chunk_pairs
from lightning_backend_local.engine import LocalEngine, RangeLimits, RunWriter
from lightning_backend_local.options import LocalOptions
from lightning_backend_local.quota import DiskLedger, disk_quota, held_on_disk
from lightning_backend_local.resolve import CONFLICTS_DIR, STRATEGIES, TableConflicts
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.tikv import open_ingest_target
from lightning_core import (
    Chunk,
    ChunkProgress,
    ConfigError,
    ConflictStrategy,
    Encoder,
    Engine,
    KVChecksum,
    PluginError,
    RowBatch,
    TargetError,
    TargetTable,
    failpoint,
    kv_conflict_strategy,
    parse_create_table,
    report_ranges,
)

if TYPE_CHECKING:
    from lightning_core import LightningConfig

#: Disk an engine takes per byte of source: the pairs (about 1.5× the source with the suffixes
#: that detect duplicates) in the merged runs and once more in the ranges cut from them.
ENGINE_BYTES_PER_SOURCE_BYTE = 3
#: Open files the merge of an engine's runs may need at once.
OPEN_FILES_NEEDED = 4096


def task_root(config: LightningConfig, task: str) -> str:
    """This task's directory under ``[tikv-importer] sorted-kv-dir``."""
    sorted_kv_dir = config.tikv_importer.sorted_kv_dir
    if not sorted_kv_dir:
        raise ConfigError(
            "[tikv-importer] sorted-kv-dir is empty: the local backend sorts KV pairs there; "
            "set it (or --sorted-kv-dir) to a directory on a fast disk with room for about "
            "twice the data"
        )
    return os.path.join(os.path.abspath(sorted_kv_dir), task)


class LocalBackend:
    """The main process's side: engine close (merge, duplicate check, ranges) and import."""

    name = "local"

    def __init__(self, *, config: LightningConfig, task: str, options: LocalOptions) -> None:
        self._root = task_root(config, task)
        self._limits = RangeLimits(
            size=int(config.tikv_importer.region_split_size),
            keys=int(config.tikv_importer.region_split_keys),
        )
        self._strategy = kv_conflict_strategy(config)
        if self._strategy not in (*STRATEGIES, "error"):
            raise ConfigError(
                f"[conflict] strategy = {self._strategy!r}: the local backend resolves "
                '"replace", "ignore" or "error"'
            )
        self._threshold = config.conflict.threshold
        self._max_record_rows = config.conflict.max_record_rows
        self._conflict_dir = os.path.abspath(options.conflict_dir)
        self._quota = disk_quota(config)
        self._ledger = DiskLedger(self._root) if self._quota is not None else None
        self._locks: dict[UUID, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        if config.tidb.pd_addr and self._strategy in STRATEGIES:
            raise ConfigError(
                f"[conflict] strategy = {self._strategy!r} with [tidb] pd-addr: into a TiKV "
                'cluster the local backend resolves no conflicts yet; use "error" (the '
                "default), or import into the embedded store (no pd-addr)"
            )
        if config.tidb.pd_addr and self._quota is not None:
            raise ConfigError(
                "[tikv-importer] disk-quota with [tidb] pd-addr: into a TiKV cluster the local "
                "backend imports whole engines only yet; remove disk-quota, or import into the "
                "embedded store (no pd-addr)"
            )
        self._store = open_ingest_target(config, options)

    def _local(self, engine: Engine) -> LocalEngine:
        return LocalEngine(self._root, engine, defer_ranges=self._quota is not None)

    def _engine_lock(self, engine: Engine) -> threading.Lock:
        """Serializes an engine's early imports and its close (threads of the engine pool)."""
        with self._locks_lock:
            return self._locks.setdefault(engine.uuid, threading.Lock())

    def _conflicts(self, table: str) -> TableConflicts | None:
        """The table's conflict resolution; None under ``error``."""
        if self._strategy not in STRATEGIES:
            return None
        schema, name = Engine(table, 0).names
        assert isinstance(self._store, EmbeddedStore)  # no conflict resolution into a cluster
        found = self._store.table(schema, name)
        indexes = (
            parse_create_table(found.statement, table_id=found.table_id, schema=schema).indexes
            if found is not None
            else ()
        )
        return TableConflicts(
            self._root,
            table,
            strategy=self._strategy,
            threshold=self._threshold,
            max_record_rows=self._max_record_rows,
            report_dir=self._conflict_dir,
            index_names={index.id: index.name for index in indexes},
        )

    def prepare(self, source_bytes: int) -> None:
        """Create the task's directory under ``sorted-kv-dir``, after checking that its disk
        has room for the engines and that enough files may be open."""
        os.makedirs(self._root, exist_ok=True)
        used = sum(f.stat().st_size for f in Path(self._root).rglob("*") if f.is_file())
        needed = source_bytes * ENGINE_BYTES_PER_SOURCE_BYTE - used
        free = shutil.disk_usage(self._root).free
        if needed > free:
            raise TargetError(
                f"sorted-kv-dir {os.path.dirname(self._root)} has {free >> 20} MiB free, but "
                f"the engines of {source_bytes >> 20} MiB of source data need about "
                f"{needed >> 20} MiB more; free space or set [tikv-importer] sorted-kv-dir to a "
                "larger disk"
            )
        _raise_open_file_limit()
        if self._ledger is not None:  # the engines' runs; not what conflict resolution keeps
            root = Path(self._root)
            self._ledger.reset(held_on_disk(root) - held_on_disk(root / CONFLICTS_DIR))

    def durable(self, chunk_keys: Sequence[str]) -> dict[str, ChunkProgress]:
        """Nothing beyond the checkpoint: a chunk's runs are durable when progress is reported."""
        return {}

    def close_engine(self, engine: Engine) -> None:
        """Merge the engine's runs, check for (or resolve) duplicate keys and cut its ranges
        (first importing what a killed run left of an early import)."""
        local = self._local(engine)
        with self._engine_lock(engine):
            for part in local.parts():
                self._import_part(part)
            local.close(self._limits, self._conflicts(engine.table))
        failpoint("local:closed")

    def import_engine(self, engine: Engine) -> None:
        """Ingest the engine's ranges into the embedded store (or the cluster of ``[tidb]
        pd-addr``); after the index engine's, delete
        the records of the rows that lost a unique key (and write again the winners of record
        keys two data engines held)."""
        local = self._local(engine)
        if not local.ingest_ranges(self._ingest, self._limits):
            return
        failpoint("local:ingested")
        conflicts = self._conflicts(engine.table) if engine.is_index else None
        if conflicts is not None:
            assert isinstance(self._store, EmbeddedStore)
            self._store.write(*conflicts.writes())
            failpoint("local:deleted")
        local.mark_imported()

    def resolved_checksum(self, table: str) -> KVChecksum | None:
        """Lightning's checksum of the pairs conflict resolution dropped from ``table``."""
        conflicts = self._conflicts(table)
        return conflicts.dropped_checksum() if conflicts is not None else None

    def _ingest(self, paths: Sequence[str]) -> None:
        """Ingest range files (each cut just now or at close), counted in ``/metrics``."""
        report_ranges("cut", len(paths))
        self._store.ingest(paths)
        report_ranges("imported", len(paths))

    def cleanup_engine(self, engine: Engine) -> None:
        """Remove the engine's files."""
        self._remove(self._local(engine))

    def _remove(self, local: LocalEngine) -> None:
        held = held_on_disk(local.dir) if self._ledger is not None and local.exists else 0
        local.cleanup()
        if self._ledger is not None:
            self._ledger.add(-held)

    # --- [tikv-importer] disk-quota ---------------------------------------------------------

    def over_quota(self) -> bool:
        """True when the engines' bytes under sorted-kv-dir reached ``disk-quota`` (a read of
        the shared count)."""
        return (
            self._ledger is not None
            and self._quota is not None
            and self._ledger.held() >= self._quota
        )

    def engine_bytes(self, engine: Engine) -> int:
        """The bytes an engine that is still being written holds (a walk of its directory:
        only when the quota is reached)."""
        local = self._local(engine)
        return held_on_disk(local.dir) if local.exists else 0

    def import_early(self, engine: Engine) -> None:
        """Import the runs an engine that is still being written holds so far, and remove
        them: the engine goes on with the runs written from now on (TiDB Lightning's import
        and reset under the disk quota). Duplicates are found within each part only.

        :raises TargetError: under ``replace`` / ``ignore``, which resolve whole engines only:
            the quota is too small for this import.
        """
        if self._strategy in STRATEGIES:
            raise TargetError(
                f"[tikv-importer] disk-quota = {self._quota} bytes is too small: engine "
                f"{engine.tag} holds {self.engine_bytes(engine) >> 10} KiB under sorted-kv-dir "
                "and no closed engine is left to import, while [conflict] strategy = "
                f'"{self._strategy}" imports engines only whole; raise disk-quota above the '
                "largest engine and run again to resume"
            )
        local = self._local(engine)
        with self._engine_lock(engine):
            for left in local.parts():
                self._import_part(left)
            part = local.take_part()
            if part is not None:
                self._import_part(part)

    def _import_part(self, part: LocalEngine) -> None:
        part.close(self._limits)
        failpoint("local:part-closed")
        if part.ingest_ranges(self._ingest, self._limits):
            failpoint("local:part-ingested")
            part.mark_imported()
        failpoint("local:part-imported")
        self._remove(part)

    def release_writers(self) -> None:
        """Make workers that wait for room under the quota give up (the import stops)."""
        if self._ledger is not None:
            self._ledger.stop()

    def forget_chunks(self, chunk_keys: Sequence[str]) -> None:
        """Runs live in engines, which ``cleanup_engine`` removes."""

    def forget_task(self) -> None:
        """Remove this task's directory under ``sorted-kv-dir`` (and the directory itself when
        nothing else is in it)."""
        root = Path(self._root)
        if root.exists():
            shutil.rmtree(root)
        parent = root.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()

    def close(self) -> None:
        """Release the store."""
        self._store.close()


def _raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= OPEN_FILES_NEEDED:
        return
    if hard == resource.RLIM_INFINITY or hard >= OPEN_FILES_NEEDED:
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_NEEDED, hard))
        return
    raise TargetError(
        f"the open-file limit is {soft} (hard limit {hard}) but merging engines needs "
        f"{OPEN_FILES_NEEDED}; raise it (`ulimit -n {OPEN_FILES_NEEDED}`) and run again"
    )


class LocalWorker:
    """A worker process's side: opens writers that encode and buffer pairs."""

    accepts_raw_sql = False

    def __init__(
        self,
        *,
        config: LightningConfig,
        task: str,
        strategy: ConflictStrategy,
        encoder: Callable[..., Encoder[object]] | None,
        options: LocalOptions,
    ) -> None:
        if encoder is None:
            raise PluginError('the local backend needs an encoder (encoder = "kv")')
        self._config = config
        self._root = task_root(config, task)
        self._encoder = encoder
        self._budget = max(1, int(config.tikv_importer.local_writer_mem_cache_size))
        self._quota = disk_quota(config)
        self._ledger = DiskLedger(self._root) if self._quota is not None else None
        if self._quota is not None:
            self._budget = min(self._budget, self._quota)  # as TiDB Lightning caps it

    def open_writer(
        self,
        *,
        table: TargetTable,
        engine: Engine,
        index_engine: Engine,
        chunk: Chunk,
        start: ChunkProgress | None,
    ) -> LocalWriter:
        """A writer for one chunk: data pairs to ``engine``, index pairs to ``index_engine``."""
        return LocalWriter(
            pairs=chunk_pairs(self._encoder, self._config, table, chunk, start, backend="local"),
            data=RunWriter(self._root, engine, chunk.key, chunk.row_id_base),
            index=RunWriter(self._root, index_engine, chunk.key, chunk.row_id_base),
            start=start,
            budget=self._budget,
            quota=(self._ledger, self._quota) if self._ledger and self._quota else None,
        )

    def close(self) -> None:
        """Writers hold everything; nothing per process."""


class LocalWriter:
    """Encodes a chunk's batches, buffers the pairs and reports progress after each flush."""

    def __init__(
        self,
        *,
        pairs: ChunkPairs,
        data: RunWriter,
        index: RunWriter,
        start: ChunkProgress | None,
        budget: int,
        quota: tuple[DiskLedger, int] | None = None,
    ) -> None:
        """:param quota: the shared count of bytes held and ``disk-quota``: each flush waits
        for room first and counts what it wrote."""
        self._pairs = pairs
        self._quota = quota
        self._data = data
        self._index = index
        self._budget = budget
        self._first_row = start.rows if start is not None else 0
        """Row number of the first buffered row (names the next run)."""

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress | None:
        """Encode and buffer a batch; flush and report once the buffers reach the budget."""
        data, indexes = self._pairs.encode(batch, source_bytes=source_bytes)
        rows = range(batch.end.rows - batch.count, batch.end.rows)
        self._data.add(data, rows, batch.offsets)
        for pairs in indexes:
            self._index.add(pairs, rows, batch.offsets)
        if self._data.buffered_bytes + self._index.buffered_bytes >= self._budget:
            return self._flush()
        return None

    def _flush(self) -> ChunkProgress | None:
        if self._pairs.pending is None:
            return None
        if self._quota is not None:
            ledger, quota = self._quota
            ledger.wait_for_room(quota)
            ledger.add(self._data.flush(self._first_row) + self._index.flush(self._first_row))
        else:
            self._data.flush(self._first_row)
            self._index.flush(self._first_row)
        failpoint("local:flushed")
        progress = self._pairs.take()
        assert progress is not None
        self._first_row = progress.rows
        return progress

    def close(self) -> ChunkProgress | None:
        """Flush what is buffered; the chunk's durable progress."""
        return self._flush()
