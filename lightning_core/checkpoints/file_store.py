"""The ``file`` checkpoint store: an append-only JSON-lines file (``[checkpoint] dsn``)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from typing import Any

from lightning_core.errors import CheckpointError

DEFAULT_PATH = "/tmp/tidb_lightning_checkpoint.json"


class FileCheckpointStore:
    """Records appended as JSON lines and flushed after every append.

    A run killed while writing leaves at most a partial last line, which is ignored on load.
    """

    def __init__(self, path: str) -> None:
        self.path = path or DEFAULT_PATH
        self.location = self.path
        self._out: Any = None

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, oldest first."""
        try:
            with open(self.path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {exc}") from exc
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if number == len(lines):  # the tail of a write cut short by a kill
                    break
                raise CheckpointError(
                    f"checkpoint {self.path}:{number} is damaged ({exc}); remove it with "
                    "`tidb-lightning-ctl --checkpoint-remove=all`"
                ) from exc
        return records

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records; they are in the operating system's hands when this returns."""
        if self._out is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            # owner-only: the records name the task's tables and files
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._out = os.fdopen(fd, "ab")
            self._repair_tail()
        self._out.write(_lines(records))
        self._out.flush()

    def _repair_tail(self) -> None:
        """Cut a partial last line left by a killed run, so the log stays parseable."""
        size = self._out.tell()
        if size == 0:
            return
        with open(self.path, "rb") as f:
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
        if tail.endswith(b"\n"):
            return
        keep = size - len(tail) + tail.rfind(b"\n") + 1
        self._out.truncate(keep)
        self._out.seek(keep)

    def replace(self, records: Iterable[dict[str, Any]]) -> None:
        """Write ``records`` to a new file and rename it over the old one (atomic)."""
        self.close()
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        temporary = f"{self.path}.{os.getpid()}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_lines(records))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def reset(self) -> None:
        """Remove the checkpoint file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def close(self) -> None:
        """Close the file."""
        if self._out is not None:
            self._out.close()
            self._out = None


def _lines(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
