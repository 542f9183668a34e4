"""Task progress folded from a checkpoint store's records, and the input fingerprint.

A store is a durable append-only log of small JSON records; this module gives them meaning:

- ``task``: the fingerprint of the settings and the signature (size, mtime) of every input;
- ``files``: new signatures accepted for changed inputs on a resume;
- ``chunk``: a chunk's durable progress (position, rows, source bytes, KV checksum, max row
  ID) and whether it is done (the last record of a chunk wins);
- ``prefix``: a digest of the bytes of a chunk already imported, saved when a run stops early,
  so that a source file fixed after a failure can be resumed safely;
- ``engine``: an engine closed or imported;
- ``table``: a table's step on the ladder ``TABLE_STEPS`` (or ``failed`` and why), its row
  count before the import and the target's table ID;
- ``forget``: a table whose progress was removed (``tidb-lightning-ctl --checkpoint-remove``);
- ``completed``: the task finished (a tombstone: a run of the same task has nothing to do).

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
from lightning_core.interfaces import (
    CheckpointStore,
    Chunk,
    ChunkProgress,
    ReadPosition,
    SourceFile,
)
from lightning_core.source.compression import open_decompressed

REMOVE_HINT = "start over with `tidb-lightning-ctl --checkpoint-remove=all`"


#: Version of the records this code writes; a task record without one is version 1.
RECORDS_VERSION = 2

#: The steps of a table, in order (TiDB Lightning's table status ladder, by name).
TABLE_STEPS = ("pending", "written", "imported", "rebased", "checksummed", "analyzed")
#: Version 1 wrote ``verified`` once a table was counted, checksummed and analyzed.
_V1_STATUSES = {"verified": "analyzed"}


def step_reached(status: str, step: str) -> bool:
    """True when a table at ``status`` has done ``step`` (a failed table has done nothing)."""
    if status not in TABLE_STEPS:
        return False
    return TABLE_STEPS.index(status) >= TABLE_STEPS.index(step)


@attrs.define
class ChunkState:
    """How far one chunk got: its durable progress, and whether it is finished."""

    progress: ChunkProgress
    done: bool = False


@attrs.define
class TableState:
    """Where one target table stands."""

    status: str = "pending"
    """A step of ``TABLE_STEPS``, or ``failed``."""
    rows_before: int | None = None
    """Rows the target table held before the first byte was imported."""
    table_id: int = 0
    """The target's ID of the table when the import started (0: the target has none)."""
    error: str = ""
    """Why the table failed, when ``status`` is ``failed``."""


@attrs.define
class TaskState:
    """Everything a resumed run needs to know."""

    settings: str
    """Digest of the settings that decide what is imported where."""
    files: dict[str, list[int]]
    """Path → [size, mtime_ns] of every input data file."""
    version: int = RECORDS_VERSION
    """Records version of the task record."""
    fingerprint: dict[str, Any] | None = None
    """The settings behind ``settings`` (version 2), to name the ones that changed."""
    chunks: dict[str, ChunkState] = attrs.Factory(dict)
    prefixes: dict[str, str] = attrs.Factory(dict)
    """Chunk key → digest of the chunk's bytes up to its saved position."""
    tables: dict[str, TableState] = attrs.Factory(dict)
    engines: dict[str, str] = attrs.Factory(dict)
    """Engine tag → ``closed`` or ``imported``."""
    completed: bool = False
    """The task finished; only its tombstone is left (``keep-after-success = "remove"``)."""


def file_signature(file: SourceFile) -> list[int]:
    """Size and modification time of a file, to notice a changed input."""
    stat = os.stat(file.path)
    return [stat.st_size, stat.st_mtime_ns]


