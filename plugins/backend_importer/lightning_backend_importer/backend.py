"""The importer backend: workers encode rows into KV pairs and stream them from the worker
process to tikv-importer (pairs never cross a process boundary on this side); the main process
closes, imports and cleans up engines there.

Durability: a writer reports a chunk's progress only after tikv-importer answered the streams
that carry its pairs, and the server answers a stream once its pairs are fsynced in a run of the
engine. What a run reported survives a kill of any worker, of this process and of the server
(which opens such an engine again with its acknowledged runs). A write that finds the engine
not open (the server restarted) opens it again and writes the unacknowledged pairs again; keys
written twice are one pair on the server.

The target, with no PD address, is the embedded store that tikv-importer's ``[import]
store-dir`` names, reached through ``[plugin.importer] store-dir``: the catalog (schemas, table
IDs) is kept here, the pairs are ingested by the server. RocksDB admits one process at a time,
so this process opens the store only for the moment it needs it, never while the server imports.
With ``[tidb] pd-addr`` the server imports into that TiKV cluster, and the target is the local
backend's for a cluster: TiDB through ``[tidb]``, or the catalog of ``[plugin.importer]
store-dir`` when it is set (a cluster without TiDB, such as the protocol double).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lightning_backend_local.chunks import ChunkPairs, chunk_pairs

from lightning_backend_importer.client import EngineClosedError, ImportKVClient, compose_ts
from lightning_backend_importer.options import ImporterOptions
from lightning_core import (
    Chunk,
    ChunkProgress,
    ConfigError,
    ConflictStrategy,
    Encoder,
    Engine,
    ImportPlan,
    KVChecksum,
    PluginError,
    RowBatch,
    TargetError,
    TargetTable,
    failpoint,
    kv_conflict_strategy,
)

if TYPE_CHECKING:
    from lightning_backend_local.store import EmbeddedTarget

    from lightning_core import LightningConfig

log = logging.getLogger(__name__)

#: Held while this process has the embedded store open and while tikv-importer imports into
#: it: the two processes take turns.
_STORE_TURN = threading.Lock()


def _refuse_conflict_strategy(config: LightningConfig) -> None:
    strategy = kv_conflict_strategy(config)
    if strategy != "error":
        raise ConfigError(
            f"[conflict] strategy {strategy!r}: tikv-importer keeps one pair per key and "
            "resolves no conflicts, so two source rows with one key fail the table's "
            "checksum; use the local backend for replace / ignore, or leave the strategy unset"
        )


class ImporterBackend:
    """The main process's side: engine close, import (one at a time per importer, as
    Lightning does) and cleanup on tikv-importer."""

    name = "importer"

    def __init__(self, *, config: LightningConfig, task: str, options: ImporterOptions) -> None:
        _refuse_conflict_strategy(config)
        self._client = ImportKVClient(config, retry_seconds=options.retry_seconds)
        self._pd_addr = config.tidb.pd_addr

    def prepare(self, source_bytes: int) -> None:
        """Check that tikv-importer answers and speaks a known version."""
        version = self._client.check_version()
        log.info("tikv-importer at %s: version %s", self._client.address, version)

    def durable(self, chunk_keys: Sequence[str]) -> dict[str, ChunkProgress]:
        """Nothing beyond the checkpoint: progress is reported once the server holds it."""
        return {}

    def close_engine(self, engine: Engine) -> None:
        """Close the engine on the server (one it does not have open is opened first: it may
        have restarted since the last write, or nothing was written)."""
        if not self._client.close_engine(engine.uuid):
            self._client.open_engine(engine.uuid)
            if not self._client.close_engine(engine.uuid):
                raise TargetError(
                    f"tikv-importer at {self._client.address} lost engine {engine.tag} "
                    f"({engine.uuid}) while closing it; run again to resume"
                )
        failpoint("importer:closed")

    def import_engine(self, engine: Engine) -> None:
        """Have the server ingest the engine."""
        with _STORE_TURN:
            started = time.monotonic()
            self._client.import_engine(engine.uuid, self._pd_addr)
        log.debug("engine %s imported in %.2f s", engine.tag, time.monotonic() - started)
        failpoint("importer:imported")

    def cleanup_engine(self, engine: Engine) -> None:
        """Delete the engine's files on the server."""
        self._client.cleanup_engine(engine.uuid)

    def forget_chunks(self, chunk_keys: Sequence[str]) -> None:
        """Pairs live in engines, which ``cleanup_engine`` removes."""

    def forget_task(self) -> None:
        """Nothing is kept on this side."""

    def resolved_checksum(self, table: str) -> KVChecksum | None:
        """None: the server keeps one pair per key and resolves no conflicts."""
        return None

    def close(self) -> None:
        """Close the channel."""
        self._client.close()


