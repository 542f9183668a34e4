"""The server's engines, keyed by UUID under ``import-dir``, built on the local backend's
engine code (:class:`~lightning_backend_local.engine.RunWriter` for what a WriteEngine stream
brings, :class:`~lightning_backend_local.engine.LocalEngine` for close and import).

Layout under ``import-dir``, as tikv-importer has it:

- ``.temp/<uuid>/`` — an engine open for writing: one sorted, fsynced run per WriteEngine
  stream (``runs/*.sst``), written when the stream ends, before it is answered;
- ``<uuid>/`` — a closed engine: the runs merged, cut into ranges of ``region-split-size``
  (``closed.json``), then ``imported.json`` once ImportEngine put them into the target.

What survives a restart: closed engines, whole; of an engine that was open, nothing is open
any more (a write gets the in-band EngineNotFound, as from tikv-importer), and what is not
acknowledged is gone — a stream cut short, partial files. The runs of streams that were
answered stay, and OpenEngine opens the engine again with them, so a client that counted an
answered stream as durable is right to (tikv-importer, which writes without a WAL, loses the
whole engine; a client that rewrote everything after a restart is right with both).

Keys written twice collapse (the same key from two streams is one pair): every pair gets the
same suffix, so two writes of one key are one key to the merge, as tikv-importer overwrites a
key written again with the same commit ts.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
from lightning_backend_local.engine import LocalEngine, RangeLimits, RunWriter
from lightning_backend_local.sst import fsync_directory

from lightning_core import Engine

TEMP_DIRECTORY = ".temp"
#: The chunk key every server-side run is written under (see the module's docstring).
STREAM_CHUNK_KEY = "tikv-importer"


class EngineError(Exception):
    """A refusal named as tikv-importer names its errors (``FileExists(...)``,
    ``EngineInUse(...)``): clients match the variant's name in the message."""

    def __init__(self, variant: str, detail: str) -> None:
        super().__init__(f"{variant}({detail})")


class EngineNotFound(Exception):
    """The engine is not open: answered in-band, with gRPC status OK."""

    def __init__(self, key: uuid.UUID) -> None:
        super().__init__(f"engine {key} is not open")
        self.uuid = key


@attrs.frozen
class ServerEngine(Engine):
    """An engine known by its UUID alone (the server never learns its table)."""

    key: uuid.UUID = attrs.field(kw_only=True)

    @property
    def uuid(self) -> uuid.UUID:
        """The UUID the client gave."""
        return self.key


def parse_uuid(raw: bytes) -> uuid.UUID:
    """The engine UUID of a request: exactly 16 raw bytes."""
    if len(raw) != 16:
        raise EngineError("Uuid", f"expected 16 bytes, got {len(raw)}")
    return uuid.UUID(bytes=raw)


def _engine(key: uuid.UUID) -> ServerEngine:
    return ServerEngine(f"engine {key}", 0, key=key)


@attrs.define
class _Open:
    writers: int = 0
    flush_lock: threading.Lock = attrs.Factory(threading.Lock)


