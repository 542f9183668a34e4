"""Worker processes: each reads chunks, encodes and writes them through its own backend worker.

A worker gets its configuration as data (``WorkerSetup``, pickled), loads the plugins itself
and builds its own ``BackendWorker``, conflict strategy and encoder from the registry: nothing
of the main process (connections, channels, open stores) is inherited, so workers may start
with fork, forkserver or spawn. It reports each chunk's durable progress on a queue; the main
process owns checkpoints and progress. A worker dies with the main process
(``PR_SET_PDEATHSIG``), so a killed run leaves nothing writing behind it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

import attrs

from lightning_core.errors import LightningError
from lightning_core.interfaces import (
    BackendWorker,
    Chunk,
    ChunkProgress,
    ConflictStrategy,
    Engine,
    TargetTable,
)
from lightning_core.registry import (
    BackendRecord,
    ConflictStrategyRecord,
    EncoderRecord,
    Registry,
    bind_options,
)

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: Overrides how workers are started (``fork``, ``forkserver``, ``spawn``).
START_METHOD_ENV = "TIDB_LIGHTNING_WORKER_START"


@attrs.frozen(kw_only=True)
class WorkerSetup:
    """What every worker needs, as plain data."""

    config: LightningConfig
    task: str
    events: Any
    """Queue of ``Progress`` messages to the main process."""
    stop: Any
    """Event set by the main process to stop after the current batch."""
    log_to: str = ""
    """The main process's log file (``-``: stderr; empty: no logging set up)."""
    log_level: int = logging.INFO


def log_destination() -> tuple[str, int]:
    """Where and at which level this process logs, for workers that do not inherit it."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename, root.level
        if isinstance(handler, logging.StreamHandler):
            return "-", root.level
    return "", root.level


def _log_like_the_parent(setup: WorkerSetup) -> None:
    root = logging.getLogger()
    if root.handlers or not setup.log_to:
        return  # forked: the parent's handlers came along
    handler: logging.Handler = (
        logging.StreamHandler(sys.stderr)
        if setup.log_to == "-"
        else logging.FileHandler(setup.log_to, encoding="utf-8")
    )
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(setup.log_level)


@attrs.frozen(kw_only=True)
class ChunkJob:
    """One chunk to write, into which engines, and where a previous run left it."""

    table: TargetTable
    table_name: str
    chunk: Chunk
    engine: Engine
    index_engine: Engine
    start: ChunkProgress | None = None


@attrs.frozen
class Progress:
    """A chunk's new durable progress."""

    chunk_key: str
    table_name: str
    progress: ChunkProgress


@attrs.frozen
class ChunkOutcome:
    """How a chunk job ended."""

    chunk_key: str
    finished: bool
    """False when the worker stopped early because the main process asked it to."""
    batches: int
    """Progress messages sent for the chunk; the main process waits until it has them all."""


@attrs.define
class _Worker:
    """What one worker process built from its setup (lazily, on its first chunk)."""

    setup: WorkerSetup
    parent: int
    registry: Registry | None = None
    backend: BackendWorker | None = None


_worker: _Worker | None = None
"""This worker process's state; set by ``init_worker`` in the worker, never in the parent."""


def start_context(backend: BackendRecord) -> BaseContext:
    """How workers are started: fork where the backend allows it (fast: the plugins are
    already imported), forkserver otherwise; ``TIDB_LIGHTNING_WORKER_START`` overrides."""
    method = os.environ.get(START_METHOD_ENV) or ("fork" if backend.fork_safe else "forkserver")
    return multiprocessing.get_context(method)


def init_worker(setup: WorkerSetup) -> None:
    """Per-process start: die with the parent, ignore Ctrl-C and SIGTERM (the parent stops us
    cleanly)."""
    global _worker
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the stop event still ends the work
        log.debug("PR_SET_PDEATHSIG unavailable")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the parent stops us, or dies and kills us
    _log_like_the_parent(setup)
    _worker = _Worker(setup=setup, parent=os.getppid())