def settings_digest(settings: dict[str, Any]) -> str:
    """The digest of a task's fingerprint settings kept in its task record."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def fresh_state(settings: dict[str, Any], files: Sequence[SourceFile]) -> TaskState:
    """The state of a task that has not started: its settings digest and input signatures."""
    return TaskState(
        settings=settings_digest(settings),
        files={f.path: file_signature(f) for f in files},
        fingerprint=json.loads(json.dumps(settings, sort_keys=True, default=str)),
    )


def has_progress(state: TaskState) -> bool:
    """True when anything was committed under this checkpoint."""
    return any(c.done or c.progress.rows for c in state.chunks.values()) or any(
        t.status != "pending" for t in state.tables.values()
    )


def changed_settings(saved: TaskState, fresh: TaskState) -> list[str]:
    """The settings (``mydumper.filter``, ``target``...) that differ between two states."""
    if saved.fingerprint is None or fresh.fingerprint is None:
        return []
    changed = []
    for key in sorted(saved.fingerprint.keys() | fresh.fingerprint.keys()):
        old, new = saved.fingerprint.get(key), fresh.fingerprint.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [
                f"{key}.{sub}"
                for sub in sorted(old.keys() | new.keys())
                if old.get(sub) != new.get(sub)
            ]
        elif old != new:
            changed.append(key)
    return changed


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
            version = record.get("version", 1)
            if version > RECORDS_VERSION:
                raise CheckpointError(
                    f"{where} was written by a newer tidb-lightning (records version {version}, "
                    f"this one reads up to {RECORDS_VERSION}); resume with that version, or "
                    + REMOVE_HINT
                )
            state = TaskState(
                settings=record["settings"],
                files=record["files"],
                version=version,
                fingerprint=record.get("fingerprint"),
            )
            continue
        if state is None:
            raise CheckpointError(
                f"{where}: record {number} comes before the task record; the checkpoint is "
                f"damaged: {REMOVE_HINT}"
            )
        _fold(state, kind, record, number, where)
    return state


def _fold(state: TaskState, kind: Any, record: dict[str, Any], number: int, where: str) -> None:
    if kind == "chunk":
        state.chunks[record["key"]] = ChunkState(
            progress=_progress_of(record), done=record.get("done", False)
        )
    elif kind == "prefix":
        state.prefixes[record["key"]] = record["sha256"]
    elif kind == "forget":
        for key in record["keys"]:
            state.chunks.pop(key, None)
            state.prefixes.pop(key, None)
        for tag in record.get("engines", ()):
            state.engines.pop(tag, None)
        state.tables.pop(record["table"], None)
    elif kind == "files":
        state.files.update(record["files"])
    elif kind == "engine":
        state.engines[record["engine"]] = record["status"]
    elif kind == "table":
        table = state.tables.setdefault(record["table"], TableState())
        if "status" in record:
            table.status = _V1_STATUSES.get(record["status"], record["status"])
            table.error = record.get("error", "")
        if "rows_before" in record:
            table.rows_before = record["rows_before"]
        if "table_id" in record:
            table.table_id = record["table_id"]
    elif kind == "completed":
        state.completed = True
    else:
        raise CheckpointError(f"{where}: record {number} has unknown type {kind!r}")


def _progress_of(record: dict[str, Any]) -> ChunkProgress:
    from lightning_core.kv.checksum import KVChecksum  # fastcrc: only when a chunk is read

    columns = record.get("columns")
    position = ReadPosition(
        offset=record["offset"],
        rows=record["rows"],
        columns=tuple(columns) if columns is not None else None,
        mid_statement=record.get("mid", False),
    )
    return ChunkProgress(
        position=position,
        bytes=record.get("bytes", 0),
        checksum=KVChecksum(
            record.get("checksum", 0), record.get("kvs", 0), record.get("kv_bytes", 0)
        ),
        max_row_id=record.get("max_row_id", 0),
        warnings=record.get("warnings", 0),
        skipped=record.get("skipped", 0),
    )


def chunk_record(key: str, state: ChunkState) -> dict[str, Any]:
    """The record that saves a chunk's progress."""
    progress = state.progress
    position = progress.position
    return {
        "type": "chunk",
        "key": key,
        "offset": position.offset,
        "rows": position.rows,
        "columns": list(position.columns) if position.columns is not None else None,
        "mid": position.mid_statement,
        "bytes": progress.bytes,
        "checksum": progress.checksum.checksum,
        "kvs": progress.checksum.total_kvs,
        "kv_bytes": progress.checksum.total_bytes,
        "max_row_id": progress.max_row_id,
        "warnings": progress.warnings,
        "skipped": progress.skipped,
        "done": state.done,
    }


def task_record(state: TaskState) -> dict[str, Any]:
    """The record that opens a task."""
    return {
        "type": "task",
        "version": RECORDS_VERSION,
        "settings": state.settings,
        "fingerprint": state.fingerprint,
        "files": state.files,
    }


def table_record(table: str, **fields: Any) -> dict[str, Any]:
    """A record that changes a table's state (``status``, ``rows_before``, ``table_id``...)."""
    return {"type": "table", "table": table, **fields}


def engine_record(tag: str, status: str) -> dict[str, Any]:
    """The record of an engine reaching ``closed`` or ``imported``."""
    return {"type": "engine", "engine": tag, "status": status}


def accept_inputs(
    saved: TaskState, fresh: TaskState, chunks: Sequence[Chunk], store: CheckpointStore
) -> dict[str, list[int]]:
    """Check that a saved checkpoint may resume with today's inputs.

    Returns the signatures of changed files that are safe to accept (to be recorded); raises a
    ``CheckpointError`` naming the files when the settings changed or an input changed in a
    part that was already imported.
    """
    if saved.settings != fresh.settings:
        changed = changed_settings(saved, fresh)
        what = (
            ", ".join(changed)
            if changed
            else "backend, on-duplicate, [conflict] strategy, [mydumper], [[routes]], the "
            "target, pd-addr, the importer address or sorted-kv-dir"
        )
        raise CheckpointError(
            f"the checkpoint in {store.location} holds progress made with other settings "
            f"({what} changed); restore them, or start over with `tidb-lightning-ctl --config "
            "<this config> --checkpoint-remove=all` (rows already imported stay in the target)"
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
            if key.rsplit(":", 1)[0] == path and (state.done or state.progress.rows > 0)
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
        if prefix_digest(chunk, state.progress.position.offset) != expected:
            return False
    return True
