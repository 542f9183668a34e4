"""Worker processes: each reads chunks, encodes and writes them through its own backend.

Workers are forked from the main process, inherit the loaded plugins, open their own target
connections and report every committed batch on a queue; the main process owns checkpoints
and progress. A worker dies with the main process (``PR_SET_PDEATHSIG``), so a killed run
leaves nothing writing behind it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from typing import Any

import attrs

from lightning_core.checkpoints.state import ChunkState
from lightning_core.errors import LightningError
from lightning_core.interfaces import Chunk, ReadPosition
from lightning_core.pipeline.targets import TargetTable
from lightning_core.registry import BackendRecord, ConflictStrategyRecord, Registry

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@attrs.frozen(kw_only=True)
class WorkerSetup:
    """What every worker needs; set in the main process before the pool forks."""

    config: Any
    task: str
    registry: Registry
    backend: BackendRecord
    strategy: ConflictStrategyRecord
    events: Any
    """Queue of ``Progress`` messages to the main process."""
    stop: Any
    """Event set by the main process to stop after the current batch."""


@attrs.frozen(kw_only=True)
class ChunkJob:
    """One chunk to write, and where a previous run left it."""

    table: TargetTable
    table_name: str
    chunk: Chunk
    start: ChunkState | None = None


@attrs.frozen
class Progress:
    """A committed batch: the chunk's new position and what it added."""

    chunk_key: str
    table_name: str
    position: ReadPosition
    rows: int
    bytes: int


@attrs.frozen
class ChunkOutcome:
    """How a chunk job ended."""

    chunk_key: str
    finished: bool
    """False when the worker stopped early because the main process asked it to."""
    batches: int
    """Progress messages sent for the chunk; the main process waits until it has them all."""


_setup: WorkerSetup | None = None
_worker: dict[str, Any] = {}


def prepare(setup: WorkerSetup) -> None:
    """Record the setup in the main process; forked workers inherit it."""
    global _setup
    _setup = setup


def fork_context() -> Any:
    """The multiprocessing context workers are started with (fork: they inherit the plugins)."""
    return multiprocessing.get_context("fork")


def init_worker() -> None:
    """Per-process start: die with the parent, ignore Ctrl-C (the parent stops us cleanly)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the stop event still ends the work
        log.debug("PR_SET_PDEATHSIG unavailable")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker["parent"] = os.getppid()


def _backend() -> Any:
    assert _setup is not None
    backend = _worker.get("backend")
    if backend is None:
        backend = _setup.backend.factory(config=_setup.config, task=_setup.task)
        _worker["backend"] = backend
        _worker["strategy"] = _setup.strategy.factory()
    return backend


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
    assert _setup is not None, "prepare() must run before the pool starts"
    setup = _setup
    backend = _backend()
    chunk = job.chunk
    reader_record = setup.registry.find_reader(chunk.file.format or "")
    start = job.start.position if job.start is not None else None
    # a backend that writes SQL takes a SQL source's row text as it is, unparsed
    raw = {"raw_sql": True} if reader_record.raw_sql and backend.accepts_raw_sql else {}
    reader = reader_record.factory(
        chunk=chunk,
        mydumper=setup.config.mydumper,
        sql_mode=setup.config.tidb.sql_mode or "",
        start=start,
        **raw,
    )
    writer = backend.open_writer(table=job.table, chunk=chunk, strategy=_worker["strategy"])
    done_bytes = job.start.bytes if job.start is not None else 0
    # offsets of compressed files count decompressed bytes, Parquet offsets count rows: neither
    # measures the file on disk, so such chunks report their size only when they are done
    measurable = chunk.file.compression is None and chunk.file.format != "parquet"
    sent = 0
    try:
        for batch in reader.batches():
            if setup.stop.is_set() or os.getppid() != _worker.get("parent", os.getppid()):
                return ChunkOutcome(chunk.key, finished=False, batches=sent)
            read_bytes = max(0, batch.end.offset - chunk.offset) if measurable else 0
            writer.append_rows(batch, total_bytes=read_bytes)
            setup.events.put(
                Progress(chunk.key, job.table_name, batch.end, batch.count, read_bytes - done_bytes)
            )
            done_bytes = read_bytes
            sent += 1
    finally:
        writer.close()
        reader.close()
    return ChunkOutcome(chunk.key, finished=True, batches=sent)


def chunk_size(chunk: Chunk) -> int:
    """Bytes of the file on disk that a chunk stands for."""
    if chunk.file.compression is not None or chunk.file.format == "parquet":
        return chunk.file.size
    end = chunk.end if chunk.end is not None else chunk.file.size
    return max(0, end - chunk.offset)
