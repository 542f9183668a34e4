"""``tidb-lightning-ctl --checkpoint-dump=DIR``: a task's checkpoint as CSV files.

TiDB Lightning writes ``tables.csv``, ``engines.csv`` and ``chunks.csv``, one row per table,
engine and chunk of its checkpoint tables; these files hold the same things as this
implementation's checkpoint state has them (:class:`~lightning_core.checkpoints.state.TaskState`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

from lightning_core.checkpoints.state import TaskState
from lightning_core.errors import CheckpointError

TABLE_COLUMNS = ("table_name", "status", "error", "rows_before", "table_id")
ENGINE_COLUMNS = ("engine", "status")
CHUNK_COLUMNS = (
    "key",
    "offset",
    "rows",
    "bytes",
    "kvc_bytes",
    "kvc_kvs",
    "kvc_checksum",
    "max_row_id",
    "done",
)


def dump_csv(state: TaskState, out_dir: str) -> list[str]:
    """Write ``tables.csv``, ``engines.csv`` and ``chunks.csv`` into ``out_dir``; their paths."""
    tables = (
        (name, t.status, t.error, "" if t.rows_before is None else t.rows_before, t.table_id)
        for name, t in state.tables.items()
    )
    chunks = (
        (
            key,
            c.progress.position.offset,
            c.progress.rows,
            c.progress.bytes,
            c.progress.checksum.total_bytes,
            c.progress.checksum.total_kvs,
            c.progress.checksum.checksum,
            c.progress.max_row_id,
            int(c.done),
        )
        for key, c in state.chunks.items()
    )
    try:
        os.makedirs(out_dir, exist_ok=True)
        return [
            _write(out_dir, "tables.csv", TABLE_COLUMNS, tables),
            _write(out_dir, "engines.csv", ENGINE_COLUMNS, state.engines.items()),
            _write(out_dir, "chunks.csv", CHUNK_COLUMNS, chunks),
        ]
    except OSError as exc:
        raise CheckpointError(
            f"--checkpoint-dump: cannot write into {out_dir}: {exc.strerror or exc}; give a "
            "directory you can write to"
        ) from exc


def _write(out_dir: str, name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    path = os.path.join(out_dir, name)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
