"""The task's checkpoint in a run: opened and checked at the start, appended to as work
becomes durable, completed at the end with a tombstone.

Completion is ordered so that a kill at any instant leaves a state the next run handles: first
the ``completed`` record (from then on the task has nothing left to do), then the backend
forgets its own records, then the store is compacted to that tombstone in one atomic step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lightning_core import failpoints
from lightning_core.checkpoints.state import (
    ChunkState,
    TaskState,
    accept_inputs,
    fold_records,
    fresh_state,
    has_progress,
    prefix_digest,
    settings_digest,
    task_record,
)
from lightning_core.config_sections import KeepStrategy
from lightning_core.interfaces import Backend, CheckpointStore
from lightning_core.pipeline.plan import ImportPlan
from lightning_core.pipeline.task import fingerprint_settings
from lightning_core.registry import Registry

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig

log = logging.getLogger(__name__)


class TaskCheckpoint:
    """The checkpoint store of one task and the state folded from it (no store: checkpoints
    are off, and every method but ``open`` does nothing)."""

    def __init__(self, config: LightningConfig, registry: Registry, task_id: str) -> None:
        self._config = config
        self.store: CheckpointStore | None = None
        if config.checkpoint.enable:
            record = registry.get("checkpoint_store", config.checkpoint.driver)
            self.store = record.factory(config=config, task=task_id)
        self.new_task = True
        """True when no checkpoint of this task existed: progress a backend kept from an older
        task of the same name is void."""

    def open(self, plan: ImportPlan) -> TaskState:
        """The saved state of the task, checked against today's inputs; a fresh one when there
        is none (or only the tombstone of another task)."""
        fresh = fresh_state(fingerprint_settings(self._config), plan.data_files)
        store = self.store
        if store is None:
            return fresh
        saved = fold_records(store.read(), store.location)
        if saved is not None and saved.version == 1:
            old = settings_digest(fingerprint_settings(self._config, version=1))
            if saved.settings == old:
                saved.settings = fresh.settings  # the same settings, fingerprinted by v1
        if saved is not None and saved.completed:
            if saved.settings == fresh.settings and saved.files == fresh.files:
                self.new_task = False
                return saved
            saved = None  # a finished task's tombstone: nothing of it to protect
        if saved is not None and saved.settings != fresh.settings and not has_progress(saved):
            log.warning(
                "the checkpoint in %s held no progress (a run that failed before importing "
                "anything); starting over with today's settings",
                store.location,
            )
            saved = None
        if saved is None:
            store.replace([task_record(fresh)])
            return fresh
        self.new_task = False
        chunks = [c for t in plan.tables for c in t.chunks]
        accepted = accept_inputs(saved, fresh, chunks, store)
        if accepted:
            log.info(
                "changed input files accepted (their imported part is unchanged): %s",
                ", ".join(accepted),
            )
            store.append([{"type": "files", "files": accepted}])
            saved.files.update(accepted)
        log.info("resuming from checkpoint %s", store.location)
        return saved

    def save(self, records: Sequence[dict[str, Any]]) -> None:
        """Append records (durable when this returns)."""
        if self.store is not None and records:
            self.store.append(records)

    def save_prefixes(self, plan: ImportPlan, states: dict[str, ChunkState]) -> None:
        """Digest the imported part of unfinished chunks, so a fixed source can resume."""
        records = []
        for task in plan.tables:
            for chunk in task.chunks:
                state = states.get(chunk.key)
                if state is None or state.done or state.progress.rows == 0:
                    continue
                digest = prefix_digest(chunk, state.progress.position.offset)
                records.append({"type": "prefix", "key": chunk.key, "sha256": digest})
        self.save(records)

    def complete(self, state: TaskState, backend: Backend) -> None:
        """Mark the task done, then let the backend forget it and (``keep-after-success =
        "remove"``) compact the store to the tombstone."""
        store = self.store
        if store is None:
            return
        if not state.completed:
            store.append([{"type": "completed"}])
            state.completed = True
        failpoints.reach("complete:marked")
        backend.forget_task()
        failpoints.reach("complete:backend-forgotten")
        if self._config.checkpoint.keep_after_success == KeepStrategy.REMOVE:
            store.replace([task_record(state), {"type": "completed"}])
        failpoints.reach("complete:compacted")

    def close(self) -> None:
        """Release the store."""
        if self.store is not None:
            self.store.close()
