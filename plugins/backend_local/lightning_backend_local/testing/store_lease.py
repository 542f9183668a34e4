"""The embedded store as the double's stores share it: opened when a call needs it, closed
once no call has needed it for a moment, so another process (a tidb-lightning writing the
catalog) can open the directory between bursts of ingests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lightning_backend_local.store import EmbeddedStore

DEFAULT_LINGER = 0.2
"""Seconds the store stays open after the last call that used it."""


class StoreLease:
    """Open-on-demand access to the embedded store at ``path``.

    :param linger: seconds to keep the store open after its last use (0: close at once).
    """

    def __init__(self, path: str, *, linger: float = DEFAULT_LINGER) -> None:
        self.path = path
        self.linger = linger
        self._store: EmbeddedStore | None = None
        self._users = 0
        self._last_use = 0.0
        self._lock = threading.Lock()
        self._closer: threading.Timer | None = None

    @contextmanager
    def use(self) -> Iterator[EmbeddedStore]:
        """The open store for the duration of the ``with`` block; raises
        :class:`~lightning_core.TargetError` when another process holds the directory."""
        with self._lock:
            if self._store is None:
                self._store = EmbeddedStore.open(self.path)
            self._users += 1
            store = self._store
        try:
            yield store
        finally:
            with self._lock:
                self._users -= 1
                self._last_use = time.monotonic()
                if self._users == 0 and self._closer is None:
                    self._closer = threading.Timer(self.linger, self._close_when_idle)
                    self._closer.daemon = True
                    self._closer.start()

    def _close_when_idle(self) -> None:
        with self._lock:
            self._closer = None
            if self._store is None or self._users:
                return
            idle = time.monotonic() - self._last_use
            if idle < self.linger:
                self._closer = threading.Timer(self.linger - idle, self._close_when_idle)
                self._closer.daemon = True
                self._closer.start()
                return
            self._store.close()
            self._store = None

    def close(self) -> None:
        """Close the store now (calls must have ended)."""
        with self._lock:
            if self._closer is not None:
                self._closer.cancel()
                self._closer = None
            if self._store is not None:
                self._store.close()
                self._store = None
