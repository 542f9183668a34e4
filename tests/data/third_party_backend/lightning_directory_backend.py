"""A throwaway ``backend = "directory"`` for tidb-lightning that keeps engines and tables on disk.

Configured by ``[plugin.directory] root = "/some/dir"`` (required). Layout under ``root``:

- ``engines/<engine uuid>/<sha1 of the chunk key>.jsonl``: the rows a writer wrote, one JSON
  line ``[key, value]`` per row (key: ``<chunk key>:<row number>``, value: the row as JSON);
- ``tables/<db>.<table>/<engine uuid>/*.jsonl``: imported engines (moved with one rename).

A table exists on the target when its directory exists; it accepts any columns. Checksums are
Lightning's KV checksum over the ``(key, value)`` pairs above. Built from docs/plugins.md only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lightning_core import (
    BackendRecord,
    Chunk,
    ChunkProgress,
    ConfigError,
    Engine,
    ImportPlan,
    KVChecksum,
    LightningConfig,
    RowBatch,
    TargetTable,
    Value,
    hookimpl,
)

NAME = "directory"


@attrs.frozen(kw_only=True)
class DirectoryOptions:
    """``[plugin.directory]``: ``root``, the directory holding ``engines/`` and ``tables/``."""

    root: str = ""


Opts = DirectoryOptions | None


def _root(config: LightningConfig, options: Opts) -> Path:
    root = options.root if options is not None else ""
    if not root:
        raise ConfigError(f'[plugin.{NAME}] root = "..." is required by backend = "{NAME}"')
    return Path(root)


def table_dir(root: Path, schema: str, name: str) -> Path:
    """Where table ``schema.name`` lives."""
    return root / "tables" / f"{schema}.{name}"


def _engine_table_dir(root: Path, engine: Engine) -> Path:
    return table_dir(root, *engine.names)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def _jsonable(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)  # Decimal, dates, ...


def _pair(chunk_key: str, number: int, row: tuple[Value, ...]) -> tuple[bytes, bytes]:
    value = json.dumps(row, default=_jsonable, separators=(",", ":"))
    return f"{chunk_key}:{number}".encode(), value.encode()


def _lines(directory: Path) -> Iterator[tuple[bytes, bytes]]:
    for path in sorted(directory.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as file:
            for line in file:
                key, value = json.loads(line)
                yield key.encode(), value.encode()


class DirectoryWriter:
    """Appends a chunk's rows to its file in the engine directory, fsynced per batch."""

    def __init__(self, root: Path, engine: Engine, chunk: Chunk, start: ChunkProgress | None):
        directory = root / "engines" / str(engine.uuid)
        directory.mkdir(parents=True, exist_ok=True)
        _fsync_dir(directory.parent)
        self._path = directory / (hashlib.sha1(chunk.key.encode()).hexdigest() + ".jsonl")
        self._chunk = chunk
        self._progress = start
        self._checksum = start.checksum.copy() if start is not None else KVChecksum()
        self._file = open(self._path, "a+b")  # noqa: SIM115 - held until close()
        self._file.seek(0)
        for _ in range(start.rows if start is not None else 0):  # keep the durable rows only
            if not self._file.readline().endswith(b"\n"):
                raise RuntimeError(f"{self._path}: fewer durable rows than the checkpoint's")
        self._file.truncate(self._file.tell())  # rows after it are written again
        os.fsync(self._file.fileno())
        _fsync_dir(directory)

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress | None:
        lines = []
        for number, row in enumerate(batch.rows, start=batch.end.rows - batch.count):
            key, value = _pair(self._chunk.key, number, row)
            self._checksum.update_one(key, value)
            lines.append(json.dumps([key.decode(), value.decode()]).encode() + b"\n")
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._progress = ChunkProgress(
            position=batch.end,
            bytes=source_bytes,
            checksum=self._checksum.copy(),
            max_row_id=self._chunk.row_id_base + batch.end.rows,
        )
        return self._progress

    def close(self) -> ChunkProgress | None:
        self._file.close()
        return self._progress


