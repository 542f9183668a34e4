"""Task progress folded from a checkpoint store's records, and the task fingerprint.

A store is a durable append-only log of small JSON records; this module gives them meaning:
one ``task`` record (fingerprint and input files), ``chunk`` records (position after each
committed batch) and ``table`` records (status changes). The last record of a key wins.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lightning_core.errors import CheckpointError
from lightning_core.interfaces import CheckpointStore, ReadPosition, SourceFile


@attrs.define
class ChunkState:
    """How far one chunk got."""

    position: ReadPosition
    rows: int = 0
    bytes: int = 0
    done: bool = False


@attrs.define
class TableState:
    """Where one target table stands."""

    status: str = "pending"
    """``pending``, ``written`` (all chunks done) or ``verified``."""
    rows_before: int | None = None
    """Rows the target table held before the first byte was imported."""


@attrs.define
class TaskState:
    """Everything a resumed run needs to know."""

    fingerprint: str
    files: dict[str, list[int]]
    chunks: dict[str, ChunkState] = attrs.Factory(dict)
    tables: dict[str, TableState] = attrs.Factory(dict)


def file_signature(file: SourceFile) -> list[int]:
    """Size and modification time of a file, to notice a changed input."""
    stat = os.stat(file.path)
    return [stat.st_size, stat.st_mtime_ns]


def task_fingerprint(settings: dict[str, Any], files: Sequence[SourceFile]) -> TaskState:
    """A fresh task state whose fingerprint covers the settings and every input file."""
    signatures = {f.path: file_signature(f) for f in files}
    blob = json.dumps({"settings": settings, "files": signatures}, sort_keys=True, default=str)
    return TaskState(fingerprint=hashlib.sha256(blob.encode()).hexdigest()[:32], files=signatures)


def fold_records(records: Iterable[dict[str, Any]], where: str) -> TaskState | None:
    """Replay a store's records into a task state; None when the store is empty."""
    state: TaskState | None = None
    for number, record in enumerate(records, 1):
        kind = record.get("type")
        if kind == "task":
            state = TaskState(fingerprint=record["fingerprint"], files=record["files"])
            continue
        if state is None:
            raise CheckpointError(
                f"{where}: record {number} comes before the task record; the checkpoint is "
                "damaged: remove it with `tidb-lightning-ctl --checkpoint-remove=all`"
            )
        if kind == "chunk":
            position = ReadPosition(
                offset=record["offset"],
                rows=record["rows"],
                columns=tuple(record["columns"]) if record.get("columns") is not None else None,
                mid_statement=record.get("mid", False),
            )
            state.chunks[record["key"]] = ChunkState(
                position=position,
                rows=record["rows"],
                bytes=record.get("bytes", 0),
                done=record.get("done", False),
            )
        elif kind == "table":
            table = state.tables.setdefault(record["table"], TableState())
            if "status" in record:
                table.status = record["status"]
            if "rows_before" in record:
                table.rows_before = record["rows_before"]
        else:
            raise CheckpointError(f"{where}: record {number} has unknown type {kind!r}")
    return state


def chunk_record(key: str, state: ChunkState) -> dict[str, Any]:
    """The record that saves a chunk's progress."""
    position = state.position
    return {
        "type": "chunk",
        "key": key,
        "offset": position.offset,
        "rows": position.rows,
        "columns": list(position.columns) if position.columns is not None else None,
        "mid": position.mid_statement,
        "bytes": state.bytes,
        "done": state.done,
    }


def task_record(state: TaskState) -> dict[str, Any]:
    """The record that opens a task."""
    return {"type": "task", "fingerprint": state.fingerprint, "files": state.files}


def explain_mismatch(saved: TaskState, fresh: TaskState, store: CheckpointStore) -> str:
    """Why a saved checkpoint cannot be used for this run, naming the changed inputs."""
    changed = sorted(
        path
        for path in saved.files.keys() | fresh.files.keys()
        if saved.files.get(path) != fresh.files.get(path)
    )
    what = (
        "input files changed since it was written: "
        + ", ".join(changed[:5])
        + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        if changed
        else "the configuration changed since it was written"
    )
    return (
        f"the checkpoint in {store.location} belongs to another task: {what}; restore the "
        "input, or start over with `tidb-lightning-ctl --checkpoint-remove=all` (rows already "
        "imported stay in the target)"
    )
