"""Run an import: plan → checkpoint → schema → tables (chunks, engines, post-import) → summary.

The parts live in their own modules: the task's identity in ``task``, its checkpoint in
``resume``, schema creation in ``schema`` (through the ``Target``), the work loop in
``scheduler``, the post-import steps in ``postimport``. This module puts them in order.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import TYPE_CHECKING

from lightning_core import failpoints
from lightning_core.checkpoints.state import (
    REMOVE_HINT,
    ChunkState,
    TableState,
    TaskState,
    fold_records,
    has_progress,
    table_record,
)
from lightning_core.config import kv_conflict_strategy, refuse_unimplemented
from lightning_core.context import ImportContext, TableSummary
from lightning_core.errors import CheckpointError, ConfigError, LightningError, TargetError
from lightning_core.interfaces import Backend, Target, TargetTable
from lightning_core.pipeline.plan import ImportPlan, make_plan
from lightning_core.pipeline.precheck import CheckResult, Prechecks, failures, render_results
from lightning_core.pipeline.progress import ProgressReporter, summary_text, terminal_stream
from lightning_core.pipeline.resume import TaskCheckpoint
from lightning_core.pipeline.scheduler import Scheduler, TableRun
from lightning_core.pipeline.schema import planned_targets
from lightning_core.pipeline.sql_target import open_target
from lightning_core.pipeline.status import StatusServer, status_address
from lightning_core.pipeline.task import task_id_of
from lightning_core.plugins import PluginHost
from lightning_core.registry import (
    KNOWN_PACKAGES,
    BackendRecord,
    ConflictStrategyRecord,
    bind_options,
)

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig

log = logging.getLogger(__name__)


class Importer:
    """One import run; ``run()`` returns the per-table summaries or raises a LightningError."""

    def __init__(self, config: LightningConfig, host: PluginHost) -> None:
        self.config = config
        self.host = host
        self.registry = host.registry
        backend = self.registry.get("backend", config.tikv_importer.backend)
        assert isinstance(backend, BackendRecord)
        strategy = self.registry.get("conflict_strategy", _strategy_name(config, backend))
        assert isinstance(strategy, ConflictStrategyRecord)
        encoder = backend.encoder_in(self.registry)
        if encoder is not None:
            self.registry.get("encoder", encoder)  # a missing encoder fails now
        preferred = backend.preferred_encoder
        if preferred is not None and encoder != preferred:
            package = KNOWN_PACKAGES.get(("encoder", preferred))
            log.warning(
                "encoder %s is not installed: the %s backend encodes with %s (slower)%s",
                preferred,
                backend.name,
                encoder,
                f"; {package.hint()}" if package else "",
            )
        refuse_unimplemented(config)
        self.record = backend
        self.options = host.validate_options(config)
        self.task_id = task_id_of(config)

    def run(self) -> list[TableSummary]:
        """Import every planned table; exit paths keep the checkpoints consistent."""
        started = time.monotonic()
        plan = make_plan(self.config, self.registry.reader_formats())
        _check_something_to_import(plan)
        checkpoint = TaskCheckpoint(self.config, self.registry, self.task_id)
        try:
            state = checkpoint.open(plan)
            context = ImportContext(
                task_id=self.task_id,
                backend=self.record.name,
                data_source_dir=plan.source.data_source_dir,
                tables=tuple(t.name for t in plan.tables),
            )
            backend = bind_options(self.record, self.record.factory, self.options)(
                config=self.config, task=self.task_id
            )
            try:
                if state.completed:
                    checkpoint.complete(state, backend)  # finish a cleanup a kill cut short
                    print(
                        f"this task was imported completely before (checkpoint "
                        f"{checkpoint.store.location if checkpoint.store else '-'}): nothing "
                        "to do; to import it again, first run `tidb-lightning-ctl "
                        "--checkpoint-remove=all`",
                        flush=True,
                    )
                    return []
                self.host.before_import(context)
                run = _Run(self, plan, state, checkpoint, backend, context)
                summaries = run.execute()
                self.host.after_import(context, summaries)
                progress = run.progress
                print(
                    summary_text(
                        summaries,
                        time.monotonic() - started,
                        run_rows=progress.rows if progress else 0,
                        run_bytes=progress.run_bytes if progress else 0,
                    ),
                    flush=True,
                )
                checkpoint.complete(state, backend)
            finally:
                backend.close()
        finally:
            checkpoint.close()
        return summaries

    def check(self) -> list[CheckResult]:
        """The prechecks alone (``tidb-lightning check``): nothing is imported, and only what
        the backend prepares for an import is created (see ``Backend.prepare``)."""
        try:
            plan = make_plan(self.config, self.registry.reader_formats())
        except LightningError as exc:
            return [CheckResult("source", "fail", str(exc))]
        resuming = False
        checkpoint = TaskCheckpoint(self.config, self.registry, self.task_id)
        try:
            if checkpoint.store is not None:
                saved = fold_records(checkpoint.store.read(), checkpoint.store.location)
                resuming = saved is not None and not saved.completed and has_progress(saved)
        finally:
            checkpoint.close()
        with contextlib.ExitStack() as stack:
            target: Target | None = None
            backend: Backend | None = None
            target_error = backend_error = ""
            try:
                target = open_target(self.record, self.config, self.options)
                stack.callback(target.close)
            except LightningError as exc:
                target_error = str(exc)
            try:
                factory = bind_options(self.record, self.record.factory, self.options)
                backend = factory(config=self.config, task=self.task_id)
                stack.callback(backend.close)
            except LightningError as exc:
                backend_error = str(exc)
            return Prechecks(
                config=self.config,
                record=self.record,
                plan=plan,
                target=target,
                backend=backend,
                resuming=resuming,
                target_error=target_error,
                backend_error=backend_error,
            ).run()


def _require_prechecks(results: list[CheckResult]) -> None:
    """Show the prechecks' table when one is not a pass; stop the import when one failed."""
    if any(r.outcome != "pass" for r in results):
        print(render_results(results), flush=True)
    failed = failures(results)
    if failed and failed[0].check == "target":
        raise TargetError(failed[0].reason)  # nothing else matters while it is down
    if failed:
        raise LightningError(
            "prechecks failed: "
            + "; ".join(f"{r.check}: {r.reason}" for r in failed)
            + "; fix them, or set [lightning] check-requirements = false "
            "(--check-requirements=false) to import without checking"
        )