@attrs.define
class DirectoryWorker:
    """Opens a writer per chunk; index engines get nothing (no KV index pairs here)."""

    root: Path
    accepts_raw_sql: bool = False

    def open_writer(  # also given table= and index_engine=
        self, *, engine: Engine, chunk: Chunk, start: ChunkProgress | None, **_: object
    ) -> DirectoryWriter:
        return DirectoryWriter(self.root, engine, chunk, start)

    def close(self) -> None: ...


@attrs.define
class DirectoryBackend:
    """Engine steps on directories; each is a no-op when the engine directory is gone."""

    root: Path
    name: str = NAME

    def prepare(self, source_bytes: int) -> None:
        (self.root / "engines").mkdir(parents=True, exist_ok=True)

    def durable(self, chunk_keys: Sequence[str]) -> Mapping[str, ChunkProgress]:
        return {}  # no ledger: the checkpoint's progress is the truth

    def _engine_dir(self, engine: Engine) -> Path:  # the writers' directory of ``engine``
        return self.root / "engines" / str(engine.uuid)

    def close_engine(self, engine: Engine) -> None: ...  # writers fsync every batch

    def import_engine(self, engine: Engine) -> None:
        source = self._engine_dir(engine)
        tables = _engine_table_dir(self.root, engine)
        if not source.is_dir():
            return
        tables.mkdir(parents=True, exist_ok=True)
        os.replace(source, tables / source.name)  # one rename: all of the engine or none
        _fsync_dir(tables)
        _fsync_dir(source.parent)

    def cleanup_engine(self, engine: Engine) -> None:
        shutil.rmtree(self._engine_dir(engine), ignore_errors=True)

    def forget_chunks(self, chunk_keys: Sequence[str]) -> None: ...  # writers truncate

    def forget_task(self) -> None:
        shutil.rmtree(self.root / "engines", ignore_errors=True)

    def close(self) -> None: ...


@attrs.define
class DirectoryTarget:
    """Tables are directories under ``<root>/tables``."""

    root: Path
    location: str = ""

    def create_schemas(self, plan: ImportPlan) -> None:
        for table in (task.plan for task in plan.tables if not task.plan.is_view):
            path = table_dir(self.root, table.target_schema, table.target_table)
            path.mkdir(parents=True, exist_ok=True)

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        exists = table_dir(self.root, schema, name).is_dir()  # any columns are accepted
        return TargetTable(schema=schema, name=name, columns=()) if exists else None

    def count_rows(self, table: TargetTable) -> int:
        return sum(1 for _ in _lines(table_dir(self.root, table.schema, table.name)))

    def checksum(self, table: TargetTable) -> KVChecksum | None:
        checksum = KVChecksum()
        checksum.update(_lines(table_dir(self.root, table.schema, table.name)))
        return checksum

    def rebase(self, table: TargetTable, max_row_id: int) -> None: ...  # no auto IDs here

    def analyze(self, table: TargetTable) -> None: ...  # no statistics either

    def close(self) -> None: ...


def _backend(*, config: LightningConfig, options: Opts = None, **_: object) -> DirectoryBackend:
    return DirectoryBackend(_root(config, options))


def _worker(*, config: LightningConfig, options: Opts = None, **_: object) -> DirectoryWorker:
    return DirectoryWorker(_root(config, options))


def _target(*, config: LightningConfig, options: Opts = None) -> DirectoryTarget:
    root = _root(config, options)
    return DirectoryTarget(root, location=str(root / "tables"))


RECORD = BackendRecord(
    name=NAME,
    factory=_backend,
    worker_factory=_worker,
    target_factory=_target,
    uses_engines=True,
    options_type=DirectoryOptions,
    description="engines and tables as directories of JSON lines",
)


@hookimpl
def lightning_register_backends() -> list[BackendRecord]:
    return [RECORD]
