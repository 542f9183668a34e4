"""The status server behind ``[lightning] status-addr``: progress as JSON and Prometheus text.

``GET /metrics`` answers in the Prometheus text format; ``GET /progress`` as JSON. The server
runs in a daemon thread of the main process and only reads the progress counters.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lightning_core.errors import ConfigError
from lightning_core.pipeline.progress import ProgressReporter

log = logging.getLogger(__name__)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``:port`` (all interfaces), as TiDB Lightning writes it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"[lightning] status-addr {address!r} is not host:port or :port; fix it or leave "
            "it empty for no status server"
        )
    return host.strip("[]") or "0.0.0.0", int(port)


def snapshot(progress: ProgressReporter) -> dict[str, Any]:
    """The counters a status request reports."""
    return {
        "tables_total": progress.tables,
        "tables_finished": progress.tables_done,
        "bytes_total": progress.total_bytes,
        "bytes_done": progress.done_bytes,
        "rows_done": progress.rows,
        "line": progress.line(),
    }


_METRICS = (
    ("lightning_tables_total", "Tables planned.", "tables_total"),
    ("lightning_tables_finished", "Tables imported and verified.", "tables_finished"),
    ("lightning_bytes_total", "Bytes of the data files planned.", "bytes_total"),
    ("lightning_bytes_done", "Bytes of the data files imported.", "bytes_done"),
    ("lightning_rows_done", "Rows imported by this run.", "rows_done"),
)


def prometheus_text(values: dict[str, Any]) -> str:
    """The counters in the Prometheus text exposition format."""
    lines = []
    for name, help_text, key in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {values[key]}"]
    return "\n".join(lines) + "\n"


class StatusServer:
    """Serves the progress of one run until ``close()``."""

    def __init__(self, address: str, progress: ProgressReporter) -> None:
        host, port = parse_address(address)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                values = snapshot(progress)
                if self.path == "/metrics":
                    body, kind = prometheus_text(values), "text/plain; version=0.0.4"
                elif self.path == "/progress":
                    body, kind = json.dumps(values), "application/json"
                else:
                    self.send_error(404, "try /metrics or /progress")
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("status: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"[lightning] status-addr {address!r} cannot be served: {exc}; choose a free "
                "port or leave it empty"
            ) from exc
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        log.info("status server at http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