class _Run:
    """The part of a run between opening the checkpoint and the summary."""

    def __init__(
        self,
        importer: Importer,
        plan: ImportPlan,
        state: TaskState,
        checkpoint: TaskCheckpoint,
        backend: Backend,
        context: ImportContext,
    ) -> None:
        self.importer = importer
        self.config = importer.config
        self.record = importer.record
        self.plan = plan
        self.state = state
        self.checkpoint = checkpoint
        self.backend = backend
        self.context = context
        self.progress: ProgressReporter | None = None
        self.summaries: list[TableSummary] = []
        self.states: dict[str, ChunkState] = {}

    def execute(self) -> list[TableSummary]:
        target = open_target(self.record, self.config, self.importer.options)
        try:
            return self._execute(target)
        except BaseException:
            self.checkpoint.save_prefixes(self.plan, self.states)
            raise
        finally:
            target.close()

    def _execute(self, target: Target) -> list[TableSummary]:
        if self.config.lightning.check_requirements:
            _require_prechecks(
                Prechecks(
                    config=self.config,
                    record=self.record,
                    plan=self.plan,
                    target=target,
                    backend=self.backend,
                    resuming=has_progress(self.state),
                    scan_statements=False,
                ).run()
            )
        target.create_schemas(self.plan)
        failpoints.reach("schema:created")
        plan, targets = planned_targets(
            target,
            self.plan,
            no_schema=self.config.mydumper.no_schema,
            model=self.record.needs_table_model,
        )
        self.plan = plan
        if self.checkpoint.new_task:
            self.backend.forget_task()
        self.backend.prepare(plan.total_bytes)
        self.states = self._resume_states()
        runs = self._table_runs(targets, target)
        engines = (
            [e.tag for t in plan.tables for e in (*(p.engine for p in t.engines), t.index_engine)]
            if self.record.uses_engines
            else []
        )
        progress = self.progress = ProgressReporter(
            total_bytes=plan.total_bytes,
            done_bytes=sum(s.progress.bytes for s in self.states.values()),
            tables=len(plan.tables),
            stream=terminal_stream(),
            log_interval=float(self.config.cron.log_progress),
            engines=len(engines),
            engines_done=sum(self.state.engines.get(tag) == "imported" for tag in engines),
            tables_done=len(self.summaries),
        )
        address = status_address(self.config.lightning)
        status = StatusServer(address, progress) if address else None
        try:
            Scheduler(
                config=self.config,
                task_id=self.importer.task_id,
                record=self.record,
                backend=self.backend,
                target=target,
                checkpoint=self.checkpoint,
                runs=runs,
                states=self.states,
                progress=progress,
                on_table_done=self._table_done,
                on_table_error=lambda table, exc: self.importer.host.on_table_error(
                    self.context, table, exc
                ),
            ).run()
        finally:
            progress.finish()
            if status is not None:
                status.close()
        return self.summaries

    def _table_done(self, run: TableRun) -> None:
        chunks = [self.states[c.key].progress for c in run.task.chunks]
        summary = TableSummary(
            table=run.name,
            rows=sum(p.rows - p.skipped for p in chunks),
            bytes=run.task.total_bytes,
            seconds=time.monotonic() - run.started if run.started else 0.0,
            warnings=sum(p.warnings for p in chunks),
            skipped=sum(p.skipped for p in chunks),
        )
        if summary.warnings or summary.skipped:
            log.warning(
                "%s: the target gave %d warnings (values it changed to fit) and refused %d rows "
                "that max-error let pass; the log names the first rows' file:offset",
                run.name,
                summary.warnings,
                summary.skipped,
            )
        self.importer.host.after_table(self.context, summary)
        self.summaries.append(summary)

    def _resume_states(self) -> dict[str, ChunkState]:
        """The checkpoint's chunk states, advanced to what the backend holds where it is
        further (a kill between a backend's commit and the checkpoint write)."""
        saved = dict(self.state.chunks)
        keys = [c.key for t in self.plan.tables for c in t.chunks]
        for key, progress in self.backend.durable(keys).items():
            mine = saved.get(key)
            if mine is None or progress.position.offset > mine.progress.position.offset:
                saved[key] = ChunkState(progress=progress, done=mine.done if mine else False)
        return saved

    def _table_runs(self, targets: dict[str, TargetTable], target: Target) -> dict[str, TableRun]:
        runs: dict[str, TableRun] = {}
        records = []
        states = self.states
        for task in self.plan.tables:
            table = targets[task.name]
            saved = self.state.tables.get(task.name) or TableState()
            started = any(
                states[c.key].progress.rows or states[c.key].done
                for c in task.chunks
                if c.key in states
            )
            _check_table(task.name, saved, table, started=started)
            pending = {
                e.engine: {c.key for c in e.chunks if not (c.key in states and states[c.key].done)}
                for e in task.engines
            }
            if saved.status == "analyzed":
                if not any(pending.values()):
                    log.info("table %s was imported by an earlier run; skipped", task.name)
                    rows = sum(states[c.key].progress.rows for c in task.chunks if c.key in states)
                    self.summaries.append(
                        TableSummary(
                            table=task.name, rows=rows, bytes=task.total_bytes, seconds=0.0
                        )
                    )
                    continue
                saved.status = "pending"  # a file added since: imported, then checked again
                records.append(table_record(task.name, status="pending"))
            unimported = (
                {
                    e.engine
                    for e in task.engines
                    if self.state.engines.get(e.engine.tag) != "imported"
                }
                if self.record.uses_engines
                else set()
            )
            run = TableRun(
                task=task, target=table, state=saved, pending=pending, unimported=unimported
            )
            if started and saved.rows_before is not None:
                run.rows_before = saved.rows_before
            else:
                run.rows_before = target.count_rows(table)
                if self.record.requires_empty_target and run.rows_before:
                    raise TargetError(
                        f"table {task.name} has {run.rows_before} rows, but the "
                        f"{self.record.name} backend needs empty tables; empty it or use "
                        "--backend tidb"
                    )
                saved.rows_before = run.rows_before
                saved.table_id = table.table_id
                records.append(
                    table_record(task.name, rows_before=run.rows_before, table_id=table.table_id)
                )
            runs[task.name] = run
        self.checkpoint.save(records)
        return runs


