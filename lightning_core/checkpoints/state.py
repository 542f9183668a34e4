"""Task progress folded from a checkpoint store's records, and the input fingerprint.

A store is a durable append-only log of small JSON records; this module gives them meaning:

- ``task``: the fingerprint of the settings and the signature (size, mtime) of every input;
- ``files``: new signatures accepted for changed inputs on a resume;
- ``chunk``: a chunk's position after a committed batch (the last record of a chunk wins);
- ``prefix``: a digest of the bytes of a chunk already imported, saved when a run stops early,
  so that a source file fixed after a failure can be resumed safely;
- ``table``: a table's status and its row count before the import;
- ``forget``: a table whose progress was removed (``tidb-lightning-ctl --checkpoint-remove``).

A changed input is never skipped silently: a resume accepts a changed file only when nothing of
it was imported, or when the part that was imported is byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lightning_core.errors import CheckpointError
from lightning_core.interfaces import CheckpointStore, Chunk, ReadPosition, SourceFile
from lightning_core.source.compression import open_decompressed

REMOVE_HINT = "start over with `tidb-lightning-ctl --checkpoint-remove=all`"


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
    """``pending`` or ``verified``."""
    rows_before: int | None = None
    """Rows the target table held before the first byte was imported."""


@attrs.define
class TaskState:
    """Everything a resumed run needs to know."""

    settings: str
    """Digest of the settings that decide what is imported where."""
    files: dict[str, list[int]]
    """Path → [size, mtime_ns] of every input data file."""
    chunks: dict[str, ChunkState] = attrs.Factory(dict)
    prefixes: dict[str, str] = attrs.Factory(dict)
    """Chunk key → digest of the chunk's bytes up to its saved position."""
    tables: dict[str, TableState] = attrs.Factory(dict)


def file_signature(file: SourceFile) -> list[int]:
    """Size and modification time of a file, to notice a changed input."""
    stat = os.stat(file.path)
    return [stat.st_size, stat.st_mtime_ns]


def fresh_state(settings: dict[str, Any], files: Sequence[SourceFile]) -> TaskState:
    """The state of a task that has not started: its settings digest and input signatures."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return TaskState(
        settings=hashlib.sha256(blob).hexdigest()[:32],
        files={f.path: file_signature(f) for f in files},
    )


def prefix_digest(chunk: Chunk, end: int) -> str:
    """SHA-256 of the chunk's (decompressed) bytes from its start up to ``end``."""
    digest = hashlib.sha256()
    with open_decompressed(chunk.file.path, chunk.file.compression) as stream:
        remaining = chunk.offset
        while remaining > 0:  # compressed streams cannot seek cheaply: read and drop
            skipped = stream.read(min(remaining, 1 << 20))
            if not skipped:
                break
            remaining -= len(skipped)
        remaining = end - chunk.offset
        while remaining > 0:
            block = stream.read(min(remaining, 1 << 20))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def fold_records(records: Iterable[dict[str, Any]], where: str) -> TaskState | None:
    """Replay a store's records into a task state; None when the store is empty."""
    state: TaskState | None = None
    for number, record in enumerate(records, 1):
        kind = record.get("type")
        if kind == "task":
            state = TaskState(settings=record["settings"], files=record["files"])
            continue
        if state is None:
            raise CheckpointError(
                f"{where}: record {number} comes before the task record; the checkpoint is "
                f"damaged: {REMOVE_HINT}"
            )
        if kind == "chunk":
            columns = record.get("columns")
            position = ReadPosition(
                offset=record["offset"],
                rows=record["rows"],
                columns=tuple(columns) if columns is not None else None,
                mid_statement=record.get("mid", False),
            )
            state.chunks[record["key"]] = ChunkState(
                position=position,
                rows=record["rows"],
                bytes=record.get("bytes", 0),
                done=record.get("done", False),
            )
        elif kind == "prefix":
            state.prefixes[record["key"]] = record["sha256"]
        elif kind == "forget":
            for key in record["keys"]:
                state.chunks.pop(key, None)
                state.prefixes.pop(key, None)
            state.tables.pop(record["table"], None)
        elif kind == "files":
            state.files.update(record["files"])
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
    return {"type": "task", "settings": state.settings, "files": state.files}


def accept_inputs(
    saved: TaskState, fresh: TaskState, chunks: Sequence[Chunk], store: CheckpointStore
) -> dict[str, list[int]]:
    """Check that a saved checkpoint may resume with today's inputs.

    Returns the signatures of changed files that are safe to accept (to be recorded); raises a
    ``CheckpointError`` naming the files when the settings changed or an input changed in a
    part that was already imported.
    """
    if saved.settings != fresh.settings:
        raise CheckpointError(
            f"the checkpoint in {store.location} was written with other settings (backend, "
            "on-duplicate, [mydumper] or [[routes]] changed); restore them, or " + REMOVE_HINT
        )
    by_path: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_path.setdefault(chunk.file.path, []).append(chunk)
    accepted: dict[str, list[int]] = {}
    refused: list[str] = []
    for path in sorted(saved.files.keys() | fresh.files.keys()):
        if saved.files.get(path) == fresh.files.get(path):
            continue
        started = [
            key
            for key, state in saved.chunks.items()
            if key.rsplit(":", 1)[0] == path and (state.done or state.rows > 0)
        ]
        if not started or _prefixes_unchanged(saved, started, by_path.get(path, [])):
            if path in fresh.files:
                accepted[path] = fresh.files[path]
            continue
        refused.append(path)
    if refused:
        shown = ", ".join(refused[:5]) + (
            f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        )
        raise CheckpointError(
            f"input files changed in a part that was already imported: {shown} (checkpoint "
            f"{store.location}); restore them, or {REMOVE_HINT} (rows already imported stay in "
            "the target)"
        )
    return accepted


def _prefixes_unchanged(saved: TaskState, keys: list[str], chunks: list[Chunk]) -> bool:
    current = {c.key: c for c in chunks}
    for key in keys:
        state = saved.chunks[key]
        expected = saved.prefixes.get(key)
        chunk = current.get(key)
        if state.done or expected is None or chunk is None:
            return False
        if prefix_digest(chunk, state.position.offset) != expected:
            return False
    return True
