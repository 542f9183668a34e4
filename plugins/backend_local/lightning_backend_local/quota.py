"""``[tikv-importer] disk-quota``: the bytes the task's engines hold under ``sorted-kv-dir``,
counted at every flush.

The count lives in one small file of the task's directory, ``disk-quota.bytes``: the bytes held
(a signed 64-bit number) and a stop flag. A worker adds each run's size after writing it and,
before its next flush, waits while the count is at the quota; the main process subtracts what
an engine held when it removes the engine's files, and reads the count to know when to import
engines (early) to make room. Every change takes an exclusive ``flock`` on the file, every read
a shared one: a few microseconds per flush, against the milliseconds of writing a run, and no
directory walk on the way. The file is rebuilt from the directory when the main process starts,
so a killed run's count does not carry over.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning_core import LightningConfig, LightningError

_FIELDS = struct.Struct("<qq")
_NAME = "disk-quota.bytes"
#: How often a worker waiting for room looks at the count again.
POLL_SECONDS = 0.02


def disk_quota(config: LightningConfig) -> int | None:
    """The quota in bytes; None when it is off (0 or the default, the largest 64-bit number)."""
    quota = int(config.tikv_importer.disk_quota)
    off = int(LightningConfig().tikv_importer.disk_quota)
    return quota if 0 < quota < off else None


def held_on_disk(directory: Path) -> int:
    """The bytes of the SST files (runs and merged runs) under ``directory``: what the count
    holds for them. A walk: once per engine removed, never per flush."""
    return sum(path.stat().st_size for path in directory.rglob("*.sst") if path.is_file())


class DiskLedger:
    """The shared count of the bytes held under a task's directory of ``sorted-kv-dir``."""

    def __init__(self, root: str) -> None:
        self.path = Path(root) / _NAME

    @contextmanager
    def _locked(self, mode: int) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _read(fd: int) -> tuple[int, int]:
        data = os.pread(fd, _FIELDS.size, 0)
        return _FIELDS.unpack(data) if len(data) == _FIELDS.size else (0, 0)

    def reset(self, held: int) -> None:
        """Start the count at ``held`` bytes, the stop flag cleared (the main process, at start)."""
        with self._locked(fcntl.LOCK_EX) as fd:
            os.pwrite(fd, _FIELDS.pack(held, 0), 0)

    def add(self, delta: int) -> None:
        """Count ``delta`` more bytes (negative: fewer)."""
        if not delta:
            return
        with self._locked(fcntl.LOCK_EX) as fd:
            held, stop = self._read(fd)
            os.pwrite(fd, _FIELDS.pack(held + delta, stop), 0)

    def held(self) -> int:
        """The bytes counted now."""
        with self._locked(fcntl.LOCK_SH) as fd:
            return self._read(fd)[0]

    def stop(self) -> None:
        """Make every waiting worker give up (the main process stops the import)."""
        with self._locked(fcntl.LOCK_EX) as fd:
            held, _ = self._read(fd)
            os.pwrite(fd, _FIELDS.pack(held, 1), 0)

    def wait_for_room(self, quota: int) -> None:
        """Return once the count is below ``quota`` (a worker, before a flush).

        :raises LightningError: the main process stopped the import meanwhile.
        """
        while True:
            with self._locked(fcntl.LOCK_SH) as fd:
                held, stop = self._read(fd)
            if stop:
                raise LightningError(
                    "stopped while waiting for room under [tikv-importer] disk-quota"
                )
            if held < quota:
                return
            time.sleep(POLL_SECONDS)