def _strategy_name(config: LightningConfig, backend: BackendRecord) -> str:
    """The conflict strategy of the run: ``[tikv-importer] on-duplicate`` for a backend that
    writes SQL, :func:`kv_conflict_strategy` for one with engines."""
    if backend.uses_engines:
        return kv_conflict_strategy(config)
    if config.conflict.strategy or config.tikv_importer.duplicate_resolution != "none":
        raise ConfigError(
            f"[conflict] strategy and [tikv-importer] duplicate-resolution are for the KV "
            f"backends; the {backend.name} backend resolves duplicates by [tikv-importer] "
            "on-duplicate: set that instead"
        )
    return config.tikv_importer.on_duplicate


def _check_something_to_import(plan: ImportPlan) -> None:
    """Warn on the console about files no rule routes; refuse a task that imports nothing."""
    source = plan.source
    if source.unmatched:
        shown = ", ".join(source.unmatched[:5]) + (
            f" and {len(source.unmatched) - 5} more" if len(source.unmatched) > 5 else ""
        )
        log.warning("files that match no file rule and are not imported: %s", shown)
        print(
            f"Warning: {len(source.unmatched)} files match no file rule and are not imported: "
            f"{shown}",
            file=sys.stderr,
        )
    if not source.tables and not source.schemas:
        reasons = []
        if source.filtered:
            reasons.append(f"{len(source.filtered)} files excluded by [mydumper] filter")
        if source.unmatched:
            reasons.append(f"{len(source.unmatched)} files matching no file rule")
        if source.ignored:
            reasons.append(f"{len(source.ignored)} files of kinds that are not imported")
        found = "; ".join(reasons) if reasons else "no files at all"
        raise LightningError(
            f"nothing to import in {source.data_source_dir}: no schema or data file of any "
            f"table ({found}); check data-source-dir and [mydumper] filter, and see "
            "`tidb-lightning plan` for how each file was classified"
        )


def _check_table(name: str, saved: TableState, table: TargetTable, *, started: bool) -> None:
    """Refuse a table that failed before, or a started one that is not the table the
    checkpoint knows."""
    if saved.status == "failed":
        raise CheckpointError(
            f"table {name} failed in an earlier run: {saved.error}; fix the cause, then run "
            f"`tidb-lightning-ctl --checkpoint-error-ignore={name}` to check it again, or "
            f"`--checkpoint-error-destroy={name}` to start it over"
        )
    if started and saved.table_id and table.table_id and saved.table_id != table.table_id:
        raise CheckpointError(
            f"table {name} was dropped and created again (or truncated) since the checkpoint "
            f"was written (table ID {saved.table_id}, now {table.table_id}): the rows imported "
            f"before are gone; {REMOVE_HINT}, or remove that table's checkpoint with "
            f"`tidb-lightning-ctl --checkpoint-remove={name}`"
        )
