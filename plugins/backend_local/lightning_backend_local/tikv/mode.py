"""TiKV's import mode: every store switched to Import before the first write, kept there by a
timer thread of its own (``[cron] switch-mode``), and switched back to Normal when the import
ends — normally, on an error, on Ctrl-C or SIGTERM (the CLI turns both into an exception that
unwinds through the backend's ``close``), and at interpreter exit. A run killed outright
leaves the stores in Import mode only until TiKV's ``import-mode-timeout`` (10 minutes by
default) passes without a refresh: TiKV then returns to Normal by itself."""

from __future__ import annotations

import atexit
import logging
import threading

import grpc

from lightning_backend_local.tikv.cluster import Cluster

log = logging.getLogger(__name__)


def switch_stores(cluster: Cluster, mode: str) -> list[str]:
    """Switch every TiKV store to ``mode`` (``import`` / ``normal``); one line per store.

    :raises grpc.RpcError: a store did not answer.
    """
    lines = []
    for store in cluster.tikv_stores():
        switched = cluster.switch_mode(store, mode)
        lines.append(
            f"store {store.id} ({store.address}): {mode if switched else 'no import service'}"
        )
    return lines


def store_modes(cluster: Cluster) -> list[str]:
    """Each TiKV store's mode, one line per store."""
    return [
        f"store {store.id} ({store.address}): {cluster.mode_of(store)}"
        for store in cluster.tikv_stores()
    ]


class ImportModeKeeper:
    """Keeps the cluster in import mode from :meth:`start` to :meth:`stop`."""

    def __init__(self, cluster: Cluster, interval: float) -> None:
        self._cluster = cluster
        self._interval = max(0.1, interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Switch every store to Import and start refreshing it (a second call does
        nothing).

        :raises grpc.RpcError: a store did not answer the first switch.
        """
        with self._lock:
            if self._thread is not None:
                return
            atexit.register(self.stop)
            switch_stores(self._cluster, "import")
            self._thread = threading.Thread(
                target=self._refresh, daemon=True, name="tikv-import-mode"
            )
            self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                switch_stores(self._cluster, "import")
            except (grpc.RpcError, OSError) as exc:
                # the next refresh tries again; TiKV's timeout leaves room for several
                log.warning("refreshing TiKV's import mode failed: %s", exc)

    def stop(self) -> None:
        """Stop refreshing and switch every store back to Normal (failures are logged: TiKV
        returns to Normal by itself once the import-mode timeout passes)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            atexit.unregister(self.stop)
            self._stop.set()
            thread.join()
            try:
                switch_stores(self._cluster, "normal")
            except Exception as exc:  # grpc, PD, a store gone: never mask the import's outcome
                log.warning(
                    "switching TiKV back to normal mode failed (%s); it returns by itself "
                    "when import-mode-timeout passes, or run tidb-lightning-ctl "
                    "--switch-mode=normal",
                    exc,
                )
