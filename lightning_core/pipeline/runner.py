"""Run an import: plan → checkpoint → schema → chunks in worker processes → verify → summary."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import attrs

from lightning_core.checkpoints.state import (
    ChunkState,
    TaskState,
    accept_inputs,
    chunk_record,
    fold_records,
    fresh_state,
    prefix_digest,
    task_record,
)
from lightning_core.context import ImportContext, TableSummary
from lightning_core.errors import ImportInterrupted, LightningError, TargetError
from lightning_core.interfaces import CheckpointStore, ReadPosition
from lightning_core.pipeline import workers
from lightning_core.pipeline.plan import ImportPlan, TableTask, make_plan
from lightning_core.pipeline.progress import ProgressReporter, summary_text, terminal_stream
from lightning_core.pipeline.schema import create_schemas, planned_targets
from lightning_core.pipeline.status import StatusServer
from lightning_core.pipeline.targets import TargetTable
from lightning_core.pipeline.verify import verify_table
from lightning_core.plugins import PluginHost
from lightning_core.registry import BackendRecord, ConflictStrategyRecord
from lightning_core.target import address_from_config, connect

log = logging.getLogger(__name__)


@attrs.define
class TableRun:
    """Book-keeping of one table during a run."""

    task: TableTask
    target: TargetTable
    pending: set[str]
    rows: int = 0
    bytes: int = 0
    started: float = 0.0
    rows_before: int = 0


def task_id_of(config: Any) -> str:
    """A stable name for this task: the data source, the target and every setting that decides
    what goes where, so that two imports of one dump (say into two databases) never share
    progress records."""
    ident = json.dumps(
        [os.path.abspath(config.mydumper.data_source_dir), _fingerprint_settings(config)],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


def _fingerprint_settings(config: Any) -> dict[str, Any]:
    return {
        "backend": config.tikv_importer.backend,
        "on_duplicate": config.tikv_importer.on_duplicate,
        "mydumper": attrs.asdict(config.mydumper),
        "routes": [attrs.asdict(r) for r in config.routes],
        "target": f"{config.tidb.host}:{config.tidb.port}",
    }


class Importer:
    """One import run; ``run()`` returns the per-table summaries or raises a LightningError."""

    def __init__(self, config: Any, host: PluginHost) -> None:
        self.config = config
        self.host = host
        self.registry = host.registry
        backend = self.registry.get("backend", config.tikv_importer.backend)
        strategy = self.registry.get("conflict_strategy", config.tikv_importer.on_duplicate)
        assert isinstance(backend, BackendRecord)
        assert isinstance(strategy, ConflictStrategyRecord)
        self.backend_record = backend
        self.strategy_record = strategy
        self.task_id = task_id_of(config)
        self.store: CheckpointStore | None = None
        self.state: TaskState | None = None
        self._states: dict[str, ChunkState] = {}
        self._progress: ProgressReporter | None = None
        self._earlier: list[TableSummary] = []
        """Tables an earlier run of this task finished, for the summary."""
        self._new_task = False
        """True when no checkpoint existed: progress a backend kept from an older task is void."""

    def run(self) -> list[TableSummary]:
        """Import every planned table; exit paths keep the checkpoints consistent."""
        started = time.monotonic()
        plan = make_plan(self.config, self.registry.reader_formats())
        for path in plan.source.unmatched:
            log.warning("%s matches no file rule and is not imported", path)
        self._open_checkpoint(plan)
        context = ImportContext(
            task_id=self.task_id,
            backend=self.backend_record.name,
            data_source_dir=plan.source.data_source_dir,
            tables=tuple(t.name for t in plan.tables),
        )
        self.host.before_import(context)
        backend = self.backend_record.factory(config=self.config, task=self.task_id)
        if not plan.tables:
            log.warning("no tables to import in %s", plan.source.data_source_dir)
            print(
                f"Warning: no table data found in {plan.source.data_source_dir} (see "
                "`tidb-lightning plan` for how its files were classified)",
                file=sys.stderr,
            )
        try:
            try:
                summaries = self._run_with(plan, backend, context)
            except BaseException:
                self._save_prefixes(plan)
                raise
            self.host.after_import(context, summaries)
            progress = self._progress
            print(
                summary_text(
                    summaries,
                    time.monotonic() - started,
                    run_rows=progress.rows if progress else 0,
                    run_bytes=progress.run_bytes if progress else 0,
                ),
                flush=True,
            )
            keep = str(self.config.checkpoint.keep_after_success).lower()
            if self.store is not None and keep == "remove":
                self.store.reset()
                backend.forget_task()
        finally:
            backend.close()
            if self.store is not None:
                self.store.close()
        return summaries

    def _open_checkpoint(self, plan: ImportPlan) -> None:
        if not self.config.checkpoint.enable:
            return
        record = self.registry.get("checkpoint_store", self.config.checkpoint.driver)
        self.store = record.factory(config=self.config, task=self.task_id)
        fresh = fresh_state(_fingerprint_settings(self.config), plan.data_files)
        saved = fold_records(self.store.read(), self.store.location)
        if saved is None:
            self.store.append([task_record(fresh)])
            self.state = fresh
            self._new_task = True
            return
        chunks = [c for t in plan.tables for c in t.chunks]
        accepted = accept_inputs(saved, fresh, chunks, self.store)
        if accepted:
            log.info(
                "changed input files accepted (their imported part is unchanged): %s",
                ", ".join(accepted),
            )
            self.store.append([{"type": "files", "files": accepted}])
            saved.files.update(accepted)
        log.info("resuming from checkpoint %s", self.store.location)
        self.state = saved

    def _save_prefixes(self, plan: ImportPlan) -> None:
        """Digest the imported part of unfinished chunks, so a fixed source can resume."""
        if self.store is None or self.state is None:
            return
        records = []
        for task in plan.tables:
            for chunk in task.chunks:
                state = self._states.get(chunk.key)
                if state is None or state.done or state.rows == 0:
                    continue
                digest = prefix_digest(chunk, state.position.offset)
                records.append({"type": "prefix", "key": chunk.key, "sha256": digest})
        self._save(records)

    def _save(self, records: list[dict[str, Any]]) -> None:
        if self.store is not None:
            self.store.append(records)

    def _run_with(
        self, plan: ImportPlan, backend: Any, context: ImportContext
    ) -> list[TableSummary]:
        conn = connect(address_from_config(self.config))
        try:
            create_schemas(
                conn,
                plan,
                sql_mode=self.config.tidb.sql_mode or "",
                no_schema=self.config.mydumper.no_schema,
                character_set=self.config.mydumper.character_set,
            )
            plan, targets = planned_targets(conn, plan, no_schema=self.config.mydumper.no_schema)
        finally:
            conn.close()
        if self._new_task:
            backend.forget_task()
        backend.prepare()
        chunk_states = self._states = self._resume_states(plan, backend)
        runs = self._table_runs(plan, targets, chunk_states, backend)
        progress = self._progress = ProgressReporter(
            total_bytes=plan.total_bytes,
            done_bytes=sum(s.bytes for s in chunk_states.values()),
            tables=len(plan.tables),
            stream=terminal_stream(),
            log_interval=float(self.config.cron.log_progress),
        )
        address = self.config.lightning.status_addr
        status = StatusServer(address, progress) if address else None
        summaries: list[TableSummary] = list(self._earlier)

        def finish_table(run: TableRun) -> None:
            backend.finish_table(run.target)
            verify_table(self.config, backend, run.target, run.rows, run.rows_before)
            summary = TableSummary(
                table=run.task.name,
                rows=run.rows,
                bytes=run.task.total_bytes,
                seconds=time.monotonic() - run.started if run.started else 0.0,
            )
            self._save([{"type": "table", "table": run.task.name, "status": "verified"}])
            self.host.after_table(context, summary)
            summaries.append(summary)
            progress.table_finished()

        jobs = [
            workers.ChunkJob(
                table=run.target,
                table_name=run.task.name,
                chunk=chunk,
                start=chunk_states.get(chunk.key),
            )
            for run in runs.values()
            for chunk in run.task.chunks
            if chunk.key in run.pending
        ]
        for run in runs.values():
            if not run.pending:
                finish_table(run)
        try:
            self._run_jobs(jobs, runs, chunk_states, progress, finish_table, context)
        finally:
            progress.finish()
            if status is not None:
                status.close()
        return summaries

    def _resume_states(self, plan: ImportPlan, backend: Any) -> dict[str, ChunkState]:
        saved = dict(self.state.chunks) if self.state is not None else {}
        keys = [c.key for t in plan.tables for c in t.chunks]
        for key, state in backend.committed_positions(keys).items():
            mine = saved.get(key)
            if mine is None or state.position.offset > mine.position.offset:
                saved[key] = ChunkState(
                    position=state.position,
                    rows=state.rows,
                    bytes=state.bytes,
                    done=mine.done if mine else False,
                )
        return saved

    def _table_runs(
        self,
        plan: ImportPlan,
        targets: dict[str, TargetTable],
        states: dict[str, ChunkState],
        backend: Any,
    ) -> dict[str, TableRun]:
        runs: dict[str, TableRun] = {}
        new_records: list[dict[str, Any]] = []
        for task in plan.tables:
            table_state = self.state.tables.get(task.name) if self.state else None
            pending = {c.key for c in task.chunks if not states.get(c.key, _NEW).done}
            if table_state is not None and table_state.status == "verified" and not pending:
                log.info("table %s was imported by an earlier run; skipped", task.name)
                rows = sum(states[c.key].rows for c in task.chunks if c.key in states)
                self._earlier.append(
                    TableSummary(table=task.name, rows=rows, bytes=task.total_bytes, seconds=0.0)
                )
                continue
            # a file added since the table was verified is imported, and the table verified again
            target = targets[task.name]
            run = TableRun(task=task, target=target, pending=pending)
            run.rows = sum(states[c.key].rows for c in task.chunks if c.key in states)
            started = any(
                states[c.key].rows or states[c.key].done for c in task.chunks if c.key in states
            )
            if started and table_state is not None and table_state.rows_before is not None:
                run.rows_before = table_state.rows_before
            else:
                run.rows_before = backend.count_rows(target)
                if self.backend_record.requires_empty_target and run.rows_before:
                    raise TargetError(
                        f"table {task.name} has {run.rows_before} rows, but the "
                        f"{self.backend_record.name} backend needs empty tables; empty it or "
                        "use --backend tidb"
                    )
                new_records.append(
                    {"type": "table", "table": task.name, "rows_before": run.rows_before}
                )
            runs[task.name] = run
        self._save(new_records)
        return runs

    def _run_jobs(
        self,
        jobs: list[workers.ChunkJob],
        runs: dict[str, TableRun],
        states: dict[str, ChunkState],
        progress: ProgressReporter,
        finish_table: Callable[[TableRun], None],
        context: ImportContext,
    ) -> None:
        if not jobs:
            return
        ctx = workers.fork_context()
        events = ctx.Queue()
        stop = ctx.Event()
        workers.prepare(
            workers.WorkerSetup(
                config=self.config,
                task=self.task_id,
                registry=self.registry,
                backend=self.backend_record,
                strategy=self.strategy_record,
                events=events,
                stop=stop,
            )
        )
        concurrency = max(1, int(self.config.lightning.region_concurrency or 1))
        table_limit = max(1, int(self.config.lightning.table_concurrency or 1))
        waiting = list(jobs)
        running: dict[Future[workers.ChunkOutcome], workers.ChunkJob] = {}
        failure: BaseException | None = None
        received: dict[str, int] = {}

        def drain(block: float) -> None:
            try:
                item = events.get(timeout=block)
            except queue.Empty:
                return
            while True:
                received[item.chunk_key] = received.get(item.chunk_key, 0) + 1
                self._apply_progress(item, runs, states, progress)
                try:
                    item = events.get_nowait()
                except queue.Empty:
                    return

        with ProcessPoolExecutor(
            max_workers=concurrency, mp_context=ctx, initializer=workers.init_worker
        ) as pool:
            try:
                while waiting or running:
                    active = {j.table_name for j in running.values()}
                    while waiting and len(running) < concurrency and failure is None:
                        job = _next_job(waiting, active, table_limit)
                        if job is None:
                            break
                        running[pool.submit(workers.run_chunk, job)] = job
                        run = runs[job.table_name]
                        run.started = run.started or time.monotonic()
                        active.add(job.table_name)
                    done, _ = wait(list(running), timeout=0.05, return_when=FIRST_COMPLETED)
                    drain(0.05 if not done else 0)
                    for future in done:
                        job = running.pop(future)
                        try:
                            outcome = future.result()
                        except BaseException as exc:
                            if failure is None:
                                failure = exc
                                stop.set()
                                waiting.clear()
                                self.host.on_table_error(context, job.table_name, exc)
                            continue
                        # the queue's feeder thread may deliver after the result: wait for all
                        while received.get(outcome.chunk_key, 0) < outcome.batches:
                            drain(0.1)
                        if outcome.finished:
                            self._chunk_done(job, runs, states, progress, finish_table)
            except KeyboardInterrupt:
                stop.set()
                waiting.clear()
                for future in list(running):
                    with contextlib.suppress(BaseException):
                        future.result()
                drain(0.1)
                raise ImportInterrupted(
                    "interrupted; progress is saved in the checkpoint: run the same command "
                    "again to resume"
                ) from None
        drain(0)
        if failure is not None:
            if isinstance(failure, LightningError):
                raise failure
            raise LightningError(f"a worker failed: {failure!r}; see the log") from failure

    def _apply_progress(
        self,
        item: workers.Progress,
        runs: dict[str, TableRun],
        states: dict[str, ChunkState],
        progress: ProgressReporter,
    ) -> None:
        previous = states.get(item.chunk_key)
        state = ChunkState(
            position=item.position,
            rows=item.position.rows,
            bytes=(previous.bytes if previous else 0) + item.bytes,
        )
        states[item.chunk_key] = state
        run = runs[item.table_name]
        run.rows += item.rows
        self._save([chunk_record(item.chunk_key, state)])
        progress.advance(item.rows, item.bytes)

    def _chunk_done(
        self,
        job: workers.ChunkJob,
        runs: dict[str, TableRun],
        states: dict[str, ChunkState],
        progress: ProgressReporter,
        finish_table: Callable[[TableRun], None],
    ) -> None:
        key = job.chunk.key
        state = states.get(key) or ChunkState(position=_start_of(job))
        state.done = True
        remaining = workers.chunk_size(job.chunk) - state.bytes
        if remaining > 0:
            state.bytes += remaining
            progress.advance(0, remaining)
        states[key] = state
        self._save([chunk_record(key, state)])
        run = runs[job.table_name]
        run.pending.discard(key)
        if not run.pending:
            finish_table(run)


_NEW = ChunkState(position=ReadPosition(offset=0))


def _start_of(job: workers.ChunkJob) -> ReadPosition:
    return ReadPosition(offset=job.chunk.offset, columns=job.chunk.columns)


def _next_job(
    waiting: list[workers.ChunkJob], active: set[str], table_limit: int
) -> workers.ChunkJob | None:
    """The first waiting job whose table is active, or that may open a new table."""
    for index, job in enumerate(waiting):
        if job.table_name in active or len(active) < table_limit:
            return waiting.pop(index)
    return None