class StreamWriter:
    """The pairs of one WriteEngine stream, held until :meth:`finish` writes them as one run,
    so that a stream is kept whole or not at all (clients bound a stream's size)."""

    def __init__(self, engines: ServerEngines, key: uuid.UUID, state: _Open) -> None:
        self._engines = engines
        self._key = key
        self._state = state
        self._run = RunWriter(str(engines.temp_root), _engine(key), STREAM_CHUNK_KEY)
        self.pairs = 0
        """Pairs received so far."""
        self.bytes = 0
        """Key and value bytes received so far."""

    def add(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        """Buffer a batch of raw pairs."""
        zeros = itertools.repeat(0)
        self._run.add(pairs, zeros, zeros)
        self.pairs += len(pairs)
        self.bytes += sum(len(k) + len(v) for k, v in pairs)

    def finish(self) -> None:
        """Write what is buffered as a sorted, fsynced run and release the engine."""
        try:
            with self._state.flush_lock:  # an engine's first run also writes its chunk mark
                self._run.flush(0)  # the run's name orders nothing here: keys collapse
        finally:
            self._engines.release(self._key)

    def abort(self) -> None:
        """Drop what is buffered (the stream was cut short) and release the engine."""
        self._engines.release(self._key)


class ServerEngines:
    """Every engine under ``import-dir``; each method is safe to call from many threads."""

    def __init__(self, import_dir: str, *, max_open: int, limits: RangeLimits) -> None:
        self.root = Path(import_dir).resolve()
        self.temp_root = self.root / TEMP_DIRECTORY
        self._max_open = max_open
        self._limits = limits
        self._lock = threading.Lock()
        self._open: dict[uuid.UUID, _Open] = {}
        self._busy: set[uuid.UUID] = set()
        """Engines being closed, imported or cleaned up."""
        self.temp_root.mkdir(parents=True, exist_ok=True)
        for partial in self.temp_root.glob("*/runs/*.tmp"):
            partial.unlink()  # a run cut short by a kill was never acknowledged

    @property
    def open_count(self) -> int:
        """Engines open for writing."""
        with self._lock:
            return len(self._open)

    def _closed_dir(self, key: uuid.UUID) -> Path:
        return self.root / str(key)

    def _temp_dir(self, key: uuid.UUID) -> Path:
        return self.temp_root / str(key)

    def open(self, key: uuid.UUID) -> None:
        """Open an engine for writing (an open one stays open; one that was open before a
        restart opens again with its acknowledged runs)."""
        with self._lock:
            if key in self._open:
                return
            if key in self._busy:
                raise EngineError("EngineInUse", str(key))
            closed = self._closed_dir(key)
            if closed.exists():
                raise EngineError("FileExists", str(closed))
            if len(self._open) >= self._max_open:
                raise EngineError(
                    "ResourceTemporarilyUnavailable",
                    f'"Too many open engines {len(self._open)} >= {self._max_open}"',
                )
            self._temp_dir(key).mkdir(exist_ok=True)
            fsync_directory(str(self.temp_root))
            self._open[key] = _Open()

    def writer(self, key: uuid.UUID) -> StreamWriter:
        """A writer for one stream into an open engine, which stays bound until the writer
        finishes or aborts."""
        with self._lock:
            state = self._open.get(key)
            if state is None:
                raise EngineNotFound(key)
            state.writers += 1
        return StreamWriter(self, key, state)

    def release(self, key: uuid.UUID) -> None:
        """A stream's end: the engine is no longer bound by it."""
        with self._lock:
            state = self._open.get(key)
            if state is not None:
                state.writers -= 1

    def close(self, key: uuid.UUID) -> None:
        """Stop writing to an engine, merge its runs and cut its ranges."""
        with self._lock:
            state = self._open.get(key)
            if state is None:
                if self._closed_dir(key).exists():
                    raise EngineError("FileExists", str(self._closed_dir(key)))
                raise EngineNotFound(key)
            if state.writers > 0:
                raise EngineError("EngineInUse", str(key))
            del self._open[key]
            self._busy.add(key)
        try:
            closed = self._closed_dir(key)
            os.replace(self._temp_dir(key), closed)
            fsync_directory(str(self.root))
            fsync_directory(str(self.temp_root))
            LocalEngine(str(self.root), _engine(key)).close(self._limits)
        finally:
            with self._lock:
                self._busy.discard(key)

    def import_engine(self, key: uuid.UUID, ingest: Callable[[list[str]], None]) -> int:
        """Give a closed engine's range files to ``ingest``; the number of files (0 for an
        unknown engine or one imported already, as tikv-importer imports an unknown UUID as an
        empty engine)."""
        with self._lock:
            if key in self._open or key in self._busy:
                raise EngineError("EngineInUse", str(key))
            self._busy.add(key)
        try:
            local = LocalEngine(str(self.root), _engine(key))
            if not local.exists:
                return 0
            local.close(self._limits)  # finishes a close that a kill cut short
            files = local.range_files()
            if files is None:
                return 0
            ingest(files)
            local.mark_imported()
            return len(files)
        finally:
            with self._lock:
                self._busy.discard(key)

    def cleanup(self, key: uuid.UUID) -> None:
        """Forget an engine and delete its files (nothing for an unknown one)."""
        with self._lock:
            state = self._open.get(key)
            if key in self._busy or (state is not None and state.writers > 0):
                raise EngineError("EngineInUse", str(key))
            self._open.pop(key, None)
            self._busy.add(key)
        try:
            for directory in (self._temp_dir(key), self._closed_dir(key)):
                if directory.exists():
                    shutil.rmtree(directory)
        finally:
            with self._lock:
                self._busy.discard(key)
