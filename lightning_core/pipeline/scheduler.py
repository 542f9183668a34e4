"""The scheduling loop: chunks in worker processes, engine close+import and table post-import
in threads, every checkpoint write in the loop's own thread.

Bounds, as TiDB Lightning has them: ``region-concurrency`` chunks at once, chunks of at most
``table-concurrency`` data engines and ``index-concurrency`` tables at once, and no chunk of a
new engine while ``2 × table-concurrency`` closed engines wait for their import.

A backend with a disk quota (``DiskQuotaBackend``) makes its workers wait at a flush while its
engines hold the quota; then no chunk starts, written engines are closed and imported largest
first, and when no engine import is under way to make room, the open engine holding the most
bytes is imported early.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from lightning_core import failpoints
from lightning_core.checkpoints.state import (
    ChunkState,
    TableState,
    chunk_record,
    engine_record,
    step_reached,
    table_record,
)
from lightning_core.errors import ImportInterrupted, LightningError
from lightning_core.interfaces import Backend, ChunkProgress, Engine, ReadPosition, Target
from lightning_core.pipeline import workers
from lightning_core.pipeline.plan import TableTask, chunk_size
from lightning_core.pipeline.postimport import TableOutcome, post_import
from lightning_core.pipeline.progress import ProgressReporter
from lightning_core.pipeline.resume import TaskCheckpoint
from lightning_core.registry import BackendRecord

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig
    from lightning_core.interfaces import TargetTable

log = logging.getLogger(__name__)


@attrs.define
class TableRun:
    """Book-keeping of one table during a run."""

    task: TableTask
    target: TargetTable
    state: TableState
    pending: dict[Engine, set[str]]
    """Data engine → keys of its chunks that are not done."""
    unimported: set[Engine]
    """Data engines not imported yet (backends with engines)."""
    rows_before: int = 0
    started: float = 0.0

    @property
    def name(self) -> str:
        """```db`.`table```."""
        return self.task.name

    def outcome(self, states: dict[str, ChunkState], *, kv: bool, backend: Backend) -> TableOutcome:
        """What the table's chunks wrote, less what the backend's conflict resolution dropped,
        for the post-import checks."""
        from lightning_core.kv.checksum import KVChecksum

        checksum = KVChecksum()
        rows = 0
        max_row_id = 0
        for chunk in self.task.chunks:
            state = states.get(chunk.key)
            if state is None:
                continue
            checksum.add(state.progress.checksum)
            rows += state.progress.rows - state.progress.skipped
            max_row_id = max(max_row_id, state.progress.max_row_id)
        resolved = getattr(backend, "resolved_checksum", None) if kv else None
        dropped = resolved(self.name) if resolved is not None else None
        if dropped is not None:
            checksum.remove(dropped)
        return TableOutcome(
            name=self.name,
            table=self.target,
            status=self.state.status,
            rows_read=rows,
            rows_before=self.rows_before,
            local=checksum if kv else None,
            max_row_id=max_row_id,
        )


@runtime_checkable
class DiskQuotaBackend(Protocol):
    """A backend whose engines on local disk stay within ``[tikv-importer] disk-quota``."""

    def over_quota(self) -> bool:
        """True when the engines hold the quota (cheap: asked on every turn of the loop)."""
        ...

    def engine_bytes(self, engine: Engine) -> int:
        """The bytes an engine that is still being written holds."""
        ...

    def import_early(self, engine: Engine) -> None:
        """Import what an engine holds so far and remove it; the engine goes on being written.

        :raises LightningError: the quota is too small for this import to go on.
        """
        ...

    def release_writers(self) -> None:
        """Make workers that wait for room give up: the import stops."""
        ...


class Scheduler:
    """Runs every remaining step of the given tables; ``run()`` returns when all are done or
    raises the first failure (after the work in flight has stopped)."""

    def __init__(
        self,
        *,
        config: LightningConfig,
        task_id: str,
        record: BackendRecord,
        backend: Backend,
        target: Target,
        checkpoint: TaskCheckpoint,
        runs: dict[str, TableRun],
        states: dict[str, ChunkState],
        progress: ProgressReporter,
        on_table_done: Callable[[TableRun], None],
        on_table_error: Callable[[str, BaseException], None],
    ) -> None:
        self._config = config
        self._task_id = task_id
        self._record = record
        self._backend = backend
        self._target = target
        self._checkpoint = checkpoint
        self._runs = runs
        self._states = states
        self._progress = progress
        self._on_table_done = on_table_done
        self._on_table_error = on_table_error
        lightning = config.lightning
        self._region_limit = max(1, int(lightning.region_concurrency or 1))
        self._engine_limit = max(1, int(lightning.table_concurrency or 1))
        self._table_limit = max(1, int(lightning.index_concurrency or 1))
        self._waiting = [
            workers.ChunkJob(
                table=run.target,
                table_name=run.name,
                chunk=chunk,
                engine=engine.engine,
                index_engine=run.task.index_engine,
                start=states[chunk.key].progress if chunk.key in states else None,
            )
            for run in runs.values()
            for engine in run.task.engines
            for chunk in engine.chunks
            if chunk.key in run.pending[engine.engine]
        ]
        progress.chunks["estimated"] = sum(len(run.task.chunks) for run in runs.values())
        for _job in self._waiting:
            progress.chunk_moved(None, "pending")
        self._chunks: dict[Future[workers.ChunkOutcome], workers.ChunkJob] = {}
        self._engines: dict[Future[None], tuple[TableRun, Engine]] = {}
        self._closable: list[tuple[TableRun, Engine]] = []
        """Engines written to their end, waiting for room in the engine pool."""
        self._posts: dict[Future[None], TableRun] = {}
        self._on_loop: queue.Queue[Callable[[], None]] = queue.Queue()
        """Work that threads hand to the loop's thread (every checkpoint write happens there)."""
        self._received: dict[str, int] = {}
        self._failure: BaseException | None = None
        self._engine_pool: Executor | None = None
        self._quota = backend if isinstance(backend, DiskQuotaBackend) else None
        self._early: dict[Future[None], tuple[TableRun, Engine]] = {}
        """Early imports under the disk quota."""
        self._post_pool: Executor | None = None

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Do the work; see the class docstring."""
        uses_engines = self._record.uses_engines
        with contextlib.ExitStack() as stack:
            self._engine_pool = stack.enter_context(
                ThreadPoolExecutor(self._engine_limit, thread_name_prefix="engine")
            )
            self._post_pool = stack.enter_context(
                ThreadPoolExecutor(
                    max(1, int(self._config.tidb.checksum_table_concurrency or 1)),
                    thread_name_prefix="post-import",
                )
            )
            for run in self._runs.values():
                self._start_table(run, uses_engines)
            if self._waiting:
                ctx = workers.start_context(self._record)
                events = ctx.Queue()
                stop = ctx.Event()
                log_to, log_level = workers.log_destination()
                setup = workers.WorkerSetup(
                    config=self._config,
                    task=self._task_id,
                    events=events,
                    stop=stop,
                    log_to=log_to,
                    log_level=log_level,
                )
                pool = stack.enter_context(
                    ProcessPoolExecutor(
                        max_workers=self._region_limit,
                        mp_context=ctx,
                        initializer=workers.init_worker,
                        initargs=(setup,),
                    )
                )
                try:
                    self._loop(pool, events, stop)
                except KeyboardInterrupt:
                    stop.set()
                    if self._quota is not None:
                        self._quota.release_writers()
                    self._waiting.clear()
                    for future in list(self._chunks):
                        with contextlib.suppress(BaseException):
                            future.result()
                    self._drain(events, 0.1)
                    raise ImportInterrupted(
                        "interrupted; progress is saved in the checkpoint: run the same "
                        "command again to resume"
                    ) from None
            else:
                self._loop(None, None, None)
        if self._failure is not None:
            if isinstance(self._failure, LightningError):
                raise self._failure
            raise LightningError(f"a worker failed: {self._failure!r}; see the log") from (
                self._failure
            )

    def _loop(self, pool: ProcessPoolExecutor | None, events: Any, stop: Any) -> None:
        while (
            self._waiting
            or self._chunks
            or self._engines
            or self._closable
            or self._posts
            or self._early
        ):
            self._start_engines()
            if pool is not None:
                self._start_chunks(pool)
            futures: list[Future[Any]] = [
                *self._chunks,
                *self._engines,
                *self._posts,
                *self._early,
            ]
            done, _ = wait(futures, timeout=0.05, return_when=FIRST_COMPLETED)
            if events is not None:
                self._drain(events, 0.05 if not done else 0)
            self._run_handed_over()
            for future in done:
                if future in self._chunks:
                    self._chunk_ended(future, events, stop)
                elif future in self._engines:
                    self._engine_ended(future, stop)
                elif future in self._early:
                    self._early_ended(future, stop)
                else:
                    self._post_ended(future, stop)
            self._enforce_quota(stop)
        if events is not None:
            self._drain(events, 0)
        self._run_handed_over()

    def _start_chunks(self, pool: ProcessPoolExecutor) -> None:
        if self._waiting and self._quota is not None and self._quota.over_quota():
            return  # no new chunk while the engines hold the disk quota
        while self._waiting and len(self._chunks) < self._region_limit and not self._failure:
            job = self._next_job()
            if job is None:
                return
            self._chunks[pool.submit(workers.run_chunk, job)] = job
            self._progress.chunk_moved("pending", "running")
            log.debug(
                "chunk %s of %s (engine %s): started at offset %d",
                job.chunk.key,
                job.table_name,
                job.engine.id,
                job.start.position.offset if job.start is not None else job.chunk.offset,
            )
            run = self._runs[job.table_name]
            run.started = run.started or time.monotonic()

    def _next_job(self) -> workers.ChunkJob | None:
        """The first waiting chunk that the engine, table and import bounds let start."""
        engines = {job.engine for job in self._chunks.values()}
        tables = {job.table_name for job in self._chunks.values()}
        importing = len(self._engines) + len(self._closable)
        for index, job in enumerate(self._waiting):
            if job.engine not in engines:
                if len(engines) >= self._engine_limit:
                    continue
                if self._record.uses_engines and importing >= 2 * self._engine_limit:
                    continue
            if job.table_name not in tables and len(tables) >= self._table_limit:
                continue
            return self._waiting.pop(index)
        return None

    def _fail(self, exc: BaseException, table: str, stop: Any) -> None:
        if self._failure is None:
            self._failure = exc
            if stop is not None:
                stop.set()
            if self._quota is not None:
                self._quota.release_writers()
            self._waiting.clear()
            self._on_table_error(table, exc)

    # --- chunks -----------------------------------------------------------------------------

    def _drain(self, events: Any, block: float) -> None:
        try:
            item = events.get(timeout=block) if block else events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._received[item.chunk_key] = self._received.get(item.chunk_key, 0) + 1
            self._apply(item)
            try:
                item = events.get_nowait()
            except queue.Empty:
                return

    def _apply(self, item: workers.Progress) -> None:
        previous = self._states.get(item.chunk_key)
        before = previous.progress if previous is not None else None
        rows = item.progress.rows - (before.rows if before is not None else 0)
        nbytes = item.progress.bytes - (before.bytes if before is not None else 0)
        state = ChunkState(progress=item.progress)
        self._states[item.chunk_key] = state
        log.debug(
            "chunk %s: durable up to offset %d (%d rows, +%d rows, +%d bytes)",
            item.chunk_key,
            item.progress.position.offset,
            item.progress.rows,
            rows,
            nbytes,
        )
        self._checkpoint.save([chunk_record(item.chunk_key, state)])
        failpoints.reach("chunk:saved")
        self._progress.advance(rows, max(0, nbytes))

    def _chunk_ended(self, future: Future[workers.ChunkOutcome], events: Any, stop: Any) -> None:
        job = self._chunks.pop(future)
        try:
            outcome = future.result()
        except BaseException as exc:
            self._progress.chunk_moved("running", "failed")
            self._fail(exc, job.table_name, stop)
            return
        # the queue's feeder thread may deliver after the result: wait for all
        while self._received.get(outcome.chunk_key, 0) < outcome.batches:
            self._drain(events, 0.1)
        if not outcome.finished:
            self._progress.chunk_moved("running", "pending")
            return
        self._progress.chunk_moved("running", "finished")
        key = job.chunk.key
        state = self._states.get(key) or ChunkState(
            progress=ChunkProgress(
                position=ReadPosition(offset=job.chunk.offset, columns=job.chunk.columns)
            )
        )
        remaining = chunk_size(job.chunk) - state.progress.bytes
        if remaining > 0:
            state.progress = attrs.evolve(state.progress, bytes=state.progress.bytes + remaining)
            self._progress.advance(0, remaining)
        state.done = True
        self._states[key] = state
        log.debug("chunk %s of %s: done (%d rows)", key, job.table_name, state.progress.rows)
        self._checkpoint.save([chunk_record(key, state)])
        failpoints.reach("chunk:done")
        run = self._runs[job.table_name]
        pending = run.pending[job.engine]
        pending.discard(key)
        if not pending:
            self._engine_written(run, job.engine)

    # --- engines and tables -----------------------------------------------------------------

    def _start_table(self, run: TableRun, uses_engines: bool) -> None:
        if step_reached(run.state.status, "imported"):
            self._submit_post(run)
            return
        if uses_engines:
            for engine, pending in run.pending.items():
                if not pending and engine in run.unimported:
                    self._submit_engine(run, engine)
            if not any(run.pending.values()) and not run.unimported:
                self._data_written(run)
        elif not any(run.pending.values()):
            self._data_written(run)

    def _engine_written(self, run: TableRun, engine: Engine) -> None:
        if self._record.uses_engines:
            self._submit_engine(run, engine)
        elif not any(run.pending.values()):
            self._data_written(run)

    def _data_written(self, run: TableRun) -> None:
        """Every chunk of the table is written (and with engines, every data engine imported)."""
        if not step_reached(run.state.status, "written"):
            self._set_status(run, "written")
        if self._record.uses_engines:
            self._submit_engine(run, run.task.index_engine)
        else:
            self._set_status(run, "imported")
            self._submit_post(run)

    def _submit_engine(self, run: TableRun, engine: Engine) -> None:
        self._closable.append((run, engine))
        self._start_engines()

    def _start_engines(self) -> None:
        """Start closing and importing written engines while the engine pool has room: in
        the order they were written, but the largest first when the disk quota is reached."""
        assert self._engine_pool is not None
        quota = self._quota
        while self._closable and len(self._engines) + len(self._early) < self._engine_limit:
            chosen = self._closable[0]
            if quota is not None and len(self._closable) > 1 and quota.over_quota():
                chosen = max(self._closable, key=lambda item: quota.engine_bytes(item[1]))
            self._closable.remove(chosen)
            run, engine = chosen
            self._engines[self._engine_pool.submit(self._import_engine, engine)] = (run, engine)

    def _import_engine(self, engine: Engine) -> None:
        log.info("engine %s (%s): closing and importing", engine.tag, engine.uuid)
        started = time.monotonic()
        self._backend.close_engine(engine)
        closed = time.monotonic()
        log.debug("engine %s: closed in %.2fs", engine.tag, closed - started)
        self._on_loop.put(lambda: self._engine_closed(engine))
        failpoints.reach("engine:closed")
        self._backend.import_engine(engine)
        log.debug("engine %s: imported in %.2fs", engine.tag, time.monotonic() - closed)
        failpoints.reach("engine:imported")
        self._backend.cleanup_engine(engine)

    def _engine_closed(self, engine: Engine) -> None:
        self._checkpoint.save([engine_record(engine.tag, "closed")])
        kind = "index" if engine.is_index else "data"
        self._progress.engine_reached(kind, "closed", engine.tag)

    def _engine_ended(self, future: Future[None], stop: Any) -> None:
        run, engine = self._engines.pop(future)
        try:
            future.result()
        except BaseException as exc:
            self._progress.table_failed(run.state.status)
            self._set_status(run, "failed", error=f"import of engine {engine.tag}: {exc}")
            self._fail(exc, run.name, stop)
            return
        self._checkpoint.save([engine_record(engine.tag, "imported")])
        kind = "index" if engine.is_index else "data"
        self._progress.engine_reached(kind, "imported", engine.tag)
        failpoints.reach("engine:saved")
        if engine.is_index:
            self._set_status(run, "imported")
            self._submit_post(run)
            return
        run.unimported.discard(engine)
        if not run.unimported and not any(run.pending.values()):
            self._data_written(run)

    # --- the disk quota ---------------------------------------------------------------------

    def _enforce_quota(self, stop: Any) -> None:
        """Over the quota with no engine import under way: import the open engine that holds
        the most bytes early (closed engines are imported as soon as they are closed)."""
        quota = self._quota
        if quota is None or self._failure or self._engines or self._closable or self._early:
            return
        if not quota.over_quota():
            return
        assert self._engine_pool is not None
        held = [(quota.engine_bytes(engine), run, engine) for run, engine in self._open_engines()]
        if not held or max(held, key=lambda item: item[0])[0] == 0:
            name = next(iter(self._runs), "")
            self._fail(
                LightningError(
                    "[tikv-importer] disk-quota is reached and no engine holds anything to "
                    "import to make room; raise disk-quota and run again to resume"
                ),
                name,
                stop,
            )
            return
        size, run, engine = max(held, key=lambda item: item[0])
        log.info(
            "disk quota reached: importing engine %s (%s) early, %d KiB so far",
            engine.tag,
            engine.uuid,
            size >> 10,
        )
        self._early[self._engine_pool.submit(quota.import_early, engine)] = (run, engine)

    def _open_engines(self) -> list[tuple[TableRun, Engine]]:
        """Engines chunks are still written to: data engines with chunks to go, and the
        index engines of their tables."""
        found = []
        for run in self._runs.values():
            open_data = [e for e, pending in run.pending.items() if pending and e in run.unimported]
            found += [(run, engine) for engine in open_data]
            if open_data:
                found.append((run, run.task.index_engine))
        return found

    def _early_ended(self, future: Future[None], stop: Any) -> None:
        run, engine = self._early.pop(future)
        try:
            future.result()
        except BaseException as exc:
            self._fail(exc, run.name, stop)
            return
        log.debug("engine %s: imported early", engine.tag)

    def _submit_post(self, run: TableRun) -> None:
        assert self._post_pool is not None
        outcome = run.outcome(self._states, kv=self._record.uses_engines, backend=self._backend)

        def reached(step: str) -> None:
            def save() -> None:
                self._set_status(run, step)
                failpoints.reach(f"post:{step}")

            self._on_loop.put(save)

        def job() -> None:
            post_import(outcome, self._target, self._config, reached)

        self._posts[self._post_pool.submit(job)] = run

    def _run_handed_over(self) -> None:
        while True:
            try:
                work = self._on_loop.get_nowait()
            except queue.Empty:
                return
            work()

    def _post_ended(self, future: Future[None], stop: Any) -> None:
        run = self._posts.pop(future)
        self._run_handed_over()
        try:
            future.result()
        except BaseException as exc:
            self._progress.table_failed(run.state.status)
            self._set_status(run, "failed", error=str(exc))
            self._fail(exc, run.name, stop)
            return
        self._progress.table_finished()
        self._on_table_done(run)

    def _set_status(self, run: TableRun, status: str, *, error: str = "") -> None:
        log.debug("table %s: %s%s", run.name, status, f" ({error})" if error else "")
        run.state.status = status
        run.state.error = error
        fields: dict[str, Any] = {"status": status}
        if error:
            fields["error"] = error
        self._checkpoint.save([table_record(run.name, **fields)])