class ImporterStoreTarget:
    """The embedded store's ``Target`` (the local backend's), opened for each call only."""

    def __init__(self, *, config: LightningConfig, options: ImporterOptions) -> None:
        from lightning_backend_local.options import LocalOptions

        self._config = config
        self._options = LocalOptions(store_dir=options.store_dir)
        self.location = os.path.abspath(options.store_dir)

    @contextmanager
    def _target(self) -> Iterator[EmbeddedTarget]:
        from lightning_backend_local.store import EmbeddedTarget

        with _STORE_TURN:
            target = EmbeddedTarget(config=self._config, options=self._options)
            try:
                yield target
            finally:
                target.close()

    def create_schemas(self, plan: ImportPlan) -> None:
        """Record the plan's databases and tables in the store's catalog."""
        with self._target() as target:
            target.create_schemas(plan)

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        """The catalog's table."""
        with self._target() as target:
            return target.table(schema, name, model=model)

    def count_rows(self, table: TargetTable) -> int:
        """Record keys of the table."""
        with self._target() as target:
            return target.count_rows(table)

    def checksum(self, table: TargetTable) -> KVChecksum:
        """The checksum of every pair of the table."""
        with self._target() as target:
            return target.checksum(table)

    def rebase(self, table: TargetTable, max_row_id: int) -> None:
        """Record ``max_row_id`` as the table's auto-ID base."""
        with self._target() as target:
            target.rebase(table, max_row_id)

    def analyze(self, table: TargetTable) -> None:
        """Nothing: the store keeps no statistics."""

    def drop_table(self, table: TargetTable) -> None:
        """Delete the table's keys and its catalog entry."""
        with self._target() as target:
            target.drop_table(table)

    def close(self) -> None:
        """Nothing is held between calls."""


class ImporterWorker:
    """A worker process's side: its own channel to tikv-importer, writers per chunk."""

    accepts_raw_sql = False

    def __init__(
        self,
        *,
        config: LightningConfig,
        task: str,
        strategy: ConflictStrategy,
        encoder: Callable[..., Encoder[object]] | None,
        options: ImporterOptions,
    ) -> None:
        if encoder is None:
            raise PluginError('the importer backend needs an encoder (encoder = "kv")')
        self._config = config
        self._encoder = encoder
        self._client = ImportKVClient(config, retry_seconds=options.retry_seconds)
        self._budget = max(1, int(config.tikv_importer.local_writer_mem_cache_size))

    def open_writer(
        self,
        *,
        table: TargetTable,
        engine: Engine,
        index_engine: Engine,
        chunk: Chunk,
        start: ChunkProgress | None,
    ) -> ImporterWriter:
        """A writer for one chunk; opens its engines on the server."""
        pairs = chunk_pairs(self._encoder, self._config, table, chunk, start, backend="importer")
        for opened in (engine, index_engine):
            self._open(opened)
        return ImporterWriter(
            pairs=pairs,
            sink=EngineSink(self._client, engine, index_engine, self._open),
            budget=self._budget,
        )

    def _open(self, engine: Engine) -> None:
        try:
            self._client.open_engine(engine.uuid)
        except EngineClosedError as exc:
            raise TargetError(
                f"engine {engine.tag} ({engine.uuid}) is closed on tikv-importer at "
                f"{self._client.address} already, but rows are still to be written to it (an "
                "earlier import of this table left it?): remove it with tidb-lightning-ctl "
                f"--cleanup-engine={engine.uuid} and run again"
            ) from exc

    def close(self) -> None:
        """Close this process's channel."""
        self._client.close()


class EngineSink:
    """Streams a chunk's buffered pairs to its data and index engines."""

    def __init__(
        self,
        client: ImportKVClient,
        engine: Engine,
        index_engine: Engine,
        reopen: Callable[[Engine], None],
    ) -> None:
        self._client = client
        self._engines = (engine, index_engine)
        self._reopen = reopen
        # one timestamp for everything this writer sends, as Lightning takes one per engine
        self._commit_ts = compose_ts(int(time.time() * 1000))

    def send(
        self, data: Sequence[tuple[bytes, bytes]], index: Sequence[tuple[bytes, bytes]]
    ) -> None:
        """Write both engines' pairs; returns once the server holds them durably."""
        for engine, pairs in zip(self._engines, (data, index), strict=True):
            if not pairs:
                continue
            if self._client.write(engine.uuid, pairs, self._commit_ts):
                continue
            log.warning(
                "tikv-importer at %s did not have engine %s open (it restarted?): opened it "
                "again and wrote the pairs not yet acknowledged again",
                self._client.address,
                engine.tag,
            )
            self._reopen(engine)
            if not self._client.write(engine.uuid, pairs, self._commit_ts):
                raise TargetError(
                    f"tikv-importer at {self._client.address} lost engine {engine.tag} right "
                    "after opening it again; run again to resume"
                )
        failpoint("importer:written")


class ImporterWriter:
    """Encodes a chunk's batches, buffers the pairs up to a byte budget, streams them sorted,
    then reports the progress they carry."""

    def __init__(self, *, pairs: ChunkPairs, sink: EngineSink, budget: int) -> None:
        self._pairs = pairs
        self._sink = sink
        self._budget = budget
        self._data: list[tuple[bytes, bytes]] = []
        self._index: list[tuple[bytes, bytes]] = []
        self._buffered = 0

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress | None:
        """Encode and buffer a batch; stream and report once the buffer reaches the budget."""
        data, indexes = self._pairs.encode(batch, source_bytes=source_bytes)
        self._data.extend(data)
        for pairs in indexes:
            self._index.extend(pairs)
        # two bytes objects and a tuple per pair, besides the bytes themselves
        for pairs in (data, *indexes):
            self._buffered += sum(len(k) + len(v) for k, v in pairs) + 120 * len(pairs)
        if self._buffered >= self._budget:
            return self._flush()
        return None

    def _flush(self) -> ChunkProgress | None:
        if self._pairs.pending is None:
            return None
        # sorted here, in the worker processes: the server's sort of a run is then one pass
        self._data.sort()
        self._index.sort()
        self._sink.send(self._data, self._index)
        self._data, self._index, self._buffered = [], [], 0
        return self._pairs.take()

    def close(self) -> ChunkProgress | None:
        """Stream what is buffered; the chunk's durable progress."""
        return self._flush()
