"""Contract suites: the behaviour every implementation of an interface must show.

Subclass a suite in a test module and provide its fixture; pytest then runs every test of the
suite against your implementation::

    class TestMyStore(CheckpointStoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: MyStore(tmp_path / "cp")
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from lightning_core.config import config_from_toml
from lightning_core.config_sections import LightningConfig
from lightning_core.errors import LightningError
from lightning_core.interfaces import (
    INDEX_ENGINE_ID,
    Backend,
    CheckpointStore,
    Chunk,
    ChunkProgress,
    ConflictStrategy,
    Encoder,
    Engine,
    FileKind,
    ReadPosition,
    RowBatch,
    SourceFile,
    TargetTable,
    Value,
)
from lightning_core.kv.checksum import KVChecksum
from lightning_core.pipeline.plan import ImportPlan, make_plan
from lightning_core.pipeline.sql_target import open_target
from lightning_core.pipeline.workers import ChunkJob, build_backend_worker, write_chunk
from lightning_core.plugins import load_plugins, validate_plugin_options
from lightning_core.registry import BackendRecord, ComponentRecord, Kind, Registry, bind_options


class CheckpointStoreContract:
    """Stores keep records in order, across reopening, until reset.

    Fixture to provide: ``make_store`` — a callable returning a new store object over the same
    underlying storage each time it is called.
    """

    @pytest.fixture
    def make_store(self) -> Callable[[], CheckpointStore]:
        raise NotImplementedError("provide a make_store fixture")

    def test_new_store_is_empty(self, make_store: Callable[[], CheckpointStore]) -> None:
        store = make_store()
        assert store.read() == []
        assert isinstance(store.location, str) and store.location
        store.close()

    def test_records_come_back_in_order_after_reopening(
        self, make_store: Callable[[], CheckpointStore]
    ) -> None:
        store = make_store()
        records = [{"type": "task", "n": 1}, {"type": "chunk", "n": 2, "text": "é\n\"'"}]
        store.append(records[:1])
        store.append(records[1:])
        store.close()
        again = make_store()
        assert again.read() == records
        again.close()

    def test_replace_swaps_every_record(self, make_store: Callable[[], CheckpointStore]) -> None:
        store = make_store()
        store.append([{"type": "task"}, {"type": "chunk"}])
        store.replace([{"type": "task", "n": 2}, {"type": "completed"}])
        store.append([{"type": "after"}])
        store.close()
        again = make_store()
        assert again.read() == [{"type": "task", "n": 2}, {"type": "completed"}, {"type": "after"}]
        again.close()

    def test_reset_forgets_everything(self, make_store: Callable[[], CheckpointStore]) -> None:
        store = make_store()
        store.append([{"type": "task"}])
        store.reset()
        assert store.read() == []
        store.append([{"type": "task", "again": True}])
        assert store.read() == [{"type": "task", "again": True}]
        store.close()


class ConflictStrategyContract:
    """Strategies produce a statement head and tail and handle reported duplicates.

    Fixture to provide: ``strategy`` — the strategy object.
    """

    @pytest.fixture
    def strategy(self) -> ConflictStrategy:
        raise NotImplementedError("provide a strategy fixture")

    def test_verb_is_an_insert_or_replace_head(self, strategy: ConflictStrategy) -> None:
        verb = strategy.insert_verb().upper()
        assert verb.startswith(("INSERT", "REPLACE")) and verb.endswith("INTO")
        assert isinstance(strategy.name, str) and strategy.name

    def test_tail_is_text(self, strategy: ConflictStrategy) -> None:
        tail = strategy.statement_tail(("`a`", "`b`"))
        assert isinstance(tail, str)
        assert ";" not in tail

    def test_duplicate_error_raises_a_lightning_error_or_returns(
        self, strategy: ConflictStrategy
    ) -> None:
        try:
            strategy.on_duplicate_error("`db`.`t`", "'1' for key 'PRIMARY'", "f.sql:10")
        except LightningError as exc:
            assert "f.sql:10" in str(exc)


class SourceReaderContract:
    """Readers yield every row once, with offsets, and resume exactly from any batch end.

    Fixtures to provide: ``make_reader`` — ``(chunk, start) -> SourceReader``; ``sample`` —
    a ``(chunk, expected_rows)`` pair for a file holding several batches' worth of rows.
    """

    @pytest.fixture
    def make_reader(self) -> Callable[..., Any]:
        raise NotImplementedError("provide a make_reader fixture")

    @pytest.fixture
    def sample(self) -> tuple[Chunk, list[tuple[Value, ...]]]:
        raise NotImplementedError("provide a sample fixture")

    @staticmethod
    def _read(make_reader: Callable[..., Any], chunk: Chunk, start: Any = None) -> list[RowBatch]:
        reader = make_reader(chunk, start)
        try:
            return list(reader.batches())
        finally:
            reader.close()

    def test_reads_every_row_in_order(
        self, make_reader: Callable[..., Any], sample: tuple[Chunk, list[tuple[Value, ...]]]
    ) -> None:
        chunk, expected = sample
        batches = self._read(make_reader, chunk)
        assert [tuple(r) for b in batches for r in b.rows] == [tuple(r) for r in expected]
        for batch in batches:
            assert len(batch.offsets) == len(batch.rows)
            assert batch.offsets == sorted(batch.offsets)

    def test_resumes_exactly_from_every_batch_end(
        self, make_reader: Callable[..., Any], sample: tuple[Chunk, list[tuple[Value, ...]]]
    ) -> None:
        chunk, expected = sample
        batches = self._read(make_reader, chunk)
        assert len(batches) >= 2, "the sample must hold more than one batch"
        seen = 0
        for batch in batches[:-1]:
            seen += len(batch.rows)
            assert batch.end.rows == seen
            rest = self._read(make_reader, chunk, batch.end)
            assert [tuple(r) for b in rest for r in b.rows] == [tuple(r) for r in expected[seen:]]


class EncoderContract:
    """Encoders are deterministic and resumable: the same rows give the same output, and a
    fresh encoder started at any batch end gives exactly what the first one gave from there.

    Fixtures to provide: ``make_encoder`` — a callable returning a fresh encoder for the table;
    ``batches`` — consecutive batches of one chunk (at least two) and the chunk's path.
    """

    @pytest.fixture
    def make_encoder(self) -> Callable[[], Encoder[object]]:
        raise NotImplementedError("provide a make_encoder fixture")

    @pytest.fixture
    def batches(self) -> tuple[list[RowBatch], str]:
        raise NotImplementedError("provide a batches fixture")

    @staticmethod
    def _encode(encoder: Encoder[object], batches: list[RowBatch], path: str) -> list[object]:
        return [encoder.encode_batch(batch, path) for batch in batches]

    def test_same_rows_give_the_same_output(
        self, make_encoder: Callable[[], Encoder[object]], batches: tuple[list[RowBatch], str]
    ) -> None:
        rows, path = batches
        assert len(rows) >= 2, "the sample must hold more than one batch"
        assert self._encode(make_encoder(), rows, path) == self._encode(make_encoder(), rows, path)

    def test_resuming_at_any_batch_end_encodes_identically(
        self, make_encoder: Callable[[], Encoder[object]], batches: tuple[list[RowBatch], str]
    ) -> None:
        rows, path = batches
        whole = self._encode(make_encoder(), rows, path)
        for start in range(1, len(rows)):
            assert self._encode(make_encoder(), rows[start:], path) == whole[start:]


#: The table of ``KVEncoderContract``'s default sample: a non-clustered primary key, a unique
#: composite index and a DECIMAL index.
KV_SAMPLE_DDL = """CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer VARCHAR(40) NOT NULL,
  amount DECIMAL(12,2),
  note TEXT,
  PRIMARY KEY (id) NONCLUSTERED,
  UNIQUE KEY (customer, id),
  KEY (amount)
)"""


class KVEncoderContract(EncoderContract):
    """``EncoderContract`` for encoders of KV pairs (output ``(pairs, KVChecksum)``, as the
    ``kv`` encoder gives): per-batch checksums also combine into the checksum of all pairs.

    Set ``encoder_name`` to the encoder record's name; the fixtures then encode a sample of
    five batches of :data:`KV_SAMPLE_DDL` (override them for another table).
    """

    encoder_name = ""

    @pytest.fixture
    def make_encoder(self) -> Callable[[], Encoder[object]]:
        from lightning_core.schema.ddl import parse_create_table

        assert self.encoder_name, "set encoder_name, or provide a make_encoder fixture"
        table = parse_create_table(KV_SAMPLE_DDL, table_id=42, schema="shop")
        record = registry_with().get("encoder", self.encoder_name)
        return lambda: record.factory(table=table, sql_mode="STRICT_TRANS_TABLES")

    @pytest.fixture
    def batches(self) -> tuple[list[RowBatch], str]:
        batches = []
        for start in range(0, 300, 60):
            rows: list[tuple[Value, ...]] = [
                (i, f"customer {i % 17}".encode(), f"{i}.25".encode(), None if i % 3 else b"n")
                for i in range(start, start + 60)
            ]
            batches.append(
                RowBatch(
                    columns=("id", "customer", "amount", "note"),
                    rows=rows,
                    offsets=list(range(start, start + 60)),
                    end=ReadPosition(offset=start + 60, rows=start + 60),
                )
            )
        return batches, "orders.sql"

    def test_checksums_combine(
        self, make_encoder: Callable[[], Encoder[object]], batches: tuple[list[RowBatch], str]
    ) -> None:
        rows, path = batches
        combined = KVChecksum()
        every_pair = KVChecksum()
        for output in self._encode(make_encoder(), rows, path):
            assert isinstance(output, tuple) and len(output) == 2
            pairs, checksum = output
            assert isinstance(checksum, KVChecksum)
            combined.add(checksum)
            every_pair.update(pairs)
        assert combined == every_pair
        assert combined.total_kvs > 0


@attrs.frozen(kw_only=True)
class BackendSetup:
    """What ``BackendContract`` runs a backend with."""

    config: LightningConfig
    """A configuration with ``[tikv-importer] backend`` set to the backend, checkpoints on and
    a target (the backend's own, or ``[tidb]``) that is reachable."""
    table: TargetTable
    """An empty table of the target, as the target describes it (with its model when the
    backend needs one)."""
    chunk: Chunk
    """A chunk of source data for ``table`` that reads as at least three batches."""
    rows: int
    """Rows of ``chunk``."""
    registry: Registry
    """Where the backend's record, its encoder, the strategy and the readers are found."""


def _options(setup: BackendSetup) -> dict[str, Any]:
    return validate_plugin_options(setup.registry, setup.config)


def registry_with(*records: tuple[Kind, ComponentRecord]) -> Registry:
    """The registry of the installed plugins plus ``(kind, record)`` pairs, e.g. the record of
    a backend under test that is not installed (for ``BackendSetup.registry``)."""
    registry = load_plugins().registry
    for kind, record in records:
        registry.add(kind, record, "test")
    return registry


def data_chunk(path: str, schema: str, table: str, data_format: str = "sql") -> Chunk:
    """A whole data file of ``schema.table`` as one chunk (for ``BackendSetup.chunk``); the
    SQL reader yields one batch per INSERT statement, the CSV reader one per 4096 rows."""
    source = SourceFile(
        path=path,
        schema=schema,
        table=table,
        kind=FileKind.DATA,
        format=data_format,
        size=os.path.getsize(path),
    )
    return Chunk(file=source, index=0)


def describe_table(
    registry: Registry, config: LightningConfig, schema: str, name: str
) -> TargetTable:
    """A table as the configured backend's target describes it (for ``BackendSetup.table``);
    create it first on the target (with your target's own means, or ``Target.create_schemas``
    of a plan from ``plan_of(config)``)."""
    record = registry.get("backend", config.tikv_importer.backend)
    assert isinstance(record, BackendRecord)
    target = open_target(record, config, validate_plugin_options(registry, config))
    try:
        table = target.table(schema, name, model=record.needs_table_model)
    finally:
        target.close()
    assert table is not None, f"{schema}.{name} is not on the target"
    return table


def plan_of(config: LightningConfig) -> ImportPlan:
    """The plan of a configuration's data source, as ``tidb-lightning plan`` makes it."""
    return make_plan(config)


__all__ = [
    "BackendContract",
    "BackendSetup",
    "CheckpointStoreContract",
    "ConflictStrategyContract",
    "EncoderContract",
    "KVEncoderContract",
    "SourceReaderContract",
    "config_from_toml",
    "data_chunk",
    "describe_table",
    "plan_of",
    "registry_with",
]


class BackendContract:
    """Backends keep what a writer reported durable across a kill of the worker, import exactly
    the rows written, treat engine steps as idempotent and unknown engines as no-ops, and give
    the target's checksum equal to the local one where the target has a checksum.

    Fixture to provide: ``backend_setup`` — a ``BackendSetup``; it is used by one test, so
    make a fresh empty table for each.
    """

    @pytest.fixture
    def backend_setup(self) -> BackendSetup:
        raise NotImplementedError("provide a backend_setup fixture")

    @staticmethod
    def _record(setup: BackendSetup) -> BackendRecord:
        record = setup.registry.get("backend", setup.config.tikv_importer.backend)
        assert isinstance(record, BackendRecord)
        return record

    @staticmethod
    def _job(setup: BackendSetup, start: ChunkProgress | None = None) -> ChunkJob:
        name = setup.table.quoted
        return ChunkJob(
            table=setup.table,
            table_name=name,
            chunk=setup.chunk,
            engine=Engine(name, 0),
            index_engine=Engine(name, INDEX_ENGINE_ID),
            start=start,
        )

    def _write(
        self, setup: BackendSetup, start: ChunkProgress | None = None
    ) -> list[ChunkProgress]:
        reported: list[ChunkProgress] = []
        worker = build_backend_worker(setup.registry, setup.config, "contract", _options(setup))
        try:
            write_chunk(
                worker,
                setup.registry,
                setup.config,
                self._job(setup, start),
                report=reported.append,
            )
        finally:
            worker.close()
        return reported

    def _import(self, setup: BackendSetup, backend: Backend, *, times: int = 1) -> None:
        job = self._job(setup)
        for _ in range(times):
            for engine in (job.engine, job.index_engine):
                backend.close_engine(engine)
                backend.import_engine(engine)
                backend.cleanup_engine(engine)

    def _check_target(self, setup: BackendSetup, reported: list[ChunkProgress]) -> None:
        target = open_target(self._record(setup), setup.config, _options(setup))
        try:
            assert target.count_rows(setup.table) == setup.rows
            remote = target.checksum(setup.table)
            local = reported[-1].checksum
            if remote is not None and self._record(setup).uses_engines:
                assert remote == local
        finally:
            target.close()

    def _backend(self, setup: BackendSetup) -> Backend:
        record = self._record(setup)
        factory = bind_options(record, record.factory, _options(setup))
        backend = factory(config=setup.config, task="contract")
        backend.prepare(setup.chunk.file.size)
        return backend

    def test_imports_every_row_once_with_matching_checksums(
        self, backend_setup: BackendSetup
    ) -> None:
        backend = self._backend(backend_setup)
        try:
            reported = self._write(backend_setup)
            assert reported, "a writer must report durable progress by its close() at the latest"
            assert reported[-1].rows == backend_setup.rows
            self._import(backend_setup, backend)
            self._check_target(backend_setup, reported)
            resolved = getattr(backend, "resolved_checksum", None)  # optional
            if resolved is not None:  # a source without duplicates: nothing dropped
                assert resolved(self._job(backend_setup).engine.table) is None
        finally:
            backend.forget_task()
            backend.close()

    def test_engine_steps_are_idempotent(self, backend_setup: BackendSetup) -> None:
        backend = self._backend(backend_setup)
        try:
            reported = self._write(backend_setup)
            self._import(backend_setup, backend, times=2)
            self._check_target(backend_setup, reported)
        finally:
            backend.forget_task()
            backend.close()

    def test_unknown_engines_are_no_ops(self, backend_setup: BackendSetup) -> None:
        backend = self._backend(backend_setup)
        try:
            unknown = Engine("`no_such_db`.`no_such_table`", 7)
            backend.close_engine(unknown)
            backend.import_engine(unknown)
            backend.cleanup_engine(unknown)
        finally:
            backend.close()

    def test_durable_progress_survives_a_kill_of_the_worker(
        self, backend_setup: BackendSetup
    ) -> None:
        setup = backend_setup
        backend = self._backend(setup)
        try:
            reported = self._write_and_die(setup, after=2)
            held = backend.durable([setup.chunk.key]).get(setup.chunk.key)
            start = reported[-1] if reported else None
            if held is not None and (start is None or held.position.offset > start.position.offset):
                start = held
            assert start is not None and 0 < start.rows < setup.rows, (
                "the worker was killed after two durable batches"
            )
            rest = self._write(setup, start)
            self._import(setup, backend)
            self._check_target(setup, rest)
        finally:
            backend.forget_task()
            backend.close()

    def _write_and_die(self, setup: BackendSetup, *, after: int) -> list[ChunkProgress]:
        """Write in a forked child that is SIGKILLed once ``after`` progresses were reported;
        the progresses it reported, in order."""
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=self._child, args=(setup, send, after))
        child.start()
        send.close()
        reported: list[ChunkProgress] = []
        while True:
            try:
                reported.append(receive.recv())
            except EOFError:
                break
        child.join()
        assert child.exitcode == -signal.SIGKILL, f"the writer child ended with {child.exitcode}"
        return reported

    def _child(self, setup: BackendSetup, send: Any, after: int) -> None:
        count = 0

        def report(progress: ChunkProgress) -> None:
            nonlocal count
            send.send(progress)
            count += 1
            if count >= after:
                os.kill(os.getpid(), signal.SIGKILL)

        worker = build_backend_worker(setup.registry, setup.config, "contract", _options(setup))
        write_chunk(worker, setup.registry, setup.config, self._job(setup), report=report)
        os.kill(os.getpid(), signal.SIGKILL)  # fewer batches than asked: die all the same