def _built() -> tuple[_Worker, Registry, BackendWorker]:
    worker = _worker
    assert worker is not None, "init_worker() runs first in every worker"
    if worker.registry is None or worker.backend is None:
        from lightning_core.plugins import load_plugins

        config = worker.setup.config
        host = load_plugins()
        worker.backend = build_backend_worker(
            host.registry, config, worker.setup.task, host.validate_options(config)
        )
        worker.registry = host.registry
    return worker, worker.registry, worker.backend


def build_backend_worker(
    registry: Registry, config: LightningConfig, task: str, options: Mapping[str, object]
) -> BackendWorker:
    """The worker side of the configured backend, with its conflict strategy and encoder."""
    record = registry.get("backend", config.tikv_importer.backend)
    strategy_record = registry.get("conflict_strategy", config.tikv_importer.on_duplicate)
    assert isinstance(record, BackendRecord)
    assert isinstance(strategy_record, ConflictStrategyRecord)
    strategy: ConflictStrategy = bind_options(strategy_record, strategy_record.factory, options)()
    encoder = None
    encoder_name = record.encoder_in(registry)
    if encoder_name is not None:
        encoder_record = registry.get("encoder", encoder_name)
        assert isinstance(encoder_record, EncoderRecord)
        encoder = bind_options(encoder_record, encoder_record.factory, options)
    return bind_options(record, record.worker_factory, options)(
        config=config, task=task, strategy=strategy, encoder=encoder
    )


def run_chunk(job: ChunkJob) -> ChunkOutcome:
    """Read, encode and write one chunk from its start (or resume) position.

    Errors reach the main process by pickle; an unexpected one is logged here with its
    traceback and sent on as a plain ``LightningError``.
    """
    try:
        return _run_chunk(job)
    except LightningError:
        raise
    except Exception as exc:
        log.exception("worker failed on %s", job.chunk.key)
        raise LightningError(
            f"{job.chunk.key}: unexpected {exc!r} while importing {job.table_name}; the log has "
            "the traceback; run again to resume"
        ) from None


def _run_chunk(job: ChunkJob) -> ChunkOutcome:
    worker, registry, backend = _built()
    setup = worker.setup
    sent = 0

    def report(progress: ChunkProgress) -> None:
        nonlocal sent
        setup.events.put(Progress(job.chunk.key, job.table_name, progress))
        sent += 1

    def stopped() -> bool:
        return setup.stop.is_set() or os.getppid() != worker.parent

    finished = write_chunk(backend, registry, setup.config, job, report=report, stopped=stopped)
    return ChunkOutcome(job.chunk.key, finished=finished, batches=sent)


def write_chunk(
    backend: BackendWorker,
    registry: Registry,
    config: LightningConfig,
    job: ChunkJob,
    *,
    report: Callable[[ChunkProgress], None],
    stopped: Callable[[], bool] = lambda: False,
) -> bool:
    """Read a chunk from its start position and write it through a writer of ``backend``,
    calling ``report`` with each durable progress the writer returns.

    :returns: True when the chunk was written to its end, False when ``stopped()`` said so.
    """
    chunk = job.chunk
    reader_record = registry.find_reader(chunk.file.format or "")
    start = job.start.position if job.start is not None else None
    # a backend that writes SQL takes a SQL source's row text as it is, unparsed
    raw = {"raw_sql": True} if reader_record.raw_sql and backend.accepts_raw_sql else {}
    reader = reader_record.factory(
        chunk=chunk,
        mydumper=config.mydumper,
        sql_mode=config.tidb.sql_mode or "",
        start=start,
        **raw,
    )
    writer = backend.open_writer(
        table=job.table,
        engine=job.engine,
        index_engine=job.index_engine,
        chunk=chunk,
        start=job.start,
    )
    # offsets of compressed files count decompressed bytes, Parquet offsets count rows: neither
    # measures the file on disk, so such chunks report their size only when they are done
    measurable = chunk.file.compression is None and chunk.file.format != "parquet"
    finished = True
    try:
        for batch in reader.batches():
            if stopped():
                finished = False
                break
            read_bytes = max(0, batch.end.offset - chunk.offset) if measurable else 0
            progress = writer.append_rows(batch, source_bytes=read_bytes)
            if progress is not None:
                report(progress)
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            writer.close()
        reader.close()
        raise
    try:
        progress = writer.close()
        if progress is not None:
            report(progress)
    finally:
        reader.close()
    return finished
