"""The HTTP status server on ``status-server-address``: ``/metrics`` (Prometheus text) and
``/status`` (JSON)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (an empty host listens everywhere)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class StatusServer:
    """Serves the metrics text and a status document in a thread of its own."""

    def __init__(
        self, address: str, metrics: Callable[[], str], status: Callable[[], dict[str, Any]]
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics().encode())
                elif path == "/status":
                    self._send(200, "application/json", json.dumps(status()).encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /status\n")

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Requests are not logged."""

        self._http = ThreadingHTTPServer(split_address(address), Handler)
        self.port = self._http.server_address[1]
        """The port it listens on (the one chosen when the address says 0)."""
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._http.shutdown()
        self._http.server_close()
